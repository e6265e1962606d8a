// test_sample.c: the sampler's one-row forward against model_logits (the batched
// inference forward), on random models and contexts of several sizes, in inference mode
// with non-trivial batchnorm statistics; and sample_word's determinism.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "rng.h"
#include "sample.h"

static void test_logits_one_matches_model_logits(void) {
    const Config cfgs[] = {{.V = 27, .T = 3, .E = 10, .H = 200, .bessel = 1},
                           {.V = 5, .T = 1, .E = 2, .H = 3, .bessel = 0},
                           {.V = 130, .T = 8, .E = 24, .H = 77, .bessel = 1}};
    for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++) {
        const Config *c = &cfgs[k];
        Model m;
        model_alloc(&m, c, 4);
        Rng rng;
        rng_seed(&rng, 7 + k);
        model_init_weights(&m, &rng);
        for (int j = 0; j < c->H; j++) {
            m.bnmean[j] = (float)(rng_uniform(&rng) - 0.5);
            m.bnvar[j] = (float)(0.5 + rng_uniform(&rng));
            m.params.bngain[j] = (float)(0.5 + rng_uniform(&rng));
            m.params.bnbias[j] = (float)(rng_uniform(&rng) - 0.5);
        }
        float *a = calloc((size_t)c->V, sizeof *a), *b = calloc((size_t)c->V, sizeof *b);
        float *s1 = calloc((size_t)c->T * c->E + 2 * (size_t)c->H, sizeof *s1);
        float *s2 = calloc((size_t)c->T * c->E + 2 * (size_t)c->H, sizeof *s2);
        int ctx[64];
        double worst = 0;
        for (int trial = 0; trial < 50; trial++) {
            for (int t = 0; t < c->T; t++) ctx[t] = (int)(rng_uniform(&rng) * c->V);
            sample_logits_one(a, &m, ctx, s1);
            model_logits(&m, b, ctx, 1, s2);
            // against the row's scale: a logit near 0 is a sum that cancels
            double scale = 1e-30;
            for (int v = 0; v < c->V; v++) scale = fmax(scale, fabs((double)b[v]));
            for (int v = 0; v < c->V; v++) {
                double d = fabs((double)a[v] - b[v]) / scale;
                worst = d > worst ? d : worst;
            }
        }
        CHECK(worst < 1e-5, "config %zu: difference %g of the largest logit", k, worst);
        free(a);
        free(b);
        free(s1);
        free(s2);
        model_free(&m);
    }
}

static void test_sample_word_deterministic(void) {
    const Config c = {.V = 27, .T = 3, .E = 10, .H = 64, .bessel = 1};
    Model m;
    model_alloc(&m, &c, 4);
    Rng rng;
    rng_seed(&rng, 3);
    model_init_weights(&m, &rng);
    for (int j = 0; j < c.H; j++) m.bnvar[j] = 1.0f;
    Vocab v = {.V = 27};
    v.itos[0] = '.';
    for (int i = 1; i < 27; i++) v.itos[i] = (char)('a' + i - 1);
    Rng r1, r2;
    rng_seed(&r1, 11);
    rng_seed(&r2, 11);
    char w1[MAX_WORD_LEN + 1], w2[MAX_WORD_LEN + 1];
    int same = 1, nonempty = 0;
    for (int i = 0; i < 200; i++) {
        sample_word(w1, &m, &v, &r1, 1.0f, 0);
        sample_word(w2, &m, &v, &r2, 1.0f, 0);
        same &= strcmp(w1, w2) == 0;
        nonempty += w1[0] != '\0';
    }
    CHECK(same, "the same seed gave different words");
    CHECK(nonempty > 0, "only empty words");
    model_free(&m);
}

int main(void) {
    RUN_TEST(test_logits_one_matches_model_logits);
    RUN_TEST(test_sample_word_deterministic);
    return check_summary();
}
