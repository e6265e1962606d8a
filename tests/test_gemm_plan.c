// test_gemm_plan.c: the GEMM planner. Every implementation of every op of the step against
// naive double loops on odd shapes (the plan net.c builds for the lecture's model); the planner's
// choices checked against cblas_sgemm; the plan's text round trip and its rejections;
// one training step under each plan against the default plan's.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "gemm_own.h"
#include "gemm_plan.h"
#include "kernels.h"
#include "linear.h"
#include "net.h"
#include "rng.h"

static Rng rng;

// The lecture's model's six ops in its plan (net.c's order: forwards up, then dX, dW down).
enum { GOP_FWD1, GOP_FWD2, GOP_DX2, GOP_DW2, GOP_DX1, GOP_DW1, GOP_N };

// The plan net.c builds for the lecture's model at these sizes (T = 1, E = TE), taken out
// of its Net: the op list comes from the layer table alone.
static void lecture_plan(GemmPlan *p, int B, int TE, int H, int V) {
    NetConfig cfg = {.arch = ARCH_MLP, .V = V, .T = 1, .E = TE, .H = H, .layers = 1, .bessel = 1,
                     .momentum = 0.1f};
    Net n;
    net_alloc(&n, &cfg, B);
    *p = n.plan;
    memset(&n.plan, 0, sizeof n.plan);
    net_free(&n);
    CHECK(p->n == GOP_N, "the lecture's model has %d ops, not 6", p->n);
}

static float *randv(size_t n) {
    float *x = xcalloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng);
    return x;
}

static float *copyv(const float *x, size_t n) {
    float *y = xcalloc(n, sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}

// C[M,N] = alpha op(A) op(B) + beta C, in double, straight from the definition.
static void gemm_ref(double *out, const GemmOp *op, double alpha, const float *A,
                     const float *B, const float *C) {
    int M = op->M, N = op->N, K = op->K;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double a = op->transA ? A[(size_t)k * M + i] : A[(size_t)i * K + k];
                double b = op->transB ? B[(size_t)j * K + k] : B[(size_t)k * N + j];
                s += a * b;
            }
            out[(size_t)i * N + j] = alpha * s + op->beta * C[(size_t)i * N + j];
        }
}

static const int SIZES[][4] = {{7, 13, 19, 5}, {1, 1, 1, 2}, {33, 30, 200, 27}, {2, 3, 64, 9},
                               {5, 17, 23, 11}, {32, 30, 200, 27}};
enum { N_SIZES = sizeof SIZES / sizeof SIZES[0] };

static void test_every_kind_against_loops(void) {
    int ran_xsmm = 0;
    for (int s = 0; s < N_SIZES; s++) {
        GemmPlan p;
        lecture_plan(&p, SIZES[s][0], SIZES[s][1], SIZES[s][2], SIZES[s][3]);
        for (int i = 0; i < GOP_N; i++)
            for (int k = 0; k < GEMM_N_KINDS; k++) {
                GemmOp *op = &p.op[i];
                if (gemm_op_set(op, (GemmKind)k) != 0) {
                    CHECK(k != GEMM_BLAS && !(k == GEMM_BLAS_T && (op->transA || op->transB)) &&
                              !(k == GEMM_XSMM && gemm_xsmm_available()) &&
                              !(k == GEMM_OWN && gemm_own_available()),
                          "%s cannot run %s", p.name[i], GEMM_KIND_NAMES[k]);
                    continue;
                }
                ran_xsmm += k == GEMM_XSMM;
                size_t nA = (size_t)op->M * op->K, nB = (size_t)op->K * op->N, nC = (size_t)op->M * op->N;
                float *A = randv(nA), *B = randv(nB), *C = randv(nC);
                double *ref = xcalloc(nC, sizeof(double));
                float alpha = op->transA ? -0.37f : 1.0f;  // the update's -lr, else 1
                gemm_ref(ref, op, alpha, A, B, C);
                if (op->beta == 0.0f)
                    for (size_t j = 0; j < nC; j++) C[j] = NAN;  // an unwritten output fails
                gemm_op_run(op, alpha, A, B, C);
                double d = max_abs_diff(C, ref, (long)nC);
                CHECK(d < 1e-5 * (op->K + 4), "%s %s %dx%dx%d: maxdiff %g", p.name[i],
                      GEMM_KIND_NAMES[k], op->M, op->N, op->K, d);
                xfree(A); xfree(B); xfree(C); xfree(ref);
            }
        gemm_plan_free(&p);
    }
    CHECK(ran_xsmm > 0 || !gemm_xsmm_available(), "libxsmm built in but no kernel ran");
}

static void test_auto_plan_checked(void) {
    GemmPlan p;
    lecture_plan(&p, 32, 30, 200, 27);
    GemmTrial t[GOP_N][GEMM_N_KINDS];
    double secs = gemm_plan_auto(&p, t);
    CHECK(secs > 0 && secs < 30, "planning took %g s", secs);
    for (int i = 0; i < GOP_N; i++) {
        CHECK(t[i][GEMM_BLAS].tried && t[i][GEMM_BLAS].correct && t[i][GEMM_BLAS].seconds > 0,
              "%s: cblas_sgemm not timed", p.name[i]);
        const GemmTrial *pick = &t[i][p.op[i].kind];
        CHECK(pick->correct, "%s: picked %s, which failed its check", p.name[i],
              GEMM_KIND_NAMES[p.op[i].kind]);
        for (int k = 0; k < GEMM_N_KINDS; k++)
            CHECK(!t[i][k].correct ||  // the fixed kind stays unless beaten by over 3%
                      t[i][k].seconds >= pick->seconds * (p.op[i].kind == p.op[i].fixed ? 0.97 : 1.0),
                  "%s: %s (%g s) was faster than the pick %s (%g s)", p.name[i], GEMM_KIND_NAMES[k], t[i][k].seconds,
                  GEMM_KIND_NAMES[p.op[i].kind], pick->seconds);
        double err = gemm_op_check(&p.op[i], 77);
        CHECK(err < 1e-5, "%s (%s) against cblas_sgemm: %g", p.name[i],
              GEMM_KIND_NAMES[p.op[i].kind], err);
    }
    gemm_plan_free(&p);
}

static void test_text_round_trip(void) {
    GemmPlan p, q;
    lecture_plan(&p, 32, 30, 200, 27);
    lecture_plan(&q, 32, 30, 200, 27);
    char text[256], again[256], msg[512];
    // each op to each kind it can run, in turn, so every name goes through the text
    for (int k = 0; k < GEMM_N_KINDS; k++) {
        for (int i = 0; i < GOP_N; i++) gemm_op_set(&p.op[(i + k) % GOP_N], (GemmKind)((i + k) % GEMM_N_KINDS));
        gemm_plan_format(&p, text, sizeof text);
        CHECK(gemm_plan_parse(&q, text, msg, sizeof msg) == 0, "parse \"%s\": %s", text, msg);
        gemm_plan_format(&q, again, sizeof again);
        CHECK(!strcmp(text, again), "\"%s\" came back as \"%s\"", text, again);
        for (int i = 0; i < GOP_N; i++) CHECK(p.op[i].kind == q.op[i].kind, "op %d", i);
    }
    const char *bad[] = {
        "",
        "B=32,TE=30,H=200,V=27",
        "B=64,TE=30,H=200,V=27:fwd1=blas,fwd2=blas,dx2=blas,dw2=blas,dx1=blas,dw1=blas",
        "B=32,TE=30,H=200,V=27:fwd1=blas,fwd2=blas,dx2=blas,dw2=blas,dx1=blas",
        "B=32,TE=30,H=200,V=27:fwd1=blas,fwd1=blas,dx2=blas,dw2=blas,dx1=blas,dw1=blas",
        "B=32,TE=30,H=200,V=27:fwd1=gpu,fwd2=blas,dx2=blas,dw2=blas,dx1=blas,dw1=blas",
        "B=32,TE=30,H=200,V=27:fwd1=blas_t,fwd2=blas,dx2=blas,dw2=blas,dx1=blas,dw1=blas",
        "B=32,TE=30,H=200,V=27:fwd1=blas,fwd2=blas,dx2=blas,dw2=blas,dx1=blas,dw1=blas,x",
        "B=32,TE=30,H=200,V=27:fwd1=blas,fwd2=blas,dx2=blas,dw2=blas,dx1=blas,dw1=blasx",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(gemm_plan_parse(&q, bad[i], msg, sizeof msg) != 0 && msg[0], "accepted \"%s\"", bad[i]);
    const char *xs = "B=32,TE=30,H=200,V=27:fwd1=xsmm,fwd2=blas,dx2=blas,dw2=blas,dx1=blas,dw1=blas";
    CHECK((gemm_plan_parse(&q, xs, msg, sizeof msg) == 0) == gemm_xsmm_available(),
          "xsmm plan in a build %s libxsmm: %s", gemm_xsmm_available() ? "with" : "without", msg);
    gemm_plan_free(&p);
    gemm_plan_free(&q);
}

// One whole training step under each forced plan and the auto plan: the parameters it
// leaves agree with the default plan's within float rounding; for the lecture's model and
// part 5's WaveNet (12 ops).
static void step_under_each_plan(NetArch arch) {
    NetConfig cfg = {.arch = arch, .V = 27, .T = arch == ARCH_WAVENET ? 8 : 3, .E = 10, .H = 64,
                     .layers = 1, .bessel = 1, .momentum = 0.1f};
    Err err;
    CHECK(net_config_check(&cfg, &err) == 0, "%s", err.msg);
    const int B = 32;
    int X[B * 8], Y[B];
    for (int i = 0; i < B * cfg.T; i++) X[i] = (int)rng_below(&rng, 27);
    for (int i = 0; i < B; i++) Y[i] = (int)rng_below(&rng, 27);
    Net ref, m;
    net_alloc(&ref, &cfg, B);
    Rng r;
    rng_seed(&r, 5);
    net_init(&ref, &r, 1);
    float *init = copyv(ref.params, ref.num_params);
    net_forward(&ref, X, Y, 1);
    net_backward_sgd(&ref, 1.0f);
    for (int mode = 0; mode < 3; mode++) {
        net_alloc(&m, &cfg, B);
        memcpy(m.params, init, ref.num_params * sizeof(float));
        if (mode == 0) gemm_plan_auto(&m.plan, NULL);
        else gemm_plan_force(&m.plan, mode == 1 ? GEMM_XSMM : GEMM_BLAS);
        net_forward(&m, X, Y, 1);
        net_backward_sgd(&m, 1.0f);
        double d = 0;
        for (size_t i = 0; i < ref.num_params; i++)
            d = fmax(d, fabs((double)m.params[i] - ref.params[i]));
        CHECK(d < 1e-5 && (mode != 2 || d == 0), "%s, plan %d: parameters after a step differ "
              "by %g", net_arch_name(arch), mode, d);
        net_free(&m);
    }
    net_free(&ref);
    xfree(init);
}

static void test_step_under_each_plan(void) {
    step_under_each_plan(ARCH_MLP);
    step_under_each_plan(ARCH_WAVENET);
}

// The step's forward adds b1 inside the batchnorm's passes (batchnorm_tanh_forward_bias)
// instead of preloading it under the GEMM: under the default plan the batchnorm's outputs
// are the same floats as linear_forward + batchnorm_tanh_forward (the GEMM's sum of 30
// products is rounded once onto the bias either way); at 1 and 2 threads.
static void test_bias_fused_into_batchnorm(void) {
    const int TE = 30, H = 200, BMAX = 256;  // B = 256 at 2 threads: the batchnorm forks
    float *x = randv((size_t)BMAX * TE), *W = randv((size_t)TE * H), *b = randv((size_t)H);
    float *g = randv((size_t)H), *beta = randv((size_t)H);
    size_t n = (size_t)BMAX * H;
    float *pre = xcalloc(n, sizeof(float)), *prod = xcalloc(n, sizeof(float));
    float *h1 = xcalloc(n, sizeof(float)), *h2 = xcalloc(n, sizeof(float));
    float *r1 = xcalloc(n, sizeof(float)), *r2 = xcalloc(n, sizeof(float));
    float st1[3][200], st2[3][200];
    for (int threads = 1; threads <= 2; threads++) {
        int B = threads == 1 ? 32 : BMAX;
        GemmPlan p;  // fwd1 writing the product alone (beta 0)
        gemm_plan_begin(&p, "B=0");
        gemm_plan_add(&p, "fwd1", 0, 0, B, H, TE, 0.0f, GEMM_BLAS);
        threads_set(threads);
        linear_forward(pre, x, W, b, B, TE, H);
        batchnorm_tanh_forward(h1, r1, st1[0], st1[1], st1[2], pre, g, beta, B, H, 1);
        gemm_op_run(&p.op[GOP_FWD1], 1.0f, x, W, prod);
        batchnorm_tanh_forward_bias(h2, r2, st2[0], st2[1], st2[2], prod, b, g, beta, B, H, 1);
        CHECK(!memcmp(h1, h2, (size_t)B * H * sizeof(float)) &&
                  !memcmp(r1, r2, (size_t)B * H * sizeof(float)) && !memcmp(st1, st2, sizeof st1),
              "B=%d, %d thread(s): bias in the batchnorm differs from the preloaded bias", B,
              threads);
        double worst = 0;  // and against the definition, in double: hprebn = x . W + b
        for (int r = 0; r < B; r++)
            for (int j = 0; j < H; j++) {
                double s = b[j];
                for (int k = 0; k < TE; k++) s += (double)x[r * TE + k] * W[k * H + j];
                worst = fmax(worst, fabs(s - ((double)prod[r * H + j] + b[j])));
            }
        CHECK(worst < 1e-4, "product + bias against double: %g", worst);
        gemm_plan_free(&p);
    }
    threads_set(1);
    xfree(x); xfree(W); xfree(b); xfree(g); xfree(beta); xfree(pre); xfree(prod);
    xfree(h1); xfree(h2); xfree(r1); xfree(r2);
}

TEST_MAIN {
    TEST_SETUP();
    rng_seed(&rng, 99);
    threads_set(1);
    RUN_TEST(test_every_kind_against_loops);
    RUN_TEST(test_auto_plan_checked);
    RUN_TEST(test_text_round_trip);
    RUN_TEST(test_step_under_each_plan);
    RUN_TEST(test_bias_fused_into_batchnorm);
    threads_set(2);
    RUN_TEST(test_every_kind_against_loops);
    RUN_TEST(test_auto_plan_checked);
    return check_summary();
}
