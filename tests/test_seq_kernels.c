// test_seq_kernels.c: the kernels every makemore.py model shares (seq_kernels.h) against
// naive double-precision references written here from the definitions: the masked
// cross-entropy (targets -1, a sequence wholly ignored, no valid row at all, ties), its
// atomic chain, AdamW over several steps (and against values torch 1.13's AdamW produced),
// the token + position embedding; each at 1 and 2 threads, which must agree to the bit.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "rng.h"
#include "seq_kernels.h"

static Rng rng;

static float *randv(size_t n, float scale) {
    float *x = xcalloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng) * scale;
    return x;
}
static double *dvec(size_t n) { return xcalloc(n, sizeof(double)); }
static int same_bits(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

// ---- masked cross-entropy ------------------------------------------------------------------

// Mean loss over rows with Y >= 0 and its gradient (0 on ignored rows), in double.
static double ce_ref(double *d, const float *logits, const int *Y, int N, int V) {
    int n = 0;
    for (int i = 0; i < N; i++) n += Y[i] >= 0;
    double loss = 0;
    for (int i = 0; i < N; i++) {
        const float *x = logits + (size_t)i * V;
        if (Y[i] < 0) {
            for (int v = 0; v < V; v++) d[(size_t)i * V + v] = 0;
            continue;
        }
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, x[v]);
        for (int v = 0; v < V; v++) sum += exp(x[v] - mx);
        for (int v = 0; v < V; v++) d[(size_t)i * V + v] = (exp(x[v] - mx) / sum - (v == Y[i])) / n;
        loss -= x[Y[i]] - mx - log(sum);
    }
    return n ? loss / n : NAN;
}

// Targets for N = B*T positions: random classes, about one in five -1, and the whole of
// sequence 1 (positions T .. 2T-1) ignored when B > 1.
static int *targets_masked(int B, int T, int V) {
    int *Y = xcalloc((size_t)B * T, sizeof(int));
    for (int i = 0; i < B * T; i++)
        Y[i] = rng_below(&rng, 5) == 0 ? -1 : (int)rng_below(&rng, (uint32_t)V);
    if (B > 1)
        for (int t = 0; t < T; t++) Y[T + t] = -1;
    Y[0] = V - 1;  // at least one valid row
    return Y;
}

static void test_ce_masked(void) {
    // (B, T, V): tiny, awkward, the Transformer's default batch (forks), one class
    static const int sizes[][3] = {{1, 1, 27}, {3, 5, 7}, {4, 16, 27}, {32, 16, 27}, {64, 33, 27},
                                   {5, 3, 1}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int ties = 0; ties < 2; ties++) {
            int B = sizes[s][0], T = sizes[s][1], V = sizes[s][2], N = B * T;
            size_t nv = (size_t)N * V;
            float *logits = randv(nv, 3), *d1 = randv(nv, 1), *d2 = randv(nv, 1);
            float *da = randv(nv, 1), *scratch = randv(ce_masked_atomic_scratch(N, V), 1);
            int *Y = targets_masked(B, T, V);
            if (ties)  // each row's maximum twice
                for (int i = 0; i < N && V > 1; i++) logits[(size_t)i * V] = logits[(size_t)i * V + V - 1] = 9.0f;
            double *ref = dvec(nv);
            double loss_ref = ce_ref(ref, logits, Y, N, V);
            int n_valid_ref = 0;
            for (int i = 0; i < N; i++) n_valid_ref += Y[i] >= 0;
            threads_set(1);
            float l1 = ce_masked_forward_backward(d1, logits, Y, N, V);
            double sum1 = ce_masked_loss_sum(logits, Y, N, V, NULL);
            threads_set(2);
            float l2 = ce_masked_forward_backward(d2, logits, Y, N, V);
            int n_valid = -1;
            double sum2 = ce_masked_loss_sum(logits, Y, N, V, &n_valid);
            CHECK(allclose(d1, ref, (long)nv, 1e-5, 1e-6 / n_valid_ref), "dlogits B=%d T=%d V=%d ties=%d",
                  B, T, V, ties);
            CHECK(fabs(l1 - loss_ref) <= 1e-6 * fabs(loss_ref) + 1e-6, "loss %.9g vs %.9g", l1, loss_ref);
            CHECK(same_bits(d1, d2, nv) && l1 == l2, "1 vs 2 threads differ B=%d T=%d V=%d", B, T, V);
            CHECK(n_valid == n_valid_ref, "n_valid %d vs %d", n_valid, n_valid_ref);
            CHECK(sum1 == sum2 && fabs(sum1 / n_valid - loss_ref) <= 1e-12 * (1 + fabs(loss_ref)),
                  "ce_masked_loss_sum %.15g / %d vs %.15g", sum1, n_valid, loss_ref);
            int zero = 1;  // ignored rows exactly 0
            for (int i = 0; i < N; i++)
                for (int v = 0; v < V && Y[i] < 0; v++) zero &= d1[(size_t)i * V + v] == 0.0f;
            CHECK(zero, "an ignored row has a nonzero gradient");
            float la = ce_masked_forward_backward_atomic(da, logits, Y, N, V, scratch);
            CHECK(allclose(da, ref, (long)nv, 1e-5, 1e-6 / n_valid_ref) && fabs(la - l1) <= 2e-6 * fabs(l1) + 1e-6,
                  "atomic chain vs reference B=%d T=%d V=%d ties=%d (loss %.9g vs %.9g)", B, T, V, ties,
                  la, l1);
            xfree(logits); xfree(d1); xfree(d2); xfree(da); xfree(scratch); xfree(Y); xfree(ref);
        }
}

// No valid row: NAN and a zero gradient from both forms; ce_masked_loss_sum gives 0, n 0.
static void test_ce_all_ignored(void) {
    const int N = 6, V = 5;
    float *logits = randv(N * V, 1), *d = randv(N * V, 1), *da = randv(N * V, 1);
    float *scratch = randv(ce_masked_atomic_scratch(N, V), 1);
    int Y[6] = {-1, -1, -1, -1, -1, -1};
    float l = ce_masked_forward_backward(d, logits, Y, N, V);
    float la = ce_masked_forward_backward_atomic(da, logits, Y, N, V, scratch);
    int zero = 1;
    for (int i = 0; i < N * V; i++) zero &= d[i] == 0.0f && da[i] == 0.0f;
    CHECK(isnan(l) && isnan(la) && zero, "all ignored: loss %g / %g, zero grad %d", l, la, zero);
    int n = -1;
    double s = ce_masked_loss_sum(logits, Y, N, V, &n);
    CHECK(s == 0.0 && n == 0, "loss sum %g n %d", s, n);
    xfree(logits); xfree(d); xfree(da); xfree(scratch);
}

// ---- AdamW ----------------------------------------------------------------------------------

// The update in double, from the formula (decoupled decay, bias-corrected moments).
static void adamw_ref(double *p, const double *g, double *m, double *v, size_t n, double lr,
                      double b1, double b2, double eps, double wd, long t) {
    double bc1 = 1 - pow(b1, (double)t), bc2 = 1 - pow(b2, (double)t);
    for (size_t i = 0; i < n; i++) {
        p[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

static void test_adamw_reference(void) {
    const size_t sizes[] = {1, 13, 100003};  // the last one large enough to fork
    for (size_t s = 0; s < 3; s++) {
        size_t n = sizes[s];
        float *p1 = randv(n, 1), *m1 = xcalloc(n, 4), *v1 = xcalloc(n, 4);
        float *p2 = xcalloc(n, 4), *m2 = xcalloc(n, 4), *v2 = xcalloc(n, 4);
        float *pa = xcalloc(n, 4), *ma = xcalloc(n, 4), *va = xcalloc(n, 4), *den = xcalloc(n, 4);
        double *pr = dvec(n), *mr = dvec(n), *vr = dvec(n), *gr = dvec(n);
        memcpy(p2, p1, n * 4);
        memcpy(pa, p1, n * 4);
        for (size_t i = 0; i < n; i++) pr[i] = p1[i];
        const double lr = 1e-2, wd = 0.01, b1 = 0.9, b2 = 0.99, eps = 1e-8;
        int ok_threads = 1, ok_atomic = 1;
        for (long t = 1; t <= 6; t++) {
            float *g = randv(n, t % 2 ? 0.3f : 0.001f);
            for (size_t i = 0; i < n; i++) gr[i] = g[i];
            threads_set(1);
            adamw_update(p1, g, m1, v1, n, lr, b1, b2, eps, wd, t);
            adamw_update_atomic(pa, g, ma, va, den, n, lr, b1, b2, eps, wd, t);
            threads_set(2);
            adamw_update(p2, g, m2, v2, n, lr, b1, b2, eps, wd, t);
            adamw_ref(pr, gr, mr, vr, n, lr, b1, b2, eps, wd, t);
            ok_threads &= same_bits(p1, p2, n) && same_bits(m1, m2, n) && same_bits(v1, v2, n);
            ok_atomic &= same_bits(p1, pa, n) && same_bits(m1, ma, n) && same_bits(v1, va, n);
            xfree(g);
        }
        // p moves by ~lr per step: its float error is that of |p| ~ 1 plus a few lr*ulp
        CHECK(allclose(p1, pr, (long)n, 1e-6, 1e-6), "p vs double, n=%zu (max diff %g)", n,
              max_abs_diff(p1, pr, (long)n));
        // m and v use float betas (as torch): ~3e-8 relative off the double betas
        CHECK(allclose(m1, mr, (long)n, 1e-5, 1e-7) && allclose(v1, vr, (long)n, 1e-5, 1e-8),
              "m, v vs double, n=%zu (max diff %g, %g)", n, max_abs_diff(m1, mr, (long)n),
              max_abs_diff(v1, vr, (long)n));
        CHECK(ok_threads, "1 vs 2 threads differ, n=%zu", n);
        CHECK(ok_atomic, "atomic AdamW differs from the fused update, n=%zu", n);
        xfree(p1); xfree(m1); xfree(v1); xfree(p2); xfree(m2); xfree(v2);
        xfree(pa); xfree(ma); xfree(va); xfree(den); xfree(pr); xfree(mr); xfree(vr); xfree(gr);
    }
}

// torch 1.13: P = p0; opt = torch.optim.AdamW([P], lr=3e-3, weight_decay=0.1,
// betas=(0.9, 0.99), eps=1e-8); four steps with the gradients adam_g (torch.manual_seed(7)),
// then P, exp_avg, exp_avg_sq (printed with float.hex). Same float operations: the same bits.
static const float adam_p0[12] = {-0x1.2ca2e8p-3f, 0x1.92811cp-1f, 0x1.e4c5cep-1f, -0x1.1d45a6p+0f, 0x1.b0d7a0p+0f, -0x1.ca26e2p-1f, -0x1.6c28f8p-2f, 0x1.3b7da2p+0f, 0x1.1afa44p-3f, -0x1.aea490p+0f, 0x1.454d76p-2f, 0x1.0ffd1ap-3f};
static const float adam_g[4][12] = {
    {0x1.67fca4p-10f, 0x1.3b49e2p-9f, 0x1.c942e6p-7f, 0x1.b96472p-7f, 0x1.8f79dcp-6f, 0x1.09c264p-9f, 0x1.917f26p-6f, 0x1.4bdfe6p-6f, 0x1.237f2cp-6f, -0x1.2cc99cp-7f, -0x1.2c0944p-8f, -0x1.daca72p-8f},
    {0x1.47a618p-1f, -0x1.fcf640p-2f, 0x1.d0a20ep-1f, 0x0.0p+0f, 0x1.9d6480p-1f, 0x1.ee2178p-1f, -0x1.b0a43ap-3f, -0x1.54bb3ep-5f, -0x1.f7aaf0p-2f, -0x1.3fd5a6p-1f, -0x1.81947ap-4f, 0x1.2178bep-3f},
    {0x1.56300ep-10f, 0x1.b0df6ep-9f, -0x1.95621ap-11f, -0x1.2e41fap-7f, -0x1.3654fap-6f, 0x1.498726p-7f, -0x1.c75ffap-8f, 0x1.28f3eep-7f, 0x1.192086p-10f, 0x1.916b3ap-8f, 0x1.b012a6p-9f, -0x1.1f23aap-7f},
    {-0x1.ad4460p-1f, -0x1.730a36p-2f, 0x1.ed41fep-2f, 0x1.12ec6ep-4f, 0x1.18db4cp-2f, 0x1.1142e0p+0f, -0x1.c19f96p-2f, -0x1.0a934ep+0f, 0x1.d4ea8ep-1f, -0x1.1b6aa0p-2f, 0x1.0a1b58p-1f, -0x1.42957ap-1f},
};
static const float adam_p_torch[12] = {-0x1.397504p-3f, 0x1.9398fap-1f, 0x1.df8a4ep-1f, -0x1.1eb44ap+0f, 0x1.ae0abap+0f, -0x1.ce532ep-1f, -0x1.68f32ep-2f, 0x1.3b3486p+0f, 0x1.1a7f8ap-3f, -0x1.abd382p+0f, 0x1.4aa462p-2f, 0x1.113f00p-3f};
static const float adam_m_torch[12] = {-0x1.04697ap-5f, -0x1.376246p-4f, 0x1.f6445ep-4f, 0x1.c1d388p-8f, 0x1.7c84dcp-4f, 0x1.7cdd18p-3f, -0x1.ea5cecp-5f, -0x1.aeee60p-4f, 0x1.b34e16p-5f, -0x1.411a34p-4f, 0x1.6b00d6p-5f, -0x1.b121f2p-5f};
static const float adam_v_torch[12] = {0x1.69dc58p-7f, 0x1.e97806p-9f, 0x1.54943ep-7f, 0x1.8fbfecp-15f, 0x1.d4a48ap-8f, 0x1.504342p-6f, 0x1.36db70p-9f, 0x1.640662p-7f, 0x1.60a6e0p-7f, 0x1.2ced60p-8f, 0x1.6d7d20p-9f, 0x1.1110fcp-8f};

static void test_adamw_torch_bits(void) {
    float p[12], m[12] = {0}, v[12] = {0};
    memcpy(p, adam_p0, sizeof p);
    for (long t = 1; t <= 4; t++) adamw_update(p, adam_g[t - 1], m, v, 12, 3e-3, 0.9, 0.99, 1e-8, 0.1, t);
    int np = 0, nm = 0, nv = 0;
    for (int i = 0; i < 12; i++) {
        np += p[i] != adam_p_torch[i];
        nm += m[i] != adam_m_torch[i];
        nv += v[i] != adam_v_torch[i];
    }
    CHECK(np == 0 && nm == 0 && nv == 0, "elements differing from torch's: p %d, m %d, v %d", np, nm, nv);
}

// ---- token + position embedding -------------------------------------------------------------

static void test_embedding_pos(void) {
    static const int sizes[][4] = {{1, 1, 1, 2}, {3, 5, 8, 7}, {32, 16, 64, 27}, {64, 33, 48, 27}};  // B T C V
    for (int s = 0; s < 4; s++) {
        int B = sizes[s][0], T = sizes[s][1], C = sizes[s][2], V = sizes[s][3];
        size_t n = (size_t)B * T * C;
        float *wte = randv((size_t)V * C, 1), *wpe = randv((size_t)(T + 2) * C, 1);
        float *out = randv(n, 1), *dout = randv(n, 1);
        float *dwte1 = randv((size_t)V * C, 1), *dwpe1 = randv((size_t)(T + 2) * C, 1);
        float *dwte2 = randv((size_t)V * C, 1), *dwpe2 = xcalloc((size_t)(T + 2) * C, 4);
        memcpy(dwpe2, dwpe1, (size_t)(T + 2) * C * 4);
        float guard = dwpe1[(size_t)T * C];
        int *idx = xcalloc((size_t)B * T, sizeof(int));
        for (int i = 0; i < B * T; i++) idx[i] = (int)rng_below(&rng, (uint32_t)V);
        idx[0] = idx[B * T - 1] = V - 1;  // repeats: the scatter must add
        double *rwte = dvec((size_t)V * C), *rwpe = dvec((size_t)T * C);
        threads_set(1);
        embedding_pos_forward(out, idx, wte, wpe, B, T, C);
        int ok = 1;
        for (int i = 0; i < B * T; i++)
            for (int c = 0; c < C; c++)
                ok &= out[(size_t)i * C + c] == wte[(size_t)idx[i] * C + c] + wpe[(size_t)(i % T) * C + c];
        CHECK(ok, "forward != wte[idx] + wpe[t], B=%d T=%d C=%d", B, T, C);
        for (int i = 0; i < B * T; i++)
            for (int c = 0; c < C; c++) {
                rwte[(size_t)idx[i] * C + c] += dout[(size_t)i * C + c];
                rwpe[(size_t)(i % T) * C + c] += dout[(size_t)i * C + c];
            }
        embedding_pos_backward(dwte1, dwpe1, dout, idx, B, T, C, V);
        CHECK(allclose(dwte1, rwte, (long)V * C, 1e-5, 1e-5 * sqrt(B * T)) &&
              allclose(dwpe1, rwpe, (long)T * C, 1e-5, 1e-5 * sqrt(B)),
              "backward vs double, B=%d T=%d C=%d", B, T, C);
        CHECK(dwpe1[(size_t)T * C] == guard, "dwpe written past row T");
        threads_set(2);
        float *out2 = randv(n, 1);
        embedding_pos_forward(out2, idx, wte, wpe, B, T, C);
        embedding_pos_backward(dwte2, dwpe2, dout, idx, B, T, C, V);
        CHECK(same_bits(out, out2, n) && same_bits(dwte1, dwte2, (size_t)V * C) &&
              same_bits(dwpe1, dwpe2, (size_t)(T + 2) * C), "1 vs 2 threads differ, B=%d T=%d C=%d", B, T, C);
        xfree(wte); xfree(wpe); xfree(out); xfree(out2); xfree(dout); xfree(dwte1); xfree(dwpe1);
        xfree(dwte2); xfree(dwpe2); xfree(idx); xfree(rwte); xfree(rwpe);
    }
}

TEST_MAIN {
    TEST_SETUP();
    rng_seed(&rng, 1234);
    RUN_TEST(test_ce_masked);
    RUN_TEST(test_ce_all_ignored);
    RUN_TEST(test_adamw_reference);
    RUN_TEST(test_adamw_torch_bits);
    RUN_TEST(test_embedding_pos);
    return check_summary();
}
