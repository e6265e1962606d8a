// test_model.c: the model as a whole: parameter layout, the fused step against
// backward + SGD, determinism, calibration, and a short training run on names.txt.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "data.h"
#include "model.h"
#include "rng.h"

static const Config LECTURE = {.V = 27, .T = 3, .E = 10, .H = 200, .bessel = 1};

static const char *names_path(void) {
    const char *p = getenv("NAMES");
    return p ? p : "data/names.txt";
}

static void random_examples(Examples *ex, int n, int T, int V, Rng *rng) {
    memset(ex, 0, sizeof *ex);
    ex->n = n;
    ex->T = T;
    ex->X = xcalloc((size_t)n * T, sizeof(int));
    ex->Y = xcalloc((size_t)n, sizeof(int));
    for (int i = 0; i < n * T; i++) ex->X[i] = (int)rng_below(rng, (uint32_t)V);
    for (int i = 0; i < n; i++) ex->Y[i] = (int)rng_below(rng, (uint32_t)V);
}

static void test_param_layout(void) {
    // the lecture prints 12297 parameters for V=27, T=3, E=10, H=200
    CHECK(params_total(&LECTURE) == 12297, "params_total = %zu", params_total(&LECTURE));
    Model m;
    model_alloc(&m, &LECTURE, 32);
    const Params *p = &m.params;
    CHECK(p->C == m.params_memory && p->W1 == p->C + 270 && p->b1 == p->W1 + 6000 &&
              p->W2 == p->b1 + 200 && p->b2 == p->W2 + 5400 && p->bngain == p->b2 + 27 &&
              p->bnbias == p->bngain + 200 && p->bnbias + 200 == m.params_memory + 12297,
          "parameters are not laid out contiguously in the lecture's order");
    int ndim, shape[2];
    param_shape(&LECTURE, P_BNGAIN, &ndim, shape);
    CHECK(ndim == 2 && shape[0] == 1 && shape[1] == 200, "bngain is [1,H]");
    param_shape(&LECTURE, P_W1, &ndim, shape);
    CHECK(ndim == 2 && shape[0] == 30 && shape[1] == 200, "W1 is [T*E,H]");
    model_free(&m);
}

// The training step folds SGD into the weight GEMMs; it must land where
// model_backward + model_sgd lands, within float rounding.
static void test_fused_step_matches_backward_plus_sgd(void) {
    const int B = 33;
    const Config cfgs[] = {LECTURE, {.V = 27, .T = 4, .E = 3, .H = 37, .bessel = 0}};
    for (int k = 0; k < 2; k++) {
        Model a, b;
        Rng rng;
        rng_seed(&rng, 7);
        model_alloc(&a, &cfgs[k], B);
        model_alloc(&b, &cfgs[k], B);
        model_init_weights(&a, &rng);
        memcpy(b.params_memory, a.params_memory, a.num_params * sizeof(float));
        Examples ex;
        random_examples(&ex, 500, cfgs[k].T, cfgs[k].V, &rng);
        int *Xb = xcalloc((size_t)B * cfgs[k].T, sizeof(int)), *Yb = xcalloc(B, sizeof(int));
        examples_sample_batch(Xb, Yb, &ex, B, &rng);
        float la = model_forward(&a, Xb, Yb);
        model_backward(&a);
        model_sgd(&a, 0.1f);
        float lb = model_forward(&b, Xb, Yb);
        model_backward_sgd(&b, 0.1f);
        CHECK(la == lb, "same forward, different loss");
        double maxd = 0;
        for (size_t i = 0; i < a.num_params; i++)
            maxd = fmax(maxd, fabs(a.params_memory[i] - b.params_memory[i]));
        CHECK(maxd < 1e-6, "config %d: fused step differs from backward+sgd by %g", k, maxd);
        CHECK(memcmp(a.grads.C, b.grads.C, param_numel(&cfgs[k], P_C) * sizeof(float)) == 0,
              "dC differs");
        xfree(Xb); xfree(Yb); examples_free(&ex);
        model_free(&a);
        model_free(&b);
    }
}

// n steps from seed; losses into out.
static void run_steps(float *out, int n, int threads, const Examples *ex) {
    threads_set(threads);
    Model m;
    Rng rng;
    rng_seed(&rng, 2147483647u);
    model_alloc(&m, &LECTURE, 32);
    model_init_weights(&m, &rng);
    for (int i = 0; i < n; i++) out[i] = model_train_step(&m, ex, 0.1f, &rng);
    model_free(&m);
}

static void test_determinism(void) {
    Rng rng;
    rng_seed(&rng, 3);
    Examples ex;
    random_examples(&ex, 2000, 3, 27, &rng);
    enum { N = 300 };
    float a[N], b[N], c[N];
    run_steps(a, N, 1, &ex);
    run_steps(b, N, 1, &ex);
    run_steps(c, N, 2, &ex);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same threads: losses differ");
    // at the lecture's size no kernel forks, so the thread count cannot change a bit
    CHECK(memcmp(a, c, sizeof a) == 0, "1 vs 2 threads at B=32: losses differ");
    CHECK(a[N - 1] < a[0], "loss did not go down on random data (%g -> %g)", a[0], a[N - 1]);
    examples_free(&ex);
}

// Above the fork thresholds (B*H >= 32768: batchnorm and cross-entropy cut into parts,
// GEMMs into tiles) the engine's results still do not depend on the thread count: every
// reduction's order is fixed by the sizes alone.
static void test_thread_count_independent_at_large_batch(void) {
    const Config cfg = {.V = 27, .T = 3, .E = 10, .H = 256, .bessel = 1};
    const int B = 512;
    CHECK(par_worth((long)B * cfg.H), "B*H below the fork threshold: the test tests nothing");
    Rng data_rng;
    rng_seed(&data_rng, 5);
    Examples ex;
    random_examples(&ex, 4000, 3, 27, &data_rng);
    enum { N = 5 };
    float loss[3][N], *params[3];
    for (int t = 0; t < 3; t++) {
        threads_set(t + 1);
        Model m;
        Rng rng;
        rng_seed(&rng, 7);
        model_alloc(&m, &cfg, B);
        model_init_weights(&m, &rng);
        for (int i = 0; i < N; i++) loss[t][i] = model_train_step(&m, &ex, 0.1f, &rng);
        model_calibrate(&m, &ex);
        params[t] = xcalloc(m.num_params + 2 * (size_t)cfg.H, sizeof(float));
        memcpy(params[t], m.params_memory, m.num_params * sizeof(float));
        memcpy(params[t] + m.num_params, m.bnmean, (size_t)cfg.H * sizeof(float));
        memcpy(params[t] + m.num_params + cfg.H, m.bnvar, (size_t)cfg.H * sizeof(float));
        model_free(&m);
    }
    threads_set(1);
    size_t n = params_total(&cfg) + 2 * (size_t)cfg.H;
    for (int t = 1; t < 3; t++) {
        CHECK(memcmp(loss[0], loss[t], sizeof loss[0]) == 0, "losses: 1 vs %d threads differ",
              t + 1);
        CHECK(memcmp(params[0], params[t], n * sizeof(float)) == 0,
              "parameters or calibrated statistics: 1 vs %d threads differ", t + 1);
    }
    for (int t = 0; t < 3; t++) xfree(params[t]);
    examples_free(&ex);
}

static void test_calibrate_and_eval(void) {
    const Config cfg = {.V = 27, .T = 3, .E = 10, .H = 37, .bessel = 1};
    Model m;
    Rng rng;
    rng_seed(&rng, 11);
    model_alloc(&m, &cfg, 32);
    model_init_weights(&m, &rng);
    Examples ex;
    random_examples(&ex, 5000, 3, 27, &rng);  // > one 4096 chunk: exercises the chunking
    model_calibrate(&m, &ex);
    // reference: hprebn in double over all examples, mean and unbiased variance
    double *sum = xcalloc(cfg.H, sizeof(double)), *sq = xcalloc(cfg.H, sizeof(double));
    double *hp = xcalloc((size_t)ex.n * cfg.H, sizeof(double));
    for (int i = 0; i < ex.n; i++)
        for (int j = 0; j < cfg.H; j++) {
            double acc = m.params.b1[j];
            for (int t = 0; t < 3; t++)
                for (int e = 0; e < 10; e++)
                    acc += (double)m.params.C[ex.X[i * 3 + t] * 10 + e] * m.params.W1[(t * 10 + e) * cfg.H + j];
            hp[(size_t)i * cfg.H + j] = acc;
            sum[j] += acc;
        }
    for (int j = 0; j < cfg.H; j++) sum[j] /= ex.n;
    for (int i = 0; i < ex.n; i++)
        for (int j = 0; j < cfg.H; j++) sq[j] += pow(hp[(size_t)i * cfg.H + j] - sum[j], 2);
    for (int j = 0; j < cfg.H; j++) sq[j] /= ex.n - 1;
    CHECK(allclose(m.bnmean, sum, cfg.H, 1e-4, 1e-5) && allclose(m.bnvar, sq, cfg.H, 1e-4, 1e-5),
          "calibrated statistics differ from the double reference");
    // eval loss: inference-mode forward in double, cross-entropy
    double loss = 0;
    for (int i = 0; i < ex.n; i++) {
        double logits[27], mx = -INFINITY, s = 0;
        for (int v = 0; v < 27; v++) logits[v] = m.params.b2[v];
        for (int j = 0; j < cfg.H; j++) {
            double h = tanh(m.params.bngain[j] * (hp[(size_t)i * cfg.H + j] - m.bnmean[j]) /
                                sqrt(m.bnvar[j] + 1e-5) + m.params.bnbias[j]);
            for (int v = 0; v < 27; v++) logits[v] += h * m.params.W2[j * 27 + v];
        }
        for (int v = 0; v < 27; v++) mx = fmax(mx, logits[v]);
        for (int v = 0; v < 27; v++) s += exp(logits[v] - mx);
        loss += log(s) + mx - logits[ex.Y[i]];
    }
    loss /= ex.n;
    double got = model_eval_loss(&m, &ex);
    CHECK(fabs(got - loss) < 1e-5 * loss, "eval loss %.7f vs reference %.7f", got, loss);
    xfree(sum); xfree(sq); xfree(hp);
    examples_free(&ex);
    model_free(&m);
}

// The lecture's recipe for 2000 steps on names.txt: calibrated val loss below 2.45.
static void test_short_training_run(void) {
    Words w;
    Err err;
    if (words_load(&w, names_path(), &err) != 0) {
        CHECK(0, "%s (run 'make data/names.txt')", err.msg);
        return;
    }
    Vocab v;
    vocab_build(&v, &w);
    Split s;
    CHECK(split_build(&s, &w, &v, 3, 42, &err) == 0, "%s", err.msg);
    threads_set(2);
    Model m;
    Rng rng;
    rng_seed(&rng, 2147483647u);
    model_alloc(&m, &LECTURE, 32);
    model_init_weights(&m, &rng);
    float first = 0, last = 0;
    for (int i = 0; i < 2000; i++) {
        last = model_train_step(&m, &s.train, 0.1f, &rng);
        if (i == 0) first = last;
    }
    model_calibrate(&m, &s.train);
    double val = model_eval_loss(&m, &s.val);
    printf("  2000 steps: first loss %.4f, calibrated val %.4f\n", first, val);
    CHECK(first > 3.0f, "initial loss %.4f; the lecture's init starts above 3 (-log(1/27) = 3.30 plus noise)", first);
    CHECK(val < 2.45, "val loss after 2000 steps: %.4f (expected < 2.45)", val);
    model_free(&m);
    split_free(&s);
    words_free(&w);
}

// The packed rows (examples_pack) must give exactly the batches X and Y give.
static void test_packed_sampling(void) {
    Rng rng, r1, r2;
    rng_seed(&rng, 5);
    Examples ex;
    random_examples(&ex, 3000, 4, 27, &rng);
    enum { B = 64 };
    int X1[B * 4], Y1[B], X2[B * 4], Y2[B];
    rng_seed(&r1, 9);
    rng_seed(&r2, 9);
    examples_sample_batch(X1, Y1, &ex, B, &r1);  // rows == NULL: reads X and Y
    examples_pack(&ex);
    examples_sample_batch(X2, Y2, &ex, B, &r2);
    CHECK(ex.rows && memcmp(X1, X2, sizeof X1) == 0 && memcmp(Y1, Y2, sizeof Y1) == 0,
          "packed rows give other batches");
    CHECK(memcmp(r1.s, r2.s, sizeof r1.s) == 0, "packed sampling drew a different number of values");
    examples_free(&ex);
}

TEST_MAIN {
    TEST_SETUP();
    RUN_TEST(test_param_layout);
    RUN_TEST(test_thread_count_independent_at_large_batch);
    RUN_TEST(test_packed_sampling);
    RUN_TEST(test_fused_step_matches_backward_plus_sgd);
    RUN_TEST(test_determinism);
    RUN_TEST(test_calibrate_and_eval);
    RUN_TEST(test_short_training_run);
    return check_summary();
}
