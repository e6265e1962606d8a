// linear.c: every matmul of the model goes to cblas_sgemm (row-major).
#include "linear.h"

#include <omp.h>
#include <string.h>

#include <cblas.h>

#include "common.h"

// OpenBLAS runs small GEMMs (its small-matrix kernels, M*N*K up to ~1e6 flops/2) on one
// thread. The lecture's GEMMs are that small (32x200x30 = 192000), so with a pool of
// several threads we split the rows of C between them ourselves: each thread calls
// cblas_sgemm on its block (inside a parallel region OpenBLAS stays single-threaded).
// Every element of C is still one dot product over the whole K, computed by the same
// kernel, so the split does not change results. Below GEMM_SPLIT_MIN_WORK the fork costs
// more than it saves; above GEMM_SPLIT_MAX_WORK OpenBLAS threads by itself.
#define GEMM_SPLIT_MIN_WORK 65536L
#define GEMM_SPLIT_MAX_WORK 1000000L
#define GEMM_SPLIT_MIN_ROWS 8

// C[m0:m1, :] of the row-major product, leading dimensions of the full arrays.
static void gemm_rows(int transA, int transB, int m0, int m1, int M, int N, int K, float alpha,
                      const float *A, const float *B, float beta, float *C) {
    int lda = transA ? M : K;
    int ldb = transB ? K : N;
    const float *A_rows = transA ? A + m0 : A + (size_t)m0 * K;  // op(A)'s rows m0..m1
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, m1 - m0, N, K, alpha, A_rows, lda, B, ldb,
                beta, C + (size_t)m0 * N, N);
}

void gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
          const float *B, float beta, float *C) {
    long work = (long)M * N * K;
    int nt = omp_get_max_threads();
    if (nt > M / GEMM_SPLIT_MIN_ROWS) nt = M / GEMM_SPLIT_MIN_ROWS;
    if (nt < 2 || work < GEMM_SPLIT_MIN_WORK || work > GEMM_SPLIT_MAX_WORK || omp_in_parallel()) {
        gemm_rows(transA, transB, 0, M, M, N, K, alpha, A, B, beta, C);
        return;
    }
    #pragma omp parallel num_threads(nt)
    {
        int k = omp_get_thread_num(), n = omp_get_num_threads();
        int m0 = (int)((long)M * k / n), m1 = (int)((long)M * (k + 1) / n);
        if (m1 > m0) gemm_rows(transA, transB, m0, m1, M, N, K, alpha, A, B, beta, C);
    }
}

// out[B,n_out] = in[B,n_in] . W[n_in,n_out] + b[n_out]
void linear_forward(float *out, const float *in, const float *W, const float *b, int B, int n_in,
                    int n_out) {
    float beta = 0.0f;
    if (b) {  // preload the bias rows, then accumulate the product onto them
        for (int r = 0; r < B; r++) {
            float *row = out + (size_t)r * n_out;
            for (int o = 0; o < n_out; o++) row[o] = b[o];
        }
        beta = 1.0f;
    }
    gemm(0, 0, B, n_out, n_in, 1.0f, in, W, beta, out);
}

// dW[n_in,n_out] = in^T . dout    db[n_out] = sum_b dout[b,:]    din[B,n_in] = dout . W^T
void linear_backward(float *din, float *dW, float *db, const float *dout, const float *in,
                     const float *W, int B, int n_in, int n_out) {
    gemm(1, 0, n_in, n_out, B, 1.0f, in, dout, 0.0f, dW);
    if (din) gemm(0, 1, B, n_in, n_out, 1.0f, dout, W, 0.0f, din);
    if (db) bias_backward(db, dout, B, n_out);
}

void linear_backward_sgd(float *din, float *W, float *db, const float *dout, const float *in,
                         float lr, int B, int n_in, int n_out) {
    if (din) gemm(0, 1, B, n_in, n_out, 1.0f, dout, W, 0.0f, din);  // before W moves
    if (db) bias_backward(db, dout, B, n_out);
    gemm(1, 0, n_in, n_out, B, -lr, in, dout, 1.0f, W);
}

void bias_backward(float *db, const float *dout, int B, int n_out) {
    memset(db, 0, (size_t)n_out * sizeof(float));
    for (int r = 0; r < B; r++) {
        const float *row = dout + (size_t)r * n_out;
        #pragma omp simd
        for (int o = 0; o < n_out; o++) db[o] += row[o];
    }
}
