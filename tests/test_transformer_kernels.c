// test_transformer_kernels.c: the Transformer's kernels (transformer_kernels.h) against naive
// double-precision references written here from the definitions (LayerNorm's backward from
// its Jacobian, GELU's derivative by central differences, attention from the formulas), the
// fused forms against the atomic ones, 1 against 2 threads (bit for bit), attention under
// every GEMM kind of its ops at awkward sizes (T = 5, hs = 3) and the default ones; the float64
// twin (transformer_ref.c) against central differences; and a whole Transformer assembled
// from these kernels plus plain gemm() calls against the twin's loss and gradients.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "check.h"
#include "common.h"
#include "gemm_own.h"
#include "gemm_plan.h"
#include "linear.h"
#include "mm_ref.h"
#include "rng.h"
#include "seq_kernels.h"
#include "transformer_kernels.h"

static Rng rng;

static float *randv(size_t n, float scale, float shift) {
    float *x = xcalloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng) * scale + shift;
    return x;
}
static float *copyv(const float *a, size_t n) {
    float *x = xcalloc(n, sizeof(float));
    memcpy(x, a, n * sizeof(float));
    return x;
}
static double *dvec(size_t n) { return xcalloc(n, sizeof(double)); }
static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}
// max |a - b| / max |b|: the error normwise, relative to the tensor's scale
static double rel_err(const float *a, const double *b, size_t n) {
    double scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    return max_abs_diff(a, b, (long)n) / (scale > 0 ? scale : 1);
}
static double rel_err_ff(const float *a, const float *b, size_t n) {
    double *bd = dvec(n);
    for (size_t i = 0; i < n; i++) bd[i] = b[i];
    double e = rel_err(a, bd, n);
    xfree(bd);
    return e;
}

// ==============================================================================================
// LayerNorm
// ==============================================================================================

static void ln_ref(double *out, double *mean, double *rstd, double *dx, double *dw, double *db,
                   const float *x, const float *w, const float *b, const float *dout, int N,
                   int C) {
    double *xhat = dvec((size_t)C);
    for (int j = 0; j < C; j++) dw[j] = db[j] = 0;
    for (int i = 0; i < N; i++) {
        const float *r = x + (size_t)i * C;
        double m = 0, v = 0;
        for (int j = 0; j < C; j++) m += r[j];
        m /= C;
        for (int j = 0; j < C; j++) v += (r[j] - m) * (r[j] - m);
        v /= C;
        double s = 1 / sqrt(v + 1e-5);
        mean[i] = m;
        rstd[i] = s;
        for (int j = 0; j < C; j++) {
            xhat[j] = (r[j] - m) * s;
            out[(size_t)i * C + j] = xhat[j] * w[j] + b[j];
            dw[j] += dout[(size_t)i * C + j] * xhat[j];
            db[j] += dout[(size_t)i * C + j];
        }
        // d xhat_k / d x_j = rstd * (delta_kj - 1/C - xhat_k xhat_j / C)
        for (int j = 0; j < C; j++) {
            double acc = 0;
            for (int k = 0; k < C; k++) {
                double jac = s * ((k == j) - 1.0 / C - xhat[k] * xhat[j] / C);
                acc += dout[(size_t)i * C + k] * w[k] * jac;
            }
            dx[(size_t)i * C + j] = acc;
        }
    }
    xfree(xhat);
}

static void test_layernorm(void) {
    static const int sizes[][2] = {{1, 1}, {5, 3}, {33, 37}, {512, 64}, {64, 700}};
    for (int s = 0; s < 5; s++) {
        int N = sizes[s][0], C = sizes[s][1];
        size_t n = (size_t)N * C;
        float *x = randv(n, 2, 0.7f), *w = randv(C, 0.2f, 1), *b = randv(C, 0.2f, 0);
        float *dout = randv(n, 1, 0), *dinp0 = randv(n, 1, 0);
        double *rout = dvec(n), *rmean = dvec(N), *rrstd = dvec(N), *rdx = dvec(n);
        double *rdw = dvec(C), *rdb = dvec(C);
        ln_ref(rout, rmean, rrstd, rdx, rdw, rdb, x, w, b, dout, N, C);
        for (size_t i = 0; i < n; i++) rdx[i] += dinp0[i];  // dinp accumulates
        float *out[2], *mean[2], *rstd[2], *dinp[2], *dw[2], *db[2];
        for (int th = 1; th <= 2; th++) {
            int k = th - 1;
            threads_set(th);
            out[k] = randv(n, 1, 0), mean[k] = randv(N, 1, 0), rstd[k] = randv(N, 1, 0);
            dinp[k] = copyv(dinp0, n), dw[k] = randv(C, 1, 0), db[k] = randv(C, 1, 0);
            layernorm_forward(out[k], mean[k], rstd[k], x, w, b, N, C);
            layernorm_backward(dinp[k], dw[k], db[k], dout, x, w, mean[k], rstd[k], N, C);
        }
        CHECK(rel_err(out[0], rout, n) < 1e-6 && rel_err(mean[0], rmean, N) < 1e-6 &&
              rel_err(rstd[0], rrstd, N) < 1e-6, "forward N=%d C=%d: %g", N, C, rel_err(out[0], rout, n));
        CHECK(rel_err(dinp[0], rdx, n) < 1e-5 && rel_err(dw[0], rdw, C) < 1e-5 &&
              rel_err(db[0], rdb, C) < 1e-5, "backward N=%d C=%d: dinp %g dw %g db %g", N, C,
              rel_err(dinp[0], rdx, n), rel_err(dw[0], rdw, C), rel_err(db[0], rdb, C));
        CHECK(same_bits(out[0], out[1], n) && same_bits(mean[0], mean[1], N) &&
              same_bits(rstd[0], rstd[1], N) && same_bits(dinp[0], dinp[1], n) &&
              same_bits(dw[0], dw[1], C) && same_bits(db[0], db[1], C),
              "1 vs 2 threads differ N=%d C=%d", N, C);
        // atomic chains: same inputs, same outputs, within float rounding
        float *sc = randv(layernorm_backward_atomic_scratch(N, C), 1, 0);
        float *aout = randv(n, 1, 0), *amean = randv(N, 1, 0), *arstd = randv(N, 1, 0);
        float *adinp = copyv(dinp0, n), *adw = randv(C, 1, 0), *adb = randv(C, 1, 0);
        layernorm_forward_atomic(aout, amean, arstd, x, w, b, N, C, sc);
        layernorm_backward_atomic(adinp, adw, adb, dout, x, w, mean[0], rstd[0], N, C, sc);
        CHECK(rel_err_ff(aout, out[0], n) < 1e-6 && rel_err_ff(arstd, rstd[0], N) < 1e-6 &&
              rel_err_ff(amean, mean[0], N) < 1e-6, "atomic forward N=%d C=%d", N, C);
        CHECK(rel_err_ff(adinp, dinp[0], n) < 1e-5 && rel_err_ff(adw, dw[0], C) < 1e-5 &&
              rel_err_ff(adb, db[0], C) < 1e-5, "atomic backward N=%d C=%d: %g", N, C,
              rel_err_ff(adinp, dinp[0], n));
        for (int k = 0; k < 2; k++) {
            xfree(out[k]); xfree(mean[k]); xfree(rstd[k]); xfree(dinp[k]); xfree(dw[k]); xfree(db[k]);
        }
        xfree(sc); xfree(aout); xfree(amean); xfree(arstd); xfree(adinp); xfree(adw); xfree(adb);
        xfree(x); xfree(w); xfree(b); xfree(dout); xfree(dinp0); xfree(rout); xfree(rmean);
        xfree(rrstd); xfree(rdx); xfree(rdw); xfree(rdb);
    }
}

// ==============================================================================================
// GELU
// ==============================================================================================

static double gelu_d(double x) {
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
// the derivative by central differences (independent of the hand-derived formula)
static double gelu_grad_fd(double x) {
    const double h = 1e-5;
    return (gelu_d(x + h) - gelu_d(x - h)) / (2 * h);
}

// float32's bound on gelu'(x) * dout as the kernels evaluate it: 1 - th^2 cancels for large
// |x|, leaving th's rounding times 0.5*x*sqrt(2/pi)*(1 + 3*0.044715*x^2).
static int gelu_grad_close(const float *got, const double *ref, const float *x, const float *dout,
                           size_t n) {
    for (size_t i = 0; i < n; i++) {
        double ax = fabs(x[i]);
        double tol = 1e-5 * fabs(ref[i]) + 5e-7 * fabs(dout[i]) * (1 + ax * (1 + 0.134 * ax * ax));
        if (!(fabs(got[i] - ref[i]) <= tol)) return 0;
    }
    return 1;
}

static void test_gelu(void) {
    const size_t sizes[] = {1, 7, 5000, 300001};  // the last forks (chunks of 4096)
    for (int s = 0; s < 4; s++) {
        size_t n = sizes[s];
        float *x = randv(n, 2, 0), *dout = randv(n, 1, 0);
        double *rout = dvec(n), *rdx = dvec(n);
        for (size_t i = 0; i < n; i++) {
            rout[i] = gelu_d(x[i]);
            rdx[i] = gelu_grad_fd(x[i]) * dout[i];
        }
        float *out[2], *dx[2];
        for (int th = 1; th <= 2; th++) {
            threads_set(th);
            out[th - 1] = randv(n, 1, 0), dx[th - 1] = randv(n, 1, 0);
            gelu_forward(out[th - 1], x, n);
            gelu_backward(dx[th - 1], dout, x, n);
        }
        CHECK(allclose(out[0], rout, (long)n, 1e-5, 1e-6), "gelu forward n=%zu (max diff %g)", n,
              max_abs_diff(out[0], rout, (long)n));
        CHECK(gelu_grad_close(dx[0], rdx, x, dout, n), "gelu backward n=%zu (max diff %g)", n,
              max_abs_diff(dx[0], rdx, (long)n));
        CHECK(same_bits(out[0], out[1], n) && same_bits(dx[0], dx[1], n), "1 vs 2 threads n=%zu", n);
        float *sc = randv(gelu_backward_atomic_scratch(n), 1, 0), *aout = randv(n, 1, 0);
        float *adx = randv(n, 1, 0);
        gelu_forward_atomic(aout, x, n, sc);
        gelu_backward_atomic(adx, dout, x, n, sc);
        CHECK(rel_err_ff(aout, out[0], n) < 1e-6 && rel_err_ff(adx, dx[0], n) < 1e-6,
              "gelu atomic vs fused n=%zu: %g %g", n, rel_err_ff(aout, out[0], n),
              rel_err_ff(adx, dx[0], n));
        float *dd = copyv(dout, n);  // in place: dinp == dout
        gelu_backward(dd, dd, x, n);
        CHECK(same_bits(dd, dx[1], n), "gelu_backward in place differs");
        xfree(x); xfree(dout); xfree(rout); xfree(rdx); xfree(out[0]); xfree(out[1]);
        xfree(dx[0]); xfree(dx[1]); xfree(sc); xfree(aout); xfree(adx); xfree(dd);
    }
}

static void test_bias_gelu(void) {
    static const int sizes[][2] = {{1, 1}, {3, 5}, {33, 37}, {512, 256}};
    for (int s = 0; s < 4; s++) {
        int N = sizes[s][0], M = sizes[s][1];
        size_t n = (size_t)N * M;
        float *prod = randv(n, 2, 0), *bias = randv(M, 0.5f, 0), *dout = randv(n, 1, 0);
        double *rpre = dvec(n), *rout = dvec(n), *rdpre = dvec(n), *rdb = dvec(M);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < M; j++) {
                size_t k = (size_t)i * M + j;
                float x = prod[k] + bias[j];  // the float pre-activation the kernel keeps
                rpre[k] = x;
                rout[k] = gelu_d(x);
                rdpre[k] = gelu_grad_fd(x) * dout[k];
                rdb[j] += rdpre[k];
            }
        float *pre[2], *out[2], *dpre[2], *db[2];
        for (int th = 1; th <= 2; th++) {
            int k = th - 1;
            threads_set(th);
            pre[k] = copyv(prod, n), out[k] = randv(n, 1, 0), dpre[k] = randv(n, 1, 0);
            db[k] = randv(M, 1, 0);
            bias_gelu_forward(out[k], pre[k], bias, N, M);
            gelu_bias_backward(dpre[k], db[k], dout, pre[k], N, M);
        }
        CHECK(rel_err(pre[0], rpre, n) == 0 && allclose(out[0], rout, (long)n, 1e-5, 1e-6),
              "bias_gelu_forward N=%d M=%d", N, M);
        float *xpre = xcalloc(n, sizeof(float));
        for (size_t k = 0; k < n; k++) xpre[k] = (float)rpre[k];
        CHECK(gelu_grad_close(dpre[0], rdpre, xpre, dout, n) && rel_err(db[0], rdb, M) < 1e-5,
              "gelu_bias_backward N=%d M=%d: %g %g", N, M, max_abs_diff(dpre[0], rdpre, (long)n),
              rel_err(db[0], rdb, M));
        CHECK(same_bits(pre[0], pre[1], n) && same_bits(out[0], out[1], n) &&
              same_bits(dpre[0], dpre[1], n) && same_bits(db[0], db[1], M),
              "1 vs 2 threads N=%d M=%d", N, M);
        float *dd = copyv(dout, n), *db2 = randv(M, 1, 0);  // in place: dpre == dout
        gelu_bias_backward(dd, db2, dd, pre[1], N, M);
        CHECK(same_bits(dd, dpre[1], n) && same_bits(db2, db[1], M), "in place differs N=%d M=%d", N, M);
        float *sc = randv(gelu_backward_atomic_scratch(n), 1, 0), *apre = copyv(prod, n);
        float *aout = randv(n, 1, 0), *adpre = randv(n, 1, 0), *adb = randv(M, 1, 0);
        bias_gelu_forward_atomic(aout, apre, bias, N, M, sc);
        gelu_bias_backward_atomic(adpre, adb, dout, apre, N, M, sc);
        CHECK(same_bits(apre, pre[0], n) && rel_err_ff(aout, out[0], n) < 1e-6 &&
              rel_err_ff(adpre, dpre[0], n) < 1e-6 && rel_err_ff(adb, db[0], M) < 1e-5,
              "atomic vs fused N=%d M=%d", N, M);
        for (int k = 0; k < 2; k++) {
            xfree(pre[k]); xfree(out[k]); xfree(dpre[k]); xfree(db[k]);
        }
        xfree(prod); xfree(bias); xfree(dout); xfree(rpre); xfree(rout); xfree(rdpre); xfree(rdb);
        xfree(dd); xfree(db2); xfree(sc); xfree(apre); xfree(aout); xfree(adpre); xfree(adb);
        xfree(xpre);
    }
}

// ==============================================================================================
// bias and residual
// ==============================================================================================

static void test_bias_residual(void) {
    static const int sizes[][2] = {{1, 1}, {3, 5}, {512, 192}};
    for (int s = 0; s < 3; s++) {
        int N = sizes[s][0], M = sizes[s][1];
        size_t n = (size_t)N * M;
        float *x = randv(n, 1, 0), *bias = randv(M, 1, 0), *res = randv(n, 1, 0);
        double *rsum = dvec(M), *radd = dvec(n), *rres = dvec(n), *rbr = dvec(n);
        for (int i = 0; i < N; i++)
            for (int j = 0; j < M; j++) {
                size_t k = (size_t)i * M + j;
                rsum[j] += x[k];
                radd[k] = (double)x[k] + bias[j];
                rres[k] = (double)x[k] + res[k];
                rbr[k] = (double)res[k] + x[k] + bias[j];
            }
        float *got[2][5];
        for (int th = 1; th <= 2; th++) {
            float **g = got[th - 1];
            threads_set(th);
            g[0] = copyv(x, n);
            bias_add(g[0], bias, N, M);
            g[1] = randv(M, 1, 0);
            bias_grad(g[1], x, N, M);
            g[2] = randv(n, 1, 0);
            residual_forward(g[2], x, res, n);
            g[3] = copyv(res, n);  // in place: out == res
            bias_residual_forward(g[3], g[3], x, bias, N, M);
            g[4] = copyv(res, n);
            residual_backward(g[4], x, n);
        }
        CHECK(rel_err(got[0][0], radd, n) < 1e-7 && rel_err(got[0][1], rsum, M) < 1e-5 &&
              rel_err(got[0][2], rres, n) < 1e-7 && rel_err(got[0][3], rbr, n) < 1e-6 &&
              rel_err(got[0][4], rres, n) < 1e-7, "vs double N=%d M=%d", N, M);
        int same = 1;
        for (int k = 0; k < 5; k++) same &= same_bits(got[0][k], got[1][k], k == 1 ? (size_t)M : n);
        CHECK(same, "1 vs 2 threads N=%d M=%d", N, M);
        float *lb = randv(M, 1, 0);
        bias_backward(lb, x, N, M);
        CHECK(same_bits(lb, got[0][1], M), "bias_grad differs from linear.h's bias_backward");
        xfree(lb);
        for (int th = 0; th < 2; th++)
            for (int k = 0; k < 5; k++) xfree(got[th][k]);
        xfree(x); xfree(bias); xfree(res); xfree(rsum); xfree(radd); xfree(rres); xfree(rbr);
    }
}

// ==============================================================================================
// attention
// ==============================================================================================

// y [B,T,C], att [B,nh,T,T], and dqkv [B,T,3C] from dy, in double from the formulas.
static void attention_ref(double *y, double *att, double *dqkv, const float *qkv, const float *dy,
                          int B, int T, int C, int nh) {
    const int hs = C / nh;
    const double scale = 1 / sqrt((double)hs);
#define Q(b, t, h, d) ((double)qkv[((size_t)(b) * T + (t)) * 3 * C + (h) * hs + (d)])
#define K(b, t, h, d) ((double)qkv[((size_t)(b) * T + (t)) * 3 * C + C + (h) * hs + (d)])
#define VV(b, t, h, d) ((double)qkv[((size_t)(b) * T + (t)) * 3 * C + 2 * C + (h) * hs + (d)])
    memset(dqkv, 0, (size_t)B * T * 3 * C * sizeof(double));
    double *datt = dvec((size_t)T), *p = dvec((size_t)T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++)
            for (int t = 0; t < T; t++) {
                double mx = -INFINITY, sum = 0;
                for (int s = 0; s <= t; s++) {
                    double dot = 0;
                    for (int d = 0; d < hs; d++) dot += Q(b, t, h, d) * K(b, s, h, d);
                    p[s] = dot * scale;
                    mx = fmax(mx, p[s]);
                }
                for (int s = 0; s <= t; s++) sum += exp(p[s] - mx);
                double *a = att + (((size_t)b * nh + h) * T + t) * T;
                for (int s = 0; s < T; s++) a[s] = s <= t ? exp(p[s] - mx) / sum : 0;
                const float *g = dy + ((size_t)b * T + t) * C + h * hs;
                for (int d = 0; d < hs; d++) {
                    double acc = 0;
                    for (int s = 0; s <= t; s++) acc += a[s] * VV(b, s, h, d);
                    y[((size_t)b * T + t) * C + h * hs + d] = acc;
                }
                // softmax Jacobian: dp_s = a_s (datt_s - sum_r a_r datt_r)
                double dot = 0;
                for (int s = 0; s <= t; s++) {
                    datt[s] = 0;
                    for (int d = 0; d < hs; d++) datt[s] += g[d] * VV(b, s, h, d);
                    dot += a[s] * datt[s];
                }
                for (int s = 0; s <= t; s++) {
                    double dp = a[s] * (datt[s] - dot) * scale;
                    double *dq = dqkv + ((size_t)b * T + t) * 3 * C + h * hs;
                    double *dk = dqkv + ((size_t)b * T + s) * 3 * C + C + h * hs;
                    double *dv = dqkv + ((size_t)b * T + s) * 3 * C + 2 * C + h * hs;
                    for (int d = 0; d < hs; d++) {
                        dq[d] += dp * K(b, s, h, d);
                        dk[d] += dp * Q(b, t, h, d);
                        dv[d] += a[s] * g[d];
                    }
                }
            }
#undef Q
#undef K
#undef VV
    xfree(datt);
    xfree(p);
}

// The attention's six ops on their own plan, every op of one kind; 0 when this build has no
// such kind (the plan is then not made). The caller frees the plan.
static int attention_ops_of_kind(GemmPlan *plan, AttnOps *ops, GemmKind kind, int T, int hs) {
    if ((kind == GEMM_OWN && !gemm_own_available()) || (kind == GEMM_XSMM && !gemm_xsmm_available()))
        return 0;
    gemm_plan_begin(plan, "attention");
    int idx[ATTN_N_OPS];
    attention_plan_add(plan, T, hs, GEMM_BLAS, idx);
    gemm_plan_force(plan, kind);
    *ops = attention_ops(plan, idx);
    return 1;
}

static int att_upper_zero(const float *att, int B, int T, int nh) {
    for (size_t r = 0; r < (size_t)B * nh * T; r++)
        for (int s = (int)(r % T) + 1; s < T; s++)
            if (att[r * T + s] != 0.0f) return 0;
    return 1;
}

static void test_attention(void) {
    // (B, T, C, nh): one position; T = 5 with hs = 3; T = 7; the defaults (the tasks fork)
    static const int sizes[][4] = {{1, 1, 4, 1}, {2, 5, 6, 2}, {3, 7, 12, 4}, {32, 16, 64, 4}};
    const GemmKind kinds[] = {GEMM_BLAS, GEMM_BLAS_T, GEMM_OWN, GEMM_XSMM};
    for (int s = 0; s < 4; s++) {
        int B = sizes[s][0], T = sizes[s][1], C = sizes[s][2], nh = sizes[s][3], hs = C / nh;
        size_t nqkv = (size_t)B * T * 3 * C, ny = (size_t)B * T * C, na = (size_t)B * nh * T * T;
        float *qkv = randv(nqkv, 1.5f, 0), *dy = randv(ny, 1, 0);
        double *ry = dvec(ny), *ratt = dvec(na), *rdqkv = dvec(nqkv);
        attention_ref(ry, ratt, rdqkv, qkv, dy, B, T, C, nh);
        size_t nheads = attention_heads_floats(B, T, C);
        float *heads = randv(nheads, 1, 0), *scratch = randv(attention_scratch_floats(B, T, C, nh), 1, 0);
        float *y0 = NULL, *att0 = NULL, *dqkv0 = NULL;  // the blas plan's, 1 thread
        for (size_t kk = 0; kk < sizeof kinds / sizeof kinds[0]; kk++) {
            GemmKind kind = kinds[kk];
            GemmPlan plan;
            AttnOps ops;
            if (!attention_ops_of_kind(&plan, &ops, kind, T, hs)) continue;
            CHECK(attention_ops_parallel_safe(&ops) == (kind != GEMM_BLAS_T) ||
                      (kind == GEMM_BLAS_T && T == 1),
                  "parallel_safe %d under %s", attention_ops_parallel_safe(&ops), GEMM_KIND_NAMES[kind]);
            float *y[2], *att[2], *dqkv[2];
            for (int th = 1; th <= 2; th++) {
                int k = th - 1;
                threads_set(th);
                y[k] = randv(ny, 1, 0), att[k] = randv(na, 1, 0), dqkv[k] = randv(nqkv, 1, 0);
                attention_forward(y[k], heads, att[k], scratch, qkv, &ops, B, T, C, nh);
                attention_backward(dqkv[k], scratch, dy, heads, att[k], &ops, B, T, C, nh);
            }
            const char *kn = GEMM_KIND_NAMES[kind];
            CHECK(rel_err(y[0], ry, ny) < 1e-5 && rel_err(att[0], ratt, na) < 1e-5,
                  "forward B=%d T=%d C=%d nh=%d %s: y %g att %g", B, T, C, nh, kn,
                  rel_err(y[0], ry, ny), rel_err(att[0], ratt, na));
            CHECK(att_upper_zero(att[0], B, T, nh), "att nonzero above the diagonal (%s)", kn);
            CHECK(rel_err(dqkv[0], rdqkv, nqkv) < 1e-5, "backward B=%d T=%d C=%d nh=%d %s: %g", B,
                  T, C, nh, kn, rel_err(dqkv[0], rdqkv, nqkv));
            CHECK(same_bits(y[0], y[1], ny) && same_bits(att[0], att[1], na) &&
                      same_bits(dqkv[0], dqkv[1], nqkv),
                  "1 vs 2 threads B=%d T=%d C=%d %s", B, T, C, kn);
            if (kind == GEMM_BLAS) {
                y0 = y[0], att0 = att[0], dqkv0 = dqkv[0];
                // the atomic chain, same ops: same outputs within float rounding
                float *tape = randv(attention_atomic_tape_floats(B, T, C, nh), 1, 0);
                float *asc = randv(attention_atomic_scratch_floats(B, T, C, nh), 1, 0);
                float *aheads = randv(nheads, 1, 0), *ay = randv(ny, 1, 0), *aatt = randv(na, 1, 0);
                float *adqkv = randv(nqkv, 1, 0);
                attention_forward_atomic(ay, aheads, aatt, tape, asc, qkv, &ops, B, T, C, nh);
                attention_backward_atomic(adqkv, asc, dy, aheads, aatt, tape, &ops, B, T, C, nh);
                CHECK(same_bits(aheads, heads, nheads), "atomic heads differ");
                CHECK(rel_err_ff(ay, y0, ny) < 1e-6 && rel_err_ff(aatt, att0, na) < 1e-6 &&
                          att_upper_zero(aatt, B, T, nh),
                      "atomic forward B=%d T=%d C=%d: %g", B, T, C, rel_err_ff(ay, y0, ny));
                CHECK(rel_err_ff(adqkv, dqkv0, nqkv) < 1e-5, "atomic backward B=%d T=%d C=%d: %g", B,
                      T, C, rel_err_ff(adqkv, dqkv0, nqkv));
                xfree(tape); xfree(asc); xfree(aheads); xfree(ay); xfree(aatt); xfree(adqkv);
            } else {
                xfree(y[0]); xfree(att[0]); xfree(dqkv[0]);
            }
            xfree(y[1]); xfree(att[1]); xfree(dqkv[1]);
            gemm_plan_free(&plan);
        }
        xfree(y0); xfree(att0); xfree(dqkv0);
        xfree(qkv); xfree(dy); xfree(ry); xfree(ratt); xfree(rdqkv); xfree(heads); xfree(scratch);
    }
}

// Sequences of lengths lens[b] (a packed batch): rows before lens[b] as the full attention's
// on the same input (causal: they never see the rows after), with dy 0 past lens[b]; the rows
// after neither read (they hold NaN) nor written (a sentinel survives).
static void test_attention_len(void) {
    const int B = 5, T = 7, C = 12, nh = 4, hs = C / nh, lens[5] = {7, 0, 3, 1, 6};
    const GemmKind kinds[] = {GEMM_BLAS, GEMM_BLAS_T, GEMM_OWN, GEMM_XSMM};
    size_t nqkv = (size_t)B * T * 3 * C, ny = (size_t)B * T * C, na = (size_t)B * nh * T * T;
    float *qkv = randv(nqkv, 1.5f, 0), *dy = randv(ny, 1, 0);
    for (int b = 0; b < B; b++)
        for (int t = lens[b]; t < T; t++)
            for (int c = 0; c < C; c++) dy[((size_t)b * T + t) * C + c] = 0.0f;
    double *ry = dvec(ny), *ratt = dvec(na), *rdqkv = dvec(nqkv);
    attention_ref(ry, ratt, rdqkv, qkv, dy, B, T, C, nh);
    float *nanqkv = copyv(qkv, nqkv), *nandy = copyv(dy, ny);  // past lens[b]: NaN
    for (int b = 0; b < B; b++)
        for (int t = lens[b]; t < T; t++) {
            for (int c = 0; c < 3 * C; c++) nanqkv[((size_t)b * T + t) * 3 * C + c] = NAN;
            for (int c = 0; c < C; c++) nandy[((size_t)b * T + t) * C + c] = NAN;
        }
    float *heads = randv(attention_heads_floats(B, T, C), 1, 0);
    float *scratch = randv(attention_scratch_floats(B, T, C, nh), 1, 0);
    float *att = randv(na, 1, 0);
    for (size_t kk = 0; kk < sizeof kinds / sizeof kinds[0]; kk++) {
        GemmKind kind = kinds[kk];
        GemmPlan plan;
        AttnOps ops;
        if (!attention_ops_of_kind(&plan, &ops, kind, T, hs)) continue;
        for (int th = 1; th <= 2; th++) {
            threads_set(th);
            float *y = xcalloc(ny, sizeof(float)), *dqkv = xcalloc(nqkv, sizeof(float));
            for (size_t i = 0; i < ny; i++) y[i] = 7.0f;
            for (size_t i = 0; i < nqkv; i++) dqkv[i] = 7.0f;
            attention_forward_len(y, heads, att, scratch, nanqkv, &ops, B, T, C, nh, lens);
            attention_backward_len(dqkv, scratch, nandy, heads, att, &ops, B, T, C, nh, lens);
            double ey = 0, ed = 0, ny2 = 0, nd2 = 0;
            int kept = 1;
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++) {
                    for (int c = 0; c < C; c++) {
                        size_t i = ((size_t)b * T + t) * C + c;
                        if (t < lens[b]) ey = fmax(ey, fabs(y[i] - ry[i])), ny2 = fmax(ny2, fabs(ry[i]));
                        else kept &= y[i] == 7.0f;
                    }
                    for (int c = 0; c < 3 * C; c++) {
                        size_t i = ((size_t)b * T + t) * 3 * C + c;
                        if (t < lens[b]) ed = fmax(ed, fabs(dqkv[i] - rdqkv[i])), nd2 = fmax(nd2, fabs(rdqkv[i]));
                        else kept &= dqkv[i] == 7.0f;
                    }
                }
            CHECK(ey <= 1e-5 * ny2 && ed <= 1e-5 * nd2 && isfinite(ey) && isfinite(ed),
                  "lens %s %d threads: y err %g of %g, dqkv err %g of %g", GEMM_KIND_NAMES[kind], th,
                  ey, ny2, ed, nd2);
            CHECK(kept, "lens %s %d threads: a row past its sequence was written",
                  GEMM_KIND_NAMES[kind], th);
            xfree(y); xfree(dqkv);
        }
        gemm_plan_free(&plan);
    }
    xfree(qkv); xfree(dy); xfree(nanqkv); xfree(nandy); xfree(ry); xfree(ratt); xfree(rdqkv);
    xfree(heads); xfree(scratch); xfree(att);
}

// The plan's six ops, as the header's table says.
static void test_attention_plan(void) {
    GemmPlan plan;
    gemm_plan_begin(&plan, "x");
    int first = gemm_plan_add(&plan, "other", 0, 0, 3, 3, 3, 0.0f, GEMM_BLAS);
    int idx[ATTN_N_OPS];
    attention_plan_add(&plan, 16, 8, GEMM_BLAS, idx);
    static const int want[ATTN_N_OPS][5] = {  // transA transB M N K
        {0, 0, 16, 16, 8}, {0, 0, 16, 8, 16}, {0, 0, 16, 16, 8},
        {1, 0, 16, 8, 16}, {0, 0, 16, 8, 16}, {1, 0, 16, 8, 16}};
    CHECK(plan.n == 1 + ATTN_N_OPS && first == 0, "plan has %d ops", plan.n);
    AttnOps ops = attention_ops(&plan, idx);
    for (int i = 0; i < ATTN_N_OPS; i++) {
        const GemmOp *o = ops.op[i];
        CHECK(idx[i] == 1 + i && o->transA == want[i][0] && o->transB == want[i][1] &&
                  o->M == want[i][2] && o->N == want[i][3] && o->K == want[i][4] && o->beta == 0.0f &&
                  o->kind == GEMM_BLAS,
              "op %d (%s): %d%d %dx%dx%d", i, plan.name[idx[i]], o->transA, o->transB, o->M, o->N, o->K);
    }
    CHECK(attention_ops_parallel_safe(&ops), "blas ops not parallel-safe");
    gemm_plan_free(&plan);
}

// ==============================================================================================
// the float64 twin
// ==============================================================================================

typedef struct {
    MmConfig c;
    int n;                 // tensors
    MmTensorInfo *info;
    size_t *numel;
    double **P, **G;
} Twin;

static int is_linear_weight(const MmTensorInfo *t) {
    return t->ndim == 2 && strcmp(t->name, "transformer.wte.weight") != 0 &&
           strcmp(t->name, "transformer.wpe.weight") != 0;
}

static Twin twin_make(int V, int T, int L, int nh, int C, float wscale) {
    Twin w = {.c = {.type = MM_TRANSFORMER, .V = V, .T = T, .n_layer = L, .n_head = nh, .n_embd = C}};
    w.n = mm_tensors(&w.c, NULL, 0);
    w.info = xcalloc((size_t)w.n, sizeof(MmTensorInfo));
    mm_tensors(&w.c, w.info, w.n);
    w.numel = xcalloc((size_t)w.n, sizeof(size_t));
    w.P = xcalloc((size_t)w.n, sizeof(double *));
    w.G = xcalloc((size_t)w.n, sizeof(double *));
    for (int i = 0; i < w.n; i++) {
        const MmTensorInfo *t = &w.info[i];
        w.numel[i] = (size_t)t->shape[0] * (t->ndim == 2 ? t->shape[1] : 1);
        w.P[i] = dvec(w.numel[i]);
        w.G[i] = dvec(w.numel[i]);
        int is_ln_w = strstr(t->name, "ln_") && strstr(t->name, ".weight");
        for (size_t k = 0; k < w.numel[i]; k++) {
            double r = rng_normal(&rng);
            w.P[i][k] = is_ln_w ? 1 + 0.1 * r : t->ndim == 1 ? 0.1 * r : wscale * r;
        }
    }
    return w;
}

static void twin_free(Twin *w) {
    for (int i = 0; i < w->n; i++) {
        xfree(w->P[i]);
        xfree(w->G[i]);
    }
    xfree(w->P); xfree(w->G); xfree(w->info); xfree(w->numel);
}

// X in 0..V-1; Y with about one in four -1, sequence 1 wholly -1 (when B > 1), Y[0] valid.
static void batch_make(int *X, int *Y, int B, int T, int V) {
    for (int i = 0; i < B * T; i++) {
        X[i] = (int)rng_below(&rng, (uint32_t)V);
        Y[i] = rng_below(&rng, 4) == 0 ? -1 : (int)rng_below(&rng, (uint32_t)V);
    }
    for (int t = 0; B > 1 && t < T; t++) Y[T + t] = -1;
    Y[0] = 1 % V;
}

static void test_twin_tensors(void) {
    MmConfig c = {.type = MM_TRANSFORMER, .V = 27, .T = 16, .n_layer = 4, .n_head = 4, .n_embd = 64};
    MmTensorInfo t[64];
    int n = mm_tensors(&c, t, 64);
    CHECK(n == 5 + 12 * 4, "%d tensors", n);
    CHECK(mm_tensors(&c, t, 3) == n, "the count with a short buffer");
    static const struct {
        int i;
        const char *name;
        int ndim, s0, s1;
    } want[] = {
        {0, "transformer.wte.weight", 2, 27, 64},       {1, "transformer.wpe.weight", 2, 16, 64},
        {2, "transformer.h.0.ln_1.weight", 1, 64, 0},   {3, "transformer.h.0.ln_1.bias", 1, 64, 0},
        {4, "transformer.h.0.attn.c_attn.weight", 2, 192, 64},
        {5, "transformer.h.0.attn.c_attn.bias", 1, 192, 0},
        {6, "transformer.h.0.attn.c_proj.weight", 2, 64, 64},
        {7, "transformer.h.0.attn.c_proj.bias", 1, 64, 0},
        {8, "transformer.h.0.ln_2.weight", 1, 64, 0},   {9, "transformer.h.0.ln_2.bias", 1, 64, 0},
        {10, "transformer.h.0.mlp.c_fc.weight", 2, 256, 64},
        {11, "transformer.h.0.mlp.c_fc.bias", 1, 256, 0},
        {12, "transformer.h.0.mlp.c_proj.weight", 2, 64, 256},
        {13, "transformer.h.0.mlp.c_proj.bias", 1, 64, 0},
        {49, "transformer.h.3.mlp.c_proj.bias", 1, 64, 0},
        {50, "transformer.ln_f.weight", 1, 64, 0},      {51, "transformer.ln_f.bias", 1, 64, 0},
        {52, "lm_head.weight", 2, 27, 64},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const MmTensorInfo *x = &t[want[k].i];
        CHECK(strcmp(x->name, want[k].name) == 0 && x->ndim == want[k].ndim &&
                  x->shape[0] == want[k].s0 && (x->ndim == 1 || x->shape[1] == want[k].s1),
              "tensor %d: %s [%d,%d]", want[k].i, x->name, x->shape[0], x->shape[1]);
    }
    long total = 0;
    for (int i = 0; i < n; i++) total += (long)t[i].shape[0] * (t[i].ndim == 2 ? t[i].shape[1] : 1);
    // makemore.py's count without lm_head ("number of parameters: 0.20M"): per block
    // 2*128 (layernorms) + 12480 (c_attn) + 4160 (c_proj) + 16640 (c_fc) + 16448 (c_proj),
    // then wte 1728, wpe 1024, ln_f 128
    CHECK(total - 27 * 64 == 202816, "%ld parameters besides lm_head", total - 27 * 64);
}

// Central differences in double on a few elements of every tensor.
static void test_twin_finite_differences(void) {
    const int V = 7, T = 5, L = 2, nh = 2, C = 8, B = 3;
    Twin w = twin_make(V, T, L, nh, C, 0.4f);
    int X[B * T], Y[B * T];
    batch_make(X, Y, B, T, V);
    double loss = mm_ref_loss(&w.c, (const double *const *)w.P, X, Y, B, w.G);
    double loss2 = mm_ref_loss(&w.c, (const double *const *)w.P, X, Y, B, NULL);
    CHECK(isfinite(loss) && loss == loss2, "loss %g, without gradients %g", loss, loss2);
    double worst = 0;
    const char *worst_name = "";
    int probes = 0;
    for (int i = 0; i < w.n; i++)
        for (int p = 0; p < 4; p++) {
            size_t k = p == 0 ? 0 : p == 1 ? w.numel[i] - 1 : rng_below(&rng, (uint32_t)w.numel[i]);
            if (i == 0 && p == 0) k = (size_t)X[0] * C;  // a wte row that is used
            double keep = w.P[i][k], h = 1e-5;
            w.P[i][k] = keep + h;
            double lp = mm_ref_loss(&w.c, (const double *const *)w.P, X, Y, B, NULL);
            w.P[i][k] = keep - h;
            double lm = mm_ref_loss(&w.c, (const double *const *)w.P, X, Y, B, NULL);
            w.P[i][k] = keep;
            double fd = (lp - lm) / (2 * h), g = w.G[i][k];
            // the difference's rounding ~1e-16 * |loss| / h ~ 1e-11; its truncation ~h^2 relative
            double err = fabs(g - fd) / (1e-9 + 1e-6 * fabs(fd));
            probes++;
            if (err > worst) worst = err, worst_name = w.info[i].name;
        }
    CHECK(worst < 1, "|g - fd| / (1e-9 + 1e-6 |fd|) = %g (%s) over %d probes", worst, worst_name,
          probes);
    printf("  twin vs central differences: %d probes, worst |g - fd| / (1e-9 + 1e-6 |fd|) %.2g\n",
           probes, worst);
    // no valid target: NAN, gradients all zero
    int Yn[B * T];
    for (int i = 0; i < B * T; i++) Yn[i] = -1;
    double ln = mm_ref_loss(&w.c, (const double *const *)w.P, X, Yn, B, w.G);
    int zero = 1;
    for (int i = 0; i < w.n; i++)
        for (size_t k = 0; k < w.numel[i]; k++) zero &= w.G[i][k] == 0.0;
    CHECK(isnan(ln) && zero, "no valid target: loss %g, zero gradients %d", ln, zero);
    twin_free(&w);
}

// ==============================================================================================
// a whole Transformer from the kernels, float32, against the twin
// ==============================================================================================

// Per-layer tensor slots, as the twin's order (2 + 12*l + slot).
enum { S_LN1W, S_LN1B, S_AW, S_AB, S_PW, S_PB, S_LN2W, S_LN2B, S_FW, S_FB, S_MW, S_MB };

typedef struct {
    int V, T, L, nh, C, B, N;
    int n;
    float **P, **G;  // engine layouts: linear weights [in, out]
    // activations
    float **x, **ln1, **m1, **r1, **qkv, **heads, **att, **y, **xmid, **ln2, **m2, **r2, **pre, **h;
    float *lnf, *mf, *rf, *logits, *dlogits, *tmp, *dres, *dtmp, *dbig, *dqkv, *scratch;
    GemmPlan plan;
    AttnOps ops;
} FModel;

static float **alloc_list(int n, size_t each) {
    float **l = xcalloc((size_t)n, sizeof(float *));
    for (int i = 0; i < n; i++) l[i] = xcalloc(each, sizeof(float));
    return l;
}
static void free_list(float **l, int n) {
    for (int i = 0; i < n; i++) xfree(l[i]);
    xfree(l);
}

// The engine's parameters from the twin's (transposing the linear layers' weights).
static void fmodel_init(FModel *m, const Twin *w, int B) {
    memset(m, 0, sizeof *m);
    m->V = w->c.V, m->T = w->c.T, m->L = w->c.n_layer, m->nh = w->c.n_head, m->C = w->c.n_embd;
    m->B = B, m->N = B * m->T, m->n = w->n;
    const int N = m->N, C = m->C, L = m->L;
    m->P = xcalloc((size_t)w->n, sizeof(float *));
    m->G = xcalloc((size_t)w->n, sizeof(float *));
    for (int i = 0; i < w->n; i++) {
        m->P[i] = xcalloc(w->numel[i], sizeof(float));
        m->G[i] = xcalloc(w->numel[i], sizeof(float));
        const MmTensorInfo *t = &w->info[i];
        if (is_linear_weight(t)) {
            int O = t->shape[0], I = t->shape[1];
            for (int o = 0; o < O; o++)
                for (int k = 0; k < I; k++) m->P[i][(size_t)k * O + o] = (float)w->P[i][(size_t)o * I + k];
        } else {
            for (size_t k = 0; k < w->numel[i]; k++) m->P[i][k] = (float)w->P[i][k];
        }
    }
    size_t NC = (size_t)N * C;
    m->x = alloc_list(L + 1, NC);
    m->ln1 = alloc_list(L, NC), m->m1 = alloc_list(L, N), m->r1 = alloc_list(L, N);
    m->qkv = alloc_list(L, 3 * NC), m->heads = alloc_list(L, attention_heads_floats(B, m->T, C));
    m->att = alloc_list(L, (size_t)B * m->nh * m->T * m->T), m->y = alloc_list(L, NC);
    m->xmid = alloc_list(L, NC), m->ln2 = alloc_list(L, NC), m->m2 = alloc_list(L, N);
    m->r2 = alloc_list(L, N), m->pre = alloc_list(L, 4 * NC), m->h = alloc_list(L, 4 * NC);
    m->lnf = xcalloc(NC, 4), m->mf = xcalloc(N, 4), m->rf = xcalloc(N, 4);
    m->logits = xcalloc((size_t)N * m->V, 4), m->dlogits = xcalloc((size_t)N * m->V, 4);
    m->tmp = xcalloc(NC, 4), m->dres = xcalloc(NC, 4), m->dtmp = xcalloc(NC, 4);
    m->dbig = xcalloc(4 * NC, 4), m->dqkv = xcalloc(3 * NC, 4);
    m->scratch = xcalloc(attention_scratch_floats(B, m->T, C, m->nh), 4);
    gemm_plan_begin(&m->plan, "test");
    int idx[ATTN_N_OPS];
    attention_plan_add(&m->plan, m->T, C / m->nh, GEMM_BLAS, idx);
    m->ops = attention_ops(&m->plan, idx);
}

static void fmodel_free(FModel *m) {
    const int L = m->L;
    free_list(m->P, m->n); free_list(m->G, m->n);
    free_list(m->x, L + 1); free_list(m->ln1, L); free_list(m->m1, L); free_list(m->r1, L);
    free_list(m->qkv, L); free_list(m->heads, L); free_list(m->att, L); free_list(m->y, L);
    free_list(m->xmid, L); free_list(m->ln2, L); free_list(m->m2, L); free_list(m->r2, L);
    free_list(m->pre, L); free_list(m->h, L);
    xfree(m->lnf); xfree(m->mf); xfree(m->rf); xfree(m->logits); xfree(m->dlogits);
    xfree(m->tmp); xfree(m->dres); xfree(m->dtmp); xfree(m->dbig); xfree(m->dqkv); xfree(m->scratch);
    gemm_plan_free(&m->plan);
}

// One forward and backward: returns the loss; m->G the gradients (engine layouts).
static float fmodel_step(FModel *m, const int *X, const int *Y) {
    const int B = m->B, T = m->T, C = m->C, N = m->N, V = m->V, L = m->L, nh = m->nh;
    float **P = m->P, **G = m->G;
    const int F = 2 + 12 * L;  // ln_f.weight, ln_f.bias, lm_head.weight
    embedding_pos_forward(m->x[0], X, P[0], P[1], B, T, C);
    for (int l = 0; l < L; l++) {
        float **W = P + 2 + 12 * l;
        layernorm_forward(m->ln1[l], m->m1[l], m->r1[l], m->x[l], W[S_LN1W], W[S_LN1B], N, C);
        gemm(0, 0, N, 3 * C, C, 1.0f, m->ln1[l], W[S_AW], 0.0f, m->qkv[l]);
        bias_add(m->qkv[l], W[S_AB], N, 3 * C);
        attention_forward(m->y[l], m->heads[l], m->att[l], m->scratch, m->qkv[l], &m->ops, B, T, C, nh);
        gemm(0, 0, N, C, C, 1.0f, m->y[l], W[S_PW], 0.0f, m->tmp);
        bias_residual_forward(m->xmid[l], m->x[l], m->tmp, W[S_PB], N, C);
        layernorm_forward(m->ln2[l], m->m2[l], m->r2[l], m->xmid[l], W[S_LN2W], W[S_LN2B], N, C);
        gemm(0, 0, N, 4 * C, C, 1.0f, m->ln2[l], W[S_FW], 0.0f, m->pre[l]);
        bias_gelu_forward(m->h[l], m->pre[l], W[S_FB], N, 4 * C);
        gemm(0, 0, N, C, 4 * C, 1.0f, m->h[l], W[S_MW], 0.0f, m->tmp);
        bias_residual_forward(m->x[l + 1], m->xmid[l], m->tmp, W[S_MB], N, C);
    }
    layernorm_forward(m->lnf, m->mf, m->rf, m->x[L], P[F], P[F + 1], N, C);
    gemm(0, 0, N, V, C, 1.0f, m->lnf, P[F + 2], 0.0f, m->logits);
    float loss = ce_masked_forward_backward(m->dlogits, m->logits, Y, N, V);
    // backward
    gemm(1, 0, C, V, N, 1.0f, m->lnf, m->dlogits, 0.0f, G[F + 2]);
    gemm(0, 1, N, C, V, 1.0f, m->dlogits, P[F + 2], 0.0f, m->dtmp);
    memset(m->dres, 0, (size_t)N * C * sizeof(float));
    layernorm_backward(m->dres, G[F], G[F + 1], m->dtmp, m->x[L], P[F], m->mf, m->rf, N, C);
    for (int l = L - 1; l >= 0; l--) {
        float **W = P + 2 + 12 * l, **D = G + 2 + 12 * l;
        gemm(0, 1, N, 4 * C, C, 1.0f, m->dres, W[S_MW], 0.0f, m->dbig);
        gemm(1, 0, 4 * C, C, N, 1.0f, m->h[l], m->dres, 0.0f, D[S_MW]);
        bias_grad(D[S_MB], m->dres, N, C);
        gelu_bias_backward(m->dbig, D[S_FB], m->dbig, m->pre[l], N, 4 * C);
        gemm(0, 1, N, C, 4 * C, 1.0f, m->dbig, W[S_FW], 0.0f, m->dtmp);
        gemm(1, 0, C, 4 * C, N, 1.0f, m->ln2[l], m->dbig, 0.0f, D[S_FW]);
        layernorm_backward(m->dres, D[S_LN2W], D[S_LN2B], m->dtmp, m->xmid[l], W[S_LN2W], m->m2[l],
                           m->r2[l], N, C);
        gemm(0, 1, N, C, C, 1.0f, m->dres, W[S_PW], 0.0f, m->dtmp);
        gemm(1, 0, C, C, N, 1.0f, m->y[l], m->dres, 0.0f, D[S_PW]);
        bias_grad(D[S_PB], m->dres, N, C);
        attention_backward(m->dqkv, m->scratch, m->dtmp, m->heads[l], m->att[l], &m->ops, B, T, C, nh);
        gemm(0, 1, N, C, 3 * C, 1.0f, m->dqkv, W[S_AW], 0.0f, m->dtmp);
        gemm(1, 0, C, 3 * C, N, 1.0f, m->ln1[l], m->dqkv, 0.0f, D[S_AW]);
        bias_grad(D[S_AB], m->dqkv, N, 3 * C);
        layernorm_backward(m->dres, D[S_LN1W], D[S_LN1B], m->dtmp, m->x[l], W[S_LN1W], m->m1[l],
                           m->r1[l], N, C);
    }
    embedding_pos_backward(G[0], G[1], m->dres, X, B, T, C, V);
    return loss;
}

// The float model's gradient i in the twin's layout, widened.
static void grad_as_twin(double *out, const FModel *m, const Twin *w, int i) {
    const MmTensorInfo *t = &w->info[i];
    if (is_linear_weight(t)) {
        int O = t->shape[0], I = t->shape[1];
        for (int o = 0; o < O; o++)
            for (int k = 0; k < I; k++) out[(size_t)o * I + k] = m->G[i][(size_t)k * O + o];
    } else {
        for (size_t k = 0; k < w->numel[i]; k++) out[k] = m->G[i][k];
    }
}

static void whole_model_check(int V, int T, int L, int nh, int C, int B, float wscale) {
    Twin w = twin_make(V, T, L, nh, C, wscale);
    int *X = xcalloc((size_t)B * T, sizeof(int)), *Y = xcalloc((size_t)B * T, sizeof(int));
    batch_make(X, Y, B, T, V);
    double loss_ref = mm_ref_loss(&w.c, (const double *const *)w.P, X, Y, B, w.G);
    FModel m;
    fmodel_init(&m, &w, B);
    threads_set(1);
    float loss = fmodel_step(&m, X, Y);
    CHECK(fabs(loss - loss_ref) <= 2e-6 * fabs(loss_ref), "V=%d T=%d L=%d C=%d B=%d: loss %.8f vs %.8f",
          V, T, L, C, B, loss, loss_ref);
    double worst = 0;
    const char *worst_name = "";
    for (int i = 0; i < w.n; i++) {
        double *g = dvec(w.numel[i]), scale = 0, diff = 0;
        grad_as_twin(g, &m, &w, i);
        for (size_t k = 0; k < w.numel[i]; k++) {
            scale = fmax(scale, fabs(w.G[i][k]));
            diff = fmax(diff, fabs(g[k] - w.G[i][k]));
        }
        double e = diff / (scale > 0 ? scale : 1);
        if (!(e <= worst)) worst = e, worst_name = w.info[i].name;
        xfree(g);
    }
    // float32 through L blocks: max |diff| / max |grad| of every tensor
    CHECK(worst < 2e-5, "V=%d T=%d L=%d C=%d B=%d: worst gradient error %g (%s)", V, T, L, C, B,
          worst, worst_name);
    printf("  whole model V=%d T=%d L=%d nh=%d C=%d B=%d: loss %.7f (twin %.7f), worst gradient "
           "error %.2g (%s)\n", V, T, L, nh, C, B, loss, loss_ref, worst, worst_name);
    fmodel_free(&m);
    xfree(X); xfree(Y);
    twin_free(&w);
}

static void test_whole_model_small(void) { whole_model_check(7, 5, 2, 2, 8, 3, 0.4f); }
static void test_whole_model_default(void) { whole_model_check(27, 16, 4, 4, 64, 8, 0.1f); }

// The default model at B = 32 (its kernels fork): loss and every gradient bit-identical at
// 1 and 2 threads.
static void test_whole_model_threads(void) {
    const int B = 32;
    Twin w = twin_make(27, 16, 4, 4, 64, 0.1f);
    int *X = xcalloc((size_t)B * 16, sizeof(int)), *Y = xcalloc((size_t)B * 16, sizeof(int));
    batch_make(X, Y, B, 16, 27);
    FModel m1, m2;
    fmodel_init(&m1, &w, B);
    fmodel_init(&m2, &w, B);
    threads_set(1);
    float l1 = fmodel_step(&m1, X, Y);
    threads_set(2);
    float l2 = fmodel_step(&m2, X, Y);
    int same = l1 == l2;
    for (int i = 0; i < w.n; i++) same &= same_bits(m1.G[i], m2.G[i], w.numel[i]);
    CHECK(same && isfinite(l1), "1 vs 2 threads: loss %.9g vs %.9g, gradients %s", l1, l2,
          same ? "same" : "differ");
    fmodel_free(&m1);
    fmodel_free(&m2);
    xfree(X); xfree(Y);
    twin_free(&w);
}

TEST_MAIN {
    TEST_SETUP();
    rng_seed(&rng, 20240601);
    RUN_TEST(test_layernorm);
    RUN_TEST(test_gelu);
    RUN_TEST(test_bias_gelu);
    RUN_TEST(test_bias_residual);
    RUN_TEST(test_attention_plan);
    RUN_TEST(test_attention);
    RUN_TEST(test_attention_len);
    RUN_TEST(test_twin_tensors);
    RUN_TEST(test_twin_finite_differences);
    RUN_TEST(test_whole_model_small);
    RUN_TEST(test_whole_model_default);
    RUN_TEST(test_whole_model_threads);
    return check_summary();
}
