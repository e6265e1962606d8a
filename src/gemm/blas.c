// blas.c: the engine's calls into OpenBLAS and libxsmm (blas.h).
#include "blas.h"

#include <cblas.h>
#include <omp.h>

#include "blas_core.h"

#ifndef MAKEMORE_XSMM
#define MAKEMORE_XSMM 0  // the Makefile sets 1 when libxsmm is installed (XSMM=0 turns it off)
#endif
#if MAKEMORE_XSMM
#include <libxsmm.h>
#endif

// Threads. OpenBLAS runs on one thread (blas_sgemm); the engine splits a large GEMM itself,
// into tiles of C's longer side fixed by the shape alone, never by the thread count, and
// never along K. Every element of C is then the sum one single-threaded sgemm call makes
// for the same tile, whatever the number of threads: GEMM results do not depend on it.
// Small GEMMs (the whole lecture step at B = 32) are one plain call: splitting their rows
// across our pool was measured slower for the whole step at the lecture's size (B = 32,
// quiet 2-core machine: 39.3-40.0 us/step split vs 35.7 us unsplit).
// Tiled GEMMs below GEMM_FORK_MIN_MACS run their tiles in order on the calling thread (the
// same bits). Forking from 2 M MACs (2-core Zen 4, bench mmstep and plan, 2026-12-06): the
// Transformer at makemore.py's defaults (packed rows, ~220 a step) 4.09 -> 3.07 ms a step at
// 2 threads, the WaveNet's pick 272.7 -> 255.4 us (from 4 M, neither forked: the 2-thread
// step ran as the 1-thread one). Below 1 M MACs a fork costs more than the core gives back.
#define GEMM_SPLIT_MIN_MACS (1L << 20)  // M*N*K from which a GEMM is tiled
#define GEMM_FORK_MIN_MACS (1L << 21)   // M*N*K from which the tiles are spread over threads
#define GEMM_TILE_MIN 64                // tiles have at least this many rows (or columns)
#define GEMM_MAX_TILES 16

// Every sgemm of the engine passes here. OpenBLAS's OpenMP build sizes its own team from
// omp_get_max_threads() at each call (openblas_set_num_threads(1) does not hold once the
// pool is larger), so outside a parallel region the pool is set to 1 around the call: the
// call runs on this thread alone, as inside a region, and the split stays the engine's.
static double *flop_counter;

void gemm_count_flops(double *counter) { flop_counter = counter; }

void gemm_flops_add(int M, int N, int K) {
    if (!flop_counter) return;
    double f = 2.0 * M * N * K;
    #pragma omp atomic
    *flop_counter += f;
}

void blas_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    gemm_flops_add(M, N, K);
    int pool = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (pool > 1) omp_set_num_threads(1);
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (pool > 1) omp_set_num_threads(pool);
}

void blas_sgemv_t(int k, int n, float alpha, const float *W, const float *x, float beta,
                  float *y) {
    int pool = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (pool > 1) omp_set_num_threads(1);
    cblas_sgemv(CblasRowMajor, CblasTrans, k, n, alpha, W, n, x, 1, beta, y, 1);
    if (pool > 1) omp_set_num_threads(pool);
}

int gemm_tiles(int M, int N, int K) {
    if ((long)M * N * K < GEMM_SPLIT_MIN_MACS) return 1;
    int side = M >= N ? M : N;
    int tiles = side / GEMM_TILE_MIN;
    return tiles < 1 ? 1 : tiles > GEMM_MAX_TILES ? GEMM_MAX_TILES : tiles;
}

// Tile i of n along C's rows (split_rows) or columns: a plain sgemm on the sub-block.
static void gemm_tile(int i, int n, int split_rows, int transA, int transB, int M, int N, int K,
                      float alpha, const float *A, const float *B, float beta, float *C) {
    int lda = transA ? M : K, ldb = transB ? K : N;  // as stored (row-major)
    int side = split_rows ? M : N;
    int s0 = (int)((long)side * i / n), s1 = (int)((long)side * (i + 1) / n);
    if (split_rows) {  // rows [s0, s1) of op(A) and C
        const float *As = transA ? A + s0 : A + (size_t)s0 * lda;
        blas_sgemm(transA, transB, s1 - s0, N, K, alpha, As, lda, B, ldb, beta,
                   C + (size_t)s0 * N, N);
    } else {           // columns [s0, s1) of op(B) and C
        const float *Bs = transB ? B + (size_t)s0 * ldb : B + s0;
        blas_sgemm(transA, transB, M, s1 - s0, K, alpha, A, lda, Bs, ldb, beta, C + s0, N);
    }
}

void gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
          const float *B, float beta, float *C) {
    int n = gemm_tiles(M, N, K);
    if (n == 1) {
        blas_sgemm(transA, transB, M, N, K, alpha, A, transA ? M : K, B, transB ? K : N, beta, C, N);
        return;
    }
    int split_rows = M >= N;
    // Under a memory limit, no more tiles at once than OpenBLAS has buffers for (blas_core.h).
    int par = omp_get_max_threads(), cap = blas_callers_max();
    if (cap > 0 && par > cap) par = cap;
    if (par == 1 || (long)M * N * K < GEMM_FORK_MIN_MACS) {  // same tiles, in order
        for (int i = 0; i < n; i++)
            gemm_tile(i, n, split_rows, transA, transB, M, N, K, alpha, A, B, beta, C);
        return;
    }
    #pragma omp parallel for schedule(static) num_threads(par)
    for (int i = 0; i < n; i++)
        gemm_tile(i, n, split_rows, transA, transB, M, N, K, alpha, A, B, beta, C);
}

// ---- libxsmm ---------------------------------------------------------------------------

int xsmm_available(void) { return MAKEMORE_XSMM ? 1 : 0; }

#if MAKEMORE_XSMM
// Row-major C[M,N] = op(A) B is column-major C'[N,M] = B' op(A)': the kernel gets B first,
// and op(A) = A^T is libxsmm's transposed second operand (LIBXSMM_GEMM_FLAG_TRANS_B).
void *xsmm_kernel(int transA, int M, int N, int K, float beta) {
    static int ready;
    if (!ready) {
        libxsmm_init();
        ready = 1;
    }
    libxsmm_blasint lda = N, ldb = transA ? M : K, ldc = N;
    float alpha = 1.0f;
    int flags = (transA ? LIBXSMM_GEMM_FLAG_TRANS_B : 0) | (beta == 0.0f ? LIBXSMM_GEMM_FLAG_BETA_0 : 0);
    int prefetch = LIBXSMM_PREFETCH_NONE;
    return (void *)libxsmm_smmdispatch(N, M, K, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
}

void xsmm_run(void *kernel, const float *A, const float *B, float *C) {
    ((libxsmm_smmfunction)kernel)(B, A, C);
}
#else
void *xsmm_kernel(int transA, int M, int N, int K, float beta) {
    (void)transA, (void)M, (void)N, (void)K, (void)beta;
    return NULL;
}
void xsmm_run(void *kernel, const float *A, const float *B, float *C) {
    (void)kernel, (void)A, (void)B, (void)C;
}
#endif
