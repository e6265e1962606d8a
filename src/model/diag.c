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

// The first moments of the n values a[i] (or a[i] - b[i]) less `shift`, in double: their
// sum and sum of squares. Lanes summed side by side (a fixed order: the same bits every
// run); the shift (a value of the set) keeps the one-pass variance exact to double's
// rounding whatever the mean.
static void moments(const float *a, const float *b, size_t n, double shift, double *s1, double *s2) {
    double u = 0.0, v = 0.0;
    if (b) {
        #pragma omp simd reduction(+ : u, v)
        for (size_t i = 0; i < n; i++) {
            double x = (double)a[i] - (double)b[i] - shift;
            u += x;
            v += x * x;
        }
    } else {
        #pragma omp simd reduction(+ : u, v)
        for (size_t i = 0; i < n; i++) {
            double x = (double)a[i] - shift;
            u += x;
            v += x * x;
        }
    }
    *s1 += u;
    *s2 += v;
}

// Unbiased variance from the shifted sums of count values.
static double variance(double s1, double s2, long count) {
    double v = (s2 - s1 * s1 / (double)count) / (double)(count - 1);
    return v > 0.0 ? v : 0.0;
}

// std of a (the data) and of a - b (the update) in one pass: sd[0], sd[1] (NaN: n < 2),
// and the data's root mean square sd[2].
static void data_update_std(const float *a, const float *b, size_t n, double sd[3]) {
    if (n < 2) {
        sd[0] = sd[1] = sd[2] = NAN;
        return;
    }
    const double ka = a[0], kd = (double)a[0] - (double)b[0];
    double u = 0.0, v = 0.0, p = 0.0, q = 0.0;
    #pragma omp simd reduction(+ : u, v, p, q)
    for (size_t i = 0; i < n; i++) {
        double x = (double)a[i] - ka, d = (double)a[i] - (double)b[i] - kd;
        u += x;
        v += x * x;
        p += d;
        q += d * d;
    }
    sd[0] = sqrt(variance(u, v, (long)n));
    sd[1] = sqrt(variance(p, q, (long)n));
    const double mean = ka + u / (double)n;
    sd[2] = sqrt(sd[0] * sd[0] * (double)(n - 1) / (double)n + mean * mean);
}

double diag_std(const float *a, const float *b, size_t n) {
    if (n < 2) return NAN;
    double shift = b ? (double)a[0] - (double)b[0] : (double)a[0], s1 = 0.0, s2 = 0.0;
    moments(a, b, n, shift, &s1, &s2);
    return sqrt(variance(s1, s2, (long)n));
}

// The counted rows as runs of consecutive ones: the next run from row *r on, [r0, r1)
// (all rows one run when nothing is skipped). 0 when none is left.
static int next_run(const int *skip, int rows, int *r, int *r0, int *r1) {
    while (*r < rows && skip && skip[*r] < 0) (*r)++;
    if (*r >= rows) return 0;
    *r0 = *r;
    while (*r < rows && !(skip && skip[*r] < 0)) (*r)++;
    *r1 = *r;
    return 1;
}

// Pass 1 over the n values of a run: moments (shifted), range, saturated values.
static void run_pass1(const float *x, const float *pre, size_t n, NetNonlin nl, double shift,
                      double *s1, double *s2, float *lo, float *hi, long *sat) {
    double u = 0.0, v = 0.0;
    float mn = *lo, mx = *hi;
    #pragma omp simd reduction(+ : u, v) reduction(min : mn) reduction(max : mx)
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - shift;
        u += d;
        v += d * d;
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    long k = 0;
    if (nl == NET_NL_TANH) {
        const float t = (float)DIAG_TANH_SAT;
        #pragma omp simd reduction(+ : k)
        for (size_t i = 0; i < n; i++) k += fabsf(x[i]) > t;
    } else if (nl == NET_NL_GELU) {
        const float g = (float)DIAG_GELU_SAT;
        #pragma omp simd reduction(+ : k)
        for (size_t i = 0; i < n; i++) k += pre[i] < g;
    }
    *s1 += u, *s2 += v, *lo = mn, *hi = mx, *sat += k;
}

static void first_pass(DiagStat *s, const float *x, int rows, int cols, const int *skip,
                       NetNonlin nl, const float *pre, long *sat) {
    double s1 = 0.0, s2 = 0.0, shift = NAN;
    float lo = INFINITY, hi = -INFINITY;
    for (int r = 0, r0, r1; next_run(skip, rows, &r, &r0, &r1);) {
        const size_t at = (size_t)r0 * cols, n = (size_t)(r1 - r0) * cols;
        if (isnan(shift)) shift = x[at];
        run_pass1(x + at, pre ? pre + at : NULL, n, nl, shift, &s1, &s2, &lo, &hi, sat);
        s->count += (long)n;
    }
    s->mean = s->count ? shift + s1 / (double)s->count : NAN;
    s->std = s->count > 1 ? sqrt(variance(s1, s2, s->count)) : NAN;
    s->lo = nl == NET_NL_TANH ? -1.0 : lo;
    s->hi = nl == NET_NL_TANH ? 1.0 : hi;
    if (s->lo == s->hi) {  // one value: a bin of width 1 around it
        s->lo -= 0.5;
        s->hi += 0.5;
    }
}

enum { BIN_BLOCK = 512, BIN_WAYS = 4 };

// Bin indices of m values in float, k = floor((x - lo) * DIAG_BINS / (hi - lo)) (the last
// bin closed); NaN, inf and values out of range get DIAG_BINS, no bin.
static void bin_indices(int *k, const float *x, int m, float lo, float hi, float scale) {
    #pragma omp simd
    for (int c = 0; c < m; c++) {
        int in = x[c] >= lo && x[c] <= hi, b = in ? (int)((x[c] - lo) * scale) : DIAG_BINS;
        k[c] = b < DIAG_BINS - 1 || !in ? b : DIAG_BINS - 1;
    }
}

// Pass 2: the histogram, the bin indices of a block side by side, then counted into
// BIN_WAYS copies in turn (consecutive values in one bin do not wait on each other).
static void bin_pass(long *bins, const DiagStat *s, const float *x, int rows, int cols,
                     const int *skip) {
    const float lo = (float)s->lo, hi = (float)s->hi, scale = (float)(DIAG_BINS / (s->hi - s->lo));
    int k[BIN_BLOCK + BIN_WAYS], ways[BIN_WAYS][DIAG_BINS + 1];  // [DIAG_BINS]: no bin
    memset(ways, 0, sizeof ways);
    for (int r = 0, r0, r1; next_run(skip, rows, &r, &r0, &r1);) {
        const float *xr = x + (size_t)r0 * cols;
        const size_t n = (size_t)(r1 - r0) * cols;
        for (size_t c0 = 0; c0 < n; c0 += BIN_BLOCK) {
            const int m = n - c0 < BIN_BLOCK ? (int)(n - c0) : BIN_BLOCK;
            bin_indices(k, xr + c0, m, lo, hi, scale);
            for (int c = m; c < m + BIN_WAYS; c++) k[c] = DIAG_BINS;  // the last group's rest
            for (int c = 0; c < m; c += BIN_WAYS)
                for (int w = 0; w < BIN_WAYS; w++) ways[w][k[c + w]]++;
        }
    }
    for (int w = 0; w < BIN_WAYS; w++)
        for (int b = 0; b < DIAG_BINS; b++) bins[b] += ways[w][b];
}

void diag_stat(DiagStat *s, const float *x, int rows, int cols, const int *skip, NetNonlin nl,
               const float *pre) {
    memset(s, 0, sizeof *s);
    long sat = 0, bins[DIAG_BINS] = {0};
    first_pass(s, x, rows, cols, skip, nl, pre, &sat);
    s->saturated = s->count ? (double)sat / (double)s->count : 0.0;
    const int ranged = isfinite(s->lo) && isfinite(s->hi) && s->lo < s->hi;
    if (!ranged || !s->count) return;
    bin_pass(bins, s, x, rows, cols, skip);
    const double per = 1.0 / ((double)s->count * (s->hi - s->lo) / DIAG_BINS);
    for (int k = 0; k < DIAG_BINS; k++) s->density[k] = (double)bins[k] * per;
}

// A fused weight's update W - W' is lr * grad plus the rounding of W' (at most half an ulp
// of W, independent of the gradient: it adds in quadrature). When the update stands this
// far above the rounding's scale, 2^-24 rms(W), std(update) / lr is std(grad) to better
// than 1e-6 relative; below, the gradient is rebuilt by a GEMM.
#define READ_BACK_MARGIN 1e3

// Every parameter: data before the step, its update, its gradient where the step kept it
// or (SGD with lr) read back from the update of a fused weight; NaN: the layer rebuilds it.
// pidx[i]: tensor i's entry.
static void param_stats(Diag *d, const Net *n, float lr, int *pidx) {
    d->n_params = 0;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        pidx[i] = -1;
        if (t->is_stat) continue;
        DiagParam *p = &d->param[d->n_params];
        pidx[i] = d->n_params++;
        p->tensor = i;
        double sd[3];
        data_update_std(d->before + t->off, n->params + t->off, t->numel, sd);
        p->data_std = sd[0];
        p->update_std = sd[1];
        if (!t->gemm_updated) p->grad_std = diag_std(n->grads + t->off, NULL, t->numel);
        else if (lr > 0.0f && sd[1] >= READ_BACK_MARGIN * ldexp(sd[2], -24)) p->grad_std = sd[1] / lr;
        else p->grad_std = NAN;
    }
}

void diag_after_step(Diag *d, const Net *n, float lr) {
    const int *skip = n->packed == NET_PACK_UNIFORM ? n->pk_y : NULL;  // padding rows
    int pidx[NET_MAX_TENSORS];
    param_stats(d, n, lr, pidx);
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
        if (p.fused_w >= 0 && isnan(d->param[pidx[p.fused_w]].grad_std)) {  // dW = in^T . dout
            gemm(1, 0, p.in_cols, p.cols, p.rows, 1.0f, p.in, p.grad, 0.0f, d->dw);
            d->param[pidx[p.fused_w]].grad_std = diag_std(d->dw, NULL, n->tensor[p.fused_w].numel);
        }
    }
}
