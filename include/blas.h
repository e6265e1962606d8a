// blas.h: the bottom of the GEMM layer, the only place the engine calls a BLAS or libxsmm.
// Everything above (the planner, gemm_plan.h; the linear layers, linear.h; the kernels)
// multiplies through these functions. Row-major throughout.
//
//   blas_core.h   which OpenBLAS runs, its core, held to one thread (blas_setup)
//   blas.h        sgemm (dense and strided), sgemv, the engine's tiling over the thread pool,
//                 libxsmm's JIT kernels
//   gemm_own.h    the engine's own AVX2 kernels
#ifndef MAKEMORE_BLAS_H
#define MAKEMORE_BLAS_H

// C[M,N] = alpha * op(A)[M,K] . op(B)[K,N] + beta * C, dense row-major operands:
// op(A) = A ([M,K]) when transA == 0, A^T (A stored [K,M]) when transA == 1; same for B.
// Large GEMMs are split over the thread pool in gemm_tiles(M, N, K) tiles of C, a number
// fixed by the shape alone, so the result is bit-identical at any thread count.
void gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
          const float *B, float beta, float *C);
int gemm_tiles(int M, int N, int K);

// One cblas_sgemm call on this thread alone, with leading dimensions (row strides) lda,
// ldb, ldc as stored: for sub-blocks of larger matrices (a head of a [T, 3C] row, the
// hidden half of a concatenated weight). Never split.
void blas_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);

// y[n] = alpha * x[k] . W[k,n] + beta * y, W dense row-major (a one-row product: W read in
// place, where sgemm would copy it).
void blas_sgemv_t(int k, int n, float alpha, const float *W, const float *x, float beta,
                  float *y);

// Counting, for the bench's GEMM floor: while counter is set, every product of the engine
// adds its 2*M*N*K to *counter (blas_sgemm's, and through gemm_flops_add the kernels that do
// not pass there: libxsmm's, the engine's own). NULL stops. Not for use while a step runs on
// another thread.
void gemm_count_flops(double *counter);
void gemm_flops_add(int M, int N, int K);

// ---- libxsmm (built with MAKEMORE_XSMM=1; else every call says "not available") ----
// 1 when the engine was built with libxsmm.
int xsmm_available(void);
// A JIT kernel for row-major C[M,N] = op(A) . B + beta C with op(A) = A or (transA) A^T,
// B [K,N] not transposed, alpha 1, beta 0 or 1. NULL when libxsmm has none (or is absent).
void *xsmm_kernel(int transA, int M, int N, int K, float beta);
void xsmm_run(void *kernel, const float *A, const float *B, float *C);

#endif
