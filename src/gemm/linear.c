// linear.c: the model's matmuls (row-major): through cblas_sgemm, or in the training
// step through the GEMM plan's ops (gemm_plan.h).
#include "linear.h"

#include <string.h>

#include <cblas.h>
#include <omp.h>

// Threads. OpenBLAS runs on one thread (sgemm_call); the engine splits a large GEMM itself,
// into tiles of C's longer side fixed by the shape alone, never by the thread count, and
// never along K. Every element of C is then the sum one single-threaded sgemm call makes
// for the same tile, whatever the number of threads: GEMM results do not depend on it.
// Small GEMMs (the whole lecture step at B = 32) are one plain call: splitting their rows
// across our pool was measured slower for the whole step at the lecture's size (B = 32,
// quiet 2-core machine: 39.3-40.0 us/step split vs 35.7 us unsplit).
// Tiled GEMMs below GEMM_FORK_MIN_MACS run their tiles in order on the calling thread (the
// same bits): inside a step, a fork for a GEMM of 1-2 M MACs (part 5's WaveNet at B = 32)
// was measured to cost more than the second core gives back (docs/ARCHITECTURES.md).
#define GEMM_SPLIT_MIN_MACS (1L << 20)  // M*N*K from which a GEMM is tiled
#define GEMM_FORK_MIN_MACS (1L << 22)   // M*N*K from which the tiles are spread over threads
#define GEMM_TILE_MIN 64                // tiles have at least this many rows (or columns)
#define GEMM_MAX_TILES 16

// Every sgemm of the engine passes here. OpenBLAS's OpenMP build sizes its own team from
// omp_get_max_threads() at each call (openblas_set_num_threads(1) does not hold once the
// pool is larger), so outside a parallel region the pool is set to 1 around the call: the
// call runs on this thread alone, as inside a region, and the split stays the engine's.
static void sgemm_call(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    int pool = omp_in_parallel() ? 1 : omp_get_max_threads();
    if (pool > 1) omp_set_num_threads(1);
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans,
                transB ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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
        sgemm_call(transA, transB, s1 - s0, N, K, alpha, As, lda, B, ldb, beta,
                   C + (size_t)s0 * N, N);
    } else {           // columns [s0, s1) of op(B) and C
        const float *Bs = transB ? B + (size_t)s0 * ldb : B + s0;
        sgemm_call(transA, transB, M, s1 - s0, K, alpha, A, lda, Bs, ldb, beta, C + s0, N);
    }
}

void gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
          const float *B, float beta, float *C) {
    int n = gemm_tiles(M, N, K);
    if (n == 1) {
        sgemm_call(transA, transB, M, N, K, alpha, A, transA ? M : K, B, transB ? K : N, beta, C, N);
        return;
    }
    int split_rows = M >= N;
    if (omp_get_max_threads() == 1 || (long)M * N * K < GEMM_FORK_MIN_MACS) {  // same tiles, in order
        for (int i = 0; i < n; i++)
            gemm_tile(i, n, split_rows, transA, transB, M, N, K, alpha, A, B, beta, C);
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++)
        gemm_tile(i, n, split_rows, transA, transB, M, N, K, alpha, A, B, beta, C);
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

void bias_backward(float *db, const float *dout, int B, int n_out) {
    memset(db, 0, (size_t)n_out * sizeof(float));
    for (int r = 0; r < B; r++) {
        const float *row = dout + (size_t)r * n_out;
        #pragma omp simd
        for (int o = 0; o < n_out; o++) db[o] += row[o];
    }
}

// ---- the training step's forms, each GEMM run as its plan says ------------------------

// out[B,n_out] = in[B,n_in] . W[n_in,n_out] + b[n_out]; op = {NN, M B, N n_out, K n_in}
void linear_forward_op(const GemmOp *op, float *out, const float *in, const float *W,
                       const float *b) {
    int B = op->M, n_out = op->N;
    if (op->beta == 0.0f) {  // an op that overwrites: the product, then the bias added
        gemm_op_run(op, 1.0f, in, W, out);
        for (int r = 0; b && r < B; r++) {
            float *row = out + (size_t)r * n_out;
            for (int o = 0; o < n_out; o++) row[o] += b[o];
        }
        return;
    }
    for (int r = 0; r < B; r++) {  // preload the bias rows, then accumulate the product
        float *row = out + (size_t)r * n_out;
        if (b)
            for (int o = 0; o < n_out; o++) row[o] = b[o];
        else
            memset(row, 0, (size_t)n_out * sizeof(float));
    }
    gemm_op_run(op, 1.0f, in, W, out);
}

// din = dout . W^T (old W), db = column sums of dout, W -= lr * in^T . dout
//   dx = {NT, M B, N n_in, K n_out, beta 0}   dw = {TN, M n_in, N n_out, K B, beta 1}
void linear_backward_sgd_op(const GemmOp *dx, const GemmOp *dw, float *din, float *W, float *db,
                            const float *dout, const float *in, float lr) {
    if (din) gemm_op_run(dx, 1.0f, dout, W, din);  // before W moves
    if (db) bias_backward(db, dout, dw->K, dw->N);
    gemm_op_run(dw, -lr, in, dout, W);
}
