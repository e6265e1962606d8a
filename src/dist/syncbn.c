// syncbn.c: synchronised batchnorm and the data-parallel step (syncbn.h).
//
// Numerics of the forward statistics: one allreduce needs the two column sums together, so
// the variance is S2 - S1^2/B rather than the two-pass sum of squared deviations. In float
// that difference loses about (mean/sd)^2 ulps; here each rank sums in double, so the loss is
// 1e-16 * (mean/sd)^2 relative, under float32's rounding for any |mean/sd| < 1e4 (hprebn's
// columns are O(1) in that ratio), and the variance rounds to the float the two-pass float
// kernel gives, within an ulp or two.
//
// Deterministic: every column sum is owned by one thread and runs over the rows in order, so
// a rank's sums do not depend on the thread count; MPI_Allreduce's order for a fixed P and
// message size is fixed, so a run with a fixed P repeats bit for bit.
#include "syncbn.h"

#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dist.h"
#include "kernels.h"
#include "vecmath.h"

// ---- scratch, allocated once (grown, never per step), freed at exit ------------------

static double *g_sums;      // [2H] column sums
static size_t g_sums_cap;
static float *g_fused;      // the fused gradient buffer
static size_t g_fused_cap;
static int *g_batch;        // the global batch: X [B,T] then Y [B]
static size_t g_batch_cap;

static void scratch_free(void) {
    free(g_sums);
    free(g_fused);
    free(g_batch);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    static int registered = 0;
    if (need <= *cap) return p;
    if (!registered) {
        atexit(scratch_free);
        registered = 1;
    }
    free(p);
    p = calloc(need, elem);
    if (!p) die(EXIT_RUNTIME, "out of memory");
    *cap = need;
    return p;
}

// Column sums in double over rows [0, B): with d = x, or d = (1 - h^2) * x when h is given
// (tanh's backward), s1[j] = sum_b d[b,j] and s2[j] = sum_b d[b,j] * y[b,j] (y = d when NULL).
// Thread k owns columns [j0, j1), rows in order: the same sums whatever the thread count.
static void col_sums(double *s1, double *s2, const float *x, const float *y, const float *h,
                     int B, int H) {
    #pragma omp parallel if (par_worth((long)B * H))
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        int j0 = (int)((long)H * k / nt), j1 = (int)((long)H * (k + 1) / nt);
        for (int j = j0; j < j1; j++) s1[j] = s2[j] = 0.0;
        for (int b = 0; b < B; b++) {
            size_t o = (size_t)b * H;
            for (int j = j0; j < j1; j++) {
                double d = h ? (double)((1.0f - h[o + j] * h[o + j]) * x[o + j]) : (double)x[o + j];
                s1[j] += d;
                s2[j] += d * (y ? (double)y[o + j] : d);
            }
        }
    }
}

void syncbn_tanh_forward(float *h, float *bnraw, float *bnmeani, float *bnvar, float *bnvar_inv,
                         const float *hprebn, const float *bngain, const float *bnbias, int Bl,
                         int H, int bessel) {
    const int B = Bl * dist_size();
    g_sums = grow(g_sums, &g_sums_cap, 2 * (size_t)H, sizeof(double));
    double *s1 = g_sums, *s2 = g_sums + H;
    col_sums(s1, s2, hprebn, NULL, NULL, Bl, H);
    dist_allreduce_sum_double(g_sums, 2 * H);  // DIST: the forward's one allreduce
    const double n_var = bessel ? B - 1 : B;
    for (int j = 0; j < H; j++) {
        double mean = s1[j] / B, var = (s2[j] - s1[j] * mean) / n_var;
        bnmeani[j] = (float)mean;
        bnvar[j] = (float)(var > 0 ? var : 0);
        bnvar_inv[j] = 1.0f / sqrtf(bnvar[j] + BN_EPS);
    }
    #pragma omp parallel for schedule(static) if (par_worth((long)Bl * H))
    for (int b = 0; b < Bl; b++) {
        size_t o = (size_t)b * H;
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float raw = (hprebn[o + j] - bnmeani[j]) * bnvar_inv[j];
            bnraw[o + j] = raw;
            h[o + j] = tanhf(bngain[j] * raw + bnbias[j]);
        }
    }
}

void syncbn_tanh_backward(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                          const float *h, const float *bnraw, const float *bnvar_inv,
                          const float *bngain, int Bl, int H, int bessel) {
    const int B = Bl * dist_size();
    g_sums = grow(g_sums, &g_sums_cap, 2 * (size_t)H, sizeof(double));
    double *sd = g_sums, *sr = g_sums + H;
    col_sums(sd, sr, dh, bnraw, h, Bl, H);  // sum_b dhpreact, sum_b dhpreact * bnraw
    dist_allreduce_sum_double(g_sums, 2 * H);  // DIST: the backward's one allreduce
    for (int j = 0; j < H; j++) {
        dbnbias[j] = (float)sd[j];
        dbngain[j] = (float)sr[j];
    }
    const float k = bessel ? (float)B / (float)(B - 1) : 1.0f;
    #pragma omp parallel for schedule(static) if (par_worth((long)Bl * H))
    for (int b = 0; b < Bl; b++) {
        size_t o = (size_t)b * H;
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float d = (1.0f - h[o + j] * h[o + j]) * dh[o + j];
            float scale = bngain[j] * bnvar_inv[j] / (float)B;
            dhprebn[o + j] = scale * ((float)B * d - dbnbias[j] - bnraw[o + j] * (k * dbngain[j]));
        }
    }
}

// The data-parallel step for a Net (net.h): every batchnorm of the table is synchronised
// (net.c calls the functions above when P > 1), and every gradient but the batchnorm gains
// and shifts (already global sums) goes through the one fused allreduce, then / P.
// Each rank's dlogits is (softmax - onehot) / Bl: P times its share of the global mean's
// gradient, and every gradient downstream (the synchronised batchnorm sums included) scales
// with it. So the global gradient is (sum over ranks) / P, and bngain/bnbias's, already
// summed by the batchnorm allreduce, are divided by P alone.
float net_dp_train_step(Net *n, const Examples *ex, float lr, Rng *rng, int *stop) {
    const int P = dist_size(), r = dist_rank(), Bl = n->B, T = n->cfg.T;
    const size_t B = (size_t)Bl * P, np = n->num_params;
    g_batch = grow(g_batch, &g_batch_cap, B * (T + 1), sizeof(int));
    g_fused = grow(g_fused, &g_fused_cap, np + 3, sizeof(float));
    int *Xg = g_batch, *Yg = g_batch + B * T;
    examples_sample_batch(Xg, Yg, ex, (int)B, rng);  // the global batch, as one process draws it
    float loss = net_forward(n, Xg + (size_t)r * Bl * T, Yg + (size_t)r * Bl, 1);
    net_backward(n);
    float *f = g_fused;
    memcpy(f, n->grads, np * sizeof(float));  // the batchnorm entries are sent and not used
    f[np] = loss;
    f[np + 1] = *stop == SIGINT;
    f[np + 2] = *stop != 0 && *stop != SIGINT;
    dist_allreduce_sum(f, (int)(np + 3));  // DIST: the step's one gradient allreduce
    const float inv_P = 1.0f / (float)P;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        if (t->is_stat) continue;
        float *g = n->grads + t->off;
        const float *src = net_tensor_is_bn(n, i) ? g : f + t->off;
        for (size_t k = 0; k < t->numel; k++) g[k] = src[k] * inv_P;
    }
    *stop = f[np + 1] > 0 ? SIGINT : f[np + 2] > 0 ? SIGTERM : 0;
    net_sgd(n, lr);
    return f[np] * inv_P;
}
