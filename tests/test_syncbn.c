// test_syncbn.c: synchronised batchnorm and the data-parallel step against one process.
// Run alone (P = 1) or under `mpirun -np P` with the MPI build: every rank takes its B/P
// rows of one global batch (the same on every rank, from a fixed seed) and must reproduce,
// for its rows, what the plain kernels compute on the whole batch in one process:
//  - the forward statistics (mean, variance, 1/sqrt(var+eps)) and bnraw, h;
//  - the backward's two column sums (dbnbias = sum dhpreact, dbngain = sum dhpreact*bnraw)
//    and dhprebn;
//  - 50 data-parallel steps of the lecture's MLP (a Net, mlp with one layer) against 50
//    one-process steps with the plain kernels (backward, then SGD): the losses and the
//    parameters; 20 WaveNet steps against the float64 twin (net_ref.h) on the whole batch;
//  - a stop signal on one rank agreed by all.
// The failures of every rank are summed at the end, so rank 0's summary line covers all.
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "dist.h"
#include "kernels.h"
#include "linear.h"
#include "net.h"
#include "net_ref.h"
#include "rng.h"
#include "dp_step.h"
#include "syncbn.h"

// max over i of |a-b| / (atol + |b|)
static double rel_err(const float *a, const float *b, long n, double atol) {
    double m = 0;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / (atol + fabs((double)b[i]));
        if (!(e <= m)) m = e;
    }
    return m;
}

// max over i of |a-b|, over max over i of |b|
static double scaled_err(const float *a, const float *b, long n) {
    double m = 0, big = 0;
    for (long i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (!(e <= m)) m = e;
        if (fabs((double)b[i]) > big) big = fabs((double)b[i]);
    }
    return big > 0 ? m / big : m;
}

static void syncbn_against_one_process(int bessel, float offset) {
    const int P = dist_size(), r = dist_rank(), Bl = 24, B = Bl * P, H = 37;
    size_t BH = (size_t)B * H, lo = (size_t)r * Bl * H, n = (size_t)Bl * H;
    float *x = xcalloc(BH, 4), *dh = xcalloc(BH, 4), *h = xcalloc(BH, 4), *raw = xcalloc(BH, 4);
    float *dx = xcalloc(BH, 4), *gain = xcalloc(H, 4), *bias = xcalloc(H, 4);
    float st[6][64], *lh = xcalloc(n, 4), *lraw = xcalloc(n, 4), *ldx = xcalloc(n, 4);
    Rng g;
    rng_seed(&g, 7);  // the same global batch on every rank
    for (size_t i = 0; i < BH; i++) x[i] = offset + 2.0f * rng_normal(&g) + (float)(i % H) * 0.1f;
    for (size_t i = 0; i < BH; i++) dh[i] = rng_normal(&g) / (float)B;
    for (int j = 0; j < H; j++) gain[j] = 1.0f + 0.1f * rng_normal(&g), bias[j] = 0.1f * rng_normal(&g);
    // one process, the whole batch
    batchnorm_tanh_forward(h, raw, st[0], st[1], st[2], x, gain, bias, B, H, bessel);
    bn_tanh_backward_fused(dx, st[3], st[4], dh, h, raw, st[2], gain, B, H, bessel);
    // this rank's rows; its dh is P times its share (as the step's local dlogits are)
    float sst[6][64];
    syncbn_tanh_forward(lh, lraw, sst[0], sst[1], sst[2], x + lo, NULL, gain, bias, Bl, H, bessel);
    float *ldh = xcalloc(n, 4);
    for (size_t i = 0; i < n; i++) ldh[i] = dh[lo + i] * (float)P;
    syncbn_tanh_backward(ldx, sst[3], sst[4], ldh, lh, lraw, sst[2], gain, Bl, H, bessel);
    for (int j = 0; j < H; j++) sst[3][j] /= (float)P, sst[4][j] /= (float)P;
    for (size_t i = 0; i < n; i++) ldx[i] /= (float)P;
    // Statistics: relative. Rows and sums: against the tensor's largest entry (a float32
    // rounding of x - mean is |mean| * 2^-24, so the tolerance grows with the offset).
    const double tol = 2e-6 * (1.0 + fabs((double)offset));
    CHECK(rel_err(sst[0], st[0], H, 1e-6) < 1e-5, "mean: rel err %g", rel_err(sst[0], st[0], H, 1e-6));
    CHECK(rel_err(sst[1], st[1], H, 1e-6) < 1e-5, "var: rel err %g", rel_err(sst[1], st[1], H, 1e-6));
    CHECK(rel_err(sst[2], st[2], H, 1e-6) < 1e-5, "var_inv: rel err %g", rel_err(sst[2], st[2], H, 1e-6));
    CHECK(scaled_err(lraw, raw + lo, (long)n) < tol, "bnraw: %g", scaled_err(lraw, raw + lo, (long)n));
    CHECK(scaled_err(lh, h + lo, (long)n) < tol, "h: %g", scaled_err(lh, h + lo, (long)n));
    CHECK(scaled_err(sst[4], st[4], H) < tol, "sum dhpreact (dbnbias): %g", scaled_err(sst[4], st[4], H));
    CHECK(scaled_err(sst[3], st[3], H) < tol, "sum dhpreact*bnraw (dbngain): %g", scaled_err(sst[3], st[3], H));
    CHECK(scaled_err(ldx, dx + lo, (long)n) < tol, "dhprebn: %g", scaled_err(ldx, dx + lo, (long)n));
    void *all[] = {x, dh, h, raw, dx, gain, bias, lh, lraw, ldx, ldh};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
}

static void test_syncbn_unbiased(void) { syncbn_against_one_process(1, 0.5f); }
static void test_syncbn_biased(void) { syncbn_against_one_process(0, 0.5f); }
// A mean far from 0 (|mean/sd| ~ 25): the one-allreduce variance must not cancel.
static void test_syncbn_offset_mean(void) { syncbn_against_one_process(1, 50.0f); }

// A tensor of the net by name, and its gradient.
static float *T_(const Net *n, const char *name) { return net_tensor(n, net_find(n, name)); }
static float *G_(const Net *n, const char *name) { return n->grads + n->tensor[net_find(n, name)].off; }

// One process's mlp/1 step on the whole batch Xb [B,T], Yb [B] with the plain kernels
// (net_forward would take the synchronised ones, dist_size() being P here) and activations
// of its own: forward, the non-folded backward into n->grads, SGD. Returns the loss.
static float one_process_step(Net *n, const int *Xb, const int *Yb, int B, float lr) {
    const NetConfig *c = &n->cfg;
    const int TE = c->T * c->E, H = c->H, V = c->V;
    float *embcat = xcalloc((size_t)B * TE, 4), *dembcat = xcalloc((size_t)B * TE, 4);
    float *hprebn = xcalloc((size_t)B * H, 4), *bnraw = xcalloc((size_t)B * H, 4);
    float *h = xcalloc((size_t)B * H, 4), *dh = xcalloc((size_t)B * H, 4);
    float *dhprebn = xcalloc((size_t)B * H, 4), *st = xcalloc(3 * (size_t)H, 4);
    float *logits = xcalloc((size_t)B * V, 4), *dlogits = xcalloc((size_t)B * V, 4);
    embedding_forward(embcat, T_(n, "C"), Xb, B, c->T, c->E);
    linear_forward(hprebn, embcat, T_(n, "W1"), T_(n, "b1"), B, TE, H);
    batchnorm_tanh_forward(h, bnraw, st, st + H, st + 2 * H, hprebn, T_(n, "bngain"),
                           T_(n, "bnbias"), B, H, c->bessel);
    linear_forward(logits, h, T_(n, "W2"), T_(n, "b2"), B, H, V);
    float loss = ce_forward_backward_fused(dlogits, logits, Yb, B, V);
    linear_backward(dh, G_(n, "W2"), G_(n, "b2"), dlogits, h, T_(n, "W2"), B, H, V);
    bn_tanh_backward_fused(dhprebn, G_(n, "bngain"), G_(n, "bnbias"), dh, h, bnraw, st + 2 * H,
                           T_(n, "bngain"), B, H, c->bessel);
    linear_backward(dembcat, G_(n, "W1"), G_(n, "b1"), dhprebn, embcat, T_(n, "W1"), B, TE, H);
    embedding_backward(G_(n, "C"), dembcat, Xb, B, c->T, c->E, V);
    for (size_t i = 0; i < n->num_params; i++) n->params[i] -= lr * n->grads[i];  // SGD
    void *all[] = {embcat, dembcat, hprebn, bnraw, h, dh, dhprebn, st, logits, dlogits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
    return loss;
}

static NetConfig config(NetArch arch, int V, int T, int E, int H, int layers) {
    NetConfig c = {.arch = arch, .V = V, .T = T, .E = E, .H = H, .layers = layers, .bessel = 1,
                   .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f};
    Err err;
    CHECK(net_config_check(&c, &err) == 0, "config: %s", err.msg);
    return c;
}

// n examples of context T whose target follows the last symbol (learnable), from seed.
static Examples examples(int n, int T, uint64_t seed) {
    Examples ex = {.n = n, .T = T};
    ex.X = xcalloc((size_t)n * T, sizeof(int));
    ex.Y = xcalloc((size_t)n, sizeof(int));
    Rng g;
    rng_seed(&g, seed);
    for (int i = 0; i < n * T; i++) ex.X[i] = (int)rng_below(&g, 27);
    for (int i = 0; i < n; i++) ex.Y[i] = (ex.X[i * T + T - 1] + 1) % 27;
    return ex;
}

// 50 steps of mlp/1: P ranks with net_dp_train_step against one process drawing the same
// batches and stepping with the plain kernels.
static void test_dp_steps_against_one_process(void) {
    const int P = dist_size(), Bl = 16, B = Bl * P, steps = 50;
    NetConfig c = config(ARCH_MLP, 27, 3, 10, 40, 1);
    Examples ex = examples(500, 3, 11);
    Net one, dp;
    net_alloc(&one, &c, B);
    net_alloc(&dp, &c, Bl);
    Rng r1, r2;
    rng_seed(&r1, 3);
    net_init(&one, &r1, 0);
    memcpy(dp.params, one.params, one.num_params * sizeof(float));
    memcpy(&r2, &r1, sizeof r1);
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        examples_sample_batch(one.Xb, one.Yb, &ex, B, &r1);
        float l1 = one_process_step(&one, one.Xb, one.Yb, B, 0.1f);
        int stop = 0;
        float l2 = net_dp_train_step(&dp, &ex, 0.1f, 0.0f, 0, &r2, &stop);
        double e = fabs((double)l2 - l1) / fabs((double)l1);
        if (!(e <= worst)) worst = e;
        CHECK(stop == 0, "step %d: stop %d with no signal", s, stop);
    }
    CHECK(worst <= 1e-5, "largest relative loss difference over %d steps: %g", steps, worst);
    CHECK(rel_err(dp.params, one.params, (long)one.num_params, 1e-3) < 1e-4,
          "parameters after %d steps: rel err %g", steps,
          rel_err(dp.params, one.params, (long)one.num_params, 1e-3));
    CHECK(memcmp(r1.s, r2.s, sizeof r1.s) == 0, "the generators drew different numbers");
    CHECK(dist_same_everywhere(dp.params, dp.num_params), "ranks' parameters differ");
    printf("  P = %d: largest relative loss difference over %d steps %.3g\n", P, steps, worst);
    net_free(&one);
    net_free(&dp);
    xfree(ex.X);
    xfree(ex.Y);
}

// A WaveNet (three synchronised batchnorms over B*rows rows each): 20 data-parallel steps
// against one process in float64 (net_ref's twin on the whole global batch, SGD in double).
static void test_dp_wavenet_against_float64_twin(void) {
    const int P = dist_size(), Bl = 8, B = Bl * P, steps = 20;
    const float lr = 0.1f;
    NetConfig c = config(ARCH_WAVENET, 27, 8, 4, 12, 0);
    Examples ex = examples(400, 8, 12);
    Net dp;
    net_alloc(&dp, &c, Bl);
    Rng r1, r2;
    rng_seed(&r1, 5);
    net_init(&dp, &r1, 1);
    memcpy(&r2, &r1, sizeof r1);
    size_t np = dp.num_params;
    double *p = xcalloc(np, sizeof(double)), *g = xcalloc(np, sizeof(double));
    for (size_t i = 0; i < np; i++) p[i] = dp.params[i];
    int *Xb = xcalloc((size_t)B * 8, sizeof(int)), *Yb = xcalloc((size_t)B, sizeof(int));
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        examples_sample_batch(Xb, Yb, &ex, B, &r1);
        double l1 = net_ref_loss(&dp, p, Xb, Yb, B, g);
        for (size_t i = 0; i < np; i++) p[i] -= (double)lr * g[i];
        int stop = 0;
        float l2 = net_dp_train_step(&dp, &ex, lr, 0.0f, 0, &r2, &stop);
        double e = fabs(l2 - l1) / fabs(l1);
        if (!(e <= worst)) worst = e;
    }
    double dpar = 0, big = 0;
    for (size_t i = 0; i < np; i++) {
        dpar = fmax(dpar, fabs(dp.params[i] - p[i]));
        big = fmax(big, fabs(p[i]));
    }
    CHECK(worst <= 1e-5, "largest relative loss difference over %d steps: %g", steps, worst);
    CHECK(dpar <= 1e-5 * big, "parameters after %d steps: max diff %g (largest %g)", steps, dpar, big);
    CHECK(dist_same_everywhere(dp.params, dp.num_params), "ranks' parameters differ");
    printf("  P = %d, wavenet: largest relative loss difference over %d steps %.3g, parameters %.3g\n",
           P, steps, worst, dpar);
    void *all[] = {p, g, Xb, Yb, ex.X, ex.Y};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
    net_free(&dp);
}

// A pending signal on one rank stops every rank at the same step.
static void test_stop_is_agreed(void) {
    NetConfig c = config(ARCH_MLP, 27, 3, 4, 8, 1);
    Examples ex = {.n = 50, .T = 3};
    ex.X = xcalloc(150, sizeof(int));
    ex.Y = xcalloc(50, sizeof(int));
    Net n;
    net_alloc(&n, &c, 4);
    Rng g;
    rng_seed(&g, 1);
    net_init(&n, &g, 0);
    int stop = dist_rank() == dist_size() - 1 ? SIGTERM : 0;  // on the last rank only
    net_dp_train_step(&n, &ex, 0.1f, 0.0f, 0, &g, &stop);
    CHECK(stop == SIGTERM, "agreed stop %d (want SIGTERM on every rank)", stop);
    stop = dist_rank() == 0 ? SIGINT : 0;
    net_dp_train_step(&n, &ex, 0.1f, 0.0f, 0, &g, &stop);
    CHECK(stop == SIGINT, "agreed stop %d (want SIGINT on every rank)", stop);
    stop = 0;
    net_dp_train_step(&n, &ex, 0.1f, 0.0f, 0, &g, &stop);
    CHECK(stop == 0, "agreed stop %d with no signal anywhere", stop);
    net_free(&n);
    xfree(ex.X);
    xfree(ex.Y);
}

TEST_MAIN {
    TEST_SETUP();
    dist_init();
    threads_set(1);
    printf("ranks: %d\n", dist_size());
    RUN_TEST(test_syncbn_unbiased);
    RUN_TEST(test_syncbn_biased);
    RUN_TEST(test_syncbn_offset_mean);
    RUN_TEST(test_dp_steps_against_one_process);
    RUN_TEST(test_dp_wavenet_against_float64_twin);
    RUN_TEST(test_stop_is_agreed);
    float f[2] = {(float)check_tests_passed, (float)check_tests_failed};
    dist_allreduce_sum(f, 2);  // every rank's results, in rank 0's summary
    check_tests_passed = (int)f[0];
    check_tests_failed = (int)f[1];
    return check_summary();
}
