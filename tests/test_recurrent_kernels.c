// test_recurrent_kernels.c: the kernels of recurrent_kernels.h (bigram, mlp context, bow,
// rnn, gru) against naive double references written here from the definitions (engine
// layouts: a weight is [in, out]), the fused kernels against their atomic forms, and every
// kernel bit-identical at 1 and 2 threads at sizes where it forks. Outputs, state and
// scratch are filled with NaN before each call: a kernel that reads what it has not written,
// or accumulates into an output, fails.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "recurrent_kernels.h"
#include "rng.h"

static Rng rng;

static float *randv(size_t n, float scale) {
    float *x = xcalloc(n ? n : 1, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(&rng) * scale;
    return x;
}
static int *randi(size_t n, int hi) {
    int *x = xcalloc(n ? n : 1, sizeof(int));
    for (size_t i = 0; i < n; i++) x[i] = (int)rng_below(&rng, (uint32_t)hi);
    return x;
}
static float *nanv(size_t n) {
    float *x = xcalloc(n ? n : 1, sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = NAN;
    return x;
}
static void fill_nan(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = NAN;
}
static double *dvec(size_t n) { return xcalloc(n ? n : 1, sizeof(double)); }
static float *fcopy(const float *a, size_t n) {
    float *x = xcalloc(n ? n : 1, sizeof(float));
    memcpy(x, a, n * sizeof(float));
    return x;
}

// max |a - ref| <= tol * max(1, max |ref|): float32 against a double reference, the error
// measured against the tensor's scale (NaN fails).
static int near(const float *a, const double *ref, size_t n, double tol) {
    double scale = 1, err = 0;
    for (size_t i = 0; i < n; i++) scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= err)) err = d;
    }
    return err <= tol * scale;
}
// the same between two float tensors (fused against atomic)
static int near_f(const float *a, const float *b, size_t n, double tol) {
    double *r = dvec(n);
    for (size_t i = 0; i < n; i++) r[i] = b[i];
    int ok = near(a, r, n, tol);
    xfree(r);
    return ok;
}
static int same(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof(float)) == 0;
}

// ---- bigram ----------------------------------------------------------------------------

static void test_bigram(void) {
    const int sizes[][2] = {{15, 7}, {2048, 27}};  // the second forks (N*V >= PAR_MIN_WORK)
    for (int s = 0; s < 2; s++) {
        const int N = sizes[s][0], V = sizes[s][1];
        float *W = randv((size_t)V * V, 1), *dl = randv((size_t)N * V, 1);
        int *X = randi(N, V);
        X[0] = X[1] = X[N - 1] = V - 1;  // repeats must accumulate
        float *logits = nanv((size_t)N * V), *dW1 = nanv((size_t)V * V), *dW2 = nanv((size_t)V * V);
        threads_set(1);
        bigram_forward(logits, W, X, N, V);
        int ok = 1;
        for (int n = 0; n < N; n++)
            for (int v = 0; v < V; v++) ok &= logits[n * V + v] == W[X[n] * V + v];
        CHECK(ok, "logits != W[X] (N=%d V=%d)", N, V);
        double *ref = dvec((size_t)V * V);
        for (int n = 0; n < N; n++)
            for (int v = 0; v < V; v++) ref[X[n] * V + v] += dl[n * V + v];
        bigram_backward(dW1, dl, X, N, V);
        CHECK(near(dW1, ref, (size_t)V * V, 1e-5), "dW vs double (N=%d V=%d)", N, V);
        threads_set(2);
        bigram_backward(dW2, dl, X, N, V);
        CHECK(same(dW1, dW2, (size_t)V * V), "dW differs at 2 threads (N=%d V=%d)", N, V);
        xfree(W); xfree(dl); xfree(X); xfree(logits); xfree(dW1); xfree(dW2); xfree(ref);
    }
}

// ---- mlp context -----------------------------------------------------------------------

static void test_context(void) {
    const int sizes[][4] = {{3, 5, 4, 7}, {1, 1, 3, 2}, {32, 16, 8, 27}};  // B T E V; the last forks
    for (int s = 0; s < 3; s++) {
        const int B = sizes[s][0], T = sizes[s][1], E = sizes[s][2], V = sizes[s][3];
        const size_t n_cat = (size_t)B * T * T * E, n_wte = (size_t)(V + 1) * E;
        float *wte = randv(n_wte, 1), *demb = randv(n_cat, 1);
        int *X = randi((size_t)B * T, V);
        float *emb = nanv(n_cat), *emb_at = nanv(n_cat);
        float *dwte = nanv(n_wte), *dwte_serial = nanv(n_wte), *dwte2 = nanv(n_wte);
        float *dwte_at = nanv(n_wte), *work = nanv(context_atomic_floats(B, T, E));
        threads_set(1);
        context_forward(emb, wte, X, B, T, E, V);
        int ok = 1;
        double *ref = dvec(n_wte);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int k = 0; k < T; k++) {
                    int src = t - k >= 0 ? X[b * T + t - k] : V;  // <BLANK> before the start
                    for (int e = 0; e < E; e++) {
                        size_t i = (((size_t)b * T + t) * T + k) * E + e;
                        ok &= emb[i] == wte[src * E + e];
                        ref[src * E + e] += demb[i];
                    }
                }
        CHECK(ok, "emb_cat != the definition (B=%d T=%d E=%d V=%d)", B, T, E, V);
        context_backward(dwte, demb, X, B, T, E, V);
        CHECK(near(dwte, ref, n_wte, 1e-5), "dwte vs double (B=%d T=%d)", B, T);
        context_backward_serial(dwte_serial, demb, X, B, T, E, V);
        CHECK(same(dwte, dwte_serial, n_wte), "dwte != the serial loop (B=%d T=%d)", B, T);
        context_forward_atomic(emb_at, work, wte, X, B, T, E, V);
        CHECK(same(emb, emb_at, n_cat), "fused gather != makemore.py's rolls (B=%d T=%d)", B, T);
        context_backward_atomic(dwte_at, work, demb, B, T, E, V);
        CHECK(near_f(dwte, dwte_at, n_wte, 1e-5), "fused dwte vs atomic (B=%d T=%d)", B, T);
        threads_set(2);
        fill_nan(emb_at, n_cat);
        context_forward(emb_at, wte, X, B, T, E, V);
        context_backward(dwte2, demb, X, B, T, E, V);
        CHECK(same(emb, emb_at, n_cat) && same(dwte, dwte2, n_wte),
              "context differs at 2 threads (B=%d T=%d)", B, T);
        xfree(wte); xfree(demb); xfree(X); xfree(emb); xfree(emb_at); xfree(dwte);
        xfree(dwte_serial); xfree(dwte2); xfree(dwte_at); xfree(work); xfree(ref);
    }
}

// ---- bow ---------------------------------------------------------------------------------

// x1 = x + causal average of x, straight from the T x T definition
static void ref_avg(double *x1, const float *x, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++) {
                double y = 0;
                for (int s = 0; s <= t; s++) y += (double)x[((size_t)b * T + s) * C + c] / (t + 1);
                x1[((size_t)b * T + t) * C + c] = x[((size_t)b * T + t) * C + c] + y;
            }
}
// dx = dout + att^T dout, att[t,s] = [s <= t] / (t+1)
static void ref_avg_backward(double *dx, const double *dout, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int s = 0; s < T; s++)
            for (int c = 0; c < C; c++) {
                double g = dout[((size_t)b * T + s) * C + c];
                for (int t = s; t < T; t++) g += dout[((size_t)b * T + t) * C + c] / (t + 1);
                dx[((size_t)b * T + s) * C + c] = g;
            }
}

static void test_bow_avg(void) {
    const int sizes[][3] = {{3, 5, 4}, {2, 1, 130}, {64, 16, 64}};  // B T C; the last forks
    for (int s = 0; s < 3; s++) {
        const int B = sizes[s][0], T = sizes[s][1], C = sizes[s][2];
        const size_t n = (size_t)B * T * C;
        float *x = randv(n, 1), *out = nanv(n), *dx = nanv(n), *out2 = nanv(n), *dx2 = nanv(n);
        double *ref = dvec(n), *dref = dvec(n), *dd = dvec(n);
        threads_set(1);
        ref_avg(ref, x, B, T, C);
        bow_avg_forward(out, x, B, T, C);
        CHECK(near(out, ref, n, 1e-6), "x + avg(x) vs double (B=%d T=%d C=%d)", B, T, C);
        for (size_t i = 0; i < n; i++) dd[i] = x[i];  // x as the upstream gradient
        ref_avg_backward(dref, dd, B, T, C);
        bow_avg_backward(dx, x, B, T, C);
        CHECK(near(dx, dref, n, 1e-6), "the suffix sum vs att^T (B=%d T=%d C=%d)", B, T, C);
        float *inplace = fcopy(x, n);
        bow_avg_backward(inplace, inplace, B, T, C);
        CHECK(same(inplace, dx, n), "in-place backward differs (B=%d T=%d)", B, T);
        threads_set(2);
        bow_avg_forward(out2, x, B, T, C);
        bow_avg_backward(dx2, x, B, T, C);
        CHECK(same(out, out2, n) && same(dx, dx2, n), "avg differs at 2 threads (B=%d)", B);
        xfree(x); xfree(out); xfree(dx); xfree(out2); xfree(dx2); xfree(ref); xfree(dref);
        xfree(dd); xfree(inplace);
    }
}

typedef struct {
    float *x0, *Wfc, *bfc, *Wp, *bp, *dx2;
} BowIn;
typedef struct {
    float *x2, *state, *scratch, *dx0, *dWfc, *dbfc, *dWp, *dbp;
} BowOut;

static BowOut bow_out(int B, int T, int C, int C2) {
    const size_t n = (size_t)B * T * C;
    BowOut o = {nanv(n), nanv(bow_state_floats(B, T, C, C2)), nanv(bow_scratch_floats(B, T, C, C2)),
                nanv(n), nanv((size_t)C * C2), nanv(C2), nanv((size_t)C2 * C), nanv(C)};
    return o;
}
static void bow_out_free(BowOut *o) {
    xfree(o->x2); xfree(o->state); xfree(o->scratch); xfree(o->dx0); xfree(o->dWfc);
    xfree(o->dbfc); xfree(o->dWp); xfree(o->dbp);
}
static void bow_run(BowOut *o, const BowIn *in, int B, int T, int C, int C2) {
    bow_block_forward(o->x2, o->state, in->x0, in->Wfc, in->bfc, in->Wp, in->bp, B, T, C, C2);
    bow_block_backward(o->dx0, o->dWfc, o->dbfc, o->dWp, o->dbp, o->scratch, in->dx2, o->state,
                       in->Wfc, in->Wp, B, T, C, C2);
}
static int bow_same(const BowOut *a, const BowOut *b, int B, int T, int C, int C2) {
    const size_t n = (size_t)B * T * C;
    return same(a->x2, b->x2, n) && same(a->dx0, b->dx0, n) &&
           same(a->dWfc, b->dWfc, (size_t)C * C2) && same(a->dbfc, b->dbfc, C2) &&
           same(a->dWp, b->dWp, (size_t)C2 * C) && same(a->dbp, b->dbp, C);
}

static void test_bow_block(void) {
    const int sizes[][4] = {{3, 5, 4, 6}, {1, 1, 3, 2}, {32, 16, 64, 64}, {64, 16, 64, 48}};
    for (int s = 0; s < 4; s++) {
        const int B = sizes[s][0], T = sizes[s][1], C = sizes[s][2], C2 = sizes[s][3];
        const size_t n = (size_t)B * T * C, n2 = (size_t)B * T * C2;
        BowIn in = {randv(n, 1), randv((size_t)C * C2, 0.3f), randv(C2, 0.3f),
                    randv((size_t)C2 * C, 0.3f), randv(C, 0.3f), randv(n, 1)};
        // the double reference: forward, then the backward from dx2
        double *x1 = dvec(n), *h = dvec(n2), *x2 = dvec(n), *dh = dvec(n2), *dx1 = dvec(n);
        double *dx0 = dvec(n), *dWfc = dvec((size_t)C * C2), *dbfc = dvec(C2);
        double *dWp = dvec((size_t)C2 * C), *dbp = dvec(C);
        const int N = B * T;
        ref_avg(x1, in.x0, B, T, C);
        for (int r = 0; r < N; r++)
            for (int j = 0; j < C2; j++) {
                double a = in.bfc[j];
                for (int c = 0; c < C; c++) a += x1[(size_t)r * C + c] * in.Wfc[(size_t)c * C2 + j];
                h[(size_t)r * C2 + j] = tanh(a);
            }
        for (int r = 0; r < N; r++)
            for (int c = 0; c < C; c++) {
                double a = in.bp[c] + x1[(size_t)r * C + c];
                for (int j = 0; j < C2; j++) a += h[(size_t)r * C2 + j] * in.Wp[(size_t)j * C + c];
                x2[(size_t)r * C + c] = a;
            }
        for (int r = 0; r < N; r++) {
            for (int c = 0; c < C; c++) {
                double g = in.dx2[(size_t)r * C + c];
                dbp[c] += g;
                dx1[(size_t)r * C + c] = g;
                for (int j = 0; j < C2; j++) dWp[(size_t)j * C + c] += h[(size_t)r * C2 + j] * g;
            }
            for (int j = 0; j < C2; j++) {
                double g = 0;
                for (int c = 0; c < C; c++) g += in.dx2[(size_t)r * C + c] * in.Wp[(size_t)j * C + c];
                double hv = h[(size_t)r * C2 + j];
                dh[(size_t)r * C2 + j] = g * (1 - hv * hv);
            }
            for (int j = 0; j < C2; j++) {
                dbfc[j] += dh[(size_t)r * C2 + j];
                for (int c = 0; c < C; c++) dWfc[(size_t)c * C2 + j] += x1[(size_t)r * C + c] * dh[(size_t)r * C2 + j];
            }
            for (int c = 0; c < C; c++)
                for (int j = 0; j < C2; j++)
                    dx1[(size_t)r * C + c] += dh[(size_t)r * C2 + j] * in.Wfc[(size_t)c * C2 + j];
        }
        ref_avg_backward(dx0, dx1, B, T, C);

        BowOut f = bow_out(B, T, C, C2), f2 = bow_out(B, T, C, C2), at = bow_out(B, T, C, C2);
        threads_set(1);
        bow_run(&f, &in, B, T, C, C2);
        CHECK(near(f.x2, x2, n, 1e-5) && near(f.state, x1, n, 1e-6) &&
                  near(f.state + n, h, n2, 1e-5),
              "forward vs double (B=%d T=%d C=%d C2=%d)", B, T, C, C2);
        CHECK(near(f.dx0, dx0, n, 1e-5), "dx0 vs double (B=%d T=%d)", B, T);
        CHECK(near(f.dWfc, dWfc, (size_t)C * C2, 1e-5) && near(f.dbfc, dbfc, C2, 1e-5),
              "c_fc grads vs double (B=%d T=%d)", B, T);
        CHECK(near(f.dWp, dWp, (size_t)C2 * C, 1e-5) && near(f.dbp, dbp, C, 1e-5),
              "c_proj grads vs double (B=%d T=%d)", B, T);
        float *work = nanv(bow_atomic_floats(B, T, C, C2));
        bow_block_forward_atomic(at.x2, work, in.x0, in.Wfc, in.bfc, in.Wp, in.bp, B, T, C, C2);
        bow_block_backward_atomic(at.dx0, at.dWfc, at.dbfc, at.dWp, at.dbp, work, in.dx2, in.Wfc,
                                  in.Wp, B, T, C, C2);
        CHECK(near(at.x2, x2, n, 1e-5) && near(at.dx0, dx0, n, 1e-5) &&
                  near(at.dWfc, dWfc, (size_t)C * C2, 1e-5) && near(at.dbfc, dbfc, C2, 1e-5) &&
                  near(at.dWp, dWp, (size_t)C2 * C, 1e-5) && near(at.dbp, dbp, C, 1e-5),
              "atomic vs double (B=%d T=%d)", B, T);
        CHECK(near_f(f.x2, at.x2, n, 1e-5) && near_f(f.dx0, at.dx0, n, 1e-5) &&
                  near_f(f.dWfc, at.dWfc, (size_t)C * C2, 1e-5) &&
                  near_f(f.dWp, at.dWp, (size_t)C2 * C, 1e-5),
              "fused vs atomic (B=%d T=%d)", B, T);
        threads_set(2);
        bow_run(&f2, &in, B, T, C, C2);
        CHECK(bow_same(&f, &f2, B, T, C, C2), "bow block differs at 2 threads (B=%d T=%d)", B, T);
        bow_out_free(&f); bow_out_free(&f2); bow_out_free(&at); xfree(work);
        xfree(in.x0); xfree(in.Wfc); xfree(in.bfc); xfree(in.Wp); xfree(in.bp); xfree(in.dx2);
        xfree(x1); xfree(h); xfree(x2); xfree(dh); xfree(dx1); xfree(dx0); xfree(dWfc);
        xfree(dbfc); xfree(dWp); xfree(dbp);
    }
}

// ---- the cells: a double reference of both, from the definitions -------------------------
//
// Engine layouts: x [B,T,ni], W [ni+nh, nh] (rows [0,ni) for x_t, [ni,ni+nh) for h_{t-1}),
// one (W, b) for the rnn, three (z, r, hbar) for the gru. Outputs: hidden, and given
// dhidden: dx, dstart and the weight and bias gradients (dW[g], db[g]).

static double dot_col(const double *v, const float *W, int n, int ld, int j) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i] * W[(size_t)i * ld + j];
    return s;
}

static void ref_cell(double *hidden, double *dx, double *dstart, double *const *dW,
                     double *const *db, int gru, const float *x, const float *const *W,
                     const float *const *b, const float *start, const float *dhidden, int B,
                     int T, int ni, int nh) {
    const int K = ni + nh, ng = gru ? 3 : 1;
    double *xh = dvec((size_t)T * K), *xhr = dvec((size_t)T * K), *hs = dvec((size_t)(T + 1) * nh);
    double *r = dvec((size_t)T * nh), *z = dvec((size_t)T * nh), *hb = dvec((size_t)T * nh);
    double *carry = dvec(nh), *dxh = dvec(K), *dxhr = dvec(K), *da = dvec(nh), *dar = dvec(nh);
    double *daz = dvec(nh);
    for (int g = 0; g < ng; g++) {
        memset(dW[g], 0, (size_t)K * nh * sizeof(double));
        memset(db[g], 0, (size_t)nh * sizeof(double));
    }
    memset(dstart, 0, (size_t)nh * sizeof(double));
    for (int bi = 0; bi < B; bi++) {
        for (int j = 0; j < nh; j++) hs[j] = start[j];  // hs[t] = h_{t-1}
        for (int t = 0; t < T; t++) {
            double *xht = xh + (size_t)t * K, *xhrt = xhr + (size_t)t * K;
            const double *hp = hs + (size_t)t * nh;
            double *h = hs + (size_t)(t + 1) * nh;
            for (int i = 0; i < ni; i++) xht[i] = xhrt[i] = x[((size_t)bi * T + t) * ni + i];
            for (int j = 0; j < nh; j++) xht[ni + j] = hp[j];
            for (int j = 0; j < nh; j++) {
                if (!gru) {
                    h[j] = tanh(b[0][j] + dot_col(xht, W[0], K, nh, j));
                    continue;
                }
                z[(size_t)t * nh + j] = 1 / (1 + exp(-(b[0][j] + dot_col(xht, W[0], K, nh, j))));
                r[(size_t)t * nh + j] = 1 / (1 + exp(-(b[1][j] + dot_col(xht, W[1], K, nh, j))));
                xhrt[ni + j] = r[(size_t)t * nh + j] * hp[j];
            }
            for (int j = 0; gru && j < nh; j++) {
                double hbar = tanh(b[2][j] + dot_col(xhrt, W[2], K, nh, j)), zz = z[(size_t)t * nh + j];
                hb[(size_t)t * nh + j] = hbar;
                h[j] = (1 - zz) * hp[j] + zz * hbar;
            }
            for (int j = 0; j < nh; j++) hidden[((size_t)bi * T + t) * nh + j] = h[j];
        }
        memset(carry, 0, (size_t)nh * sizeof(double));
        for (int t = T - 1; t >= 0; t--) {
            const double *hp = hs + (size_t)t * nh, *h = hs + (size_t)(t + 1) * nh;
            double dh[4096];
            for (int j = 0; j < nh; j++) dh[j] = dhidden[((size_t)bi * T + t) * nh + j] + carry[j];
            memset(dxh, 0, (size_t)K * sizeof(double));
            if (!gru) {
                for (int j = 0; j < nh; j++) da[j] = dh[j] * (1 - h[j] * h[j]);
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < nh; j++) {
                        dW[0][(size_t)i * nh + j] += xh[(size_t)t * K + i] * da[j];
                        dxh[i] += W[0][(size_t)i * nh + j] * da[j];
                    }
                for (int j = 0; j < nh; j++) db[0][j] += da[j], carry[j] = dxh[ni + j];
            } else {
                memset(dxhr, 0, (size_t)K * sizeof(double));
                for (int j = 0; j < nh; j++) {
                    double zz = z[(size_t)t * nh + j], hbar = hb[(size_t)t * nh + j];
                    daz[j] = dh[j] * (hbar - hp[j]) * zz * (1 - zz);
                    da[j] = dh[j] * zz * (1 - hbar * hbar);
                    carry[j] = dh[j] * (1 - zz);
                }
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < nh; j++) {
                        dW[2][(size_t)i * nh + j] += xhr[(size_t)t * K + i] * da[j];
                        dxhr[i] += W[2][(size_t)i * nh + j] * da[j];
                    }
                for (int j = 0; j < nh; j++) {
                    double rr = r[(size_t)t * nh + j], drh = dxhr[ni + j];
                    dar[j] = drh * hp[j] * rr * (1 - rr);
                    carry[j] += drh * rr;
                    db[0][j] += daz[j], db[1][j] += dar[j], db[2][j] += da[j];
                }
                for (int i = 0; i < K; i++)
                    for (int j = 0; j < nh; j++) {
                        dW[0][(size_t)i * nh + j] += xh[(size_t)t * K + i] * daz[j];
                        dW[1][(size_t)i * nh + j] += xh[(size_t)t * K + i] * dar[j];
                        dxh[i] += W[0][(size_t)i * nh + j] * daz[j] + W[1][(size_t)i * nh + j] * dar[j];
                    }
                for (int i = 0; i < ni; i++) dxh[i] += dxhr[i];
                for (int j = 0; j < nh; j++) carry[j] += dxh[ni + j];
            }
            for (int i = 0; i < ni; i++) dx[((size_t)bi * T + t) * ni + i] = dxh[i];
        }
        for (int j = 0; j < nh; j++) dstart[j] += carry[j];
    }
    xfree(xh); xfree(xhr); xfree(hs); xfree(r); xfree(z); xfree(hb); xfree(carry); xfree(dxh);
    xfree(dxhr); xfree(da); xfree(dar); xfree(daz);
}

// One set of a cell's float outputs.
typedef struct {
    float *hidden, *state, *scratch, *dx, *dstart, *dW[3], *db[3];
} CellOut;

static CellOut cell_out(int gru, int B, int T, int ni, int nh) {
    CellOut o;
    memset(&o, 0, sizeof o);
    o.hidden = nanv((size_t)B * T * nh);
    o.state = nanv(gru ? gru_state_floats(B, T, ni, nh) : rnn_state_floats(B, T, nh));
    o.scratch = nanv(gru ? gru_scratch_floats(B, T, ni, nh) : rnn_scratch_floats(B, T, ni, nh));
    o.dx = nanv((size_t)B * T * ni);
    o.dstart = nanv(nh);
    for (int g = 0; g < (gru ? 3 : 1); g++) {
        o.dW[g] = nanv((size_t)(ni + nh) * nh);
        o.db[g] = nanv(nh);
    }
    return o;
}
static void cell_out_free(CellOut *o) {
    xfree(o->hidden); xfree(o->state); xfree(o->scratch); xfree(o->dx); xfree(o->dstart);
    for (int g = 0; g < 3; g++) { xfree(o->dW[g]); xfree(o->db[g]); }
}

// The fused kernels (atomic == 0) or the atomic forms; dx NULL when !with_dx.
static void cell_run(CellOut *o, int gru, int atomic, int with_dx, const float *x,
                     float *const *W, float *const *b, const float *start, const float *dhidden,
                     int B, int T, int ni, int nh) {
    float *dx = with_dx ? o->dx : NULL;
    if (!gru) {
        if (atomic) {
            rnn_forward_atomic(o->hidden, o->state, x, W[0], b[0], start, B, T, ni, nh);
            rnn_backward_atomic(dx, o->dW[0], o->db[0], o->dstart, o->state, dhidden, W[0], B, T,
                                ni, nh);
        } else {
            rnn_forward(o->hidden, o->state, x, W[0], b[0], start, B, T, ni, nh);
            rnn_backward(dx, o->dW[0], o->db[0], o->dstart, o->scratch, dhidden, o->hidden,
                         o->state, x, W[0], B, T, ni, nh);
        }
        return;
    }
    GruWeights w = {W[0], b[0], W[1], b[1], W[2], b[2]};
    GruGrads g = {o->dW[0], o->db[0], o->dW[1], o->db[1], o->dW[2], o->db[2]};
    if (atomic) {
        gru_forward_atomic(o->hidden, o->state, x, &w, start, B, T, ni, nh);
        gru_backward_atomic(dx, &g, o->dstart, o->state, dhidden, &w, B, T, ni, nh);
    } else {
        gru_forward(o->hidden, o->state, x, &w, start, B, T, ni, nh);
        gru_backward(dx, &g, o->dstart, o->scratch, dhidden, o->state, x, &w, B, T, ni, nh);
    }
}

static void test_cell(int gru) {
    // B T n_in n_h: small and awkward, T = 1, B = 1, the default size, and sizes whose
    // recurrence forks (B*T*n_h*width >= 2^22: rnn at B = 128, gru at B = 96, 3 blocks)
    const int sizes[][4] = {{3, 5, 4, 6}, {2, 1, 3, 5}, {1, 7, 5, 3}, {32, 16, 64, 64},
                            {128, 16, 64, 64}, {96, 9, 24, 80}};
    const char *name = gru ? "gru" : "rnn";
    const int ng = gru ? 3 : 1;
    for (int s = 0; s < 6; s++) {
        const int B = sizes[s][0], T = sizes[s][1], ni = sizes[s][2], nh = sizes[s][3];
        const size_t nx = (size_t)B * T * ni, nhid = (size_t)B * T * nh, nW = (size_t)(ni + nh) * nh;
        if (gru == 0 && s == 5) continue;  // 96*9*80*80 is below the rnn's fork threshold
        float *x = randv(nx, 1), *start = randv(nh, 0.5f), *dhidden = randv(nhid, 1);
        float *W[3] = {0}, *b[3] = {0};
        double *dW[3] = {0}, *db[3] = {0};
        for (int g = 0; g < ng; g++) {
            W[g] = randv(nW, 1.0f / sqrtf((float)(ni + nh)));
            b[g] = randv(nh, 0.2f);
            dW[g] = dvec(nW);
            db[g] = dvec(nh);
        }
        double *hidden = dvec(nhid), *dx = dvec(nx), *dstart = dvec(nh);
        ref_cell(hidden, dx, dstart, dW, db, gru, x, (const float *const *)W,
                 (const float *const *)b, start, dhidden, B, T, ni, nh);

        CellOut f = cell_out(gru, B, T, ni, nh), f2 = cell_out(gru, B, T, ni, nh);
        CellOut at = cell_out(gru, B, T, ni, nh), nodx = cell_out(gru, B, T, ni, nh);
        float *work = nanv(gru ? gru_atomic_floats(B, T, ni, nh) : rnn_atomic_floats(B, T, ni, nh));
        xfree(at.state);
        at.state = work;  // the atomic forms keep everything in their work buffer
        threads_set(1);
        cell_run(&f, gru, 0, 1, x, W, b, start, dhidden, B, T, ni, nh);
        cell_run(&at, gru, 1, 1, x, W, b, start, dhidden, B, T, ni, nh);
        const double tol = 2e-5;
        CHECK(near(f.hidden, hidden, nhid, tol), "%s hidden vs double (B=%d T=%d ni=%d nh=%d)",
              name, B, T, ni, nh);
        CHECK(near(f.dx, dx, nx, tol), "%s dx vs double (B=%d T=%d)", name, B, T);
        CHECK(near(f.dstart, dstart, nh, tol), "%s dstart vs double (B=%d T=%d)", name, B, T);
        for (int g = 0; g < ng; g++)
            CHECK(near(f.dW[g], dW[g], nW, tol) && near(f.db[g], db[g], nh, tol),
                  "%s weight %d grads vs double (B=%d T=%d)", name, g, B, T);
        CHECK(near(at.hidden, hidden, nhid, tol) && near(at.dx, dx, nx, tol) &&
                  near(at.dstart, dstart, nh, tol),
              "%s atomic vs double (B=%d T=%d)", name, B, T);
        for (int g = 0; g < ng; g++)
            CHECK(near(at.dW[g], dW[g], nW, tol) && near(at.db[g], db[g], nh, tol),
                  "%s atomic weight %d grads vs double (B=%d T=%d)", name, g, B, T);
        int ok = near_f(f.hidden, at.hidden, nhid, tol) && near_f(f.dx, at.dx, nx, tol) &&
                 near_f(f.dstart, at.dstart, nh, tol);
        for (int g = 0; g < ng; g++)
            ok &= near_f(f.dW[g], at.dW[g], nW, tol) && near_f(f.db[g], at.db[g], nh, tol);
        CHECK(ok, "%s fused vs atomic (B=%d T=%d)", name, B, T);
        // dx NULL: the weight gradients are unchanged, dx untouched
        cell_run(&nodx, gru, 0, 0, x, W, b, start, dhidden, B, T, ni, nh);
        ok = isnan(nodx.dx[0]) && same(nodx.dstart, f.dstart, nh);
        for (int g = 0; g < ng; g++) ok &= same(nodx.dW[g], f.dW[g], nW) && same(nodx.db[g], f.db[g], nh);
        CHECK(ok, "%s with dx NULL differs (B=%d T=%d)", name, B, T);
        threads_set(2);
        cell_run(&f2, gru, 0, 1, x, W, b, start, dhidden, B, T, ni, nh);
        ok = same(f.hidden, f2.hidden, nhid) && same(f.dx, f2.dx, nx) && same(f.dstart, f2.dstart, nh);
        for (int g = 0; g < ng; g++) ok &= same(f.dW[g], f2.dW[g], nW) && same(f.db[g], f2.db[g], nh);
        CHECK(ok, "%s differs at 2 threads (B=%d T=%d ni=%d nh=%d)", name, B, T, ni, nh);
        threads_set(1);
        cell_out_free(&f); cell_out_free(&f2); cell_out_free(&at); cell_out_free(&nodx);
        xfree(x); xfree(start); xfree(dhidden); xfree(hidden); xfree(dx); xfree(dstart);
        for (int g = 0; g < ng; g++) { xfree(W[g]); xfree(b[g]); xfree(dW[g]); xfree(db[g]); }
    }
}

static void test_rnn(void) { test_cell(0); }
static void test_gru(void) { test_cell(1); }

// Saturated gates: large pre-activations (sigmoid's exp overflowing, tanh at +-1) give
// finite results that agree with the double reference.
static void test_gru_saturated(void) {
    const int B = 4, T = 6, ni = 3, nh = 5;
    const size_t nx = (size_t)B * T * ni, nhid = (size_t)B * T * nh, nW = (size_t)(ni + nh) * nh;
    float *x = randv(nx, 30), *start = randv(nh, 1), *dhidden = randv(nhid, 1);
    float *W[3], *b[3];
    double *dW[3], *db[3];
    for (int g = 0; g < 3; g++) {
        W[g] = randv(nW, 10);
        b[g] = randv(nh, 10);
        dW[g] = dvec(nW);
        db[g] = dvec(nh);
    }
    double *hidden = dvec(nhid), *dx = dvec(nx), *dstart = dvec(nh);
    ref_cell(hidden, dx, dstart, dW, db, 1, x, (const float *const *)W, (const float *const *)b,
             start, dhidden, B, T, ni, nh);
    CellOut f = cell_out(1, B, T, ni, nh);
    threads_set(1);
    cell_run(&f, 1, 0, 1, x, W, b, start, dhidden, B, T, ni, nh);
    int ok = near(f.hidden, hidden, nhid, 1e-5) && near(f.dx, dx, nx, 1e-4) &&
             near(f.dstart, dstart, nh, 1e-4);
    for (int g = 0; g < 3; g++) ok &= near(f.dW[g], dW[g], nW, 1e-4) && near(f.db[g], db[g], nh, 1e-4);
    CHECK(ok, "saturated gru vs double");
    cell_out_free(&f);
    xfree(x); xfree(start); xfree(dhidden); xfree(hidden); xfree(dx); xfree(dstart);
    for (int g = 0; g < 3; g++) { xfree(W[g]); xfree(b[g]); xfree(dW[g]); xfree(db[g]); }
}

TEST_MAIN {
    TEST_SETUP();
    rng_seed(&rng, 20261206);
    RUN_TEST(test_bigram);
    RUN_TEST(test_context);
    RUN_TEST(test_bow_avg);
    RUN_TEST(test_bow_block);
    RUN_TEST(test_rnn);
    RUN_TEST(test_gru);
    RUN_TEST(test_gru_saturated);
    return check_summary();
}
