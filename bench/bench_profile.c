// bench_profile.c: the engine's fused training step taken apart. Each phase of
// net_train_step for the lecture's model (net.c's mlp with one hidden layer: batch, each
// layer's forward, each layer's fused backward, the update) is timed on its own, at every
// thread count, so a step's time and its thread scaling can be read phase by phase: the
// profile figures behind the step's row of the table.
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "common.h"
#include "kernels.h"
#include "linear.h"
#include "net.h"
#include "net_plan.h"
#include "rng.h"

#define PROF_LR 1e-6f  // a step that changes the model but not the timing

typedef struct {
    Net n;
    Examples ex;
    Rng rng;
    int emb, lin1, bn, out;  // the layers of the table: embedding, W1, batchnorm+tanh, W2 + CE
} Prof;

static void ph_batch(void *p) {
    Prof *s = p;
    examples_sample_batch(s->n.Xb, s->n.Yb, &s->ex, s->n.B, &s->rng);
}
static void ph_emb_fwd(void *p) {
    Prof *s = p;
    net_layer_forward(&s->n, s->emb, 1);
}
static void ph_lin1_fwd(void *p) {
    Prof *s = p;
    net_layer_forward(&s->n, s->lin1, 1);
}
static void ph_bn_fwd(void *p) {
    Prof *s = p;
    net_layer_forward(&s->n, s->bn, 1);
}
// The output layer's forward is two kernels (net_layer_forward runs both): timed apart,
// each called as net_layer_forward calls it.
static void ph_lin2_fwd(void *p) {
    Prof *s = p;
    Net *n = &s->n;
    const Layer *L = &n->layer[s->out];
    linear_forward_op(&n->plan.op[L->fwd], n->acts + L->out, n->acts + n->layer[s->out - 1].out,
                      net_tensor(n, L->w), net_tensor(n, L->b));
}
static void ph_ce(void *p) {
    Prof *s = p;
    Net *n = &s->n;
    const Layer *L = &n->layer[s->out];
    n->loss = ce_forward_backward_fused(n->acts + L->dout, n->acts + L->out, n->Yb, n->B, n->cfg.V);
}
static void ph_lin2_bwd(void *p) {
    Prof *s = p;
    net_layer_backward(&s->n, s->out, 1, PROF_LR);
}
static void ph_bn_bwd(void *p) {
    Prof *s = p;
    net_layer_backward(&s->n, s->bn, 1, PROF_LR);
}
static void ph_lin1_bwd(void *p) {
    Prof *s = p;
    net_layer_backward(&s->n, s->lin1, 1, PROF_LR);
}
static void ph_emb_bwd(void *p) {
    Prof *s = p;
    net_layer_backward(&s->n, s->emb, 1, PROF_LR);
}
static void ph_forward(void *p) {
    Prof *s = p;
    net_forward(&s->n, s->n.Xb, s->n.Yb, 1);
}
static void ph_backward_sgd(void *p) { net_backward_sgd(&((Prof *)p)->n, PROF_LR); }
static void ph_step(void *p) {
    Prof *s = p;
    net_train_step(&s->n, &s->ex, PROF_LR, &s->rng);
}

// The step as net_train_step runs it: the public pieces (depth 0) and the layers inside
// them (depth 1), each named by the kernel it runs (the flatten layer is a view: nothing
// runs). The update of the small tensors is the part of net_backward_sgd its layers do
// not account for.
static const struct {
    const char *name;
    BenchFn run;
    int depth;
} PHASES[] = {
    {"examples_sample_batch", ph_batch, 0},
    {"net_forward", ph_forward, 0},
    {"embedding_forward", ph_emb_fwd, 1},
    {"gemm fwd1 (b1 in the bn)", ph_lin1_fwd, 1},
    {"batchnorm_tanh_forward_bias", ph_bn_fwd, 1},
    {"linear_forward_op 2", ph_lin2_fwd, 1},
    {"ce_forward_backward_fused", ph_ce, 1},
    {"net_backward_sgd", ph_backward_sgd, 0},
    {"linear_backward_sgd_op 2", ph_lin2_bwd, 1},
    {"bn_tanh_backward_fused", ph_bn_bwd, 1},
    {"linear_backward_sgd_op 1", ph_lin1_bwd, 1},
    {"embedding_backward", ph_emb_bwd, 1},
    {"net_train_step (whole)", ph_step, 0},
};
enum { N_PHASES = sizeof PHASES / sizeof PHASES[0], MAX_PROFILE_THREADS = 64 };

static int layer_of(const Net *n, LayerKind kind) {
    for (int l = 0; l < n->n_layers; l++)
        if (n->layer[l].kind == kind) return l;
    die(EXIT_RUNTIME, "bench profile: the net has no layer of kind %d", (int)kind);
}

static void prof_init(Prof *s, BenchSize sz) {
    lecture_net_alloc(&s->n, sz.H, sz.B);
    s->emb = layer_of(&s->n, L_EMBED);
    s->lin1 = layer_of(&s->n, L_LINEAR);
    s->bn = layer_of(&s->n, L_BN_TANH);
    s->out = layer_of(&s->n, L_LINEAR_OUT);
    rng_seed(&s->rng, 51);
    net_init(&s->n, &s->rng, 0);
    synthetic_examples(&s->ex, 182625, 52);
    net_train_step(&s->n, &s->ex, PROF_LR, &s->rng);  // every activation filled
}

static void prof_free(Prof *s) {
    net_free(&s->n);
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
        net_plan_step(&s.n, &s.ex, NULL);  // the step as the default --gemm plans it here
        gemm_plan_describe(&s.n.plan, plans[k], sizeof plans[k]);
        for (int i = 0; i < N_PHASES; i++) t[i][k] = time_fn(PHASES[i].run, &s, plan).median;
    }
    const double whole = t[N_PHASES - 1][0];
    fprintf(f, "\nprofile: the fused train_step under the default path's plan (net_plan_step, "
               "made at each thread count) by phase at B=%d H=%d (median "
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
