// gradcheck_net.c: `makemore gradcheck --arch A`: every parameter gradient of the layer
// table's fused float32 backward against its float64 twin (net_ref.c), and the twin against
// central differences of the float64 loss, printed as the lecture's cmp() rows.
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "diag.h"
#include "net.h"
#include "net_ref.h"
#include "safetensors.h"

// A float32 gradient is approximately equal to the float64 one when
// |a - b| <= RTOL * max|b| + ATOL over its tensor (docs/ARCHITECTURES.md says why the scale).
#define RTOL 1e-5
#define ATOL 1e-8
#define FD_PROBES 8  // elements per tensor held to central differences

// The diagnostics of the pass (diag.h; no update): per observed layer "diag.act.<l>"
// [mean, std, saturated fraction, lo, hi] and "diag.act_hist.<l>" [DIAG_BINS] densities
// for its nonlinearity, "diag.grad.<l>" and "diag.grad_hist.<l>" for its output's
// gradient, and "diag.grad_std" [parameters] (std(grad) in table order), float64, with the
// layers' kinds in the metadata (diag_layers: "l:kind,..."), for torch_reference.py
// check-diag.
#define DIAG_MAX_T (4 * NET_MAX_LAYERS + 1)
typedef struct {
    double v[NET_MAX_LAYERS][2][5], h[NET_MAX_LAYERS][2][DIAG_BINS], gstd[NET_MAX_TENSORS];
    char names[DIAG_MAX_T][32];
    char layers[NET_MAX_LAYERS * 24];
} DiagDump;

static int diag_tensors(StTensor *t, DiagDump *dd, const Diag *d, const Net *n) {
    int k = 0;
    size_t at = 0;
    dd->layers[0] = '\0';
    for (int i = 0; i < d->n_layers; i++) {
        const DiagLayer *y = &d->layer[i];
        const LayerKind kind = n->layer[y->layer].kind;
        at += (size_t)snprintf(dd->layers + at, sizeof dd->layers - at, "%s%d:%s", i ? "," : "", y->layer,
                               kind == L_BN_TANH || kind == L_TANH ? "tanh" : LAYER_KIND_NAMES[kind]);
        for (int w = y->nl == NET_NL_NONE; w < 2; w++) {  // 0: the activation, 1: the gradient
            const DiagStat *s = w ? &y->grad : &y->act;
            double *v = dd->v[i][w];
            v[0] = s->mean, v[1] = s->std, v[2] = s->saturated, v[3] = s->lo, v[4] = s->hi;
            memcpy(dd->h[i][w], s->density, sizeof s->density);
            snprintf(dd->names[k], sizeof dd->names[k], "diag.%s.%d", w ? "grad" : "act", y->layer);
            t[k] = (StTensor){.name = dd->names[k], .dtype = ST_F64, .ndim = 1, .shape = {5}, .data = v};
            k++;
            snprintf(dd->names[k], sizeof dd->names[k], "diag.%s_hist.%d", w ? "grad" : "act", y->layer);
            t[k] = (StTensor){.name = dd->names[k], .dtype = ST_F64, .ndim = 1, .shape = {DIAG_BINS},
                              .data = dd->h[i][w]};
            k++;
        }
    }
    for (int i = 0; i < d->n_params; i++) dd->gstd[i] = d->param[i].grad_std;
    t[k++] = (StTensor){.name = "diag.grad_std", .dtype = ST_F64, .ndim = 1, .shape = {d->n_params},
                        .data = dd->gstd};
    return k;
}

static int dump(const char *path, const Net *n, const float *grads, int B, const Diag *d, Err *err) {
    static StTensor t[2 * NET_MAX_TENSORS + 2 + DIAG_MAX_T];
    static DiagDump dd;
    char names[NET_MAX_TENSORS][20];
    int k = 0;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *x = &n->tensor[i];
        if (x->is_stat) continue;
        t[k++] = (StTensor){.name = x->name, .dtype = ST_F32, .ndim = x->ndim,
                            .shape = {x->shape[0], x->shape[1]}, .data = net_tensor(n, i)};
        snprintf(names[i], sizeof names[i], "d%s", x->name);
        t[k++] = (StTensor){.name = names[i], .dtype = ST_F32, .ndim = x->ndim,
                            .shape = {x->shape[0], x->shape[1]}, .data = grads + x->off};
    }
    t[k++] = (StTensor){.name = "Xb", .dtype = ST_I32, .ndim = 2, .shape = {B, n->cfg.T}, .data = n->Xb};
    t[k++] = (StTensor){.name = "Yb", .dtype = ST_I32, .ndim = 1, .shape = {B}, .data = n->Yb};
    k += diag_tensors(t + k, &dd, d, n);
    const NetConfig *c = &n->cfg;
    char text[8][ST_META_TEXT];
    const int vals[] = {c->layers, c->V, c->T, c->E, c->H, B};
    static const char *const keys[] = {"layers", "vocab_size", "block", "embd", "hidden", "batch"};
    StMeta meta[12];
    st_meta_ints(meta, text, keys, vals, 6);
    snprintf(text[6], sizeof text[6], "%.9g", (double)n->loss);
    meta[6] = (StMeta){"loss", text[6]};
    meta[7] = (StMeta){"arch", net_arch_name(c->arch)};
    meta[8] = (StMeta){"bn_var", c->bessel ? "unbiased" : "biased"};
    meta[9] = (StMeta){"format", "makemore-gradcheck-net-1"};
    meta[10] = (StMeta){"norm", NORM_NAMES[c->norm]};
    meta[11] = (StMeta){"diag_layers", dd.layers};
    return st_save(path, t, k, meta, 12, err);
}

// Where a weight's or bias's gradient sum cancels (always for a bias in front of a
// batchnorm, whose exact gradient is 0), its float32 value is rounding noise of its terms.
// A float32 sum of K terms is off by at most about K 2^-24 S, S the sum of |terms|
// (src/cmd/gradcheck.c says the same for the lecture's model). For entry e of tensor i, when i
// is a LINEAR layer's W or b, returns (K + 4) 2^-23 S, S from the float32 activations of
// the pass just run; else 0.
static double rounding_atol(const Net *n, int i, size_t e) {
    for (int l = 1; l < n->n_layers; l++) {
        const Layer *L = &n->layer[l], *p = &n->layer[l - 1];
        if (L->kind != L_LINEAR && L->kind != L_LINEAR_OUT) continue;
        if (L->w != i && L->b != i) continue;
        int M = L->kind == L_LINEAR ? n->B * L->in_rows : n->B, K = L->in_cols, N = L->cols;
        const float *in = n->acts + p->out, *dout = n->acts + L->dout;
        int k = L->w == i ? (int)(e / (size_t)N) : -1, j = (int)(e % (size_t)N);
        double S = 0;
        for (int m = 0; m < M; m++)
            S += fabs((double)dout[(size_t)m * N + j]) * (k < 0 ? 1.0 : fabs((double)in[(size_t)m * K + k]));
        return (M + 4) * ldexp(S, -23);
    }
    return 0;
}

// One row: float32 gradient g against the float64 twin G, and the twin against central
// differences at FD_PROBES elements. Returns 1 when approximately equal.
static int row(const Net *n, int i, const float *g, const double *G, double *P, int B) {
    const NetTensor *x = &n->tensor[i];
    double scale = 0, md = 0, fd = 0, atol_used = 0;
    int exact = 1, within = 1;
    for (size_t k = 0; k < x->numel; k++) {
        size_t o = x->off + k;
        scale = fmax(scale, fabs(G[o]));
        md = fmax(md, fabs(g[o] - G[o]));
        exact &= g[o] == (float)G[o];
    }
    for (size_t k = 0; k < x->numel; k++) {  // rtol at the tensor's scale, atol per entry
        size_t o = x->off + k;
        double d = fabs(g[o] - G[o]), atol = ATOL;
        if (d > RTOL * scale + ATOL) {
            atol = fmax(ATOL, rounding_atol(n, i, k));
            atol_used = fmax(atol_used, atol);
        }
        within &= d <= RTOL * scale + atol;
    }
    for (int p = 0; p < FD_PROBES && (size_t)p < x->numel; p++) {
        size_t o = x->off + (size_t)p * x->numel / FD_PROBES, keep_o = o;
        double h = 1e-5, keep = P[o];
        P[o] = keep + h;
        double up = net_ref_loss(n, P, n->Xb, n->Yb, B, NULL);
        P[o] = keep - h;
        double dn = net_ref_loss(n, P, n->Xb, n->Yb, B, NULL);
        P[keep_o] = keep;
        fd = fmax(fd, fabs((up - dn) / (2 * h) - G[o]));
    }
    int approx = within && fd <= 1e-6 * scale + 1e-8;
    printf("%-9s | exact: %-5s | approximate: %-5s | maxdiff: %.6g | scale: %.3g | "
           "float64 vs differences: %.3g", x->name, exact ? "True" : "False",
           approx ? "True" : "False", md, scale, fd);
    if (atol_used > 0) printf(" | atol (*): %.3g", atol_used);
    printf("\n");
    if (!approx) say("gradcheck", "mismatch in %s", x->name);
    return approx;
}

int gc_net(const NetConfig *cfg, int B, uint64_t seed, const char *dump_path) {
    NetConfig c = *cfg;
    Net n;
    net_alloc(&n, &c, B);
    Rng r;
    rng_seed(&r, seed);
    net_init(&n, &r, 1);  // non-trivial biases, gains and shifts: zeros hide bugs
    for (int i = 0; i < B * c.T; i++) n.Xb[i] = (int)rng_below(&r, (uint32_t)c.V);
    for (int b = 0; b < B; b++) n.Yb[b] = (int)rng_below(&r, (uint32_t)c.V);
    net_forward(&n, n.Xb, n.Yb, 0);
    net_backward(&n);
    double *P = xcalloc(n.num_params, sizeof(double)), *G = xcalloc(n.num_params, sizeof(double));
    for (size_t i = 0; i < n.num_params; i++) P[i] = n.params[i];
    double loss = net_ref_loss(&n, P, n.Xb, n.Yb, B, G);
    printf("gradcheck --arch %s (seed %llu): %d layer%s, B=%d T=%d E=%d H=%d V=%d, batchnorm "
           "variance %s, %zu parameters\nloss: float32 %.9g, float64 %.12g\n",
           net_arch_name(c.arch), (unsigned long long)seed, c.layers, c.layers == 1 ? "" : "s",
           B, c.T, c.E, c.H, c.V, c.bessel ? "unbiased" : "biased", n.num_params, (double)n.loss, loss);
    printf("fused float32 backward vs the float64 twin (approximate: maxdiff <= %g max|grad| + %g, "
           "or (*) + the float32 rounding bound of a cancelling sum, and the twin within 1e-6 "
           "max|grad| of central differences at %d elements):\n", RTOL, ATOL, FD_PROBES);
    int ok = fabs(loss - n.loss) <= 1e-5 * fabs(loss), rows = 0, good = 0;
    for (int i = n.n_tensors - 1; i >= 0; i--) {  // backward order, as the lecture prints
        if (n.tensor[i].is_stat) continue;
        rows++;
        good += row(&n, i, n.grads, G, P, B);
    }
    ok &= good == rows;
    printf("%s: %d of %d rows approximately equal\n", ok ? "ok" : "MISMATCH", good, rows);
    if (dump_path) {
        Err err;
        static Diag d;  // the pass's statistics (its "update" is none: nothing stepped)
        diag_alloc(&d, &n);
        diag_before_step(&d, &n);
        diag_after_step(&d, &n, 0.0f);
        int failed = dump(dump_path, &n, n.grads, B, &d, &err);
        diag_free(&d);
        if (failed) {
            say("gradcheck", "%s", err.msg);
            ok = 0;
        } else {
            printf("wrote %s (check it: /usr/bin/python3 tests/torch_reference.py check-net %s; its "
                   "diagnostics: check-diag)\n", dump_path, dump_path);
        }
    }
    xfree(P);
    xfree(G);
    net_free(&n);
    return ok ? 0 : 1;
}
