// bench_entries.c: one entry per kernel pair, named like the kernels. Variant 0 is the
// reference each other variant is checked against before it is timed.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "backward_atomic.h"
#include "bench.h"
#include "common.h"
#include "kernels.h"
#include "blas.h"
#include "linear.h"
#include "net.h"
#include "rng.h"

// ---- verification -------------------------------------------------------------------

static double max_abs(const float *x, long n) {
    double m = 0;
    for (long i = 0; i < n; i++) {
        double a = fabs((double)x[i]);
        if (!(a <= m)) m = a;  // NaN sticks
    }
    return m;
}

static void poison(Case *c, int v) {
    for (int k = 0; k < c->n_outs; k++)
        for (long i = 0; i < c->out[v][k].n; i++) c->out[v][k].data[i] = NAN;
}

// Each output's difference is relative to its own scale, floored at a fraction of the
// largest scale among the case's outputs: db1 is ~0 by construction (batchnorm cancels
// b1), its computed value is rounding noise that no relative test can hold to.
static double output_floor(const Entry *e, const Case *c) {
    double largest = 0;
    for (int k = 0; k < c->n_outs; k++) {
        double s = max_abs(c->out[0][k].data, c->out[0][k].n);
        if (s > largest) largest = s;
    }
    return (e->floor_frac > 0 ? e->floor_frac : 1e-3) * largest;
}

// Worst scale-relative difference of variant v's output k to the reference; fills *at.
static double output_error(const Case *c, int v, int k, double floor, long *at) {
    const OutBuf *ref = &c->out[0][k], *got = &c->out[v][k];
    double scale = fmax(max_abs(ref->data, ref->n), floor), worst = 0;
    *at = 0;
    for (long i = 0; i < ref->n; i++) {
        double d = fabs((double)got->data[i] - (double)ref->data[i]) / scale;
        if (!(d <= worst)) {  // NaN counts as the worst
            worst = d;
            *at = i;
            if (isnan(d)) return NAN;
        }
    }
    return worst;
}

static void run_variant_fresh(const Entry *e, Case *c, int v) {
    if (c->reset) c->reset(c->state);
    poison(c, v);
    if (c->prepare) c->prepare(c->state, v);
    e->variants[v].run(c->state);
    if (c->after_check) c->after_check(c->state, v);
}

int bench_inject_fault;

static void inject_fault(Case *c, int v) {
    OutBuf *o = &c->out[v][0];
    long at = o->n / 2;
    o->data[at] += (float)(1e-3 * max_abs(o->data, o->n));
}

int case_verify(const Entry *e, Case *c, double *worst, char *msg, size_t msg_len) {
    for (int v = 0; v < e->n_variants; v++) run_variant_fresh(e, c, v);
    if (bench_inject_fault) inject_fault(c, e->n_variants - 1);
    double floor = output_floor(e, c);
    *worst = 0;
    if (!(floor > 0)) {
        snprintf(msg, msg_len, "%s: reference output is all zero or not finite", e->name);
        *worst = NAN;
        return -1;
    }
    for (int v = 1; v < e->n_variants; v++)
        for (int k = 0; k < c->n_outs; k++) {
            long at;
            double err = output_error(c, v, k, floor, &at);
            if (!(err <= *worst)) *worst = err;
            if (!(err <= e->tolerance)) {
                snprintf(msg, msg_len, "%s/%s: %s[%ld] = %.8g, reference (%s) %.8g: scaled error "
                         "%.3g > %.1g", e->name, e->variants[v].name, c->out[v][k].name, at,
                         (double)c->out[v][k].data[at], e->variants[0].name,
                         (double)c->out[0][k].data[at], err, e->tolerance);
                return -1;
            }
        }
    return 0;
}

// ---- inputs ------------------------------------------------------------------------

// n random examples (contexts and targets uniform over the vocabulary), packed for batch
// sampling as examples_build packs the real ones.
void synthetic_examples(Examples *ex, long n, unsigned long long seed) {
    *ex = (Examples){.X = xcalloc((size_t)n * BENCH_T, sizeof(int)),
                     .Y = xcalloc((size_t)n, sizeof(int)), .n = (int)n, .T = BENCH_T};
    fill_index_seeded(ex->X, n * BENCH_T, BENCH_V, seed);
    fill_index_seeded(ex->Y, n, BENCH_V, seed + 1);
    examples_pack(ex);
}

// ---- the lecture's model as a Net -------------------------------------------------

// The atomic graph's dimensions (exercise 1 takes a Config).
static Config bench_config(int H) {
    return (Config){.V = BENCH_V, .T = BENCH_T, .E = BENCH_E, .H = H, .bessel = 1};
}

void lecture_net_alloc(Net *n, int H, int B) {
    NetConfig c = {.arch = ARCH_MLP, .V = BENCH_V, .T = BENCH_T, .E = BENCH_E, .H = H,
                   .layers = 1, .bessel = 1, .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f};
    Err err;
    if (net_config_check(&c, &err)) die(EXIT_RUNTIME, "bench: %s", err.msg);
    net_alloc(n, &c, B);
}

int plan_op(const GemmPlan *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->name[i], name) == 0) return i;
    die(EXIT_RUNTIME, "bench: the GEMM plan has no op %s", name);
}

// The lecture's seven parameters in the order of exercise 1's Params: their names in the
// Net (mlp/1 keeps the lecture's) and the gradient names the checks print.
enum { N_LECTURE = 7 };
static const char *const LECTURE_NAMES[N_LECTURE] = {"C", "W1", "b1", "W2", "b2", "bngain", "bnbias"};
static const char *const LECTURE_GRADS[N_LECTURE] = {"dC",  "dW1",     "db1",    "dW2",
                                                     "db2", "dbngain", "dbnbias"};

static int lecture_index(const Net *n, int k) {
    int i = net_find(n, LECTURE_NAMES[k]);
    if (i < 0) die(EXIT_RUNTIME, "bench: the net has no tensor %s", LECTURE_NAMES[k]);
    return i;
}

// The Net's tensors as exercise 1's Params (pointers into n->params).
static Params lecture_params(const Net *n) {
    float *t[N_LECTURE];
    for (int k = 0; k < N_LECTURE; k++) t[k] = net_tensor(n, lecture_index(n, k));
    return (Params){.C = t[0], .W1 = t[1], .b1 = t[2], .W2 = t[3], .b2 = t[4], .bngain = t[5],
                    .bnbias = t[6]};
}

// ---- a model with the lecture's forward done, shared by the kernel entries ----------

typedef struct {
    Config cfg;
    int B;
    Net n;             // parameters (lecture's init)
    Params p;          // its seven tensors, as the atomic graph takes them
    AtomicActs a;      // every intermediate of the forward, and the atomic gradients
    int *Xb, *Yb;
} Fixture;

static void fixture_init(Fixture *fx, BenchSize s) {
    fx->cfg = bench_config(s.H);
    fx->B = s.B;
    lecture_net_alloc(&fx->n, s.H, s.B);
    Rng rng;
    rng_seed(&rng, 1000u + 31u * (uint64_t)s.B + (uint64_t)s.H);
    net_init(&fx->n, &rng, 0);
    fx->p = lecture_params(&fx->n);
    fx->Xb = xcalloc((size_t)s.B * BENCH_T, sizeof(int));
    fx->Yb = xcalloc((size_t)s.B, sizeof(int));
    fill_index_seeded(fx->Xb, (long)s.B * BENCH_T, BENCH_V, 11);
    fill_index_seeded(fx->Yb, s.B, BENCH_V, 12);
    atomic_alloc(&fx->a, &fx->cfg, s.B);
    atomic_forward(&fx->a, &fx->p, fx->Xb, fx->Yb);
    // An upstream gradient for the batchnorm entries: dh as from a real backward.
    fill_normal_seeded(fx->a.dh, (long)s.B * s.H, 0.01f, 13);
    atomic_tanh_backward(&fx->a);
}

static void fixture_free(Fixture *fx) {
    atomic_free(&fx->a);
    net_free(&fx->n);
    xfree(fx->Xb);
    xfree(fx->Yb);
}

static void set_out(Case *c, int v, int k, const char *name, float *data, long n) {
    c->out[v][k] = (OutBuf){name, data, n};
    if (k + 1 > c->n_outs) c->n_outs = k + 1;
}

// ---- ce_backward: exercise 1's cross-entropy chain vs exercise 2 --------------------

typedef struct {
    Fixture fx;
    float *dlogits_fused, *dlogits_loss;
} CeState;

static void ce_atomic(void *p) { atomic_ce_backward_chain(&((CeState *)p)->fx.a); }

static void ce_fused(void *p) {
    CeState *s = p;
    ce_backward_fused(s->dlogits_fused, s->fx.a.logits, s->fx.Yb, s->fx.B, BENCH_V);
}

static void ce_fused_loss(void *p) {
    CeState *s = p;
    s->fx.n.loss = ce_forward_backward_fused(s->dlogits_loss, s->fx.a.logits, s->fx.Yb,
                                                  s->fx.B, BENCH_V);
}

static void ce_destroy(void *p) {
    CeState *s = p;
    fixture_free(&s->fx);
    xfree(s->dlogits_fused);
    xfree(s->dlogits_loss);
    xfree(s);
}

static void ce_setup(Case *c, BenchSize sz) {
    CeState *s = xcalloc(1, sizeof *s);
    fixture_init(&s->fx, sz);
    long n = (long)sz.B * BENCH_V;
    s->dlogits_fused = xcalloc((size_t)n, sizeof(float));
    s->dlogits_loss = xcalloc((size_t)n, sizeof(float));
    set_out(c, 0, 0, "dlogits", s->fx.a.dlogits, n);
    set_out(c, 1, 0, "dlogits", s->dlogits_fused, n);
    set_out(c, 2, 0, "dlogits", s->dlogits_loss, n);
    c->state = s;
    c->destroy = ce_destroy;
    c->bytes = 4.0 * (2.0 * (double)n + sz.B);  // logits in, Yb in, dlogits out
    c->basis = ROOF_BANDWIDTH;
}

static const Entry ENTRY_CE = {
    .name = "ce_backward",
    .about = "dlogits: exercise 1's chain (dlogprobs..dlogits) vs exercise 2 "
             "(softmax - onehot)/B; fused_loss also returns the loss (the model's path)",
    .tolerance = 1e-5,
    .n_variants = 3,
    .variants = {{"atomic", ce_atomic, "ce_backward_atomic", 1},
                 {"fused", ce_fused, "ce_backward_fused", 1},
                 {"fused_loss", ce_fused_loss, NULL, 1}},
    .setup = ce_setup,
};

// ---- ce_forward_backward: every cross-entropy line of the notebook vs the fused kernel --
//
// What exercise 2's fusion replaces in a training step: the forward's cross-entropy lines
// (logit_maxes, norm_logits, counts, counts_sum, counts_sum_inv, probs, logprobs, loss)
// and the backward chain, against one pass that returns the loss and leaves dlogits.

typedef struct {
    Fixture fx;
    float *dlogits;
    float loss;
} CeFbState;

static void cefb_atomic(void *p) {
    CeFbState *s = p;
    atomic_ce_forward_chain(&s->fx.a);
    atomic_ce_backward_chain(&s->fx.a);
}

static void cefb_fused(void *p) {
    CeFbState *s = p;
    s->loss = ce_forward_backward_fused(s->dlogits, s->fx.a.logits, s->fx.Yb, s->fx.B, BENCH_V);
}

static void cefb_destroy(void *p) {
    CeFbState *s = p;
    fixture_free(&s->fx);
    xfree(s->dlogits);
    xfree(s);
}

static void cefb_setup(Case *c, BenchSize sz) {
    CeFbState *s = xcalloc(1, sizeof *s);
    fixture_init(&s->fx, sz);
    long n = (long)sz.B * BENCH_V;
    s->dlogits = xcalloc((size_t)n, sizeof(float));
    set_out(c, 0, 0, "dlogits", s->fx.a.dlogits, n);
    set_out(c, 0, 1, "loss", &s->fx.a.loss, 1);
    set_out(c, 1, 0, "dlogits", s->dlogits, n);
    set_out(c, 1, 1, "loss", &s->loss, 1);
    c->state = s;
    c->destroy = cefb_destroy;
    c->bytes = 4.0 * (2.0 * (double)n + sz.B);  // logits in, Yb in, dlogits out
    c->basis = ROOF_BANDWIDTH;
}

static const Entry ENTRY_CE_FB = {
    .name = "ce_forward_backward",
    .about = "loss and dlogits from logits: the notebook's cross-entropy forward lines + "
             "exercise 1's chain vs ce_forward_backward_fused (the model's path)",
    .tolerance = 1e-5,
    .n_variants = 2,
    .variants = {{"atomic", cefb_atomic, "ce_forward_backward_atomic", 1},
                 {"fused", cefb_fused, "ce_forward_backward_fused", 1}},
    .setup = cefb_setup,
};

// ---- bn_backward: exercise 1's batchnorm chain vs exercise 3's closed form ----------

// Every variant has its own outputs (a check compares them after all have run);
// variant 0 writes the atomic struct's, variant v >= 1 the state's slot v.
enum { BN_SLOTS = 3 };
typedef struct {
    Fixture fx;
    float *dhprebn[BN_SLOTS], *dbngain[BN_SLOTS], *dbnbias[BN_SLOTS];
} BnState;

static void bn_closed_into(BnState *s, int slot) {
    const AtomicActs *a = &s->fx.a;
    bn_backward_fused(s->dhprebn[slot], s->dbngain[slot], s->dbnbias[slot], a->dhpreact, a->bnraw,
                      a->bnvar_inv, s->fx.p.bngain, s->fx.B, s->fx.cfg.H, 1);
}

static void bn_atomic(void *p) { atomic_bn_backward_chain(&((BnState *)p)->fx.a); }
static void bn_fused(void *p) { bn_closed_into(p, 1); }

// From dh: tanh's backward line, then the chain (the atomic path of the real backward).
static void bn_tanh_atomic(void *p) {
    BnState *s = p;
    atomic_tanh_backward(&s->fx.a);
    atomic_bn_backward_chain(&s->fx.a);
}

// tanh's backward as its own pass over [B,H], then the closed form.
static void bn_tanh_closed(void *p) {
    BnState *s = p;
    atomic_tanh_backward(&s->fx.a);
    bn_closed_into(s, 1);
}

static void bn_tanh_fused(void *p) {
    BnState *s = p;
    const AtomicActs *a = &s->fx.a;
    bn_tanh_backward_fused(s->dhprebn[2], s->dbngain[2], s->dbnbias[2], a->dh, a->h, a->bnraw,
                           a->bnvar_inv, s->fx.p.bngain, s->fx.B, s->fx.cfg.H, 1);
}

static void bn_destroy(void *p) {
    BnState *s = p;
    fixture_free(&s->fx);
    for (int v = 1; v < BN_SLOTS; v++) {
        xfree(s->dhprebn[v]);
        xfree(s->dbngain[v]);
        xfree(s->dbnbias[v]);
    }
    xfree(s);
}

static void bn_setup_arrays(Case *c, BenchSize sz, int n_variants, double arrays_in) {
    BnState *s = xcalloc(1, sizeof *s);
    fixture_init(&s->fx, sz);
    long bh = (long)sz.B * sz.H;
    s->dhprebn[0] = s->fx.a.dhprebn;
    s->dbngain[0] = s->fx.a.dbngain;
    s->dbnbias[0] = s->fx.a.dbnbias;
    for (int v = 1; v < BN_SLOTS; v++) {
        s->dhprebn[v] = xcalloc((size_t)bh, sizeof(float));
        s->dbngain[v] = xcalloc((size_t)sz.H, sizeof(float));
        s->dbnbias[v] = xcalloc((size_t)sz.H, sizeof(float));
    }
    for (int v = 0; v < n_variants; v++) {
        set_out(c, v, 0, "dhprebn", s->dhprebn[v], bh);
        set_out(c, v, 1, "dbngain", s->dbngain[v], sz.H);
        set_out(c, v, 2, "dbnbias", s->dbnbias[v], sz.H);
    }
    c->state = s;
    c->destroy = bn_destroy;
    // [B,H] arrays in, dhprebn out; bnvar_inv, bngain in, dbngain, dbnbias out
    c->bytes = 4.0 * ((arrays_in + 1.0) * (double)bh + 4.0 * sz.H);
    c->basis = ROOF_BANDWIDTH;
}

static void bn_setup(Case *c, BenchSize sz) { bn_setup_arrays(c, sz, 2, 2.0); }
static void bn_tanh_setup(Case *c, BenchSize sz) { bn_setup_arrays(c, sz, 3, 3.0); }

static const Entry ENTRY_BN = {
    .name = "bn_backward",
    .about = "dhprebn, dbngain, dbnbias from dhpreact: exercise 1's chain vs exercise 3's "
             "closed form",
    .tolerance = 2e-5,
    .n_variants = 2,
    .variants = {{"atomic", bn_atomic, "bn_backward_atomic", 1},
                 {"fused", bn_fused, "bn_backward_fused", 1}},
    .setup = bn_setup,
};

static const Entry ENTRY_BN_TANH = {
    .name = "bn_tanh_backward",
    .about = "the same from dh, tanh's backward in front: atomic lines; tanh pass + closed "
             "form; tanh fused into the closed form",
    .tolerance = 2e-5,
    .n_variants = 3,
    .variants = {{"atomic", bn_tanh_atomic, "bn_tanh_backward_atomic", 1},
                 {"closed", bn_tanh_closed, NULL, 1},
                 {"fused", bn_tanh_fused, "bn_tanh_backward_fused", 1}},
    .setup = bn_tanh_setup,
};

// ---- embedding_backward: the scatter-add dC[Xb[b,t]] += dembcat[b,t] -----------------

typedef struct {
    int B;
    int *Xb;
    float *dembcat;
    float *dC[5];
} EmbState;

#define EMB_ARGS(s, v) (s)->dC[v], (s)->dembcat, (s)->Xb
static void emb_serial(void *p) {
    EmbState *s = p;
    embedding_backward_serial(EMB_ARGS(s, 0), s->B, BENCH_T, BENCH_E, BENCH_V);
}
static void emb_rows(void *p) {
    EmbState *s = p;
    embedding_backward(EMB_ARGS(s, 1), s->B, BENCH_T, BENCH_E, BENCH_V);
}
static void emb_buffers(void *p) {
    EmbState *s = p;
    scatter_thread_buffers(EMB_ARGS(s, 2), s->B * BENCH_T, BENCH_E, BENCH_V);
}
static void emb_sorted(void *p) {
    EmbState *s = p;
    scatter_sorted(EMB_ARGS(s, 3), s->B * BENCH_T, BENCH_E, BENCH_V);
}
static void emb_atomics(void *p) {
    EmbState *s = p;
    scatter_atomic_adds(EMB_ARGS(s, 4), s->B * BENCH_T, BENCH_E, BENCH_V);
}
#undef EMB_ARGS

static void emb_destroy(void *p) {
    EmbState *s = p;
    xfree(s->Xb);
    xfree(s->dembcat);
    for (int v = 0; v < 5; v++) xfree(s->dC[v]);
    xfree(s);
}

static void emb_setup(Case *c, BenchSize sz) {
    EmbState *s = xcalloc(1, sizeof *s);
    long positions = (long)sz.B * BENCH_T, vocab_floats = (long)BENCH_V * BENCH_E;
    s->B = sz.B;
    s->Xb = xcalloc((size_t)positions, sizeof(int));
    s->dembcat = xcalloc((size_t)positions * BENCH_E, sizeof(float));
    fill_index_seeded(s->Xb, positions, BENCH_V, 21);
    fill_normal_seeded(s->dembcat, positions * BENCH_E, 0.01f, 22);
    for (int v = 0; v < 5; v++) {
        s->dC[v] = xcalloc((size_t)vocab_floats, sizeof(float));
        set_out(c, v, 0, "dC", s->dC[v], vocab_floats);
    }
    c->state = s;
    c->destroy = emb_destroy;
    c->bytes = 4.0 * ((double)positions * BENCH_E + positions + vocab_floats);
    c->basis = ROOF_BANDWIDTH;
}

static const Entry ENTRY_EMB = {
    .name = "embedding_backward",
    .about = "dC[Xb[b,t]] += dembcat[b,t]: serial loop; row ownership (the engine's); "
             "per-thread buffers; counting sort then rows; atomic adds",
    .tolerance = 1e-5,
    .n_variants = 5,
    .variants = {{"serial", emb_serial, "embedding_backward_loop", 1},
                 {"row_owner", emb_rows, "embedding_backward_index_add", 1},
                 {"thread_bufs", emb_buffers, "embedding_backward_index_add", 0},
                 {"sort_reduce", emb_sorted, "embedding_backward_index_add", 0},
                 {"atomic_adds", emb_atomics, "embedding_backward_index_add", 0}},
    .setup = emb_setup,
};

// ---- linear_backward: naive loops vs cblas_sgemm (layer 2: h[B,H] . W2[H,V]) --------

typedef struct {
    int B, H;
    float *h, *W2, *dlogits;
    float *dh[2], *dW2[2], *db2[2];
} LinState;

static void lin_loops(void *p) {
    LinState *s = p;
    linear_backward_loops(s->dh[0], s->dW2[0], s->db2[0], s->dlogits, s->h, s->W2, s->B, s->H,
                          BENCH_V);
}

static void lin_sgemm(void *p) {
    LinState *s = p;
    linear_backward(s->dh[1], s->dW2[1], s->db2[1], s->dlogits, s->h, s->W2, s->B, s->H, BENCH_V);
}

static void lin_destroy(void *p) {
    LinState *s = p;
    float *all[] = {s->h, s->W2, s->dlogits, s->dh[0], s->dh[1], s->dW2[0], s->dW2[1],
                    s->db2[0], s->db2[1]};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
    xfree(s);
}

static void lin_setup(Case *c, BenchSize sz) {
    LinState *s = xcalloc(1, sizeof *s);
    long bh = (long)sz.B * sz.H, hv = (long)sz.H * BENCH_V, bv = (long)sz.B * BENCH_V;
    s->B = sz.B;
    s->H = sz.H;
    s->h = xcalloc((size_t)bh, sizeof(float));
    s->W2 = xcalloc((size_t)hv, sizeof(float));
    s->dlogits = xcalloc((size_t)bv, sizeof(float));
    fill_normal_seeded(s->h, bh, 0.5f, 31);
    fill_normal_seeded(s->W2, hv, 0.1f, 32);
    fill_normal_seeded(s->dlogits, bv, 1.0f / sz.B, 33);
    for (int v = 0; v < 2; v++) {
        s->dh[v] = xcalloc((size_t)bh, sizeof(float));
        s->dW2[v] = xcalloc((size_t)hv, sizeof(float));
        s->db2[v] = xcalloc(BENCH_V, sizeof(float));
        set_out(c, v, 0, "dh", s->dh[v], bh);
        set_out(c, v, 1, "dW2", s->dW2[v], hv);
        set_out(c, v, 2, "db2", s->db2[v], BENCH_V);
    }
    c->state = s;
    c->destroy = lin_destroy;
    c->flops = 4.0 * (double)bh * BENCH_V + (double)bv;
    c->basis = ROOF_FLOPS;
}

static const Entry ENTRY_LINEAR = {
    .name = "linear_backward",
    .about = "layer 2's adjoint: dW2 = h^T.dlogits, dh = dlogits.W2^T, db2: naive loops "
             "vs cblas_sgemm",
    .tolerance = 1e-5,
    .n_variants = 2,
    .variants = {{"loops", lin_loops, NULL, 0}, {"sgemm", lin_sgemm, "linear_backward", 1}},
    .setup = lin_setup,
};

// ---- train_step: batch, forward, backward, update -----------------------------------
//
// The engine's step folds the update into the weight GEMMs (W1 and W2's gradients never
// exist on their own), so the step is checked by what it does: both steps start from the
// same parameters and batch with a large learning rate, and the gradient each applied is
// read back as (before - after) / lr. With lr = 1e4 the update dominates the result, so
// the read-back keeps ~7 significant digits of the gradient.

enum { STEP_SEED = 4242, STEP_EXAMPLES = 182625 };
static const float STEP_LR = 0.01f, CHECK_LR = 1e4f;

typedef struct {
    Config cfg;
    int B;
    float lr;
    Examples ex;       // synthetic, the size of the lecture's training split
    Net fused;         // the engine's step (net_train_step), the default plan (blas)
    Net planned[2];    // the same under the auto plan and the forced xsmm plan
    Net atomic_n;      // parameters the atomic step updates
    Params atomic_p;   // atomic_n's seven tensors, as the atomic graph takes them
    size_t numel[N_LECTURE];  // their sizes
    AtomicActs a;
    int *Xb, *Yb;
    float *initial;    // parameters at the start, for resets
    float *applied[4]; // the gradient each variant's checked step applied
    Rng rng_fused, rng_atomic, rng_planned[2];
    int planned_threads;  // the thread count the auto plan was made at
} StepState;

// w -= lr * g. A plain loop when forking does not pay: GCC 12's serial path of
// `parallel for simd if (0)` runs 4x slower than a plain loop (the bench's fork sweep).
static void sgd(float *restrict w, const float *restrict g, long n, float lr) {
    if (!par_worth(n) || omp_get_max_threads() == 1) {
        #pragma omp simd
        for (long i = 0; i < n; i++) w[i] -= lr * g[i];
        return;
    }
    #pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) w[i] -= lr * g[i];
}

static void step_atomic(void *p) {
    StepState *s = p;
    Params *w = &s->atomic_p;
    examples_sample_batch(s->Xb, s->Yb, &s->ex, s->B, &s->rng_atomic);
    atomic_forward(&s->a, w, s->Xb, s->Yb);
    atomic_backward(&s->a);
    float *params[] = {w->C, w->W1, w->b1, w->W2, w->b2, w->bngain, w->bnbias};
    const float *grads[] = {s->a.dC, s->a.dW1, s->a.db1, s->a.dW2, s->a.db2, s->a.dbngain,
                            s->a.dbnbias};
    for (int i = 0; i < N_LECTURE; i++) sgd(params[i], grads[i], (long)s->numel[i], s->lr);
}

static void step_fused(void *p) {
    StepState *s = p;
    net_train_step(&s->fused, &s->ex, s->lr, &s->rng_fused);
}

static void step_auto(void *p) {
    StepState *s = p;
    net_train_step(&s->planned[0], &s->ex, s->lr, &s->rng_planned[0]);
}

static void step_xsmm(void *p) {
    StepState *s = p;
    net_train_step(&s->planned[1], &s->ex, s->lr, &s->rng_planned[1]);
}

static void step_restart(StepState *s, float lr) {
    size_t bytes = s->fused.num_params * sizeof(float);
    memcpy(s->fused.params, s->initial, bytes);
    memcpy(s->atomic_n.params, s->initial, bytes);
    rng_seed(&s->rng_fused, STEP_SEED);
    rng_seed(&s->rng_atomic, STEP_SEED);
    for (int k = 0; k < 2; k++) {
        memcpy(s->planned[k].params, s->initial, bytes);
        rng_seed(&s->rng_planned[k], STEP_SEED);
    }
    s->lr = lr;
}

// Before each thread count's check: the auto plan is made again at that thread count.
static void step_reset(void *p) {
    StepState *s = p;
    if (s->planned_threads != threads_get()) {
        gemm_plan_auto(&s->planned[0].plan, NULL);
        s->planned_threads = threads_get();
    }
    step_restart(s, CHECK_LR);
}

static void step_after_check(void *p, int variant) {
    StepState *s = p;
    const Net *n = variant == 0 ? &s->atomic_n : variant == 1 ? &s->fused : &s->planned[variant - 2];
    const float *after = n->params;
    for (size_t i = 0; i < s->fused.num_params; i++)
        s->applied[variant][i] = (float)(((double)s->initial[i] - after[i]) / CHECK_LR);
    step_restart(s, STEP_LR);
}

static void step_destroy(void *p) {
    StepState *s = p;
    examples_free(&s->ex);
    net_free(&s->fused);
    net_free(&s->atomic_n);
    net_free(&s->planned[0]);
    net_free(&s->planned[1]);
    atomic_free(&s->a);
    xfree(s->Xb);
    xfree(s->Yb);
    xfree(s->initial);
    for (int v = 0; v < 4; v++) xfree(s->applied[v]);
    xfree(s);
}

// Outputs: the applied gradient, cut into the seven parameters (by their place in the
// Net's parameter buffer).
static void step_outputs(Case *c, StepState *s) {
    const Net *n = &s->fused;
    for (int v = 0; v < 4; v++) {
        s->applied[v] = xcalloc(n->num_params, sizeof(float));
        for (int k = 0; k < N_LECTURE; k++) {
            const NetTensor *t = &n->tensor[lecture_index(n, k)];
            set_out(c, v, k, LECTURE_GRADS[k], s->applied[v] + t->off, (long)t->numel);
        }
    }
}

static void step_setup(Case *c, BenchSize sz) {
    StepState *s = xcalloc(1, sizeof *s);
    s->cfg = bench_config(sz.H);
    s->B = sz.B;
    synthetic_examples(&s->ex, STEP_EXAMPLES, 41);
    lecture_net_alloc(&s->fused, sz.H, sz.B);
    lecture_net_alloc(&s->atomic_n, sz.H, sz.B);
    for (int k = 0; k < 2; k++) lecture_net_alloc(&s->planned[k], sz.H, sz.B);
    gemm_plan_force(&s->planned[1].plan, GEMM_XSMM);
    s->atomic_p = lecture_params(&s->atomic_n);
    for (int k = 0; k < N_LECTURE; k++)
        s->numel[k] = s->atomic_n.tensor[lecture_index(&s->atomic_n, k)].numel;
    atomic_alloc(&s->a, &s->cfg, sz.B);
    Rng init;
    rng_seed(&init, 43);
    net_init(&s->fused, &init, 0);
    s->initial = xcalloc(s->fused.num_params, sizeof(float));
    memcpy(s->initial, s->fused.params, s->fused.num_params * sizeof(float));
    s->Xb = xcalloc((size_t)sz.B * BENCH_T, sizeof(int));
    s->Yb = xcalloc((size_t)sz.B, sizeof(int));
    step_restart(s, STEP_LR);
    step_outputs(c, s);
    c->state = s;
    c->reset = step_reset;
    c->after_check = step_after_check;
    c->destroy = step_destroy;
    // the six matmuls, 2*M*N*K each: forward 2, backward 4 (dW and din per layer)
    c->flops = 6.0 * sz.B * ((double)BENCH_T * BENCH_E * sz.H + (double)sz.H * BENCH_V);
    c->basis = ROOF_FLOPS;
}

static const Entry ENTRY_STEP = {
    .name = "train_step",
    .about = "one SGD step (batch, forward, backward, update): exercise 1's atomic forward + "
             "backward vs the engine's fused step; torch: autograd / exercise 4's manual step",
    .tolerance = 1e-4,
    .floor_frac = 0.1,  // db1: rounding noise around 0 (1e-8 where the others are 1e-2)
    .n_variants = 4,
    .variants = {{"atomic", step_atomic, "train_step_autograd", 1},
                 {"fused", step_fused, "train_step_manual", 1},
                 {"fused_auto", step_auto, NULL, 1},
                 {"fused_xsmm", step_xsmm, NULL, 1}},
    .setup = step_setup,
};

const Entry *const BENCH_ENTRIES[] = {
    &ENTRY_CE,        &ENTRY_CE_FB,     &ENTRY_BN,   &ENTRY_BN_TANH, &ENTRY_EMB,
    &ENTRY_LINEAR,    &ENTRY_STEP,      &ENTRY_DIAG,  // the lecture's; then makemore.py's (bench_seq.c)
    &ENTRY_LAYERNORM, &ENTRY_ATTENTION, &ENTRY_GELU, &ENTRY_ADAMW,    &ENTRY_CE_MASKED,
    &ENTRY_GRU,       &ENTRY_RNN,       &ENTRY_BOW,  &ENTRY_CONTEXT};
const int BENCH_N_ENTRIES = (int)(sizeof BENCH_ENTRIES / sizeof BENCH_ENTRIES[0]);
