// linear.c: every matmul of the model goes to cblas_sgemm (row-major).
#include "linear.h"

#include <omp.h>
#include <string.h>

#include <cblas.h>

#include "common.h"

// OpenBLAS runs small GEMMs (its small-matrix kernels, M*N*K up to ~1e6) on one thread.
// The lecture's GEMMs are that small (32x200x30 = 192000), so with a pool of several
// threads we may split the rows of C between them ourselves: each thread calls
// cblas_sgemm on its block (inside a parallel region OpenBLAS stays single-threaded).
// Every element of C is still one dot product over the whole K by the same kernel, so the
// split does not change results (tests/test_model.c checks 1 vs 2 threads bit for bit).
// Below GEMM_SPLIT_MIN_WORK the fork costs more than it can save; above
// GEMM_SPLIT_MAX_WORK OpenBLAS threads by itself.
#define GEMM_SPLIT_MIN_WORK 65536L
#define GEMM_SPLIT_MAX_WORK 1000000L
#define GEMM_SPLIT_MIN_ROWS 8

// Whether the split pays is measured, not assumed: for each GEMM shape the first calls
// alternate between one thread and the split, SPLIT_TRIALS each, and the faster median
// wins. On a quiet machine the split wins; on a busy one a forked thread can wait a
// scheduler tick (milliseconds) for its core and the split loses by 100x, so it must
// not be forced. The choice is measured again after `interval` calls, an interval that
// starts at 4096 and doubles each time, up to 2^20.
#define SPLIT_TRIALS 15
#define SPLIT_SHAPES 32

typedef struct {
    int M, N, K, transA, transB, threads;
    int decided, use_split, trial;
    double seconds[2][SPLIT_TRIALS];  // [0] one thread, [1] split
    long calls_left, interval;
} SplitChoice;

static SplitChoice split_choices[SPLIT_SHAPES];
static int n_split_choices;
static int split_policy = -1;  // -1 measure, 0 never, 1 always

void gemm_split_policy(int policy) { split_policy = policy < 0 ? -1 : policy > 0; }

static SplitChoice *split_choice(int transA, int transB, int M, int N, int K, int threads) {
    for (int i = 0; i < n_split_choices; i++) {
        SplitChoice *c = &split_choices[i];
        if (c->M == M && c->N == N && c->K == K && c->transA == transA && c->transB == transB &&
            c->threads == threads)
            return c;
    }
    if (n_split_choices == SPLIT_SHAPES) return NULL;  // table full: stay on one thread
    SplitChoice *c = &split_choices[n_split_choices++];
    *c = (SplitChoice){.M = M, .N = N, .K = K, .transA = transA, .transB = transB,
                       .threads = threads};
    return c;
}

static double median(double *x, int n) {
    for (int i = 1; i < n; i++)  // insertion sort: n is 15
        for (int j = i; j > 0 && x[j] < x[j - 1]; j--) {
            double t = x[j];
            x[j] = x[j - 1];
            x[j - 1] = t;
        }
    return x[n / 2];
}

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

static void gemm_split(int threads, int transA, int transB, int M, int N, int K, float alpha,
                       const float *A, const float *B, float beta, float *C) {
    #pragma omp parallel num_threads(threads)
    {
        int k = omp_get_thread_num(), n = omp_get_num_threads();
        int m0 = (int)((long)M * k / n), m1 = (int)((long)M * (k + 1) / n);
        if (m1 > m0) gemm_rows(transA, transB, m0, m1, M, N, K, alpha, A, B, beta, C);
    }
}

void gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
          const float *B, float beta, float *C) {
    long work = (long)M * N * K;
    int nt = omp_get_max_threads();
    if (nt > M / GEMM_SPLIT_MIN_ROWS) nt = M / GEMM_SPLIT_MIN_ROWS;
    SplitChoice *c = NULL;
    if (nt >= 2 && work >= GEMM_SPLIT_MIN_WORK && work <= GEMM_SPLIT_MAX_WORK &&
        split_policy != 0 && !omp_in_parallel())
        c = split_choice(transA, transB, M, N, K, nt);
    if (!c) {
        gemm_rows(transA, transB, 0, M, M, N, K, alpha, A, B, beta, C);
        return;
    }
    if (split_policy == 1 || (c->decided && --c->calls_left > 0)) {
        if (split_policy == 1 || c->use_split) gemm_split(nt, transA, transB, M, N, K, alpha, A, B, beta, C);
        else gemm_rows(transA, transB, 0, M, M, N, K, alpha, A, B, beta, C);
        return;
    }
    if (c->decided) {  // time to measure again
        c->decided = 0;
        c->trial = 0;
    }
    int mode = c->trial & 1;
    double t0 = now_seconds();
    if (mode) gemm_split(nt, transA, transB, M, N, K, alpha, A, B, beta, C);
    else gemm_rows(transA, transB, 0, M, M, N, K, alpha, A, B, beta, C);
    c->seconds[mode][c->trial / 2] = now_seconds() - t0;
    if (++c->trial == 2 * SPLIT_TRIALS) {
        c->use_split = median(c->seconds[1], SPLIT_TRIALS) < median(c->seconds[0], SPLIT_TRIALS);
        c->decided = 1;
        c->interval = c->interval ? (c->interval < (1L << 20) ? 2 * c->interval : c->interval) : 4096;
        c->calls_left = c->interval;
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
