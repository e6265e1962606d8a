// gelu.c: the tanh-approximation GELU (makemore.py's NewGELU), forward and backward, plain and
// fused with c_fc's bias (transformer_kernels.h).
//
// tanhf runs through libmvec in the vector loops (vecmath.h) and through libm in their scalar
// tails; the two may differ in the last bits. So work is cut where the sizes alone say: the
// flat kernels in chunks of GELU_CHUNK elements, the bias forms by rows. Each chunk or row is
// computed by the same code whichever thread runs it: the same bits at any thread count.
#include "transformer_kernels.h"

#include <math.h>
#include <omp.h>

#include "common.h"
#include "vecmath.h"

#define GELU_CHUNK 4096
#define COL_BLOCK 16

// Python's math.sqrt(2.0 / math.pi) and 0.044715, rounded to float once.
#define GELU_K 0.7978845608028654f
#define GELU_C 0.044715f

static int fork_pays(long work) { return par_worth(work) && omp_get_max_threads() > 1; }

// In makemore.py's order: 0.5*x * (1.0 + tanh(k * (x + c * x^3))).
static inline float gelu(float x, float th) { return (0.5f * x) * (1.0f + th); }
static inline float gelu_inner(float x) { return GELU_K * (x + GELU_C * (x * x * x)); }
static inline float gelu_grad(float x, float th) {
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
}

static void gelu_forward_range(float *out, const float *inp, size_t i0, size_t i1) {
    #pragma omp simd
    for (size_t i = i0; i < i1; i++) {
        float x = inp[i];
        out[i] = gelu(x, tanhf(gelu_inner(x)));
    }
}

static void gelu_backward_range(float *dinp, const float *dout, const float *inp, size_t i0,
                                size_t i1) {
    #pragma omp simd
    for (size_t i = i0; i < i1; i++) {
        float x = inp[i];
        dinp[i] = gelu_grad(x, tanhf(gelu_inner(x))) * dout[i];
    }
}

void gelu_forward(float *out, const float *inp, size_t n) {
    long chunks = (long)((n + GELU_CHUNK - 1) / GELU_CHUNK);
    if (!fork_pays((long)n * 8)) {
        for (long c = 0; c < chunks; c++) {
            size_t i0 = (size_t)c * GELU_CHUNK;
            gelu_forward_range(out, inp, i0, i0 + GELU_CHUNK < n ? i0 + GELU_CHUNK : n);
        }
        return;
    }
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < chunks; c++) {
        size_t i0 = (size_t)c * GELU_CHUNK;
        gelu_forward_range(out, inp, i0, i0 + GELU_CHUNK < n ? i0 + GELU_CHUNK : n);
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    long chunks = (long)((n + GELU_CHUNK - 1) / GELU_CHUNK);
    if (!fork_pays((long)n * 8)) {
        for (long c = 0; c < chunks; c++) {
            size_t i0 = (size_t)c * GELU_CHUNK;
            gelu_backward_range(dinp, dout, inp, i0, i0 + GELU_CHUNK < n ? i0 + GELU_CHUNK : n);
        }
        return;
    }
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < chunks; c++) {
        size_t i0 = (size_t)c * GELU_CHUNK;
        gelu_backward_range(dinp, dout, inp, i0, i0 + GELU_CHUNK < n ? i0 + GELU_CHUNK : n);
    }
}

// ---- fused with c_fc's bias -----------------------------------------------------------------

// Rows [r0, r1): pre += bias, out = gelu(pre).
static void bias_gelu_rows(float *out, float *pre, const float *bias, int r0, int r1, int M) {
    for (int i = r0; i < r1; i++) {
        float *p = pre + (size_t)i * M, *o = out + (size_t)i * M;
        #pragma omp simd
        for (int j = 0; j < M; j++) {
            float x = p[j] + bias[j];
            p[j] = x;
            o[j] = gelu(x, tanhf(gelu_inner(x)));
        }
    }
}

void bias_gelu_forward(float *out, float *pre, const float *bias, int N, int M) {
    if (!fork_pays((long)N * M * 8)) {
        bias_gelu_rows(out, pre, bias, 0, N, M);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        bias_gelu_rows(out, pre, bias, (int)((long)N * k / nt), (int)((long)N * (k + 1) / nt), M);
    }
}

// Rows [r0, r1): dpre = gelu'(pre) * dout; with dbias, its column sums ride along (the
// one-thread path, rows from 0, dbias zeroed by the caller), added from the row just written
// while it is in L1. dpre is always written by the same loop, so the element-wise results
// (libmvec or libm tanhf) do not depend on the path.
static void gelu_bias_backward_rows(float *dpre, float *dbias, const float *dout,
                                    const float *pre, int r0, int r1, int M) {
    for (int i = r0; i < r1; i++) {
        const float *p = pre + (size_t)i * M, *d = dout + (size_t)i * M;
        float *dp = dpre + (size_t)i * M;
        #pragma omp simd
        for (int j = 0; j < M; j++) {
            float x = p[j];
            dp[j] = gelu_grad(x, tanhf(gelu_inner(x))) * d[j];
        }
        if (dbias) {
            #pragma omp simd
            for (int j = 0; j < M; j++) dbias[j] += dp[j];
        }
    }
}

void gelu_bias_backward(float *dpre, float *dbias, const float *dout, const float *pre, int N,
                        int M) {
    if (!fork_pays((long)N * M * 8)) {
        for (int j = 0; j < M; j++) dbias[j] = 0.0f;
        gelu_bias_backward_rows(dpre, dbias, dout, pre, 0, N, M);
        return;
    }
    const int blocks = (M + COL_BLOCK - 1) / COL_BLOCK;
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        gelu_bias_backward_rows(dpre, NULL, dout, pre, (int)((long)N * k / nt),
                                (int)((long)N * (k + 1) / nt), M);
        #pragma omp barrier
        // Each block of columns summed over all rows in row order by its owner: the same
        // additions of the same dpre values as the one-thread path.
        #pragma omp for schedule(static)
        for (int blk = 0; blk < blocks; blk++) {
            int j0 = blk * COL_BLOCK, j1 = j0 + COL_BLOCK < M ? j0 + COL_BLOCK : M;
            for (int j = j0; j < j1; j++) dbias[j] = 0.0f;
            for (int i = 0; i < N; i++) {
                const float *dp = dpre + (size_t)i * M;
                for (int j = j0; j < j1; j++) dbias[j] += dp[j];
            }
        }
    }
}
