// bench_profile.c: the engine's fused training step taken apart. Each phase of
// model_train_step (batch, the forward's kernels, the backward's kernels, the update) is
// timed on its own, at every thread count, so a step's time and its thread scaling can
// be read phase by phase: the profile figures behind the step's row of the table.
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "common.h"
#include "kernels.h"
#include "linear.h"
#include "model.h"
#include "rng.h"

typedef struct {
    Model m;
    Examples ex;
    Rng rng;
} Prof;

#define PROF_VARS(p)                                 \
    Prof *s = (p);                                   \
    Acts *a = &s->m.acts;                            \
    const Params *w = &s->m.params;                  \
    Params *g = &s->m.grads;                         \
    const Config *c = &s->m.cfg;                     \
    const int B = a->B, TE = c->T * c->E;            \
    (void)w, (void)g, (void)B, (void)TE

static void ph_batch(void *p) {
    PROF_VARS(p);
    examples_sample_batch(a->Xb, a->Yb, &s->ex, B, &s->rng);
}
static void ph_emb_fwd(void *p) {
    PROF_VARS(p);
    embedding_forward(a->embcat, w->C, a->Xb, B, c->T, c->E);
}
static void ph_lin1_fwd(void *p) {
    PROF_VARS(p);
    gemm_op_run(&s->m.plan.op[GOP_FWD1], 1.0f, a->embcat, w->W1, a->hprebn);
}
static void ph_bn_fwd(void *p) {
    PROF_VARS(p);
    batchnorm_tanh_forward_bias(a->h, a->bnraw, a->bnmeani, a->bnvar, a->bnvar_inv, a->hprebn,
                                w->b1, w->bngain, w->bnbias, B, c->H, c->bessel);
}
static void ph_lin2_fwd(void *p) {
    PROF_VARS(p);
    linear_forward_op(&s->m.plan.op[GOP_FWD2], a->logits, a->h, w->W2, w->b2);
}
static void ph_ce(void *p) {
    PROF_VARS(p);
    a->loss = ce_forward_backward_fused(a->dlogits, a->logits, a->Yb, B, c->V);
}
static void ph_lin2_bwd(void *p) {
    PROF_VARS(p);
    const GemmOp *op = s->m.plan.op;
    linear_backward_sgd_op(&op[GOP_DX2], &op[GOP_DW2], a->dh, s->m.params.W2, g->b2, a->dlogits,
                           a->h, 1e-6f);
}
static void ph_bn_bwd(void *p) {
    PROF_VARS(p);
    bn_tanh_backward_fused(a->dhprebn, g->bngain, g->bnbias, a->dh, a->h, a->bnraw, a->bnvar_inv,
                           w->bngain, B, c->H, c->bessel);
}
static void ph_lin1_bwd(void *p) {
    PROF_VARS(p);
    const GemmOp *op = s->m.plan.op;
    linear_backward_sgd_op(&op[GOP_DX1], &op[GOP_DW1], a->dembcat, s->m.params.W1, g->b1,
                           a->dhprebn, a->embcat, 1e-6f);
}
static void ph_emb_bwd(void *p) {
    PROF_VARS(p);
    embedding_backward(g->C, a->dembcat, a->Xb, B, c->T, c->E, c->V);
}
static void ph_forward(void *p) {
    Prof *s = p;
    model_forward(&s->m, s->m.acts.Xb, s->m.acts.Yb);
}
static void ph_backward_sgd(void *p) { model_backward_sgd(&((Prof *)p)->m, 1e-6f); }
static void ph_step(void *p) {
    Prof *s = p;
    model_train_step(&s->m, &s->ex, 1e-6f, &s->rng);
}

// The step as model_train_step runs it: the public pieces (depth 0) and the kernels
// inside them (depth 1). The update of the small tensors is the part of
// model_backward_sgd its kernels do not account for.
static const struct {
    const char *name;
    BenchFn run;
    int depth;
} PHASES[] = {
    {"examples_sample_batch", ph_batch, 0},
    {"model_forward", ph_forward, 0},
    {"embedding_forward", ph_emb_fwd, 1},
    {"gemm fwd1 (b1 in the bn)", ph_lin1_fwd, 1},
    {"batchnorm_tanh_forward_bias", ph_bn_fwd, 1},
    {"linear_forward_op 2", ph_lin2_fwd, 1},
    {"ce_forward_backward_fused", ph_ce, 1},
    {"model_backward_sgd", ph_backward_sgd, 0},
    {"linear_backward_sgd_op 2", ph_lin2_bwd, 1},
    {"bn_tanh_backward_fused", ph_bn_bwd, 1},
    {"linear_backward_sgd_op 1", ph_lin1_bwd, 1},
    {"embedding_backward", ph_emb_bwd, 1},
    {"model_train_step (whole)", ph_step, 0},
};
enum { N_PHASES = sizeof PHASES / sizeof PHASES[0], MAX_PROFILE_THREADS = 64 };

static void prof_init(Prof *s, BenchSize sz) {
    Config cfg = {.V = BENCH_V, .T = BENCH_T, .E = BENCH_E, .H = sz.H, .bessel = 1};
    model_alloc(&s->m, &cfg, sz.B);
    rng_seed(&s->rng, 51);
    model_init_weights(&s->m, &s->rng);
    synthetic_examples(&s->ex, 182625, 52);
    model_train_step(&s->m, &s->ex, 1e-6f, &s->rng);  // every activation filled
}

static void prof_free(Prof *s) {
    model_free(&s->m);
    examples_free(&s->ex);
}

// Prints the phases of the fused step at size sz for each thread count in threads[].
void step_profile(FILE *f, BenchSize sz, const int *threads, int n_threads,
                  const TimingPlan *plan) {
    if (n_threads > MAX_PROFILE_THREADS) n_threads = MAX_PROFILE_THREADS;
    if (n_threads < 1) return;
    Prof s;
    prof_init(&s, sz);
    double t[N_PHASES][MAX_PROFILE_THREADS];
    char plans[MAX_PROFILE_THREADS][512];
    for (int k = 0; k < n_threads; k++) {
        threads_set(threads[k]);
        gemm_plan_auto(&s.m.plan, NULL);  // the step as --gemm auto runs it at this thread count
        gemm_plan_describe(&s.m.plan, plans[k], sizeof plans[k]);
        for (int i = 0; i < N_PHASES; i++) t[i][k] = time_fn(PHASES[i].run, &s, plan).median;
    }
    const double whole = t[N_PHASES - 1][0];
    fprintf(f, "\nprofile: the fused train_step under the auto plan by phase at B=%d H=%d (median "
               "us per call; share of the whole step at %d thread(s); scaling = first / last "
               "column)\n", sz.B, sz.H, threads[0]);
    for (int k = 0; k < n_threads; k++) fprintf(f, "  plan at %d thread(s): %s\n", threads[k], plans[k]);
    fprintf(f, "  %-29s", "phase");
    for (int k = 0; k < n_threads; k++) fprintf(f, " %8d thr", threads[k]);
    fprintf(f, " %7s %8s\n", "share", "scaling");
    for (int i = 0; i < N_PHASES; i++) {
        fprintf(f, "  %*s%-*s", 2 * PHASES[i].depth, "", 29 - 2 * PHASES[i].depth, PHASES[i].name);
        for (int k = 0; k < n_threads; k++) fprintf(f, " %12.2f", t[i][k] * 1e6);
        fprintf(f, " %6.1f%% %7.2fx\n", 100.0 * t[i][0] / whole, t[i][0] / t[i][n_threads - 1]);
    }
    fflush(f);
    prof_free(&s);
}
