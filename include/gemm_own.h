// gemm_own.h: the engine's own small-GEMM kernels (AVX2 + FMA), a candidate of the
// GEMM planner. Row-major C[M,N] = alpha * op(A) . op(B) + beta * C, beta 0 or 1;
// NN, TN and NT (no TT). Compiled only for a target with AVX2 and FMA.
#ifndef MAKEMORE_GEMM_OWN_H
#define MAKEMORE_GEMM_OWN_H

int gemm_own_available(void);  // 1 when compiled for AVX2 + FMA
// Returns 0, or -1 (TT, or not available).
int gemm_own(int transA, int transB, int M, int N, int K, float alpha, const float *A,
             const float *B, float beta, float *C);

#endif
