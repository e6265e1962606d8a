// test_sample.c: the sampler's one-row forward (net_logits with one context: its linear
// layers as matrix-vector products) against the same contexts' rows of a batched
// inference forward (GEMMs), on random models of the family and contexts of several
// sizes, in inference mode with non-trivial batchnorm statistics; and sample_word's
// determinism.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "net.h"
#include "rng.h"
#include "sample.h"

// A random model of cfg in inference mode: every parameter and statistic non-trivial.
static void random_model(Net *n, NetConfig cfg, uint64_t seed) {
    Err err;
    CHECK(net_config_check(&cfg, &err) == 0, "%s", err.msg);
    net_alloc(n, &cfg, 4);
    Rng rng;
    rng_seed(&rng, seed);
    net_init(n, &rng, 1);
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        float *x = net_tensor(n, i);
        for (size_t k = 0; t->is_stat && k < t->numel; k++)
            x[k] = !strncmp(t->name, "bnvar", 5) ? (float)(0.5 + rng_uniform(&rng))
                                                 : (float)(rng_uniform(&rng) - 0.5);
    }
}

static void test_logits_one_matches_batched_logits(void) {
    const NetConfig cfgs[] = {
        {.arch = ARCH_MLP, .V = 27, .T = 3, .E = 10, .H = 200, .layers = 1, .bessel = 1, .momentum = 0.1f},
        {.arch = ARCH_MLP, .V = 5, .T = 1, .E = 2, .H = 3, .layers = 1, .bessel = 0, .momentum = 0.1f},
        {.arch = ARCH_MLP, .V = 130, .T = 8, .E = 24, .H = 77, .layers = 3, .bessel = 1, .momentum = 0.1f},
        {.arch = ARCH_WAVENET, .V = 27, .T = 8, .E = 24, .H = 128, .bessel = 1, .momentum = 0.1f}};
    enum { M = 7 };  // contexts per batched forward
    for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++) {
        Net n;
        random_model(&n, cfgs[k], 7 + k);
        const NetConfig *c = &n.cfg;
        Rng rng;
        rng_seed(&rng, 70 + k);
        float *one = calloc((size_t)c->V, sizeof *one), *all = calloc((size_t)M * c->V, sizeof *all);
        float *s1 = calloc(net_scratch_floats(&n, 1), sizeof *s1);
        float *sM = calloc(net_scratch_floats(&n, M), sizeof *sM);
        int ctx[M * 64];
        double worst = 0;
        for (int trial = 0; trial < 20; trial++) {
            for (int t = 0; t < M * c->T; t++) ctx[t] = (int)(rng_uniform(&rng) * c->V);
            net_logits(&n, all, ctx, M, sM);
            for (int r = 0; r < M; r++) {
                net_logits(&n, one, ctx + r * c->T, 1, s1);
                // against the row's scale: a logit near 0 is a sum that cancels
                const float *b = all + (size_t)r * c->V;
                double scale = 1e-30;
                for (int v = 0; v < c->V; v++) scale = fmax(scale, fabs((double)b[v]));
                for (int v = 0; v < c->V; v++) worst = fmax(worst, fabs((double)one[v] - b[v]) / scale);
            }
        }
        CHECK(worst < 1e-5, "config %zu (%s): difference %g of the largest logit", k,
              net_arch_name(c->arch), worst);
        free(one);
        free(all);
        free(s1);
        free(sM);
        net_free(&n);
    }
}

static void test_sample_word_deterministic(void) {
    NetConfig cfg = {.arch = ARCH_MLP, .V = 27, .T = 3, .E = 10, .H = 64, .layers = 1, .bessel = 1,
                     .momentum = 0.1f};
    Net n;
    random_model(&n, cfg, 3);
    Vocab v = {.V = 27};
    v.itos[0] = '.';
    for (int i = 1; i < 27; i++) v.itos[i] = (char)('a' + i - 1);
    Rng r1, r2;
    rng_seed(&r1, 11);
    rng_seed(&r2, 11);
    char w1[MAX_WORD_LEN + 1], w2[MAX_WORD_LEN + 1];
    int same = 1, nonempty = 0;
    for (int i = 0; i < 200; i++) {
        sample_word(w1, &n, &v, &r1, 1.0f, 0);
        sample_word(w2, &n, &v, &r2, 1.0f, 0);
        same &= strcmp(w1, w2) == 0;
        nonempty += w1[0] != '\0';
    }
    CHECK(same, "the same seed gave different words");
    CHECK(nonempty > 0, "only empty words");
    net_free(&n);
}

int main(void) {
    RUN_TEST(test_logits_one_matches_batched_logits);
    RUN_TEST(test_sample_word_deterministic);
    return check_summary();
}
