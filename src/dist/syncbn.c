// syncbn.c: synchronised batchnorm (syncbn.h).
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
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dist.h"
#include "kernels.h"
#include "vecmath.h"

// ---- scratch, allocated once (grown, never per step), freed at exit ------------------

static double *g_sums;      // [2H] column sums
static size_t g_sums_cap;

static void scratch_free(void) {
    free(g_sums);
    g_sums = NULL;
}

// Column sums in double over rows [0, B): with d = x (+ bias[j] when bias is given), or
// d = (1 - h^2) * x when h is given (tanh's backward), s1[j] = sum_b d[b,j] and
// s2[j] = sum_b d[b,j] * y[b,j] (y = d when NULL). Thread k owns columns [j0, j1), rows in
// order: the same sums whatever the thread count.
static void col_sums(double *s1, double *s2, const float *x, const float *bias, const float *y,
                     const float *h, int B, int H) {
    #pragma omp parallel if (par_worth((long)B * H))
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        int j0 = (int)((long)H * k / nt), j1 = (int)((long)H * (k + 1) / nt);
        for (int j = j0; j < j1; j++) s1[j] = s2[j] = 0.0;
        for (int b = 0; b < B; b++) {
            size_t o = (size_t)b * H;
            for (int j = j0; j < j1; j++) {
                double d = h ? (double)((1.0f - h[o + j] * h[o + j]) * x[o + j])
                             : (double)(bias ? x[o + j] + bias[j] : x[o + j]);
                s1[j] += d;
                s2[j] += d * (y ? (double)y[o + j] : d);
            }
        }
    }
}

void syncbn_tanh_forward(float *h, float *bnraw, float *bnmeani, float *bnvar, float *bnvar_inv,
                         const float *hprod, const float *bias, const float *bngain,
                         const float *bnbias, int Bl, int H, int bessel) {
    const int B = Bl * dist_size();
    g_sums = xgrow(g_sums, &g_sums_cap, 2 * (size_t)H, sizeof(double), scratch_free);
    double *s1 = g_sums, *s2 = g_sums + H;
    col_sums(s1, s2, hprod, bias, NULL, NULL, Bl, H);
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
            float x = bias ? hprod[o + j] + bias[j] : hprod[o + j];
            float raw = (x - bnmeani[j]) * bnvar_inv[j];
            bnraw[o + j] = raw;
            h[o + j] = tanhf(bngain[j] * raw + bnbias[j]);
        }
    }
}

void syncbn_tanh_backward(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                          const float *h, const float *bnraw, const float *bnvar_inv,
                          const float *bngain, int Bl, int H, int bessel) {
    const int B = Bl * dist_size();
    g_sums = xgrow(g_sums, &g_sums_cap, 2 * (size_t)H, sizeof(double), scratch_free);
    double *sd = g_sums, *sr = g_sums + H;
    col_sums(sd, sr, dh, NULL, bnraw, h, Bl, H);  // sum_b dhpreact, sum_b dhpreact * bnraw
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
