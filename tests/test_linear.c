// test_linear.c: the cblas_sgemm wrappers against naive double loops, in all four
// transpose forms, and the linear layer's forward / backward / backward+SGD.
#include <stdlib.h>
#include <omp.h>

#include <string.h>

#include "check.h"
#include "common.h"
#include "blas.h"
#include "blas_core.h"
#include "linear.h"
#include "rng.h"

static Rng rng;

static float *randv(size_t n) {
    float *x = xcalloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng);
    return x;
}

// C[M,N] = alpha op(A) op(B) + beta C, in double, straight from the definition.
static void gemm_ref(double *out, int ta, int tb, int M, int N, int K, double alpha,
                     const float *A, const float *B, double beta, const float *C) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                double b = tb ? B[(size_t)j * K + k] : B[(size_t)k * N + j];
                s += a * b;
            }
            out[(size_t)i * N + j] = alpha * s + beta * C[(size_t)i * N + j];
        }
}

// float32 accumulation over K terms of unit-variance products: error ~ K * 2^-24 * sqrt(K)
static double gemm_tol(int K) { return 1e-6 * (K + 1) * 4; }

static void test_gemm_all_transposes(void) {
    const int sizes[][3] = {{1, 1, 1}, {2, 3, 5}, {33, 37, 27}, {32, 200, 30}, {7, 1, 64}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                float *A = randv((size_t)M * K), *B = randv((size_t)K * N), *C = randv((size_t)M * N);
                double *ref = xcalloc((size_t)M * N, sizeof(double));
                gemm_ref(ref, ta, tb, M, N, K, 0.5, A, B, -2.0, C);
                gemm(ta, tb, M, N, K, 0.5f, A, B, -2.0f, C);
                double d = max_abs_diff(C, ref, (long)M * N);
                CHECK(d < gemm_tol(K), "M=%d N=%d K=%d transA=%d transB=%d maxdiff %g", M, N, K,
                      ta, tb, d);
                xfree(A); xfree(B); xfree(C); xfree(ref);
            }
    }
}

// Shapes large enough for gemm() to split them into tiles (by rows, then by columns): each
// against the double loops, and bit-identical at 1, 2 and 3 threads (the tiles are fixed
// by the shape, never by the thread count).
static void test_gemm_tiles_thread_independent(void) {
    // tiled and run in order (under 4 M MACs), tiled and forked (from 4 M MACs)
    const int sizes[][3] = {{700, 130, 30}, {30, 1030, 200}, {257, 300, 27}, {1030, 64, 128}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        CHECK(gemm_tiles(M, N, K) > 1, "M=%d N=%d K=%d is not tiled: the test tests nothing", M,
              N, K);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                size_t mn = (size_t)M * N;
                float *A = randv((size_t)M * K), *B = randv((size_t)K * N), *C0 = randv(mn);
                float *C[3];
                double *ref = xcalloc(mn, sizeof(double));
                gemm_ref(ref, ta, tb, M, N, K, 0.5, A, B, 1.0, C0);
                for (int t = 0; t < 3; t++) {
                    C[t] = xcalloc(mn, sizeof(float));
                    memcpy(C[t], C0, mn * sizeof(float));
                    threads_set(t + 1);
                    gemm(ta, tb, M, N, K, 0.5f, A, B, 1.0f, C[t]);
                }
                threads_set(1);
                double d = max_abs_diff(C[0], ref, (long)mn);
                CHECK(d < gemm_tol(K), "M=%d N=%d K=%d transA=%d transB=%d maxdiff %g", M, N, K,
                      ta, tb, d);
                for (int t = 1; t < 3; t++)
                    CHECK(memcmp(C[0], C[t], mn * sizeof(float)) == 0,
                          "M=%d N=%d K=%d transA=%d transB=%d: 1 vs %d threads differ", M, N, K,
                          ta, tb, t + 1);
                for (int t = 0; t < 3; t++) xfree(C[t]);
                xfree(A); xfree(B); xfree(C0); xfree(ref);
            }
    }
}

int openblas_get_num_threads(void);  // OpenBLAS's own (cblas.h brings complex.h's I)

// OpenBLAS's OpenMP build would size its team from the pool at each call; the engine's
// GEMMs run it on one thread (linear.c), and the pool keeps its size.
static void test_openblas_stays_on_one_thread(void) {
    const int M = 200, N = 200, K = 25;  // one call (not tiled), large enough for OpenBLAS to fork
    CHECK(gemm_tiles(M, N, K) == 1, "M=%d N=%d K=%d is tiled: the test tests nothing", M, N, K);
    float *A = randv((size_t)M * K), *B = randv((size_t)K * N), *C = randv((size_t)M * N);
    threads_set(2);
    gemm(0, 0, M, N, K, 1.0f, A, B, 0.0f, C);
    CHECK(openblas_get_num_threads() == 1, "OpenBLAS runs %d threads after a GEMM with a pool of 2",
          openblas_get_num_threads());
    CHECK(omp_get_max_threads() == 2, "the pool is %d after a GEMM, not 2", omp_get_max_threads());
    threads_set(1);
    xfree(A); xfree(B); xfree(C);
}

// Under a memory limit (blas_core.h): of the threads OpenBLAS counts at load, as many map
// their 128 MiB buffer as fit with a 16 MiB margin, never fewer than two buffers (one more
// serves a GEMM call), else none may start.
static void test_buffers_under_a_limit(void) {
    const uint64_t MiB = (uint64_t)1 << 20, buf = 128 * MiB, margin = 16 * MiB;
    CHECK(blas_buffers_fit(2 * buf + margin, 2) == 2, "room for 2, 2 threads: %d", blas_buffers_fit(2 * buf + margin, 2));
    CHECK(blas_buffers_fit(2 * buf + margin - 1, 2) == 0, "a byte short of 2: %d", blas_buffers_fit(2 * buf + margin - 1, 2));
    CHECK(blas_buffers_fit(2 * buf, 1) == 0, "no margin: %d", blas_buffers_fit(2 * buf, 1));
    CHECK(blas_buffers_fit(5 * buf + margin + buf / 2, 16) == 5, "room for 5 of 16: %d",
          blas_buffers_fit(5 * buf + margin + buf / 2, 16));
    CHECK(blas_buffers_fit(3 * buf + margin, 1) == 1, "1 thread: %d", blas_buffers_fit(3 * buf + margin, 1));
    CHECK(blas_buffers_fit(UINT64_MAX, 64) == 64, "no limit: %d", blas_buffers_fit(UINT64_MAX, 64));
}

static void test_linear_forward_backward(void) {
    const int sizes[][3] = {{32, 30, 200}, {2, 5, 27}, {33, 37, 1}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int B = sizes[s][0], I = sizes[s][1], O = sizes[s][2];
        float *in = randv((size_t)B * I), *W = randv((size_t)I * O), *b = randv((size_t)O);
        float *dout = randv((size_t)B * O), *out = randv((size_t)B * O);
        float *din = randv((size_t)B * I), *dW = randv((size_t)I * O), *db = randv((size_t)O);
        double *ref = xcalloc((size_t)(B * I + I * O + B * O), sizeof(double));

        linear_forward(out, in, W, b, B, I, O);
        for (int r = 0; r < B; r++)
            for (int o = 0; o < O; o++) {
                double acc = b[o];
                for (int i = 0; i < I; i++) acc += (double)in[r * I + i] * W[i * O + o];
                ref[r * O + o] = acc;
            }
        CHECK(max_abs_diff(out, ref, (long)B * O) < gemm_tol(I), "forward B=%d I=%d O=%d", B, I, O);

        linear_backward(din, dW, db, dout, in, W, B, I, O);
        for (int i = 0; i < I; i++)  // dW = in^T dout
            for (int o = 0; o < O; o++) {
                double acc = 0;
                for (int r = 0; r < B; r++) acc += (double)in[r * I + i] * dout[r * O + o];
                ref[i * O + o] = acc;
            }
        CHECK(max_abs_diff(dW, ref, (long)I * O) < gemm_tol(B), "dW B=%d I=%d O=%d", B, I, O);
        for (int r = 0; r < B; r++)  // din = dout W^T
            for (int i = 0; i < I; i++) {
                double acc = 0;
                for (int o = 0; o < O; o++) acc += (double)dout[r * O + o] * W[i * O + o];
                ref[r * I + i] = acc;
            }
        CHECK(max_abs_diff(din, ref, (long)B * I) < gemm_tol(O), "din B=%d I=%d O=%d", B, I, O);
        for (int o = 0; o < O; o++) {  // db = column sums
            double acc = 0;
            for (int r = 0; r < B; r++) acc += dout[r * O + o];
            ref[o] = acc;
        }
        CHECK(max_abs_diff(db, ref, O) < gemm_tol(B), "db B=%d I=%d O=%d", B, I, O);

        // backward+SGD as the training step runs it (linear_backward_sgd_op, the plan's dX
        // and dW ops at both fixed kinds: as the shapes are, and on transposed copies as the
        // output layer's): din/db as the plain backward's within rounding, W moved by -lr * dW
        const float lr = 0.1f;
        float *W2 = xcalloc((size_t)I * O, sizeof(float));
        float *din2 = xcalloc((size_t)B * I, sizeof(float)), *db2 = xcalloc((size_t)O, sizeof(float));
        for (int k = 0; k < I * O; k++) ref[k] = (double)W[k] - lr * (double)dW[k];
        for (int kind = GEMM_BLAS; kind <= GEMM_BLAS_T; kind++) {
            GemmPlan p;
            gemm_plan_begin(&p, "B=0");
            int dx = gemm_plan_add(&p, "dx1", 0, 1, B, I, O, 0.0f, (GemmKind)kind);
            int dw = gemm_plan_add(&p, "dw1", 1, 0, I, O, B, 1.0f, (GemmKind)kind);
            memcpy(W2, W, (size_t)I * O * sizeof(float));
            linear_backward_sgd_op(&p.op[dx], &p.op[dw], din2, W2, db2, dout, in, lr);
            double d_din = 0;
            for (int k = 0; k < B * I; k++) d_din = fmax(d_din, fabs(din2[k] - din[k]));
            CHECK(d_din < gemm_tol(O) && memcmp(db, db2, (size_t)O * sizeof(float)) == 0,
                  "%s: din (maxdiff %g) or db differ from backward's, B=%d",
                  GEMM_KIND_NAMES[kind], d_din, B);
            CHECK(max_abs_diff(W2, ref, (long)I * O) < 1e-5, "%s: W after SGD, B=%d I=%d O=%d",
                  GEMM_KIND_NAMES[kind], B, I, O);
            gemm_plan_free(&p);
        }
        xfree(W2); xfree(din2); xfree(db2);
        xfree(in); xfree(W); xfree(b); xfree(dout); xfree(out); xfree(din); xfree(dW); xfree(db);
        xfree(ref);
    }
}

// bias_backward keeps its sums in registers by blocks of columns: bit for bit the plain
// row loop (db[o] += row[o], rows in order) at widths across every block size and tail.
static void test_bias_backward_bits(void) {
    static const int widths[] = {1, 7, 8, 9, 15, 16, 17, 27, 63, 64, 65, 100, 128, 200, 257};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++)
        for (int B = 1; B <= 65; B += 16) {
            int O = widths[w];
            float *dout = randv((size_t)B * O), *db = randv((size_t)O), *ref = randv((size_t)O);
            for (int o = 0; o < O; o++) ref[o] = 0.0f;
            for (int r = 0; r < B; r++)
                for (int o = 0; o < O; o++) ref[o] += dout[(size_t)r * O + o];
            bias_backward(db, dout, B, O);
            CHECK(memcmp(db, ref, (size_t)O * sizeof *db) == 0, "bias_backward B=%d O=%d: not the row loop's bits", B, O);
            xfree(dout); xfree(db); xfree(ref);
        }
}

TEST_MAIN {
    TEST_SETUP();
    rng_seed(&rng, 1234);
    threads_set(1);
    RUN_TEST(test_gemm_all_transposes);
    RUN_TEST(test_linear_forward_backward);
    threads_set(2);
    RUN_TEST(test_gemm_all_transposes);
    RUN_TEST(test_gemm_tiles_thread_independent);
    RUN_TEST(test_openblas_stays_on_one_thread);
    RUN_TEST(test_buffers_under_a_limit);
    RUN_TEST(test_bias_backward_bits);
    return check_summary();
}
