// bench_diag.c: the `diag_step` entry: what a step with train --diag's statistics costs
// against the plain step (diag.h). The model is part 3's deeper stack, mlp --layers 4
// (Linear -> BatchNorm -> Tanh x 4, the lecture's V, T, E, hidden width H), SGD with the
// updates folded into the weight GEMMs, the step net_train_step as train runs it:
//   plain   the step
//   diag    the parameters copied, the step, then every statistic (each tanh layer's
//           activations, each layer's output gradient, each weight's gradient rebuilt by
//           one GEMM, every parameter's grad:data and update:data)
// Checked by what matters most: both leave the same parameters, bit for bit (the
// statistics never touch the training), from the same start and batch.
#include <string.h>

#include "bench.h"
#include "common.h"
#include "diag.h"

enum { DIAG_LAYERS = 4, DIAG_SEED = 4343, DIAG_EXAMPLES = 182625 };
static const float DIAG_LR = 0.1f;

typedef struct {
    Examples ex;
    Net n[2];      // plain, diag
    Rng rng[2];
    Diag d;
    float *initial;
    float *after[2];  // each variant's parameters after its checked step
} DiagState;

static void run_plain(void *p) {
    DiagState *s = p;
    net_train_step(&s->n[0], &s->ex, DIAG_LR, &s->rng[0]);
}

static void run_diag(void *p) {
    DiagState *s = p;
    diag_before_step(&s->d, &s->n[1]);
    net_train_step(&s->n[1], &s->ex, DIAG_LR, &s->rng[1]);
    diag_after_step(&s->d, &s->n[1], DIAG_LR);
}

static void diag_reset(void *p) {
    DiagState *s = p;
    for (int v = 0; v < 2; v++) {
        memcpy(s->n[v].params, s->initial, s->n[v].num_params * sizeof(float));
        rng_seed(&s->rng[v], DIAG_SEED);
    }
}

static void diag_after_check(void *p, int v) {
    DiagState *s = p;
    memcpy(s->after[v], s->n[v].params, s->n[v].num_params * sizeof(float));
}

static void diag_destroy(void *p) {
    DiagState *s = p;
    examples_free(&s->ex);
    net_free(&s->n[0]);
    net_free(&s->n[1]);
    diag_free(&s->d);
    xfree(s->initial);
    xfree(s->after[0]);
    xfree(s->after[1]);
    xfree(s);
}

static void diag_setup(Case *c, BenchSize sz) {
    DiagState *s = xcalloc(1, sizeof *s);
    NetConfig cfg = {.arch = ARCH_MLP, .V = BENCH_V, .T = BENCH_T, .E = BENCH_E, .H = sz.H,
                     .layers = DIAG_LAYERS, .heads = 1, .bessel = 1,
                     .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f, .optim = OPTIM_SGD};
    Err err;
    if (net_config_check(&cfg, &err)) die(EXIT_RUNTIME, "diag_step: %s", err.msg);
    synthetic_examples(&s->ex, DIAG_EXAMPLES, 47);
    for (int v = 0; v < 2; v++) net_alloc(&s->n[v], &cfg, sz.B);
    Rng init;
    rng_seed(&init, 45);
    net_init(&s->n[0], &init, 0);
    s->initial = xcalloc(s->n[0].num_params, sizeof(float));
    memcpy(s->initial, s->n[0].params, s->n[0].num_params * sizeof(float));
    diag_alloc(&s->d, &s->n[1]);
    for (int v = 0; v < 2; v++) {
        s->after[v] = xcalloc(s->n[v].num_params, sizeof(float));
        c->out[v][0] = (OutBuf){"params", s->after[v], (long)s->n[v].num_params};
    }
    c->n_outs = 1;
    diag_reset(s);
    c->state = s;
    c->reset = diag_reset;
    c->after_check = diag_after_check;
    c->destroy = diag_destroy;
    // the step's matmuls, 2*M*N*K each: forward, dX and dW of five linear layers
    const double H = sz.H;
    c->flops = 6.0 * sz.B * (BENCH_T * BENCH_E * H + (DIAG_LAYERS - 1) * H * H + H * BENCH_V);
    c->basis = ROOF_FLOPS;
}

const Entry ENTRY_DIAG = {
    .name = "diag_step",
    .about = "one SGD step of mlp --layers 4 (part 3's stack) with train --diag's statistics "
             "(copy, step, every layer's and parameter's statistics) vs the plain step",
    .tolerance = 0,  // the same parameters, bit for bit
    .n_variants = 2,
    .variants = {{"plain", run_plain, NULL, 1}, {"diag", run_diag, NULL, 1}},
    .setup = diag_setup,
};
