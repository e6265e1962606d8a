// test_diag.c: the diagnostics (diag.h) held to independent computations.
//  - diag_stat against a plain double pass over the same values (mean, unbiased std,
//    saturation, each histogram bin counted by comparing with the bin edges), with rows
//    masked out, for none, tanh and gelu;
//  - a whole training step of the lecture's family (mlp with batchnorm, mlp without,
//    wavenet; SGD with its fused weight updates, and AdamW) against the float64 twin
//    (net_ref.h) run from the parameters before the step: each tanh layer's activation
//    statistics and histogram, each layer's output-gradient statistics, every parameter's
//    std(grad), and std(update) against lr * grad (SGD) or AdamW's first step in double;
//  - makemore.py's six types against their float64 twins (mm_ref.h): every parameter's
//    std(grad), each nonlinearity's values (tanh in [-1, 1], the count of the rows a packed
//    batch counts, gelu's saturation from its input).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "diag.h"
#include "mm_ref.h"
#include "net.h"
#include "net_ref.h"
#include "rng.h"

// ---- the reference statistics --------------------------------------------------------

typedef struct {
    long count;
    double mean, std, sat, lo, hi;
    long bins[DIAG_BINS];  // over the range given (the engine's), by the edges
    long near;             // values within `near_tol` of a bin edge or of the saturation bound
} Ref;

// A plain pass in double over x[rows, cols] as doubles: rows with skip[r] < 0 left out;
// bins over [lo, hi] found by comparing with the edges lo + k (hi - lo) / DIAG_BINS.
static Ref ref_stat(const double *x, int rows, int cols, const int *skip, NetNonlin nl,
                    const double *pre, double lo, double hi, double near_tol) {
    Ref r;
    memset(&r, 0, sizeof r);
    long double sum = 0;
    r.lo = INFINITY, r.hi = -INFINITY;
    for (int i = 0; i < rows; i++) {
        if (skip && skip[i] < 0) continue;
        for (int c = 0; c < cols; c++) {
            double v = x[(size_t)i * cols + c];
            sum += v;
            r.count++;
            r.lo = fmin(r.lo, v), r.hi = fmax(r.hi, v);
            double p = pre ? pre[(size_t)i * cols + c] : 0;
            r.sat += nl == NET_NL_TANH ? fabs(v) > DIAG_TANH_SAT : nl == NET_NL_GELU ? p < DIAG_GELU_SAT : 0;
            if (nl == NET_NL_TANH && fabs(fabs(v) - DIAG_TANH_SAT) < near_tol) r.near++;
            if (nl == NET_NL_GELU && fabs(p - DIAG_GELU_SAT) < near_tol) r.near++;
            int k = 0;
            while (k < DIAG_BINS - 1 && v >= lo + (k + 1) * (hi - lo) / DIAG_BINS) k++;
            if (v >= lo && v <= hi) r.bins[k]++;
            for (int e = 0; e <= DIAG_BINS; e++)
                if (fabs(v - (lo + e * (hi - lo) / DIAG_BINS)) < near_tol) r.near++;
        }
    }
    r.mean = (double)(sum / r.count);
    long double sq = 0;
    for (int i = 0; i < rows; i++) {
        if (skip && skip[i] < 0) continue;
        for (int c = 0; c < cols; c++) sq += (x[(size_t)i * cols + c] - r.mean) * (x[(size_t)i * cols + c] - r.mean);
    }
    r.std = sqrt((double)(sq / (r.count - 1)));
    r.sat /= (double)r.count;
    return r;
}

// The engine's statistics s against the reference r: mean within mtol (absolute), std
// within stol (relative), saturation and every bin's count within the values near a
// boundary.
static void same_stat(const DiagStat *s, const Ref *r, double mtol, double stol, const char *what) {
    CHECK(s->count == r->count, "%s: %ld values counted, the reference %ld", what, s->count, r->count);
    CHECK(fabs(s->mean - r->mean) <= mtol, "%s: mean %.9g, reference %.9g", what, s->mean, r->mean);
    CHECK(fabs(s->std - r->std) <= stol * r->std, "%s: std %.9g, reference %.9g", what, s->std, r->std);
    CHECK(fabs(s->saturated - r->sat) * r->count <= r->near + 1e-9, "%s: saturated %.6f, reference %.6f",
          what, s->saturated, r->sat);
    const double w = (s->hi - s->lo) / DIAG_BINS;
    long moved = 0, total = 0;
    for (int k = 0; k < DIAG_BINS; k++) {
        long c = lround(s->density[k] * (double)s->count * w);
        moved += labs(c - r->bins[k]);
        total += c;
    }
    CHECK(moved <= 2 * r->near, "%s: %ld values in other bins than the reference's (%ld near an edge)",
          what, moved, r->near);
    CHECK(total == r->count || !isfinite(w), "%s: the histogram holds %ld of %ld values", what, total,
          r->count);
}

// ---- diag_stat against the plain pass ----------------------------------------------------

static void stat_case(NetNonlin nl, int masked) {
    enum { R = 37, C = 29 };
    float x[R * C], pre[R * C];
    double xd[R * C], pd[R * C];
    int skip[R];
    Rng g;
    rng_seed(&g, 7 + nl + 10 * masked);
    for (int i = 0; i < R * C; i++) {
        pre[i] = 3.0f * rng_normal(&g);
        x[i] = nl == NET_NL_TANH ? tanhf(pre[i]) : nl == NET_NL_GELU ? pre[i] * 0.5f * (1 + erff(pre[i] / sqrtf(2)))
                                                 : 0.01f * rng_normal(&g) + 0.002f;
        xd[i] = x[i], pd[i] = pre[i];
    }
    for (int r = 0; r < R; r++) skip[r] = masked && r % 5 == 3 ? -1 : 1;
    DiagStat s;
    diag_stat(&s, x, R, C, masked ? skip : NULL, nl, nl == NET_NL_GELU ? pre : NULL);
    // bins: the engine finds them in float, the reference by comparing with the edges in
    // double: a value within 1e-6 of the range from an edge may fall on either side
    Ref r = ref_stat(xd, R, C, masked ? skip : NULL, nl, pd, s.lo, s.hi, 1e-6 * (s.hi - s.lo));
    char what[64];
    snprintf(what, sizeof what, "diag_stat %s%s", NET_NL_NAMES[nl], masked ? " masked" : "");
    same_stat(&s, &r, 1e-12, 1e-12, what);
    if (nl == NET_NL_TANH) CHECK(s.lo == -1 && s.hi == 1, "%s: range [%g, %g]", what, s.lo, s.hi);
    else CHECK(s.lo == r.lo && s.hi == r.hi, "%s: range [%g, %g], values in [%g, %g]", what, s.lo, s.hi, r.lo, r.hi);
    if (nl != NET_NL_NONE) CHECK(s.saturated > 0.05, "%s: the case saturates (%.3f)", what, s.saturated);
}

static void test_stat_against_plain_pass(void) {
    for (int nl = 0; nl < NET_N_NL; nl++) {
        stat_case((NetNonlin)nl, 0);
        stat_case((NetNonlin)nl, 1);
    }
    float one[4] = {2, 2, 2, 2};  // one value: a unit range around it, all in one bin
    DiagStat s;
    diag_stat(&s, one, 2, 2, NULL, NET_NL_NONE, NULL);
    CHECK(s.lo == 1.5 && s.hi == 2.5 && s.std == 0 && s.mean == 2, "constant: [%g, %g] std %g", s.lo, s.hi, s.std);
    double total = 0;
    for (int k = 0; k < DIAG_BINS; k++) total += s.density[k] * (s.hi - s.lo) / DIAG_BINS;
    CHECK(fabs(total - 1) < 1e-12, "constant: the densities integrate to %g", total);
    float bad[3] = {1, NAN, 3};  // a NaN: no bin, the mean NaN (never a crash)
    diag_stat(&s, bad, 1, 3, NULL, NET_NL_NONE, NULL);
    CHECK(isnan(s.mean), "a NaN value: mean %g", s.mean);
}

// ---- a training step of the lecture's family against its float64 twin ------------------

static void random_batch(Net *n, Rng *g) {
    for (int i = 0; i < n->B * n->cfg.T; i++) n->Xb[i] = (int)rng_below(g, (uint32_t)n->cfg.V);
    for (int b = 0; b < n->B; b++) n->Yb[b] = (int)rng_below(g, (uint32_t)n->cfg.V);
}

static double std_d(const double *x, size_t n) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) m += x[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return sqrt(s / (double)(n - 1));
}

// One step of cfg (SGD: lr sgd_lr; AdamW: lr 0.01, weight decay 0.1) with statistics; the
// twin from the parameters before it. A tiny SGD lr leaves updates within the weights'
// rounding: the fused weights' gradients are then rebuilt (diag.c), and the updates are
// that rounding, not lr * grad (not compared).
static void family_case(NetArch arch, Norm norm, Optim optim, float sgd_lr, const char *name) {
    NetConfig c = {.arch = arch, .V = 27, .T = arch == ARCH_WAVENET ? 4 : 3, .E = 6, .H = 24,
                   .layers = 2, .heads = 1, .bessel = 1, .bn_stats = BN_STATS_CALIBRATE,
                   .momentum = 0.1f, .optim = optim, .norm = norm};
    Err err;
    CHECK(net_config_check(&c, &err) == 0, "%s: %s", name, err.msg);
    const int B = 32;
    const float lr = optim == OPTIM_SGD ? sgd_lr : 0.01f, wd = optim == OPTIM_SGD ? 0 : 0.1f;
    Net n;
    net_alloc(&n, &c, B);
    Rng g;
    rng_seed(&g, 11);
    net_init(&n, &g, 1);
    random_batch(&n, &g);
    static Diag d;
    diag_alloc(&d, &n);
    diag_before_step(&d, &n);
    net_forward(&n, n.Xb, n.Yb, 1);
    if (optim == OPTIM_SGD) {
        net_backward_sgd(&n, lr);
    } else {
        net_backward(&n);
        net_adamw(&n, lr, wd, 1);
    }
    diag_after_step(&d, &n, optim == OPTIM_SGD ? lr : 0.0f);

    double *P = xcalloc(n.num_params, sizeof(double)), *G = xcalloc(n.num_params, sizeof(double));
    for (size_t i = 0; i < n.num_params; i++) P[i] = d.before[i];
    double *outs[NET_MAX_LAYERS] = {0}, *douts[NET_MAX_LAYERS] = {0};
    for (int l = 0; l < n.n_layers; l++) {
        size_t sz = (size_t)B * n.layer[l].rows * n.layer[l].cols;
        outs[l] = xcalloc(sz, sizeof(double));
        douts[l] = xcalloc(sz, sizeof(double));
    }
    net_ref_pass(&n, P, n.Xb, n.Yb, B, G, outs, douts);

    int tanh_layers = 0;
    for (int k = 0; k < d.n_layers; k++) {
        const DiagLayer *y = &d.layer[k];
        const Layer *L = &n.layer[y->layer];
        const int rows = B * L->rows;
        char what[96];
        if (y->nl == NET_NL_TANH) {
            tanh_layers++;
            Ref r = ref_stat(outs[y->layer], rows, L->cols, NULL, NET_NL_TANH, NULL, -1, 1, 1e-5);
            snprintf(what, sizeof what, "%s layer %d activations", name, y->layer);
            same_stat(&y->act, &r, 1e-5, 1e-4, what);
        }
        Ref z = ref_stat(douts[y->layer], rows, L->cols, NULL, NET_NL_NONE, NULL, y->grad.lo, y->grad.hi, 0);
        Ref r = ref_stat(douts[y->layer], rows, L->cols, NULL, NET_NL_NONE, NULL, y->grad.lo, y->grad.hi,
                         1e-4 * fmax(fabs(z.lo), fabs(z.hi)));
        snprintf(what, sizeof what, "%s layer %d (%s) gradient", name, y->layer, LAYER_KIND_NAMES[L->kind]);
        same_stat(&y->grad, &r, 1e-4 * r.std + 1e-12, 1e-4, what);
        CHECK(fabs(y->grad.lo - r.lo) <= 1e-4 * (r.hi - r.lo) && fabs(y->grad.hi - r.hi) <= 1e-4 * (r.hi - r.lo),
              "%s: range [%g, %g], reference [%g, %g]", what, y->grad.lo, y->grad.hi, r.lo, r.hi);
    }
    CHECK(tanh_layers == 2, "%s: %d tanh layers (expected 2)", name, tanh_layers);

    int fused = 0;
    for (int k = 0; k < d.n_params; k++) {
        const DiagParam *p = &d.param[k];
        const NetTensor *t = &n.tensor[p->tensor];
        const double gs = std_d(G + t->off, t->numel), ds = std_d(P + t->off, t->numel);
        fused += t->gemm_updated;
        CHECK(fabs(p->data_std - ds) <= 1e-12 * ds, "%s %s: std(data) %.12g, reference %.12g", name, t->name,
              p->data_std, ds);
        if (gs < 1e-6) continue;  // a bias before batchnorm: its exact gradient is 0
        CHECK(fabs(p->grad_std - gs) <= 1e-4 * gs, "%s %s: std(grad) %.9g, reference %.9g", name, t->name,
              p->grad_std, gs);
        double *u = xcalloc(t->numel, sizeof(double));
        for (size_t e = 0; e < t->numel; e++) {
            double gv = G[t->off + e];
            u[e] = optim == OPTIM_SGD ? lr * gv : P[t->off + e] * lr * wd + lr * gv / (fabs(gv) + NET_ADAM_EPS);
        }
        double us = std_d(u, t->numel);
        CHECK(lr < 1e-4f || fabs(p->update_std - us) <= 1e-3 * us, "%s %s: std(update) %.9g, reference %.9g", name,
              t->name, p->update_std, us);
        xfree(u);
    }
    CHECK(fused == (optim == OPTIM_SGD ? 3 : 0), "%s: %d weights updated inside their GEMMs", name, fused);
    for (int l = 0; l < n.n_layers; l++) {
        xfree(outs[l]);
        xfree(douts[l]);
    }
    xfree(P);
    xfree(G);
    diag_free(&d);
    net_free(&n);
}

static void test_mlp_batchnorm_sgd(void) { family_case(ARCH_MLP, NORM_BATCHNORM, OPTIM_SGD, 0.1f, "mlp"); }
static void test_mlp_plain_stack_sgd(void) {
    family_case(ARCH_MLP, NORM_NONE, OPTIM_SGD, 0.1f, "mlp --norm none");
}
static void test_wavenet_sgd(void) { family_case(ARCH_WAVENET, NORM_BATCHNORM, OPTIM_SGD, 0.1f, "wavenet"); }
static void test_mlp_tiny_lr_rebuilt(void) {
    family_case(ARCH_MLP, NORM_BATCHNORM, OPTIM_SGD, 1e-9f, "mlp, lr 1e-9 (gradients rebuilt)");
}
static void test_mlp_adamw(void) { family_case(ARCH_MLP, NORM_BATCHNORM, OPTIM_ADAMW, 0, "mlp adamw"); }
static void test_mlp_plain_stack_adamw(void) {
    family_case(ARCH_MLP, NORM_NONE, OPTIM_ADAMW, 0, "mlp --norm none adamw");
}

// ---- makemore.py's types against their twins --------------------------------------------

static void words_batch(int *X, int *Y, int B, int T, int V, Rng *r) {
    for (int b = 0; b < B; b++) {  // words of 1..T-1 letters, as makemore.py's CharDataset
        int len = 1 + (int)rng_below(r, (uint32_t)(T - 1));
        for (int t = 0; t < T; t++) X[b * T + t] = 0, Y[b * T + t] = -1;
        for (int t = 0; t < len; t++) {
            int ch = 1 + (int)rng_below(r, (uint32_t)(V - 1));
            Y[b * T + t] = ch;
            if (t + 1 < T) X[b * T + t + 1] = ch;
        }
        if (len < T) Y[b * T + len] = 0;
    }
}

// tanh(a . Wa + b2 . Wb + bias) for every counted row, against act [rows, H] (a [rows, na],
// Wa [na, H]; b2 [rows, nb], Wb [nb, H], may be NULL): 1 when within 1e-5.
static int tanh_of(const float *act, const float *a, const float *Wa, int na, const float *b2,
                   const float *Wb, int nb, const float *bias, int rows, int H, const int *skip) {
    int ok = 1;
    for (int r = 0; r < rows; r++) {
        if (skip && skip[r] < 0) continue;
        for (int j = 0; j < H; j++) {
            double pre = bias[j];
            for (int k = 0; k < na; k++) pre += (double)a[(size_t)r * na + k] * Wa[(size_t)k * H + j];
            for (int k = 0; b2 && k < nb; k++) pre += (double)b2[(size_t)r * nb + k] * Wb[(size_t)k * H + j];
            ok &= fabs(tanh(pre) - act[(size_t)r * H + j]) < 1e-5;
        }
    }
    return ok;
}

// The probe's tanh recomputed from the layer's inputs and weights (the kernels' state
// layouts, recurrent_kernels.h): rnn h = tanh([x, hprev] W + b); gru hbar = tanh([x, r h] Wh
// + bh); bow h = tanh(x1 Wfc + bfc), with the parameters the step's forward ran on (P,
// before its update). 1 when they agree (or the kind has no such check).
#define W(i) (P + n->tensor[i].off)
static int probe_recomputed(const Net *n, const float *P, int l, const LayerProbe *p, const int *skip) {
    const Layer *L = &n->layer[l];
    const int E = n->cfg.E, H = n->cfg.H, N = p->rows;
    if (l == 0) return 1;  // a first layer (bigram's table) reads tokens, not a layer
    const float *x = n->acts + n->layer[l - 1].out, *state = n->acts + L->a[0];
    if (L->kind == L_RNN)
        return tanh_of(p->act, x, W(L->t0), E, state, W(L->t0) + (size_t)E * H, H, W(L->t0 + 1), N, H,
                       skip);
    if (L->kind == L_GRU)  // state: zr [N,2H], hbar, hprev, rh [N,H] each
        return tanh_of(p->act, x, W(L->t0 + 4), E, state + (size_t)4 * N * H, W(L->t0 + 4) + (size_t)E * H,
                       H, W(L->t0 + 5), N, H, skip);
    if (L->kind == L_BOW)  // state: x1 [N,E], then h
        return tanh_of(p->act, state, W(L->t0), E, NULL, NULL, 0, W(L->t0 + 1), N, H, skip);
    return 1;
}
#undef W

static void seq_case(NetArch arch, MmType type) {
    const char *name = net_arch_name(arch);
    NetConfig c = {.arch = arch, .V = 9, .T = 7, .E = 8, .H = 12, .layers = 2, .heads = 2,
                   .bessel = 1, .momentum = 0.1f, .optim = OPTIM_ADAMW};
    Err err;
    CHECK(net_config_check(&c, &err) == 0, "%s: %s", name, err.msg);
    const int B = 6;
    Net n;
    net_alloc(&n, &c, B);
    Rng g;
    rng_seed(&g, 5);
    net_init(&n, &g, 1);
    words_batch(n.Xb, n.Yb, B, c.T, c.V, &g);
    static Diag d;
    diag_alloc(&d, &n);
    diag_before_step(&d, &n);
    net_forward(&n, n.Xb, n.Yb, 1);
    net_backward(&n);
    net_adamw(&n, 5e-4f, 0.01f, 1);
    diag_after_step(&d, &n, 0.0f);

    MmConfig mc = {type, c.V, c.T, c.layers, c.heads, c.E, c.H};
    int nt = mm_tensors(&mc, NULL, 0);
    MmTensorInfo *info = xcalloc((size_t)nt, sizeof *info);
    mm_tensors(&mc, info, nt);
    double **P = xcalloc((size_t)nt, sizeof *P), **G = xcalloc((size_t)nt, sizeof *G);
    int *idx = xcalloc((size_t)nt, sizeof(int));
    for (int k = 0; k < nt; k++) {
        idx[k] = net_find(&n, info[k].name);
        CHECK(idx[k] >= 0, "%s: no tensor %s", name, info[k].name);
        if (idx[k] < 0) return;
        const NetTensor *t = &n.tensor[idx[k]];
        float *tp = xcalloc(t->numel, sizeof(float));
        net_to_torch(&n, idx[k], d.before + t->off, tp);
        P[k] = xcalloc(t->numel, sizeof(double));
        G[k] = xcalloc(t->numel, sizeof(double));
        for (size_t e = 0; e < t->numel; e++) P[k][e] = tp[e];
        xfree(tp);
    }
    mm_ref_loss(&mc, (const double *const *)P, n.Xb, n.Yb, B, G);
    for (int k = 0; k < nt; k++) {  // std is the same in either layout
        const NetTensor *t = &n.tensor[idx[k]];
        const DiagParam *p = NULL;
        for (int j = 0; j < d.n_params; j++)
            if (d.param[j].tensor == idx[k]) p = &d.param[j];
        double gs = std_d(G[k], t->numel);
        CHECK(p && (gs < 1e-7 || fabs(p->grad_std - gs) <= 1e-4 * gs), "%s %s: std(grad) %.9g, reference %.9g",
              name, t->name, p ? p->grad_std : NAN, gs);
        CHECK(p && p->update_std > 0, "%s %s: std(update) %g", name, t->name, p ? p->update_std : NAN);
        xfree(P[k]);
        xfree(G[k]);
    }
    long counted = 0;  // the positions with a target: what a packed batch counts
    for (int i = 0; i < B * c.T; i++) counted += n.Yb[i] >= 0;
    int nonlin = 0;
    for (int k = 0; k < d.n_layers; k++) {
        const DiagLayer *y = &d.layer[k];
        CHECK(y->grad.count % counted == 0 && y->grad.count > 0, "%s layer %d: %ld gradient values for "
              "%ld positions", name, y->layer, y->grad.count, counted);
        if (y->nl == NET_NL_NONE) continue;
        nonlin++;
        CHECK(y->act.count == counted * (arch == ARCH_TRANSFORMER ? 4 * c.E : c.H), "%s layer %d: %ld "
              "activations for %ld positions", name, y->layer, y->act.count, counted);
        LayerProbe p;
        n.layer[y->layer].ops->probe(&n, &n.layer[y->layer], y->layer, &p);
        const int *skip = n.packed == NET_PACK_UNIFORM ? n.pk_y : NULL;
        long sat = 0, in_range = 1;
        for (int r = 0; r < p.rows; r++) {
            if (skip && skip[r] < 0) continue;
            for (int j = 0; j < p.act_cols; j++) {
                float v = p.act[(size_t)r * p.act_cols + j];
                if (y->nl == NET_NL_TANH) in_range &= fabsf(v) <= 1.0f, sat += fabsf(v) > DIAG_TANH_SAT;
                else sat += p.pre[(size_t)r * p.act_cols + j] < DIAG_GELU_SAT;
                if (y->nl == NET_NL_GELU)  // gelu's output from its input (the tanh form)
                    in_range &= fabsf(v - 0.5f * p.pre[(size_t)r * p.act_cols + j] *
                                         (1 + tanhf(0.7978845608f * (p.pre[(size_t)r * p.act_cols + j] +
                                                    0.044715f * powf(p.pre[(size_t)r * p.act_cols + j], 3))))) < 1e-5f;
            }
        }
        CHECK(in_range, "%s layer %d: the probe's values are not its %s's output", name, y->layer,
              NET_NL_NAMES[y->nl]);
        CHECK(probe_recomputed(&n, d.before, y->layer, &p, skip), "%s layer %d: the probe's values are not the "
              "tanh of the layer's inputs", name, y->layer);
        CHECK(fabs(y->act.saturated * y->act.count - sat) < 0.5, "%s layer %d: saturated %g of %ld, "
              "counted %ld", name, y->layer, y->act.saturated, y->act.count, sat);
    }
    CHECK(nonlin == (arch == ARCH_BIGRAM ? 0 : arch == ARCH_TRANSFORMER ? c.layers : 1),
          "%s: %d layers with a nonlinearity", name, nonlin);
    xfree(P);
    xfree(G);
    xfree(idx);
    xfree(info);
    diag_free(&d);
    net_free(&n);
}

static void test_bigram(void) { seq_case(ARCH_BIGRAM, MM_BIGRAM); }
static void test_bengio(void) { seq_case(ARCH_BENGIO, MM_MLP); }
static void test_bow(void) { seq_case(ARCH_BOW, MM_BOW); }
static void test_rnn(void) { seq_case(ARCH_RNN, MM_RNN); }
static void test_gru(void) { seq_case(ARCH_GRU, MM_GRU); }
static void test_transformer(void) { seq_case(ARCH_TRANSFORMER, MM_TRANSFORMER); }

TEST_MAIN {
    TEST_SETUP();
    threads_set(1);
    RUN_TEST(test_stat_against_plain_pass);
    RUN_TEST(test_mlp_batchnorm_sgd);
    RUN_TEST(test_mlp_plain_stack_sgd);
    RUN_TEST(test_wavenet_sgd);
    RUN_TEST(test_mlp_tiny_lr_rebuilt);
    RUN_TEST(test_mlp_adamw);
    RUN_TEST(test_mlp_plain_stack_adamw);
    RUN_TEST(test_bigram);
    RUN_TEST(test_bengio);
    RUN_TEST(test_bow);
    RUN_TEST(test_rnn);
    RUN_TEST(test_gru);
    RUN_TEST(test_transformer);
    return check_summary();
}
