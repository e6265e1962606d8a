// diag.c: part 3's diagnostics of a training step (diag.h): the statistics of every
// layer's nonlinearity and output gradient, and every parameter's grad:data and
// update:data, read from what the step leaves.
#include "diag.h"

#include <math.h>
#include <string.h>

#include "blas.h"
#include "common.h"

void diag_alloc(Diag *d, const Net *n) {
    memset(d, 0, sizeof *d);
    size_t widest = 1;
    for (int i = 0; i < n->n_tensors; i++)
        if (!n->tensor[i].is_stat && n->tensor[i].gemm_updated && n->tensor[i].numel > widest)
            widest = n->tensor[i].numel;
    d->before = xcalloc(n->num_params, sizeof(float));
    d->dw = xcalloc(widest, sizeof(float));
}

void diag_free(Diag *d) {
    xfree(d->before);
    xfree(d->dw);
    memset(d, 0, sizeof *d);
}

void diag_before_step(Diag *d, const Net *n) {
    memcpy(d->before, n->params, n->num_params * sizeof(float));
}

double diag_std(const float *a, const float *b, size_t n) {
    if (n < 2) return NAN;
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n; i++) sum += b ? (double)a[i] - (double)b[i] : (double)a[i];
    const double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) {
        double v = (b ? (double)a[i] - (double)b[i] : (double)a[i]) - mean;
        sq += v * v;
    }
    return sqrt(sq / (double)(n - 1));
}

// 1 when the value of row r, column c counts as saturated.
static int saturated(NetNonlin nl, double v, const float *pre, size_t k) {
    if (nl == NET_NL_TANH) return fabs(v) > DIAG_TANH_SAT;
    if (nl == NET_NL_GELU) return pre[k] < DIAG_GELU_SAT;
    return 0;
}

// Pass 1: count, sum, range, saturated values.
static void first_pass(DiagStat *s, const float *x, int rows, int cols, const int *skip,
                       NetNonlin nl, const float *pre, long *sat) {
    double sum = 0.0, lo = INFINITY, hi = -INFINITY;
    for (int r = 0; r < rows; r++) {
        if (skip && skip[r] < 0) continue;
        for (int c = 0; c < cols; c++) {
            size_t k = (size_t)r * cols + c;
            double v = x[k];
            sum += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
            *sat += saturated(nl, v, pre, k);
        }
        s->count += cols;
    }
    s->mean = s->count ? sum / (double)s->count : NAN;
    s->lo = nl == NET_NL_TANH ? -1.0 : lo;
    s->hi = nl == NET_NL_TANH ? 1.0 : hi;
    if (s->lo == s->hi) {  // one value: a bin of width 1 around it
        s->lo -= 0.5;
        s->hi += 0.5;
    }
}

void diag_stat(DiagStat *s, const float *x, int rows, int cols, const int *skip, NetNonlin nl,
               const float *pre) {
    memset(s, 0, sizeof *s);
    long sat = 0, bins[DIAG_BINS] = {0};
    first_pass(s, x, rows, cols, skip, nl, pre, &sat);
    s->saturated = s->count ? (double)sat / (double)s->count : 0.0;
    const int ranged = isfinite(s->lo) && isfinite(s->hi) && s->lo < s->hi;
    const double scale = ranged ? DIAG_BINS / (s->hi - s->lo) : 0.0;
    double sq = 0.0;
    for (int r = 0; r < rows; r++) {
        if (skip && skip[r] < 0) continue;
        for (int c = 0; c < cols; c++) {
            double v = x[(size_t)r * cols + c];
            sq += (v - s->mean) * (v - s->mean);
            if (!ranged || !(v >= s->lo && v <= s->hi)) continue;  // NaN, inf: no bin
            int k = (int)((v - s->lo) * scale);
            bins[k < DIAG_BINS ? k : DIAG_BINS - 1]++;
        }
    }
    s->std = s->count > 1 ? sqrt(sq / (double)(s->count - 1)) : NAN;
    const double per = ranged && s->count ? 1.0 / ((double)s->count * (s->hi - s->lo) / DIAG_BINS) : 0.0;
    for (int k = 0; k < DIAG_BINS; k++) s->density[k] = (double)bins[k] * per;
}

// Every parameter: data before the step, its update, its gradient where the step kept it
// (a fused weight's comes with its layer). pidx[i]: tensor i's entry.
static void param_stats(Diag *d, const Net *n, int *pidx) {
    d->n_params = 0;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        pidx[i] = -1;
        if (t->is_stat) continue;
        DiagParam *p = &d->param[d->n_params];
        pidx[i] = d->n_params++;
        p->tensor = i;
        p->data_std = diag_std(d->before + t->off, NULL, t->numel);
        p->update_std = diag_std(d->before + t->off, n->params + t->off, t->numel);
        p->grad_std = t->gemm_updated ? NAN : diag_std(n->grads + t->off, NULL, t->numel);
    }
}

void diag_after_step(Diag *d, const Net *n) {
    const int *skip = n->packed == NET_PACK_UNIFORM ? n->pk_y : NULL;  // padding rows
    int pidx[NET_MAX_TENSORS];
    param_stats(d, n, pidx);
    d->n_layers = 0;
    for (int l = 0; l < n->n_layers; l++) {
        const Layer *L = &n->layer[l];
        if (!L->ops || !L->ops->probe) continue;
        LayerProbe p;
        L->ops->probe(n, L, l, &p);
        DiagLayer *y = &d->layer[d->n_layers++];
        y->layer = l;
        y->nl = p.nl;
        if (p.nl != NET_NL_NONE) diag_stat(&y->act, p.act, p.rows, p.act_cols, skip, p.nl, p.pre);
        diag_stat(&y->grad, p.grad, p.rows, p.cols, skip, NET_NL_NONE, NULL);
        if (p.fused_w >= 0) {  // dW = in^T . dout, as the fused GEMM applied it
            gemm(1, 0, p.in_cols, p.cols, p.rows, 1.0f, p.in, p.grad, 0.0f, d->dw);
            d->param[pidx[p.fused_w]].grad_std = diag_std(d->dw, NULL, n->tensor[p.fused_w].numel);
        }
    }
}
