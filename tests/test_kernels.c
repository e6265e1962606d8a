// test_kernels.c: every forward and fused backward kernel of kernels.h against a naive
// double-precision reference written here from the definitions (the batchnorm backward
// reference is the lecture's step-by-step chain, not the closed form), at awkward sizes,
// both variance modes, and 1 vs 2 threads (results must not depend on the thread count).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "kernels.h"
#include "model.h"
#include "rng.h"
#include "vecmath.h"

static Rng rng;

static float *randv(size_t n, float scale, float shift) {
    float *x = xcalloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng) * scale + shift;
    return x;
}
static int *randi(size_t n, int hi) {
    int *x = xcalloc(n, sizeof(int));
    for (size_t i = 0; i < n; i++) x[i] = (int)rng_below(&rng, (uint32_t)hi);
    return x;
}
static double *dvec(size_t n) { return xcalloc(n, sizeof(double)); }
// torch.allclose with a float32-sized tolerance for values of order `scale`
static int close(const float *a, const double *b, long n, double scale) {
    return allclose(a, b, n, 2e-5, 2e-6 * scale);
}

// sizes (B, H) used throughout; B >= 2 so both variance modes are defined
static const int SIZES[][2] = {{2, 1}, {2, 37}, {33, 1}, {33, 37}, {32, 200}, {4096, 64}};
#define NSIZES (int)(sizeof SIZES / sizeof SIZES[0])

static void test_embedding_forward_backward(void) {
    const int B = 33, T = 3, E = 10, V = 27;
    float *C = randv((size_t)V * E, 1, 0), *emb = randv((size_t)B * T * E, 1, 0);
    float *demb = randv((size_t)B * T * E, 1, 0), *dC = randv((size_t)V * E, 1, 0);
    float *dC_serial = randv((size_t)V * E, 1, 0);
    int *Xb = randi((size_t)B * T, V);
    Xb[0] = Xb[1] = Xb[2] = 5;  // repeated letters: the scatter-add must accumulate
    embedding_forward(emb, C, Xb, B, T, E);
    int ok = 1;
    for (int p = 0; p < B * T; p++)
        for (int e = 0; e < E; e++) ok &= emb[p * E + e] == C[Xb[p] * E + e];
    CHECK(ok, "gather differs from C[Xb]");
    double *ref = dvec((size_t)V * E);
    for (int p = 0; p < B * T; p++)
        for (int e = 0; e < E; e++) ref[Xb[p] * E + e] += demb[p * E + e];
    embedding_backward_serial(dC_serial, demb, Xb, B, T, E, V);
    CHECK(close(dC_serial, ref, (long)V * E, 4), "serial scatter-add vs double");
    for (int th = 1; th <= 2; th++) {
        threads_set(th);
        embedding_backward(dC, demb, Xb, B, T, E, V);
        CHECK(memcmp(dC, dC_serial, sizeof(float) * V * E) == 0,
              "parallel scatter-add not bit-identical to serial at %d threads", th);
    }
    xfree(C); xfree(emb); xfree(demb); xfree(dC); xfree(dC_serial); xfree(Xb); xfree(ref);
}

// Large enough that the kernel forks (par_worth); bit-identical to the serial order.
static void test_embedding_backward_parallel(void) {
    const int B = 4096, T = 3, E = 10, V = 27;
    float *demb = randv((size_t)B * T * E, 1, 0), *dC = randv((size_t)V * E, 1, 0);
    float *dC_serial = randv((size_t)V * E, 1, 0);
    int *Xb = randi((size_t)B * T, V);
    embedding_backward_serial(dC_serial, demb, Xb, B, T, E, V);
    threads_set(2);
    embedding_backward(dC, demb, Xb, B, T, E, V);
    CHECK(memcmp(dC, dC_serial, sizeof(float) * V * E) == 0, "2-thread scatter-add != serial");
    xfree(demb); xfree(dC); xfree(dC_serial); xfree(Xb);
}

// The serial scatter-add keeps dC's rows in vectors at widths up to 512 / V vectors of 16:
// bit for bit the lecture's loop at every width around the vector's, and past the limit;
// the gather (16-float rows, the last masked) copies C[Xb] exactly at the same widths.
static void test_embedding_backward_widths(void) {
    static const int widths[] = {1, 10, 15, 16, 17, 24, 31, 32, 33, 64, 300};
    const int B = 32, T = 3, V = 27;
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
        int E = widths[w];
        float *demb = randv((size_t)B * T * E, 1, 0), *dC = randv((size_t)V * E, 1, 0);
        float *dC_serial = randv((size_t)V * E, 1, 0);
        int *Xb = randi((size_t)B * T, V);
        embedding_backward_serial(dC_serial, demb, Xb, B, T, E, V);
        threads_set(1);
        embedding_backward(dC, demb, Xb, B, T, E, V);
        CHECK(memcmp(dC, dC_serial, sizeof(float) * V * E) == 0, "scatter-add E=%d != serial", E);
        embedding_forward(demb, dC, Xb, B, T, E);  // the gather, masked rows: C[Xb] exactly
        int ok = 1;
        for (int p = 0; p < B * T; p++)
            for (int e = 0; e < E; e++) ok &= demb[p * E + e] == dC[Xb[p] * E + e];
        CHECK(ok, "gather E=%d differs from C[Xb]", E);
        xfree(demb); xfree(dC); xfree(dC_serial); xfree(Xb);
    }
}

static void test_batchnorm_tanh_forward(void) {
    for (int s = 0; s < NSIZES; s++)
        for (int bessel = 0; bessel < 2; bessel++) {
            int B = SIZES[s][0], H = SIZES[s][1];
            float *x = randv((size_t)B * H, 2, 0.5f), *g = randv(H, 0.1f, 1), *bb = randv(H, 0.1f, 0);
            float *h = randv((size_t)B * H, 1, 0), *raw = randv((size_t)B * H, 1, 0);
            float *mean = randv(H, 1, 0), *var = randv(H, 1, 0), *inv = randv(H, 1, 0);
            double *rh = dvec((size_t)B * H), *rraw = dvec((size_t)B * H);
            double *rmean = dvec(H), *rvar = dvec(H);
            for (int j = 0; j < H; j++) {
                double m = 0, v = 0;
                for (int b = 0; b < B; b++) m += x[b * H + j];
                m /= B;
                for (int b = 0; b < B; b++) v += (x[b * H + j] - m) * (x[b * H + j] - m);
                v /= bessel ? B - 1 : B;
                rmean[j] = m;
                rvar[j] = v;
                for (int b = 0; b < B; b++) {
                    double r = (x[b * H + j] - m) / sqrt(v + 1e-5);
                    rraw[b * H + j] = r;
                    rh[b * H + j] = tanh((double)g[j] * r + bb[j]);
                }
            }
            for (int th = 1; th <= 2; th++) {
                threads_set(th);
                batchnorm_tanh_forward(h, raw, mean, var, inv, x, g, bb, B, H, bessel);
                CHECK(close(mean, rmean, H, 2) && close(var, rvar, H, 4),
                      "stats B=%d H=%d bessel=%d threads=%d", B, H, bessel, th);
                CHECK(close(raw, rraw, (long)B * H, 4), "bnraw B=%d H=%d bessel=%d threads=%d", B,
                      H, bessel, th);
                CHECK(close(h, rh, (long)B * H, 1), "h B=%d H=%d bessel=%d threads=%d", B, H,
                      bessel, th);
            }
            xfree(x); xfree(g); xfree(bb); xfree(h); xfree(raw); xfree(mean); xfree(var);
            xfree(inv); xfree(rh); xfree(rraw); xfree(rmean); xfree(rvar);
        }
}

// The forward with the linear layer's bias, written as its plain passes in float: each
// column summed in row order, the statistics, one line per element, then tanh over the
// whole run in one vector loop (libmvec's, as the kernel's). The kernel, whatever its
// blocking and its threads, must give these bits; at 4096 x 64 it forks into parts and is
// held to the double reference instead.
static void plain_bn_forward_bias(float *h, float *raw, float *mean, float *var, float *inv,
                                  const float *x, const float *bias, const float *g,
                                  const float *bb, int B, int H, int bessel) {
    for (int j = 0; j < H; j++) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += x[(size_t)b * H + j] + bias[j];
        mean[j] = s / (float)B;
        float q = 0.0f;
        for (int b = 0; b < B; b++) {
            float d = (x[(size_t)b * H + j] + bias[j]) - mean[j];
            q += d * d;
        }
        var[j] = q / (float)(bessel ? B - 1 : B);
        inv[j] = 1.0f / sqrtf(var[j] + BN_EPS);
    }
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            size_t i = (size_t)b * H + j;
            raw[i] = ((x[i] + bias[j]) - mean[j]) * inv[j];
            h[i] = g[j] * raw[i] + bb[j];
        }
    size_t n = (size_t)B * H;
    #pragma omp simd
    for (size_t i = 0; i < n; i++) h[i] = tanhf(h[i]);
}

static void test_batchnorm_tanh_forward_bias(void) {
    static const int sizes[][2] = {{2, 1}, {3, 7}, {5, 17}, {32, 200}, {33, 37}, {32, 128},
                                   {128, 128}, {17, 100}, {64, 255}, {7, 1024}, {4096, 64}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int bessel = 0; bessel < 2; bessel++) {
            int B = sizes[s][0], H = sizes[s][1];
            size_t n = (size_t)B * H;
            float *x = randv(n, 2, 0.5f), *bias = randv(H, 0.3f, 0), *g = randv(H, 0.1f, 1);
            float *bb = randv(H, 0.1f, 0), *h = randv(n, 1, 0), *raw = randv(n, 1, 0);
            float *mean = randv(H, 1, 0), *var = randv(H, 1, 0), *inv = randv(H, 1, 0);
            float *ph = randv(n, 1, 0), *praw = randv(n, 1, 0), *pmean = randv(H, 1, 0);
            float *pvar = randv(H, 1, 0), *pinv = randv(H, 1, 0);
            double *rh = dvec(n);
            for (int j = 0; j < H; j++) {
                double m = 0, v = 0;
                for (int b = 0; b < B; b++) m += (double)x[b * H + j] + bias[j];
                m /= B;
                for (int b = 0; b < B; b++) {
                    double d = (double)x[b * H + j] + bias[j] - m;
                    v += d * d;
                }
                v /= bessel ? B - 1 : B;
                for (int b = 0; b < B; b++)
                    rh[b * H + j] = tanh((double)g[j] * (((double)x[b * H + j] + bias[j] - m) /
                                                         sqrt(v + 1e-5)) + bb[j]);
            }
            plain_bn_forward_bias(ph, praw, pmean, pvar, pinv, x, bias, g, bb, B, H, bessel);
            int forks = n >= PAR_MIN_WORK;
            for (int th = 1; th <= 2; th++) {
                threads_set(th);
                batchnorm_tanh_forward_bias(h, raw, mean, var, inv, x, bias, g, bb, B, H, bessel);
                CHECK(close(h, rh, (long)n, 1), "h B=%d H=%d bessel=%d threads=%d", B, H, bessel, th);
                if (forks) continue;
                CHECK(!memcmp(h, ph, n * sizeof *h) && !memcmp(raw, praw, n * sizeof *raw) &&
                          !memcmp(mean, pmean, H * sizeof *mean) &&
                          !memcmp(var, pvar, H * sizeof *var) && !memcmp(inv, pinv, H * sizeof *inv),
                      "B=%d H=%d bessel=%d threads=%d: not the plain loops' bits", B, H, bessel, th);
            }
            xfree(x); xfree(bias); xfree(g); xfree(bb); xfree(h); xfree(raw); xfree(mean);
            xfree(var); xfree(inv); xfree(ph); xfree(praw); xfree(pmean); xfree(pvar); xfree(pinv);
            xfree(rh);
        }
}

static void test_batchnorm_forward_eval(void) {
    const int B = 33, H = 37;
    float *x = randv((size_t)B * H, 2, 0), *g = randv(H, 0.1f, 1), *bb = randv(H, 0.1f, 0);
    float *mean = randv(H, 1, 0), *var = randv(H, 0.5f, 2), *h = randv((size_t)B * H, 1, 0);
    for (int j = 0; j < H; j++) var[j] = fabsf(var[j]);
    double *ref = dvec((size_t)B * H);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++)
            ref[b * H + j] = tanh((double)g[j] * (x[b * H + j] - mean[j]) / sqrt(var[j] + 1e-5) + bb[j]);
    batchnorm_tanh_forward_eval(h, x, mean, var, g, bb, B, H);
    CHECK(close(h, ref, (long)B * H, 1), "inference-mode batchnorm");
    xfree(x); xfree(g); xfree(bb); xfree(mean); xfree(var); xfree(h); xfree(ref);
}

// softmax - onehot over B, and the loss, in double
static double ce_ref(double *dlogits, const float *logits, const int *Y, int B, int V) {
    double loss = 0;
    for (int b = 0; b < B; b++) {
        double mx = -INFINITY, sum = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, logits[b * V + v]);
        for (int v = 0; v < V; v++) sum += exp(logits[b * V + v] - mx);
        for (int v = 0; v < V; v++)
            dlogits[b * V + v] = (exp(logits[b * V + v] - mx) / sum - (v == Y[b])) / B;
        loss -= logits[b * V + Y[b]] - mx - log(sum);
    }
    return loss / B;
}

static void test_cross_entropy(void) {
    const int Bs[] = {2, 33, 32, 2048}, Vs[] = {27, 27, 1, 27};
    for (int s = 0; s < 4; s++)
        for (int ties = 0; ties < 2; ties++) {
            int B = Bs[s], V = Vs[s];
            float *logits = randv((size_t)B * V, 3, 0), *d = randv((size_t)B * V, 1, 0);
            float *d2 = randv((size_t)B * V, 1, 0);
            int *Y = randi(B, V);
            if (ties)  // every row's maximum appears twice
                for (int b = 0; b < B && V > 1; b++) logits[b * V] = logits[b * V + V - 1] = 10.0f;
            double *ref = dvec((size_t)B * V);
            double loss_ref = ce_ref(ref, logits, Y, B, V);
            for (int th = 1; th <= 2; th++) {
                threads_set(th);
                float loss = ce_forward_backward_fused(d, logits, Y, B, V);
                ce_backward_fused(d2, logits, Y, B, V);
                CHECK(close(d, ref, (long)B * V, 1.0 / B), "dlogits B=%d V=%d ties=%d th=%d", B, V,
                      ties, th);
                CHECK(memcmp(d, d2, sizeof(float) * B * V) == 0, "fused loss+grad vs grad only");
                CHECK(fabs(loss - loss_ref) <= 1e-5 * fabs(loss_ref) + 1e-6, "loss %.8f vs %.8f",
                      loss, loss_ref);
                double sum = ce_loss_sum(logits, Y, B, V);
                CHECK(fabs(sum / B - loss_ref) < 1e-9 * (1 + fabs(loss_ref)), "ce_loss_sum");
            }
            xfree(logits); xfree(d); xfree(d2); xfree(Y); xfree(ref);
        }
}

// The lecture's chain in double, from dhpreact back to dhprebn (one step a line).
static void bn_backward_chain_ref(double *dhprebn, double *dgain, double *dbias,
                                  const double *dhpreact, const float *x, const float *g, int B,
                                  int H, int bessel) {
    double n_var = bessel ? B - 1 : B;
    for (int j = 0; j < H; j++) {
        double mean = 0, var = 0;
        for (int b = 0; b < B; b++) mean += x[b * H + j];
        mean /= B;
        for (int b = 0; b < B; b++) var += (x[b * H + j] - mean) * (x[b * H + j] - mean);
        var /= n_var;
        double inv = 1.0 / sqrt(var + 1e-5);
        double dinv = 0, ddiff_sum = 0;
        dgain[j] = dbias[j] = 0;
        for (int b = 0; b < B; b++) {
            double diff = x[b * H + j] - mean, dp = dhpreact[b * H + j];
            dgain[j] += dp * diff * inv;       // dbngain = sum(bnraw * dhpreact)
            dbias[j] += dp;                    // dbnbias = sum(dhpreact)
            dinv += diff * g[j] * dp;          // dbnvar_inv = sum(bndiff * dbnraw)
        }
        double dvar = -0.5 * pow(var + 1e-5, -1.5) * dinv;  // dbnvar
        for (int b = 0; b < B; b++) {        // dbndiff = dbnraw*bnvar_inv + 2*bndiff/n * dbnvar
            double diff = x[b * H + j] - mean;
            double ddiff = g[j] * dhpreact[b * H + j] * inv + 2.0 * diff / n_var * dvar;
            dhprebn[b * H + j] = ddiff;
            ddiff_sum += ddiff;
        }
        for (int b = 0; b < B; b++) dhprebn[b * H + j] -= ddiff_sum / B;  // dbnmeani route
    }
}

static void test_batchnorm_backward(void) {
    for (int s = 0; s < NSIZES; s++)
        for (int bessel = 0; bessel < 2; bessel++) {
            int B = SIZES[s][0], H = SIZES[s][1];
            size_t n = (size_t)B * H;
            float *x = randv(n, 2, 0.5f), *g = randv(H, 0.1f, 1), *bb = randv(H, 0.1f, 0);
            float *h = randv(n, 1, 0), *raw = randv(n, 1, 0), *dh = randv(n, 1, 0);
            float *mean = randv(H, 1, 0), *var = randv(H, 1, 0), *inv = randv(H, 1, 0);
            float *dx = randv(n, 1, 0), *dg = randv(H, 1, 0), *db = randv(H, 1, 0);
            float *dpre = randv(n, 1, 0);
            double *rdpre = dvec(n), *rdx = dvec(n), *rdg = dvec(H), *rdb = dvec(H);
            threads_set(1);
            batchnorm_tanh_forward(h, raw, mean, var, inv, x, g, bb, B, H, bessel);
            for (size_t i = 0; i < n; i++) {  // dhpreact = (1 - h^2) dh, from the float32 h
                rdpre[i] = (1.0 - (double)h[i] * h[i]) * dh[i];
                dpre[i] = (float)rdpre[i];
            }
            bn_backward_chain_ref(rdx, rdg, rdb, rdpre, x, g, B, H, bessel);
            // the gradient through a normalisation of B values: scale of dhprebn ~ |dh|/std(x)
            for (int th = 1; th <= 2; th++) {
                threads_set(th);
                bn_tanh_backward_fused(dx, dg, db, dh, h, raw, inv, g, B, H, bessel);
                CHECK(close(dx, rdx, (long)n, 1) && close(dg, rdg, H, B) && close(db, rdb, H, B),
                      "bn_tanh_backward_fused B=%d H=%d bessel=%d threads=%d", B, H, bessel, th);
                float *dx2 = randv(n, 1, 0);
                bn_backward_fused(dx2, dg, db, dpre, raw, inv, g, B, H, bessel);
                CHECK(close(dx2, rdx, (long)n, 1) && close(dg, rdg, H, B) && close(db, rdb, H, B),
                      "bn_backward_fused B=%d H=%d bessel=%d threads=%d", B, H, bessel, th);
                xfree(dx2);
            }
            xfree(x); xfree(g); xfree(bb); xfree(h); xfree(raw); xfree(dh); xfree(mean);
            xfree(var); xfree(inv); xfree(dx); xfree(dg); xfree(db); xfree(dpre);
            xfree(rdpre); xfree(rdx); xfree(rdg); xfree(rdb);
        }
}

// Bessel's factor matters: the two modes must give different gradients (a kernel that
// ignored `bessel` would pass the tests above only if the references ignored it too).
static void test_bessel_changes_gradient(void) {
    const int B = 4, H = 3;
    float *x = randv(B * H, 1, 0), *g = randv(H, 0.1f, 1), *bb = randv(H, 0.1f, 0);
    float *h = randv(B * H, 1, 0), *raw = randv(B * H, 1, 0), *dh = randv(B * H, 1, 0);
    float *m = randv(H, 1, 0), *v = randv(H, 1, 0), *inv = randv(H, 1, 0);
    float *dx0 = randv(B * H, 1, 0), *dx1 = randv(B * H, 1, 0), *dg = randv(H, 1, 0), *db = randv(H, 1, 0);
    batchnorm_tanh_forward(h, raw, m, v, inv, x, g, bb, B, H, 0);
    bn_tanh_backward_fused(dx0, dg, db, dh, h, raw, inv, g, B, H, 0);
    bn_tanh_backward_fused(dx1, dg, db, dh, h, raw, inv, g, B, H, 1);
    double maxd = 0;
    for (int i = 0; i < B * H; i++) maxd = fmax(maxd, fabs(dx0[i] - dx1[i]));
    CHECK(maxd > 1e-3, "bessel on/off gave the same dhprebn (maxdiff %g)", maxd);
    xfree(x); xfree(g); xfree(bb); xfree(h); xfree(raw); xfree(dh); xfree(m); xfree(v);
    xfree(inv); xfree(dx0); xfree(dx1); xfree(dg); xfree(db);
}

TEST_MAIN {
    TEST_SETUP();
    rng_seed(&rng, 42);
    RUN_TEST(test_embedding_forward_backward);
    RUN_TEST(test_embedding_backward_parallel);
    RUN_TEST(test_batchnorm_tanh_forward);
    RUN_TEST(test_batchnorm_forward_eval);
    RUN_TEST(test_cross_entropy);
    RUN_TEST(test_batchnorm_backward);
    RUN_TEST(test_bessel_changes_gradient);
    RUN_TEST(test_embedding_backward_widths);
    RUN_TEST(test_batchnorm_tanh_forward_bias);  // last: the draws above stay as they were
    return check_summary();
}
