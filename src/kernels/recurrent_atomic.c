// recurrent_atomic.c: the atomic forms of recurrent_kernels.h -- makemore.py's forward of
// the mlp context, the BoW block and the RNN / GRU cells as it runs them, and the backward
// written out by hand, one small function per line (dX = dloss/dX, X's shape). Every
// intermediate is materialised in the caller's work buffer; matrix products go through
// gemm() / linear_forward(); the rest are plain serial loops. The references of the fused
// kernels' tests and the bench's atomic side.
#include "recurrent_kernels.h"

#include <math.h>
#include <string.h>

#include "vecmath.h"  // the vector tanhf/expf the fused kernels call too

#include "blas.h"
#include "common.h"
#include "linear.h"

_Static_assert(sizeof(int) == sizeof(float), "int indices are kept in float-sized slots");

// ---- lines shared by every model ------------------------------------------------------

// out = a   (a slice, a copy or an unstack: the same loop)        out, a [n]
static void line_copy(float *out, const float *a, size_t n) { memcpy(out, a, n * sizeof(float)); }
// out += a                                                       out, a [n]
static void line_add(float *out, const float *a, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] += a[i];
}
// out = a + b                                                    out, a, b [n]
static void line_sum2(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}
// out = a * b                                                    out, a, b [n]
static void line_mul(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}
// out += a * b
static void line_add_mul(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] += a[i] * b[i];
}
// out = tanh(a)
static void line_tanh(float *out, const float *a, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = tanhf(a[i]);
}
// out = sigmoid(a)
static void line_sigmoid(float *out, const float *a, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) out[i] = 1.0f / (1.0f + expf(-a[i]));
}
// da = (1 - y**2) * dy       (y = tanh(a))
static void line_dtanh(float *da, const float *y, const float *dy, size_t n) {
    for (size_t i = 0; i < n; i++) da[i] = (1.0f - y[i] * y[i]) * dy[i];
}
// da = y * (1 - y) * dy      (y = sigmoid(a))
static void line_dsigmoid(float *da, const float *y, const float *dy, size_t n) {
    for (size_t i = 0; i < n; i++) da[i] = y[i] * (1.0f - y[i]) * dy[i];
}
// db (+)= dout.sum(0)                                            db [n], dout [rows,n]
static void line_bias_grad(float *db, const float *dout, int rows, int n, int accumulate) {
    if (!accumulate) memset(db, 0, (size_t)n * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) db[j] += dout[(size_t)r * n + j];
}
// out = cat([a, b], dim=1)                                 out [rows, na+nb], a [rows,na] ...
static void line_cat(float *out, const float *a, const float *b, int rows, int na, int nb) {
    for (int r = 0; r < rows; r++) {
        memcpy(out + (size_t)r * (na + nb), a + (size_t)r * na, (size_t)na * sizeof(float));
        memcpy(out + (size_t)r * (na + nb) + na, b + (size_t)r * nb, (size_t)nb * sizeof(float));
    }
}
// da = dout[:, :na]; db = dout[:, na:]   (the cat's backward: its two slices)
static void line_uncat(float *da, float *db, const float *dout, int rows, int na, int nb) {
    for (int r = 0; r < rows; r++) {
        memcpy(da + (size_t)r * na, dout + (size_t)r * (na + nb), (size_t)na * sizeof(float));
        memcpy(db + (size_t)r * nb, dout + (size_t)r * (na + nb) + na, (size_t)nb * sizeof(float));
    }
}
// out[:, t] = a  (a [B,n] into a [B,T,n] tensor: the stack, or its backward's slice reversed)
static void line_put_step(float *out, const float *a, int B, int T, int t, int n) {
    for (int b = 0; b < B; b++)
        memcpy(out + ((size_t)b * T + t) * n, a + (size_t)b * n, (size_t)n * sizeof(float));
}
// out = a[:, t]
static void line_take_step(float *out, const float *a, int B, int T, int t, int n) {
    for (int b = 0; b < B; b++)
        memcpy(out + (size_t)b * n, a + ((size_t)b * T + t) * n, (size_t)n * sizeof(float));
}

// ======================================================================================
// mlp context
// ======================================================================================

size_t context_atomic_floats(int B, int T, int E) {
    return (size_t)T * B * T + (size_t)T * B * T * E;
}

// idx = torch.roll(idx, 1, 1); idx[:, 0] = V                     idx [B,T]
static void line_roll_blank(int *out, const int *idx, int B, int T, int V) {
    for (int b = 0; b < B; b++) {
        for (int t = T - 1; t > 0; t--) out[b * T + t] = idx[b * T + t - 1];
        out[b * T] = V;
    }
}
// tok_emb = wte(idx)                                             tok_emb [B,T,E]
static void line_gather(float *tok, const float *wte, const int *idx, int n, int E) {
    for (int p = 0; p < n; p++) memcpy(tok + (size_t)p * E, wte + (size_t)idx[p] * E, (size_t)E * sizeof(float));
}
// dwte += scatter of dtok_emb by idx (wte(idx)'s backward)
static void line_scatter(float *dwte, const float *dtok, const int *idx, int n, int E) {
    for (int p = 0; p < n; p++)
        for (int e = 0; e < E; e++) dwte[(size_t)idx[p] * E + e] += dtok[(size_t)p * E + e];
}
// x = torch.cat(embs, -1): x[b,t, k*E + e] = embs[k][b,t,e]      x [B,T,T*E]
static void line_cat_embs(float *x, const float *embs, int n, int T, int E) {
    for (int k = 0; k < T; k++)
        for (int p = 0; p < n; p++)
            memcpy(x + ((size_t)p * T + k) * E, embs + ((size_t)k * n + p) * E, (size_t)E * sizeof(float));
}
// dembs[k] = dx[..., k*E:(k+1)*E]
static void line_uncat_embs(float *dembs, const float *dx, int n, int T, int E) {
    for (int k = 0; k < T; k++)
        for (int p = 0; p < n; p++)
            memcpy(dembs + ((size_t)k * n + p) * E, dx + ((size_t)p * T + k) * E, (size_t)E * sizeof(float));
}

// work: idx_k [T][B,T] (ints), then tok_emb_k [T][B,T,E]
void context_forward_atomic(float *emb_cat, float *work, const float *wte, const int *X, int B,
                            int T, int E, int V) {
    const int n = B * T;
    int *idx = (int *)work;
    float *embs = work + (size_t)T * n;
    memcpy(idx, X, (size_t)n * sizeof(int));  // idx = X
    for (int k = 0; k < T; k++) {
        line_gather(embs + (size_t)k * n * E, wte, idx + (size_t)k * n, n, E);
        if (k + 1 < T) line_roll_blank(idx + (size_t)(k + 1) * n, idx + (size_t)k * n, B, T, V);
    }
    line_cat_embs(emb_cat, embs, n, T, E);
}

void context_backward_atomic(float *dwte, float *work, const float *demb_cat, int B, int T,
                             int E, int V) {
    // the forward's rolled indices are in work
    const int n = B * T;
    const int *idx = (const int *)work;
    float *dembs = work + (size_t)T * n;  // the gathers' values are no longer needed
    line_uncat_embs(dembs, demb_cat, n, T, E);
    memset(dwte, 0, (size_t)(V + 1) * E * sizeof(float));
    for (int k = 0; k < T; k++) line_scatter(dwte, dembs + (size_t)k * n * E, idx + (size_t)k * n, n, E);
}

// ======================================================================================
// BoW block
// ======================================================================================

typedef struct {
    float *att, *y, *x1, *hpre, *h, *m;           // forward
    float *dm, *dh, *dhpre, *dx1, *dy;            // backward
} BowWork;

static BowWork bow_work(float *w, int B, int T, int C, int C2) {
    const size_t nC = (size_t)B * T * C, nC2 = (size_t)B * T * C2;
    BowWork a;
    a.att = w;
    a.y = a.att + (size_t)T * T;
    a.x1 = a.y + nC;
    a.hpre = a.x1 + nC;
    a.h = a.hpre + nC2;
    a.m = a.h + nC2;
    a.dm = a.m + nC;
    a.dh = a.dm + nC;
    a.dhpre = a.dh + nC2;
    a.dx1 = a.dhpre + nC2;
    a.dy = a.dx1 + nC;
    return a;
}

size_t bow_atomic_floats(int B, int T, int C, int C2) {
    return (size_t)T * T + (size_t)B * T * (7 * (size_t)C + 4 * (size_t)C2);
}

// att = torch.zeros((T, T)); att = att.masked_fill(bias[:T,:T] == 0, float('-inf'))
static void line_att_masked(float *att, int T) {
    for (int t = 0; t < T; t++)
        for (int s = 0; s < T; s++) att[t * T + s] = s <= t ? 0.0f : -INFINITY;
}
// att = F.softmax(att, dim=-1)   (in place)
static void line_softmax_rows(float *att, int T) {
    for (int t = 0; t < T; t++) {
        float *row = att + (size_t)t * T, mx = row[0], sum = 0.0f;
        for (int s = 1; s < T; s++) mx = row[s] > mx ? row[s] : mx;
        for (int s = 0; s < T; s++) sum += row[s] = expf(row[s] - mx);
        for (int s = 0; s < T; s++) row[s] /= sum;
    }
}
// y = att @ x   (att [T,T] against every row b of x [B,T,C])
static void line_att_matmul(float *y, const float *att, const float *x, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        gemm(0, 0, T, C, T, 1.0f, att, x + (size_t)b * T * C, 0.0f, y + (size_t)b * T * C);
}
// dx += att^T @ dy   (att is no parameter's function: no datt line)
static void line_att_matmul_backward(float *dx, const float *att, const float *dy, int B, int T,
                                     int C) {
    for (int b = 0; b < B; b++)
        gemm(1, 0, T, C, T, 1.0f, att, dy + (size_t)b * T * C, 1.0f, dx + (size_t)b * T * C);
}

void bow_block_forward_atomic(float *x2, float *work, const float *x0, const float *Wfc,
                              const float *bfc, const float *Wproj, const float *bproj, int B,
                              int T, int C, int C2) {
    BowWork a = bow_work(work, B, T, C, C2);
    const int N = B * T;
    const size_t nC = (size_t)N * C, nC2 = (size_t)N * C2;
    line_att_masked(a.att, T);
    line_softmax_rows(a.att, T);
    line_att_matmul(a.y, a.att, x0, B, T, C);              // y = self.cbow(x)
    line_sum2(a.x1, x0, a.y, nC);                          // x = x + self.cbow(x)
    linear_forward(a.hpre, a.x1, Wfc, bfc, N, C, C2);      // hpre = c_fc(x)
    line_tanh(a.h, a.hpre, nC2);                           // h = F.tanh(hpre)
    linear_forward(a.m, a.h, Wproj, bproj, N, C2, C);      // m = c_proj(h)
    line_sum2(x2, a.x1, a.m, nC);                          // x = x + m
}

void bow_block_backward_atomic(float *dx0, float *dWfc, float *dbfc, float *dWproj,
                               float *dbproj, float *work, const float *dx2, const float *Wfc,
                               const float *Wproj, int B, int T, int C, int C2) {
    BowWork a = bow_work(work, B, T, C, C2);
    const int N = B * T;
    const size_t nC = (size_t)N * C, nC2 = (size_t)N * C2;
    line_copy(a.dm, dx2, nC);                                // x2 = x1 + m: dm = dx2
    line_copy(a.dx1, dx2, nC);                               //              dx1 = dx2
    gemm(0, 1, N, C2, C, 1.0f, a.dm, Wproj, 0.0f, a.dh);     // dh = dm @ Wproj^T
    gemm(1, 0, C2, C, N, 1.0f, a.h, a.dm, 0.0f, dWproj);     // dWproj = h^T @ dm
    line_bias_grad(dbproj, a.dm, N, C, 0);                   // dbproj = dm.sum(0)
    line_dtanh(a.dhpre, a.h, a.dh, nC2);                     // dhpre = (1 - h**2) * dh
    gemm(1, 0, C, C2, N, 1.0f, a.x1, a.dhpre, 0.0f, dWfc);   // dWfc = x1^T @ dhpre
    line_bias_grad(dbfc, a.dhpre, N, C2, 0);                 // dbfc = dhpre.sum(0)
    gemm(0, 1, N, C, C2, 1.0f, a.dhpre, Wfc, 1.0f, a.dx1);   // dx1 += dhpre @ Wfc^T
    line_copy(a.dy, a.dx1, nC);                              // x1 = x0 + y: dy = dx1
    line_copy(dx0, a.dx1, nC);                               //              dx0 = dx1
    line_att_matmul_backward(dx0, a.att, a.dy, B, T, C);     // dx0 += att^T @ dy
}

// ======================================================================================
// RNN cell
// ======================================================================================

// Per step t, [T][B,...]: xt, xh, a, ht; hp0 (start.expand); backward temporaries.
typedef struct {
    float *hp0, *xt, *xh, *a, *ht;                       // forward
    float *dht, *da, *dxh, *dhprev, *dxt;                 // backward (one step's)
} RnnWork;

static RnnWork rnn_work(float *w, int B, int T, int n_in, int n_h) {
    const size_t Bh = (size_t)B * n_h, Bxh = (size_t)B * (n_in + n_h);
    RnnWork a;
    a.hp0 = w;
    a.xt = a.hp0 + Bh;
    a.xh = a.xt + (size_t)T * B * n_in;
    a.a = a.xh + T * Bxh;
    a.ht = a.a + T * Bh;
    a.dht = a.ht + T * Bh;
    a.da = a.dht + Bh;
    a.dxh = a.da + Bh;
    a.dhprev = a.dxh + Bxh;
    a.dxt = a.dhprev + Bh;
    return a;
}

size_t rnn_atomic_floats(int B, int T, int n_in, int n_h) {
    const size_t Bh = (size_t)B * n_h, Bxh = (size_t)B * (n_in + n_h);
    return Bh + (size_t)T * B * n_in + T * Bxh + 2 * T * Bh + 3 * Bh + Bxh + (size_t)B * n_in;
}

// hprev = start.expand((B, -1))
static void line_expand(float *out, const float *start, int B, int n) {
    for (int b = 0; b < B; b++) memcpy(out + (size_t)b * n, start, (size_t)n * sizeof(float));
}

void rnn_forward_atomic(float *hidden, float *work, const float *x, const float *W,
                        const float *b, const float *start, int B, int T, int n_in, int n_h) {
    RnnWork a = rnn_work(work, B, T, n_in, n_h);
    const size_t Bh = (size_t)B * n_h, Bxh = (size_t)B * (n_in + n_h), Bx = (size_t)B * n_in;
    line_expand(a.hp0, start, B, n_h);                                     // hprev = start.expand
    for (int t = 0; t < T; t++) {
        const float *hprev = t ? a.ht + (t - 1) * Bh : a.hp0;
        line_take_step(a.xt + t * Bx, x, B, T, t, n_in);                   // xt = emb[:, t, :]
        line_cat(a.xh + t * Bxh, a.xt + t * Bx, hprev, B, n_in, n_h);      // xh = cat([xt, hprev])
        linear_forward(a.a + t * Bh, a.xh + t * Bxh, W, b, B, n_in + n_h, n_h);  // a = xh_to_h(xh)
        line_tanh(a.ht + t * Bh, a.a + t * Bh, Bh);                        // ht = F.tanh(a)
        line_put_step(hidden, a.ht + t * Bh, B, T, t, n_h);                // hidden = stack(hiddens)
    }
}

void rnn_backward_atomic(float *dx, float *dW, float *db, float *dstart, float *work,
                         const float *dhidden, const float *W, int B, int T, int n_in, int n_h) {
    RnnWork a = rnn_work(work, B, T, n_in, n_h);
    const size_t Bh = (size_t)B * n_h, Bxh = (size_t)B * (n_in + n_h);
    for (int t = T - 1; t >= 0; t--) {
        const int first = t == T - 1;
        line_take_step(a.dht, dhidden, B, T, t, n_h);                      // dht = dhidden[:, t]
        if (!first) line_add(a.dht, a.dhprev, Bh);                         // dht += dhprev (hprev = ht)
        line_dtanh(a.da, a.ht + t * Bh, a.dht, Bh);                        // da = (1 - ht**2) * dht
        gemm(1, 0, n_in + n_h, n_h, B, 1.0f, a.xh + t * Bxh, a.da, first ? 0.0f : 1.0f, dW);  // dW += xh^T @ da
        line_bias_grad(db, a.da, B, n_h, !first);                          // db += da.sum(0)
        gemm(0, 1, B, n_in + n_h, n_h, 1.0f, a.da, W, 0.0f, a.dxh);        // dxh = da @ W^T
        // dxt = dxh[:, :n_in] (into dx[:, t]); dhprev = dxh[:, n_in:]
        line_uncat(a.dxt, a.dhprev, a.dxh, B, n_in, n_h);
        if (dx) line_put_step(dx, a.dxt, B, T, t, n_in);                   // xt = emb[:, t]
    }
    line_bias_grad(dstart, a.dhprev, B, n_h, 0);                           // dstart = dhprev.sum(0)
}

// ======================================================================================
// GRU cell
// ======================================================================================

typedef struct {
    float *hp0;                                             // start.expand
    float *xt, *xh, *ar, *r, *hpr, *xhr, *ahb, *hbar, *az, *z, *omz, *ht;  // [T][B,...]
    float *dht, *domz, *dhprev, *dz, *dhbar, *daz, *dahb, *dhpr, *dr, *dar;  // [B,n_h]
    float *dxh, *dxhr, *dxh_r, *dxt;                        // [B,n_in+n_h] x3, [B,n_in]
} GruWork;

static GruWork gru_work(float *w, int B, int T, int n_in, int n_h) {
    const size_t Bh = (size_t)B * n_h, Bxh = (size_t)B * (n_in + n_h), Bx = (size_t)B * n_in;
    GruWork a;
    float *p = w;
    a.hp0 = p; p += Bh;
    a.xt = p; p += T * Bx;
    a.xh = p; p += T * Bxh;
    a.xhr = p; p += T * Bxh;
    float **step[] = {&a.ar, &a.r, &a.hpr, &a.ahb, &a.hbar, &a.az, &a.z, &a.omz, &a.ht};
    for (size_t i = 0; i < sizeof step / sizeof step[0]; i++) { *step[i] = p; p += T * Bh; }
    float **one[] = {&a.dht, &a.domz, &a.dhprev, &a.dz, &a.dhbar, &a.daz, &a.dahb, &a.dhpr,
                     &a.dr, &a.dar};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) { *one[i] = p; p += Bh; }
    a.dxh = p; p += Bxh;
    a.dxhr = p; p += Bxh;
    a.dxh_r = p; p += Bxh;
    a.dxt = p;
    return a;
}

size_t gru_atomic_floats(int B, int T, int n_in, int n_h) {
    const size_t Bh = (size_t)B * n_h, Bxh = (size_t)B * (n_in + n_h), Bx = (size_t)B * n_in;
    return Bh + T * Bx + 2 * T * Bxh + 9 * T * Bh + 10 * Bh + 3 * Bxh + Bx;
}

// out = 1 - z
static void line_one_minus(float *out, const float *z, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = 1.0f - z[i];
}
// ht = omz * hprev + z * hbar
static void line_blend(float *ht, const float *omz, const float *hprev, const float *z,
                       const float *hbar, size_t n) {
    for (size_t i = 0; i < n; i++) ht[i] = omz[i] * hprev[i] + z[i] * hbar[i];
}
// out -= a
static void line_sub(float *out, const float *a, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] -= a[i];
}

void gru_forward_atomic(float *hidden, float *work, const float *x, const GruWeights *w,
                        const float *start, int B, int T, int n_in, int n_h) {
    GruWork a = gru_work(work, B, T, n_in, n_h);
    const size_t Bh = (size_t)B * n_h, Bxh = (size_t)B * (n_in + n_h), Bx = (size_t)B * n_in;
    const int K = n_in + n_h;
    line_expand(a.hp0, start, B, n_h);                                     // hprev = start.expand
    for (int t = 0; t < T; t++) {
        const float *hprev = t ? a.ht + (t - 1) * Bh : a.hp0;
        float *xt = a.xt + t * Bx, *xh = a.xh + t * Bxh, *xhr = a.xhr + t * Bxh;
        float *ar = a.ar + t * Bh, *r = a.r + t * Bh, *hpr = a.hpr + t * Bh;
        float *ahb = a.ahb + t * Bh, *hbar = a.hbar + t * Bh, *az = a.az + t * Bh;
        float *z = a.z + t * Bh, *omz = a.omz + t * Bh, *ht = a.ht + t * Bh;
        line_take_step(xt, x, B, T, t, n_in);                  // xt = emb[:, t, :]
        line_cat(xh, xt, hprev, B, n_in, n_h);                 // xh = cat([xt, hprev])
        linear_forward(ar, xh, w->Wr, w->br, B, K, n_h);       // ar = xh_to_r(xh)
        line_sigmoid(r, ar, Bh);                               // r = F.sigmoid(ar)
        line_mul(hpr, r, hprev, Bh);                           // hprev_reset = r * hprev
        line_cat(xhr, xt, hpr, B, n_in, n_h);                  // xhr = cat([xt, hprev_reset])
        linear_forward(ahb, xhr, w->Wh, w->bh, B, K, n_h);     // ahb = xh_to_hbar(xhr)
        line_tanh(hbar, ahb, Bh);                              // hbar = F.tanh(ahb)
        linear_forward(az, xh, w->Wz, w->bz, B, K, n_h);       // az = xh_to_z(xh)
        line_sigmoid(z, az, Bh);                               // z = F.sigmoid(az)
        line_one_minus(omz, z, Bh);                            // omz = 1 - z
        line_blend(ht, omz, hprev, z, hbar, Bh);               // ht = omz * hprev + z * hbar
        line_put_step(hidden, ht, B, T, t, n_h);               // hidden = stack(hiddens)
    }
}

void gru_backward_atomic(float *dx, const GruGrads *g, float *dstart, float *work,
                         const float *dhidden, const GruWeights *w, int B, int T, int n_in,
                         int n_h) {
    GruWork a = gru_work(work, B, T, n_in, n_h);
    const size_t Bh = (size_t)B * n_h, Bxh = (size_t)B * (n_in + n_h), Bx = (size_t)B * n_in;
    const int K = n_in + n_h;
    for (int t = T - 1; t >= 0; t--) {
        const int first = t == T - 1;
        const float beta = first ? 0.0f : 1.0f;
        const float *hprev = t ? a.ht + (t - 1) * Bh : a.hp0;
        const float *xh = a.xh + t * Bxh, *xhr = a.xhr + t * Bxh, *r = a.r + t * Bh;
        const float *hbar = a.hbar + t * Bh, *z = a.z + t * Bh, *omz = a.omz + t * Bh;
        line_take_step(a.dht, dhidden, B, T, t, n_h);          // dht = dhidden[:, t]
        if (!first) line_add(a.dht, a.dhprev, Bh);             // dht += dhprev (hprev = ht)
        // ht = omz * hprev + z * hbar
        line_mul(a.domz, a.dht, hprev, Bh);                    // domz = dht * hprev
        line_mul(a.dhprev, a.dht, omz, Bh);                    // dhprev = dht * omz
        line_mul(a.dz, a.dht, hbar, Bh);                       // dz = dht * hbar
        line_mul(a.dhbar, a.dht, z, Bh);                       // dhbar = dht * z
        line_sub(a.dz, a.domz, Bh);                            // omz = 1 - z: dz -= domz
        line_dsigmoid(a.daz, z, a.dz, Bh);                     // daz = z * (1 - z) * dz
        gemm(1, 0, K, n_h, B, 1.0f, xh, a.daz, beta, g->dWz);  // dWz += xh^T @ daz
        line_bias_grad(g->dbz, a.daz, B, n_h, !first);         // dbz += daz.sum(0)
        gemm(0, 1, B, K, n_h, 1.0f, a.daz, w->Wz, 0.0f, a.dxh);  // dxh = daz @ Wz^T
        line_dtanh(a.dahb, hbar, a.dhbar, Bh);                 // dahb = (1 - hbar**2) * dhbar
        gemm(1, 0, K, n_h, B, 1.0f, xhr, a.dahb, beta, g->dWh);  // dWh += xhr^T @ dahb
        line_bias_grad(g->dbh, a.dahb, B, n_h, !first);        // dbh += dahb.sum(0)
        gemm(0, 1, B, K, n_h, 1.0f, a.dahb, w->Wh, 0.0f, a.dxhr);  // dxhr = dahb @ Wh^T
        line_uncat(a.dxt, a.dhpr, a.dxhr, B, n_in, n_h);       // dxt = dxhr[:, :n_in]; dhpr = dxhr[:, n_in:]
        line_mul(a.dr, a.dhpr, hprev, Bh);                     // dr = dhpr * hprev
        line_add_mul(a.dhprev, a.dhpr, r, Bh);                 // dhprev += dhpr * r
        line_dsigmoid(a.dar, r, a.dr, Bh);                     // dar = r * (1 - r) * dr
        gemm(1, 0, K, n_h, B, 1.0f, xh, a.dar, beta, g->dWr);  // dWr += xh^T @ dar
        line_bias_grad(g->dbr, a.dar, B, n_h, !first);         // dbr += dar.sum(0)
        gemm(0, 1, B, K, n_h, 1.0f, a.dar, w->Wr, 1.0f, a.dxh);  // dxh += dar @ Wr^T
        line_uncat(a.dxh_r, a.dxh_r + Bx, a.dxh, B, n_in, n_h);  // dxh's slices: x part, h part
        line_add(a.dxt, a.dxh_r, Bx);                          // dxt += dxh[:, :n_in]
        line_add(a.dhprev, a.dxh_r + Bx, Bh);                  // dhprev += dxh[:, n_in:]
        if (dx) line_put_step(dx, a.dxt, B, T, t, n_in);       // xt = emb[:, t]: dx[:, t] = dxt
    }
    line_bias_grad(dstart, a.dhprev, B, n_h, 0);               // dstart = dhprev.sum(0)
}
