// layernorm.c: LayerNorm over the channels, forward and closed-form backward
// (transformer_kernels.h).
//
// Threads: rows are independent, so the row passes split the rows among the threads. The
// backward's column sums (dweight, dbias) are owned by columns: on one thread they ride along
// the row pass (each column summed in row order); when the kernel forks, each block of
// columns is summed over all rows in row order by the one thread that owns it, after the row
// pass. Same expressions, same order: the same bits at any thread count.
#include "transformer_kernels.h"

#include <math.h>
#include <omp.h>

#include "common.h"

#define COL_BLOCK 16  // columns per block of the forked column sums (64 bytes of a row)

static int fork_pays(long work) { return par_worth(work) && omp_get_max_threads() > 1; }

// Rows [r0, r1) of the forward.
static void ln_forward_rows(float *out, float *mean, float *rstd, const float *inp,
                            const float *weight, const float *bias, int r0, int r1, int C) {
    for (int i = r0; i < r1; i++) {
        const float *x = inp + (size_t)i * C;
        float *o = out + (size_t)i * C;
        float s = 0.0f;
        #pragma omp simd reduction(+ : s)
        for (int j = 0; j < C; j++) s += x[j];
        float m = s / (float)C;
        float s2 = 0.0f;
        #pragma omp simd reduction(+ : s2)
        for (int j = 0; j < C; j++) s2 += (x[j] - m) * (x[j] - m);
        float r = 1.0f / sqrtf(s2 / (float)C + LN_EPS);
        #pragma omp simd
        for (int j = 0; j < C; j++) o[j] = (x[j] - m) * r * weight[j] + bias[j];
        mean[i] = m;
        rstd[i] = r;
    }
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C) {
    if (!fork_pays((long)N * C)) {
        ln_forward_rows(out, mean, rstd, inp, weight, bias, 0, N, C);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        ln_forward_rows(out, mean, rstd, inp, weight, bias, (int)((long)N * k / nt),
                        (int)((long)N * (k + 1) / nt), C);
    }
}

// Rows [r0, r1) of dinp: the row's two sums, then dinp += rstd*(dxhat - a - xhat*b).
// dweight, dbias non-NULL: the column sums ride along (the one-thread path, rows from 0).
static void ln_backward_rows(float *dinp, float *dweight, float *dbias, const float *dout,
                             const float *inp, const float *weight, const float *mean,
                             const float *rstd, int r0, int r1, int C) {
    for (int i = r0; i < r1; i++) {
        const float *x = inp + (size_t)i * C, *d = dout + (size_t)i * C;
        float *dx = dinp + (size_t)i * C;
        const float m = mean[i], r = rstd[i];
        float s1 = 0.0f, s2 = 0.0f;
        #pragma omp simd reduction(+ : s1, s2)
        for (int j = 0; j < C; j++) {
            float xhat = (x[j] - m) * r;
            float dxhat = d[j] * weight[j];
            s1 += dxhat;
            s2 += dxhat * xhat;
        }
        const float a = s1 / (float)C, b = s2 / (float)C;
        if (dweight) {
            #pragma omp simd
            for (int j = 0; j < C; j++) {
                float xhat = (x[j] - m) * r;
                float dxhat = d[j] * weight[j];
                dx[j] += r * (dxhat - a - xhat * b);
                dweight[j] += d[j] * xhat;
                dbias[j] += d[j];
            }
        } else {
            #pragma omp simd
            for (int j = 0; j < C; j++) {
                float xhat = (x[j] - m) * r;
                float dxhat = d[j] * weight[j];
                dx[j] += r * (dxhat - a - xhat * b);
            }
        }
    }
}

// Columns [j0, j1) of dweight, dbias, each summed over all N rows in row order.
static void ln_backward_cols(float *dweight, float *dbias, const float *dout, const float *inp,
                             const float *mean, const float *rstd, int j0, int j1, int N,
                             int C) {
    for (int j = j0; j < j1; j++) dweight[j] = dbias[j] = 0.0f;
    for (int i = 0; i < N; i++) {
        const float *x = inp + (size_t)i * C, *d = dout + (size_t)i * C;
        const float m = mean[i], r = rstd[i];
        #pragma omp simd
        for (int j = j0; j < j1; j++) {
            float xhat = (x[j] - m) * r;
            dweight[j] += d[j] * xhat;
            dbias[j] += d[j];
        }
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C) {
    if (!fork_pays((long)N * C)) {
        for (int j = 0; j < C; j++) dweight[j] = dbias[j] = 0.0f;
        ln_backward_rows(dinp, dweight, dbias, dout, inp, weight, mean, rstd, 0, N, C);
        return;
    }
    const int blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        ln_backward_rows(dinp, NULL, NULL, dout, inp, weight, mean, rstd,
                         (int)((long)N * k / nt), (int)((long)N * (k + 1) / nt), C);
        #pragma omp for schedule(static)
        for (int blk = 0; blk < blocks; blk++) {
            int j0 = blk * COL_BLOCK, j1 = j0 + COL_BLOCK < C ? j0 + COL_BLOCK : C;
            ln_backward_cols(dweight, dbias, dout, inp, mean, rstd, j0, j1, N, C);
        }
    }
}
