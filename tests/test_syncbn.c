// test_syncbn.c: synchronised batchnorm and the data-parallel step against one process.
// Run alone (P = 1) or under `mpirun -np P` with the MPI build: every rank takes its B/P
// rows of one global batch (the same on every rank, from a fixed seed) and must reproduce,
// for its rows, what the plain kernels compute on the whole batch in one process:
//  - the forward statistics (mean, variance, 1/sqrt(var+eps)) and bnraw, h;
//  - the backward's two column sums (dbnbias = sum dhpreact, dbngain = sum dhpreact*bnraw)
//    and dhprebn;
//  - 50 data-parallel steps against 50 one-process steps (model_backward + model_sgd): the
//    losses and the parameters.
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
#include "model.h"
#include "rng.h"
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
    syncbn_tanh_forward(lh, lraw, sst[0], sst[1], sst[2], x + lo, gain, bias, Bl, H, bessel);
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

// One process's step on its whole batch (acts.Xb/Yb), with the plain kernels (model_forward
// would take the synchronised ones, dist_size() being P here): forward, the non-folded
// backward, SGD. Returns the loss.
static float one_process_step(Model *m, float lr) {
    const Config *c = &m->cfg;
    Acts *a = &m->acts;
    const Params *p = &m->params;
    Params *g = &m->grads;
    int B = a->B, TE = c->T * c->E;
    embedding_forward(a->embcat, p->C, a->Xb, B, c->T, c->E);
    linear_forward(a->hprebn, a->embcat, p->W1, p->b1, B, TE, c->H);
    batchnorm_tanh_forward(a->h, a->bnraw, a->bnmeani, a->bnvar, a->bnvar_inv, a->hprebn,
                           p->bngain, p->bnbias, B, c->H, c->bessel);
    linear_forward(a->logits, a->h, p->W2, p->b2, B, c->H, c->V);
    float loss = ce_forward_backward_fused(a->dlogits, a->logits, a->Yb, B, c->V);
    linear_backward(a->dh, g->W2, g->b2, a->dlogits, a->h, p->W2, B, c->H, c->V);
    bn_tanh_backward_fused(a->dhprebn, g->bngain, g->bnbias, a->dh, a->h, a->bnraw,
                           a->bnvar_inv, p->bngain, B, c->H, c->bessel);
    linear_backward(a->dembcat, g->W1, g->b1, a->dhprebn, a->embcat, p->W1, B, TE, c->H);
    embedding_backward(g->C, a->dembcat, a->Xb, B, c->T, c->E, c->V);
    model_sgd(m, lr);
    return loss;
}

// 50 steps: P ranks with dp_train_step against one process drawing the same batches.
static void test_dp_steps_against_one_process(void) {
    const int P = dist_size(), Bl = 16, B = Bl * P, steps = 50;
    Config c = {.V = 27, .T = 3, .E = 10, .H = 40, .bessel = 1};
    Examples ex = {.n = 500, .T = 3};
    ex.X = xcalloc((size_t)ex.n * ex.T, sizeof(int));
    ex.Y = xcalloc((size_t)ex.n, sizeof(int));
    Rng g;
    rng_seed(&g, 11);
    for (int i = 0; i < ex.n * ex.T; i++) ex.X[i] = (int)rng_below(&g, 27);
    for (int i = 0; i < ex.n; i++) ex.Y[i] = (ex.X[i * 3 + 2] + 1) % 27;
    Model one, dp;
    model_alloc(&one, &c, B);
    model_alloc(&dp, &c, Bl);
    Rng r1, r2;
    rng_seed(&r1, 3);
    model_init_weights(&one, &r1);
    memcpy(dp.params_memory, one.params_memory, one.num_params * sizeof(float));
    memcpy(&r2, &r1, sizeof r1);
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        examples_sample_batch(one.acts.Xb, one.acts.Yb, &ex, B, &r1);
        float l1 = one_process_step(&one, 0.1f);
        int stop = 0;
        float l2 = dp_train_step(&dp, &ex, 0.1f, &r2, &stop);
        double e = fabs((double)l2 - l1) / fabs((double)l1);
        if (e > worst) worst = e;
        CHECK(stop == 0, "step %d: stop %d with no signal", s, stop);
    }
    CHECK(worst <= 1e-5, "largest relative loss difference over %d steps: %g", steps, worst);
    CHECK(rel_err(dp.params_memory, one.params_memory, (long)one.num_params, 1e-3) < 1e-4,
          "parameters after %d steps: rel err %g", steps,
          rel_err(dp.params_memory, one.params_memory, (long)one.num_params, 1e-3));
    CHECK(memcmp(r1.s, r2.s, sizeof r1.s) == 0, "the generators drew different numbers");
    CHECK(dist_same_everywhere(dp.params_memory, dp.num_params), "ranks' parameters differ");
    printf("  P = %d: largest relative loss difference over %d steps %.3g\n", P, steps, worst);
    model_free(&one);
    model_free(&dp);
    xfree(ex.X);
    xfree(ex.Y);
}

// A pending signal on one rank stops every rank at the same step.
static void test_stop_is_agreed(void) {
    Config c = {.V = 27, .T = 3, .E = 4, .H = 8, .bessel = 1};
    Examples ex = {.n = 50, .T = 3};
    ex.X = xcalloc(150, sizeof(int));
    ex.Y = xcalloc(50, sizeof(int));
    Model m;
    model_alloc(&m, &c, 4);
    Rng g;
    rng_seed(&g, 1);
    model_init_weights(&m, &g);
    int stop = dist_rank() == dist_size() - 1 ? SIGTERM : 0;  // on the last rank only
    dp_train_step(&m, &ex, 0.1f, &g, &stop);
    CHECK(stop == SIGTERM, "agreed stop %d (want SIGTERM on every rank)", stop);
    stop = dist_rank() == 0 ? SIGINT : 0;
    dp_train_step(&m, &ex, 0.1f, &g, &stop);
    CHECK(stop == SIGINT, "agreed stop %d (want SIGINT on every rank)", stop);
    model_free(&m);
    xfree(ex.X);
    xfree(ex.Y);
}

int main(void) {
    dist_init();
    threads_set(1);
    printf("ranks: %d\n", dist_size());
    RUN_TEST(test_syncbn_unbiased);
    RUN_TEST(test_syncbn_biased);
    RUN_TEST(test_syncbn_offset_mean);
    RUN_TEST(test_dp_steps_against_one_process);
    RUN_TEST(test_stop_is_agreed);
    float f[2] = {(float)check_tests_passed, (float)check_tests_failed};
    dist_allreduce_sum(f, 2);  // every rank's results, in rank 0's summary
    check_tests_passed = (int)f[0];
    check_tests_failed = (int)f[1];
    return check_summary();
}
