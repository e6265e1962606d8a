// kernels.c: forward kernels and the fused backward kernels (exercises 2 and 3, the
// embedding scatter-add). Derivations: docs/derivations.md.
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

void embedding_forward(float *embcat, const float *C, const int *Xb, int B, int T, int E) {
    #pragma omp parallel for if (par_worth((long)B * T * E)) schedule(static)
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            memcpy(embcat + ((size_t)b * T + t) * E, C + (size_t)Xb[b * T + t] * E,
                   (size_t)E * sizeof(float));
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
    if (!par_worth((long)B * T * E) || omp_get_max_threads() == 1) {
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

void batchnorm_tanh_forward(float *h, float *bnraw, float *bnmeani, float *bnvar,
                            float *bnvar_inv, const float *hprebn, const float *bngain,
                            const float *bnbias, int B, int H, int bessel) {
    const float inv_n = 1.0f / (float)B;
    const float inv_var_n = 1.0f / (float)(bessel ? B - 1 : B);
    #pragma omp parallel for if (par_worth((long)B * H)) schedule(static)
    for (int j0 = 0; j0 < H; j0 += BN_COLS) {
        int w = H - j0 < BN_COLS ? H - j0 : BN_COLS;
        float mean[BN_COLS] = {0}, var[BN_COLS] = {0}, inv[BN_COLS];
        for (int b = 0; b < B; b++) {
            const float *x = hprebn + (size_t)b * H + j0;
            for (int j = 0; j < w; j++) mean[j] += x[j];
        }
        for (int j = 0; j < w; j++) mean[j] *= inv_n;
        for (int b = 0; b < B; b++) {
            const float *x = hprebn + (size_t)b * H + j0;
            for (int j = 0; j < w; j++) {
                float d = x[j] - mean[j];
                var[j] += d * d;
            }
        }
        for (int j = 0; j < w; j++) {
            var[j] *= inv_var_n;
            inv[j] = 1.0f / sqrtf(var[j] + BN_EPS);
            bnmeani[j0 + j] = mean[j];
            bnvar[j0 + j] = var[j];
            bnvar_inv[j0 + j] = inv[j];
        }
        for (int b = 0; b < B; b++) {
            size_t o = (size_t)b * H + j0;
            #pragma omp simd
            for (int j = 0; j < w; j++) {
                float raw = (hprebn[o + j] - mean[j]) * inv[j];
                bnraw[o + j] = raw;
                h[o + j] = tanhf(bngain[j0 + j] * raw + bnbias[j0 + j]);
            }
        }
    }
}

void batchnorm_tanh_forward_eval(float *h, const float *hprebn, const float *bnmean,
                                 const float *bnvar, const float *bngain,
                                 const float *bnbias, int B, int H) {
    #pragma omp parallel for if (par_worth((long)B * H)) schedule(static)
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H;
        #pragma omp simd
        for (int j = 0; j < H; j++)
            h[o + j] = tanhf(bngain[j] * (hprebn[o + j] - bnmean[j]) / sqrtf(bnvar[j] + BN_EPS) +
                             bnbias[j]);
    }
}

// ---- cross-entropy ---------------------------------------------------------------

// One row: probs = softmax(x) written into d, returns log(sum exp(x - max)) and max.
static inline float softmax_row(float *d, const float *x, int V, float *row_max) {
    float mx = x[0];
    for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    float sum = 0.0f;
    #pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; v++) {
        d[v] = expf(x[v] - mx);
        sum += d[v];
    }
    *row_max = mx;
    return sum;
}

// Exercise 2: dlogits = (softmax(logits) - onehot(Yb)) / B, one row at a time.
static inline float ce_row(float *d, const float *x, int y, int V, float inv_B) {
    float mx;
    float sum = softmax_row(d, x, V, &mx);
    float scale = inv_B / sum;
    #pragma omp simd
    for (int v = 0; v < V; v++) d[v] *= scale;
    d[y] -= inv_B;
    return logf(sum) - (x[y] - mx);  // -log softmax(x)[y]
}

void ce_backward_fused(float *dlogits, const float *logits, const int *Yb, int B, int V) {
    const float inv_B = 1.0f / (float)B;
    #pragma omp parallel for if (par_worth((long)B * V * 8)) schedule(static)
    for (int b = 0; b < B; b++)
        ce_row(dlogits + (size_t)b * V, logits + (size_t)b * V, Yb[b], V, inv_B);
}

float ce_forward_backward_fused(float *dlogits, const float *logits, const int *Yb, int B,
                                int V) {
    const float inv_B = 1.0f / (float)B;
    double partial[MAX_THREADS] = {0};
    int used = 1;
    #pragma omp parallel if (par_worth((long)B * V * 8)) num_threads(omp_get_max_threads() < MAX_THREADS ? omp_get_max_threads() : MAX_THREADS)
    {
        int k = omp_get_thread_num();
        double s = 0.0;
        #pragma omp for schedule(static)
        for (int b = 0; b < B; b++)
            s += ce_row(dlogits + (size_t)b * V, logits + (size_t)b * V, Yb[b], V, inv_B);
        partial[k] = s;
        #pragma omp single
        used = omp_get_num_threads();
    }
    double total = 0.0;
    for (int k = 0; k < used; k++) total += partial[k];
    return (float)(total / B);
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

// The closed form on one block of w <= BN_COLS columns. When h is non-NULL the input
// is dh and dhpreact = (1 - h^2) * dh is formed on the fly (tanh fused in); else the
// input is dhpreact itself.
static void bn_backward_block(float *dhprebn, float *dbngain, float *dbnbias, const float *din,
                              const float *h, const float *bnraw, const float *bnvar_inv,
                              const float *bngain, int B, int H, int j0, int w, int bessel) {
    float sum_d[BN_COLS] = {0}, sum_draw[BN_COLS] = {0};
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
    float scale[BN_COLS], corr[BN_COLS];
    for (int j = 0; j < w; j++) {
        dbnbias[j0 + j] = sum_d[j];
        dbngain[j0 + j] = sum_draw[j];
        scale[j] = bngain[j0 + j] * bnvar_inv[j0 + j] / (float)B;
        corr[j] = k * sum_draw[j];
    }
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H + j0;
        #pragma omp simd
        for (int j = 0; j < w; j++) {
            float d = h ? (1.0f - h[o + j] * h[o + j]) * din[o + j] : din[o + j];
            dhprebn[o + j] = scale[j] * ((float)B * d - sum_d[j] - bnraw[o + j] * corr[j]);
        }
    }
}

void bn_backward_fused(float *dhprebn, float *dbngain, float *dbnbias, const float *dhpreact,
                       const float *bnraw, const float *bnvar_inv, const float *bngain, int B,
                       int H, int bessel) {
    #pragma omp parallel for if (par_worth((long)B * H)) schedule(static)
    for (int j0 = 0; j0 < H; j0 += BN_COLS)
        bn_backward_block(dhprebn, dbngain, dbnbias, dhpreact, NULL, bnraw, bnvar_inv, bngain,
                          B, H, j0, H - j0 < BN_COLS ? H - j0 : BN_COLS, bessel);
}

void bn_tanh_backward_fused(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                            const float *h, const float *bnraw, const float *bnvar_inv,
                            const float *bngain, int B, int H, int bessel) {
    #pragma omp parallel for if (par_worth((long)B * H)) schedule(static)
    for (int j0 = 0; j0 < H; j0 += BN_COLS)
        bn_backward_block(dhprebn, dbngain, dbnbias, dh, h, bnraw, bnvar_inv, bngain, B, H, j0,
                          H - j0 < BN_COLS ? H - j0 : BN_COLS, bessel);
}
