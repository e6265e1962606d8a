// gemm_own.c: the engine's own small-GEMM kernels (AVX2 + FMA), one of the planner's
// candidates. No packing, no blocking over K: the step's GEMMs are small enough that
// their operands sit in L1/L2, and a packed copy would cost as much as the product.
//   NN, TN: C tiles of 6 rows x 16 columns held in 12 registers; each k broadcasts one
//           element of op(A) per row and loads 16 of B's row k (rank-1 updates).
//   NT:     C = A . B^T, both read along K: tiles of 4 x 3 dot products, 12 registers,
//           summed across lanes at the end.
// Then C = alpha * acc + beta * C (beta 0 or 1).
#include "gemm_own.h"

#include <stddef.h>

#include "blas.h"  // gemm_flops_add

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

int gemm_own_available(void) { return 1; }

#define ALWAYS_INLINE static inline __attribute__((always_inline))

// lanes [0, n) set (n in 0..8)
ALWAYS_INLINE __m256i lane_mask(int n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

ALWAYS_INLINE __m256 load_n(const float *p, int n, __m256i mask) {
    return n >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask);
}

ALWAYS_INLINE void store_c(float *c, __m256 acc, int n, __m256i mask, __m256 alpha, float beta) {
    __m256 v = _mm256_mul_ps(alpha, acc);
    if (beta != 0.0f) v = _mm256_add_ps(v, load_n(c, n, mask));
    if (n >= 8) _mm256_storeu_ps(c, v);
    else _mm256_maskstore_ps(c, mask, v);
}

// One tile of MR rows x (n0 + n1) columns (n0 <= 8 in the first vector, n1 <= 8 in the
// second): acc[r] += a(r, k) * B[k, cols] for k < K. a(r, k) = A[r * a_rs + k * a_cs].
ALWAYS_INLINE void tile_bcast(int MR, int n0, int n1, int K, const float *A, int a_rs, int a_cs,
                              const float *B, int ldb, float *C, int ldc, float alpha,
                              float beta) {
    __m256 acc0[6], acc1[6];
    for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();
    __m256i m0 = lane_mask(n0), m1 = lane_mask(n1);
    for (int k = 0; k < K; k++) {
        const float *b = B + (size_t)k * ldb;
        __m256 b0 = load_n(b, n0, m0);
        __m256 b1 = n1 > 0 ? load_n(b + 8, n1, m1) : _mm256_setzero_ps();
        for (int r = 0; r < MR; r++) {
            __m256 a = _mm256_broadcast_ss(A + (size_t)r * a_rs + (size_t)k * a_cs);
            acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
            if (n1 > 0) acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
        }
    }
    __m256 va = _mm256_set1_ps(alpha);
    for (int r = 0; r < MR; r++) {
        store_c(C + (size_t)r * ldc, acc0[r], n0, m0, va, beta);
        if (n1 > 0) store_c(C + (size_t)r * ldc + 8, acc1[r], n1, m1, va, beta);
    }
}

// Rows [m0, m0 + MR) of C, every column.
ALWAYS_INLINE void rows_bcast(int MR, int m0, int N, int K, const float *A, int a_rs, int a_cs,
                              const float *B, float *C, float alpha, float beta) {
    const float *a = A + (size_t)m0 * a_rs;
    float *c = C + (size_t)m0 * N;
    int n = 0;
    for (; n + 16 <= N; n += 16) tile_bcast(MR, 8, 8, K, a, a_rs, a_cs, B + n, N, c + n, N, alpha, beta);
    int left = N - n;
    if (left > 8) tile_bcast(MR, 8, left - 8, K, a, a_rs, a_cs, B + n, N, c + n, N, alpha, beta);
    else if (left > 0) tile_bcast(MR, left, 0, K, a, a_rs, a_cs, B + n, N, c + n, N, alpha, beta);
}

static void gemm_bcast(int M, int N, int K, float alpha, const float *A, int a_rs, int a_cs,
                       const float *B, float beta, float *C) {
    int m = 0;
    for (; m + 6 <= M; m += 6) rows_bcast(6, m, N, K, A, a_rs, a_cs, B, C, alpha, beta);
    switch (M - m) {
    case 5: rows_bcast(5, m, N, K, A, a_rs, a_cs, B, C, alpha, beta); break;
    case 4: rows_bcast(4, m, N, K, A, a_rs, a_cs, B, C, alpha, beta); break;
    case 3: rows_bcast(3, m, N, K, A, a_rs, a_cs, B, C, alpha, beta); break;
    case 2: rows_bcast(2, m, N, K, A, a_rs, a_cs, B, C, alpha, beta); break;
    case 1: rows_bcast(1, m, N, K, A, a_rs, a_cs, B, C, alpha, beta); break;
    default: break;
    }
}

ALWAYS_INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// One tile of MR x NR dot products C[r, j] = alpha * A[r, :] . B[j, :] + beta C[r, j].
ALWAYS_INLINE void tile_dot(int MR, int NR, int K, const float *A, const float *B, float *C,
                            int ldc, float alpha, float beta) {
    __m256 acc[4][3];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= K; k += 8) {
        __m256 b[3];
        for (int j = 0; j < NR; j++) b[j] = _mm256_loadu_ps(B + (size_t)j * K + k);
        for (int r = 0; r < MR; r++) {
            __m256 a = _mm256_loadu_ps(A + (size_t)r * K + k);
            for (int j = 0; j < NR; j++) acc[r][j] = _mm256_fmadd_ps(a, b[j], acc[r][j]);
        }
    }
    if (k < K) {
        __m256i mask = lane_mask(K - k);
        __m256 b[3];
        for (int j = 0; j < NR; j++) b[j] = _mm256_maskload_ps(B + (size_t)j * K + k, mask);
        for (int r = 0; r < MR; r++) {
            __m256 a = _mm256_maskload_ps(A + (size_t)r * K + k, mask);
            for (int j = 0; j < NR; j++) acc[r][j] = _mm256_fmadd_ps(a, b[j], acc[r][j]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) {
            float *c = C + (size_t)r * ldc + j;
            float v = alpha * hsum(acc[r][j]);
            *c = beta != 0.0f ? v + *c : v;
        }
}

ALWAYS_INLINE void rows_dot(int MR, int m0, int N, int K, const float *A, const float *B,
                            float *C, float alpha, float beta) {
    const float *a = A + (size_t)m0 * K;
    float *c = C + (size_t)m0 * N;
    int n = 0;
    for (; n + 3 <= N; n += 3) tile_dot(MR, 3, K, a, B + (size_t)n * K, c + n, N, alpha, beta);
    if (N - n == 2) tile_dot(MR, 2, K, a, B + (size_t)n * K, c + n, N, alpha, beta);
    else if (N - n == 1) tile_dot(MR, 1, K, a, B + (size_t)n * K, c + n, N, alpha, beta);
}

static void gemm_dot(int M, int N, int K, float alpha, const float *A, const float *B,
                     float beta, float *C) {
    int m = 0;
    for (; m + 4 <= M; m += 4) rows_dot(4, m, N, K, A, B, C, alpha, beta);
    switch (M - m) {
    case 3: rows_dot(3, m, N, K, A, B, C, alpha, beta); break;
    case 2: rows_dot(2, m, N, K, A, B, C, alpha, beta); break;
    case 1: rows_dot(1, m, N, K, A, B, C, alpha, beta); break;
    default: break;
    }
}

int gemm_own(int transA, int transB, int M, int N, int K, float alpha, const float *A,
             const float *B, float beta, float *C) {
    if (transA && transB) return -1;
    gemm_flops_add(M, N, K);
    if (transB) gemm_dot(M, N, K, alpha, A, B, beta, C);
    else if (transA) gemm_bcast(M, N, K, alpha, A, 1, M, B, beta, C);  // A stored [K,M]
    else gemm_bcast(M, N, K, alpha, A, K, 1, B, beta, C);
    return 0;
}

#else  // no AVX2/FMA at compile time: the kind is not offered

int gemm_own_available(void) { return 0; }

int gemm_own(int transA, int transB, int M, int N, int K, float alpha, const float *A,
             const float *B, float beta, float *C) {
    (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)B,
        (void)beta, (void)C;
    return -1;
}

#endif
