// kernels.c: forward kernels and the fused backward kernels (exercises 2 and 3, the
// embedding scatter-add). Derivations: src/DERIVATIONS.md.
//
// Threading: each kernel forks only when par_worth(work) says the fork pays for itself;
// otherwise the `if` clause keeps it on the calling thread. Reductions never use
// OpenMP's reduction clause (its combine order is not fixed): per-thread partials are
// combined in thread order, or each output is owned by one thread, so results are
// bit-identical run to run for a given thread count.
#include "kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "common.h"
#include "model.h"
#include "vecmath.h"

// Column blocks for the [B,H] batchnorm kernels: a block of BN_COLS columns over all B
// rows is one task; 16 floats = one cache line per row, so at B = 4096 a block of three
// arrays (768 KB) stays in L2 between the statistics pass and the output pass.
#define BN_COLS 16
#define MAX_THREADS 256

// ---- embedding --------------------------------------------------------------------

// Serial paths are plain calls, not `parallel if (0)` regions: with GCC 12 an if(0)
// region still goes through libgomp and costs several times a short loop (bench/).
static int fork_pays(long work) { return par_worth(work) && omp_get_max_threads() > 1; }

// Positions [p0, p1), p = b*T + t; rows are short, so no memcpy call.
static void gather_rows(float *embcat, const float *C, const int *Xb, int p0, int p1, int E) {
    for (int p = p0; p < p1; p++) {
        const float *src = C + (size_t)Xb[p] * E;
        float *dst = embcat + (size_t)p * E;
        for (int e = 0; e < E; e++) dst[e] = src[e];
    }
}

void embedding_forward(float *embcat, const float *C, const int *Xb, int B, int T, int E) {
    if (!fork_pays((long)B * T * E)) {
        gather_rows(embcat, C, Xb, 0, B * T, E);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        gather_rows(embcat, C, Xb, (int)((long)B * T * k / nt), (int)((long)B * T * (k + 1) / nt), E);
    }
}

void embedding_backward_serial(float *dC, const float *dembcat, const int *Xb, int B, int T,
                               int E, int V) {
    memset(dC, 0, (size_t)V * E * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int ix = Xb[b * T + t];
            for (int e = 0; e < E; e++) dC[(size_t)ix * E + e] += dembcat[((size_t)b * T + t) * E + e];
        }
}

// Row ownership: thread k owns rows [v0, v1) of dC and scans every position, adding
// only its own rows. Each row is summed in (b,t) order, exactly as the serial loop,
// so the result is bit-identical to it whatever the thread count.
void embedding_backward(float *dC, const float *dembcat, const int *Xb, int B, int T, int E,
                        int V) {
    if (!fork_pays((long)B * T * E)) {
        embedding_backward_serial(dC, dembcat, Xb, B, T, E, V);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        int v0 = (int)((long)V * k / nt), v1 = (int)((long)V * (k + 1) / nt);
        memset(dC + (size_t)v0 * E, 0, (size_t)(v1 - v0) * E * sizeof(float));
        for (int p = 0; p < B * T; p++) {
            int ix = Xb[p];
            if (ix < v0 || ix >= v1) continue;
            float *row = dC + (size_t)ix * E;
            const float *src = dembcat + (size_t)p * E;
            for (int e = 0; e < E; e++) row[e] += src[e];
        }
    }
}

// ---- batchnorm + tanh forward ----------------------------------------------------

// Columns [j0, j1) of the training-mode forward. Statistics go straight into the [H]
// outputs; rows are walked whole, so the inner loops run over contiguous columns.
static void bn_forward_cols(float *h, float *bnraw, float *bnmeani, float *bnvar,
                            float *bnvar_inv, const float *hprebn, const float *bngain,
                            const float *bnbias, int B, int H, int j0, int j1, int bessel) {
    float *mean = bnmeani + j0, *var = bnvar + j0, *inv = bnvar_inv + j0;
    const float *gain = bngain + j0, *bias = bnbias + j0;
    int w = j1 - j0;
    for (int j = 0; j < w; j++) mean[j] = var[j] = 0.0f;
    for (int b = 0; b < B; b++) {
        const float *x = hprebn + (size_t)b * H + j0;
        #pragma omp simd
        for (int j = 0; j < w; j++) mean[j] += x[j];
    }
    for (int j = 0; j < w; j++) mean[j] /= (float)B;
    for (int b = 0; b < B; b++) {
        const float *x = hprebn + (size_t)b * H + j0;
        #pragma omp simd
        for (int j = 0; j < w; j++) var[j] += (x[j] - mean[j]) * (x[j] - mean[j]);
    }
    for (int j = 0; j < w; j++) {
        var[j] /= (float)(bessel ? B - 1 : B);
        inv[j] = 1.0f / sqrtf(var[j] + BN_EPS);
    }
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H + j0;
        #pragma omp simd
        for (int j = 0; j < w; j++) {
            float raw = (hprebn[o + j] - mean[j]) * inv[j];
            bnraw[o + j] = raw;
            h[o + j] = gain[j] * raw + bias[j];  // hpreact; tanh applied below
        }
    }
}

// tanh in place over n contiguous values (libmvec's vector tanhf).
static void tanh_inplace(float *x, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

void batchnorm_tanh_forward(float *h, float *bnraw, float *bnmeani, float *bnvar,
                            float *bnvar_inv, const float *hprebn, const float *bngain,
                            const float *bnbias, int B, int H, int bessel) {
    if (!fork_pays((long)B * H)) {
        bn_forward_cols(h, bnraw, bnmeani, bnvar, bnvar_inv, hprebn, bngain, bnbias, B, H, 0, H,
                        bessel);
        tanh_inplace(h, (size_t)B * H);
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int j0 = 0; j0 < H; j0 += BN_COLS) {
        int j1 = j0 + BN_COLS < H ? j0 + BN_COLS : H;
        bn_forward_cols(h, bnraw, bnmeani, bnvar, bnvar_inv, hprebn, bngain, bnbias, B, H, j0,
                        j1, bessel);
        for (int b = 0; b < B; b++) tanh_inplace(h + (size_t)b * H + j0, (size_t)(j1 - j0));
    }
}

void batchnorm_tanh_forward_eval(float *h, const float *hprebn, const float *bnmean,
                                 const float *bnvar, const float *bngain,
                                 const float *bnbias, int B, int H) {
    #pragma omp parallel for schedule(static)  // only evaluation and sampling come here
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H;
        #pragma omp simd
        for (int j = 0; j < H; j++)
            h[o + j] = tanhf(bngain[j] * (hprebn[o + j] - bnmean[j]) / sqrtf(bnvar[j] + BN_EPS) +
                             bnbias[j]);
    }
}

// ---- cross-entropy ---------------------------------------------------------------

// Rows [r0, r1) of exercise 2: dlogits = (softmax(logits) - onehot(Yb)) / B.
// Returns the rows' summed loss -log softmax(logits)[b, Yb[b]].
// Rows are short (V = 27), so the exponentials run as one vector loop over a block of
// up to CE_ROWS rows laid end to end, not row by row with a scalar tail each time.
#define CE_ROWS 64
static double ce_rows(float *dlogits, const float *logits, const int *Yb, int r0, int r1, int V,
                      float inv_B) {
    double loss = 0.0;
    for (int c0 = r0; c0 < r1; c0 += CE_ROWS) {
        int c1 = c0 + CE_ROWS < r1 ? c0 + CE_ROWS : r1;
        float row_max[CE_ROWS];
        for (int b = c0; b < c1; b++) {
            const float *x = logits + (size_t)b * V;
            float mx = x[0];
            for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
            row_max[b - c0] = mx;
            float *d = dlogits + (size_t)b * V;
            for (int v = 0; v < V; v++) d[v] = x[v] - mx;  // norm_logits
        }
        float *block = dlogits + (size_t)c0 * V;
        size_t n = (size_t)(c1 - c0) * V;
        #pragma omp simd
        for (size_t i = 0; i < n; i++) block[i] = expf(block[i]);  // counts
        for (int b = c0; b < c1; b++) {
            float *d = dlogits + (size_t)b * V;
            const float *x = logits + (size_t)b * V;
            float sum = 0.0f;
            for (int v = 0; v < V; v++) sum += d[v];  // counts_sum
            float scale = inv_B / sum;
            #pragma omp simd
            for (int v = 0; v < V; v++) d[v] *= scale;
            d[Yb[b]] -= inv_B;
            loss += logf(sum) - (x[Yb[b]] - row_max[b - c0]);
        }
    }
    return loss;
}

// Rows split in contiguous per-thread ranges; partial losses combined in thread order.
static double ce_all_rows(float *dlogits, const float *logits, const int *Yb, int B, int V) {
    const float inv_B = 1.0f / (float)B;
    if (!fork_pays((long)B * V * 8))
        return ce_rows(dlogits, logits, Yb, 0, B, V, inv_B);
    double partial[MAX_THREADS];
    int used = 1;
    #pragma omp parallel num_threads(omp_get_max_threads() < MAX_THREADS ? omp_get_max_threads() : MAX_THREADS)
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        int r0 = (int)((long)B * k / nt), r1 = (int)((long)B * (k + 1) / nt);
        partial[k] = ce_rows(dlogits, logits, Yb, r0, r1, V, inv_B);
        if (k == 0) used = nt;
    }
    double total = 0.0;
    for (int k = 0; k < used; k++) total += partial[k];
    return total;
}

void ce_backward_fused(float *dlogits, const float *logits, const int *Yb, int B, int V) {
    ce_all_rows(dlogits, logits, Yb, B, V);
}

float ce_forward_backward_fused(float *dlogits, const float *logits, const int *Yb, int B,
                                int V) {
    return (float)(ce_all_rows(dlogits, logits, Yb, B, V) / B);
}

double ce_loss_sum(const float *logits, const int *Yb, int B, int V) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * V;
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
        total += log(sum) - ((double)x[Yb[b]] - mx);
    }
    return total;
}

// ---- batchnorm backward (exercise 3) -------------------------------------------

// The closed form on columns [j0, j1). When h is non-NULL the input is dh and
// dhpreact = (1 - h^2) * dh is formed on the fly (tanh fused in); else the input is
// dhpreact itself. The two column sums go straight into dbnbias / dbngain.
static void bn_backward_cols(float *dhprebn, float *dbngain, float *dbnbias, const float *din,
                             const float *h, const float *bnraw, const float *bnvar_inv,
                             const float *bngain, int B, int H, int j0, int j1, int bessel) {
    float *sum_d = dbnbias + j0, *sum_draw = dbngain + j0;
    int w = j1 - j0;
    for (int j = 0; j < w; j++) sum_d[j] = sum_draw[j] = 0.0f;
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H + j0;
        #pragma omp simd
        for (int j = 0; j < w; j++) {
            float d = h ? (1.0f - h[o + j] * h[o + j]) * din[o + j] : din[o + j];
            sum_d[j] += d;
            sum_draw[j] += d * bnraw[o + j];
        }
    }
    const float k = bessel ? (float)B / (float)(B - 1) : 1.0f;
    const float *gain = bngain + j0, *inv = bnvar_inv + j0;
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H + j0;
        #pragma omp simd
        for (int j = 0; j < w; j++) {
            float d = h ? (1.0f - h[o + j] * h[o + j]) * din[o + j] : din[o + j];
            float scale = gain[j] * inv[j] / (float)B;
            dhprebn[o + j] = scale * ((float)B * d - sum_d[j] - bnraw[o + j] * (k * sum_draw[j]));
        }
    }
}

static void bn_backward(float *dhprebn, float *dbngain, float *dbnbias, const float *din,
                        const float *h, const float *bnraw, const float *bnvar_inv,
                        const float *bngain, int B, int H, int bessel) {
    if (!fork_pays((long)B * H)) {
        bn_backward_cols(dhprebn, dbngain, dbnbias, din, h, bnraw, bnvar_inv, bngain, B, H, 0, H,
                         bessel);
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int j0 = 0; j0 < H; j0 += BN_COLS)
        bn_backward_cols(dhprebn, dbngain, dbnbias, din, h, bnraw, bnvar_inv, bngain, B, H, j0,
                         j0 + BN_COLS < H ? j0 + BN_COLS : H, bessel);
}

void bn_backward_fused(float *dhprebn, float *dbngain, float *dbnbias, const float *dhpreact,
                       const float *bnraw, const float *bnvar_inv, const float *bngain, int B,
                       int H, int bessel) {
    bn_backward(dhprebn, dbngain, dbnbias, dhpreact, NULL, bnraw, bnvar_inv, bngain, B, H, bessel);
}

void bn_tanh_backward_fused(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                            const float *h, const float *bnraw, const float *bnvar_inv,
                            const float *bngain, int B, int H, int bessel) {
    bn_backward(dhprebn, dbngain, dbnbias, dh, h, bnraw, bnvar_inv, bngain, B, H, bessel);
}
