// residual.c: bias adds, bias gradients and residual adds (transformer_kernels.h): the passes
// around the linear layers' GEMMs that no other kernel fuses.
//
// Element-wise work splits anywhere (no transcendental, no sum: the same bits); the bias
// gradient's column sums are owned by columns, each summed over the rows in row order.
#include "transformer_kernels.h"

#include <omp.h>

#include "common.h"

#define COL_BLOCK 16

static int fork_pays(long work) { return par_worth(work) && omp_get_max_threads() > 1; }

void bias_add(float *x, const float *bias, int N, int M) {
    if (!fork_pays((long)N * M)) {
        for (int i = 0; i < N; i++) {
            float *row = x + (size_t)i * M;
            #pragma omp simd
            for (int j = 0; j < M; j++) row[j] += bias[j];
        }
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *row = x + (size_t)i * M;
        #pragma omp simd
        for (int j = 0; j < M; j++) row[j] += bias[j];
    }
}

void bias_grad(float *dbias, const float *dout, int N, int M) {
    if (!fork_pays((long)N * M)) {
        for (int j = 0; j < M; j++) dbias[j] = 0.0f;
        for (int i = 0; i < N; i++) {
            const float *row = dout + (size_t)i * M;
            #pragma omp simd
            for (int j = 0; j < M; j++) dbias[j] += row[j];
        }
        return;
    }
    const int blocks = (M + COL_BLOCK - 1) / COL_BLOCK;
    #pragma omp parallel for schedule(static)
    for (int blk = 0; blk < blocks; blk++) {
        int j0 = blk * COL_BLOCK, j1 = j0 + COL_BLOCK < M ? j0 + COL_BLOCK : M;
        for (int j = j0; j < j1; j++) dbias[j] = 0.0f;
        for (int i = 0; i < N; i++) {
            const float *row = dout + (size_t)i * M;
            for (int j = j0; j < j1; j++) dbias[j] += row[j];
        }
    }
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
    if (!fork_pays((long)n)) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
        return;
    }
    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void bias_residual_forward(float *out, const float *res, const float *proj, const float *bias,
                           int N, int M) {
    if (!fork_pays((long)N * M)) {
        for (int i = 0; i < N; i++) {
            size_t o = (size_t)i * M;
            #pragma omp simd
            for (int j = 0; j < M; j++) out[o + j] = res[o + j] + (proj[o + j] + bias[j]);
        }
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        size_t o = (size_t)i * M;
        #pragma omp simd
        for (int j = 0; j < M; j++) out[o + j] = res[o + j] + (proj[o + j] + bias[j]);
    }
}

void residual_backward(float *dacc, const float *dout, size_t n) {
    if (!fork_pays((long)n)) {
        #pragma omp simd
        for (size_t i = 0; i < n; i++) dacc[i] += dout[i];
        return;
    }
    #pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) dacc[i] += dout[i];
}
