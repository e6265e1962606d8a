// rnn_ref.c: the float64 twin of makemore.py's RNN with either cell (mm_ref.h): MM_RNN's
// RNNCell h_t = tanh(xh_to_h([x_t, h_{t-1}])) or MM_GRU's GRUCell
//   r = sigmoid(xh_to_r(xh)), hbar = tanh(xh_to_hbar([x_t, r * h_{t-1}])),
//   z = sigmoid(xh_to_z(xh)), h_t = (1 - z) h_{t-1} + z hbar,     xh = [x_t, h_{t-1}],
// from h_{-1} = start, x_t = wte[X[:, t]]; logits = lm_head(h_t) at every t; the masked
// cross-entropy, and backpropagation through time by hand. Weights in PyTorch's layout
// ([out, in]: a cell weight is [n_embd2, n_embd + n_embd2]).
#include "mm_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

int mm_ref_rnn_tensors(const MmConfig *c, MmTensorInfo *out, int max) {
    const int V = c->V, E = c->n_embd, H = c->n_embd2;
    int i = 0;
    mm_ref_info(out, max, i++, "start", 2, 1, H);
    mm_ref_info(out, max, i++, "wte.weight", 2, V, E);
    if (c->type == MM_GRU) {
        static const char *const cell[3] = {"z", "r", "hbar"};
        for (int g = 0; g < 3; g++) {
            char name[MM_NAME_MAX];
            snprintf(name, sizeof name, "cell.xh_to_%s.weight", cell[g]);
            mm_ref_info(out, max, i++, name, 2, H, E + H);
            snprintf(name, sizeof name, "cell.xh_to_%s.bias", cell[g]);
            mm_ref_info(out, max, i++, name, 1, H, 0);
        }
    } else {
        mm_ref_info(out, max, i++, "cell.xh_to_h.weight", 2, H, E + H);
        mm_ref_info(out, max, i++, "cell.xh_to_h.bias", 1, H, 0);
    }
    mm_ref_info(out, max, i++, "lm_head.weight", 2, V, H);
    mm_ref_info(out, max, i++, "lm_head.bias", 1, V, 0);
    return i;
}

// out[o] = b[o] + sum_i W[o,i] in[i]                            W [n_out, n_in]
static void affine(double *out, const double *W, const double *b, const double *in, int n_in,
                   int n_out) {
    for (int o = 0; o < n_out; o++) {
        double s = b[o];
        for (int i = 0; i < n_in; i++) s += W[(size_t)o * n_in + i] * in[i];
        out[o] = s;
    }
}

// The adjoint of affine, accumulated: dW += da in^T, db += da, din += W^T da
static void affine_back(double *din, double *dW, double *db, const double *da, const double *in,
                        const double *W, int n_in, int n_out) {
    for (int o = 0; o < n_out; o++) {
        db[o] += da[o];
        for (int i = 0; i < n_in; i++) {
            dW[(size_t)o * n_in + i] += da[o] * in[i];
            din[i] += W[(size_t)o * n_in + i] * da[o];
        }
    }
}

static double sigmoid(double a) { return 1 / (1 + exp(-a)); }

double mm_ref_rnn_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y,
                       int B, double *const *G) {
    const int V = c->V, T = c->T, E = c->n_embd, H = c->n_embd2, K = E + H, N = B * T;
    const int gru = c->type == MM_GRU;
    const double *start = P[0], *wte = P[1];
    const double *Wz = NULL, *bz = NULL, *Wr = NULL, *br = NULL, *Wh, *bh;
    if (gru) {
        Wz = P[2], bz = P[3], Wr = P[4], br = P[5], Wh = P[6], bh = P[7];
    } else {
        Wh = P[2], bh = P[3];
    }
    const double *Wlm = P[gru ? 8 : 4], *blm = P[gru ? 9 : 5];
    // per (b,t): xh = [x_t, h_{t-1}], xhr = [x_t, r h_{t-1}] (gru), r, z, hbar (gru), h_t
    const size_t NK = (size_t)N * K, NH = (size_t)N * H;
    double *xh = xcalloc(NK, sizeof(double)), *xhr = xcalloc(NK, sizeof(double));
    double *r = xcalloc(NH, sizeof(double)), *z = xcalloc(NH, sizeof(double));
    double *hbar = xcalloc(NH, sizeof(double)), *h = xcalloc(NH, sizeof(double));
    double *logits = xcalloc((size_t)N * V, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t n = (size_t)b * T + t;
            const double *hp = t ? h + (n - 1) * H : start;
            double *xhn = xh + n * K, *hn = h + n * H;
            memcpy(xhn, wte + (size_t)X[n] * E, (size_t)E * sizeof(double));
            memcpy(xhn + E, hp, (size_t)H * sizeof(double));
            if (!gru) {
                affine(hn, Wh, bh, xhn, K, H);
                for (int j = 0; j < H; j++) hn[j] = tanh(hn[j]);
                continue;
            }
            double *rn = r + n * H, *zn = z + n * H, *hbn = hbar + n * H, *xhrn = xhr + n * K;
            affine(rn, Wr, br, xhn, K, H);
            for (int j = 0; j < H; j++) rn[j] = sigmoid(rn[j]);
            memcpy(xhrn, xhn, (size_t)E * sizeof(double));
            for (int j = 0; j < H; j++) xhrn[E + j] = rn[j] * hp[j];
            affine(hbn, Wh, bh, xhrn, K, H);
            for (int j = 0; j < H; j++) hbn[j] = tanh(hbn[j]);
            affine(zn, Wz, bz, xhn, K, H);
            for (int j = 0; j < H; j++) {
                zn[j] = sigmoid(zn[j]);
                hn[j] = (1 - zn[j]) * hp[j] + zn[j] * hbn[j];
            }
        }
    for (int n = 0; n < N; n++) affine(logits + (size_t)n * V, Wlm, blm, h + (size_t)n * H, H, V);
    double *dlogits = G ? xcalloc((size_t)N * V, sizeof(double)) : NULL;
    double loss = mm_ref_ce(logits, Y, N, V, dlogits);
    if (G) {
        MmTensorInfo ti[10];
        int nt = mm_ref_rnn_tensors(c, ti, 10);
        for (int i = 0; i < nt; i++)
            memset(G[i], 0, (size_t)ti[i].shape[0] * (ti[i].ndim == 2 ? ti[i].shape[1] : 1) *
                                 sizeof(double));
        double *dWz = gru ? G[2] : NULL, *dbz = gru ? G[3] : NULL;
        double *dWr = gru ? G[4] : NULL, *dbr = gru ? G[5] : NULL;
        double *dWh = G[gru ? 6 : 2], *dbh = G[gru ? 7 : 3];
        double *dWlm = G[gru ? 8 : 4], *dblm = G[gru ? 9 : 5];
        double *dh = xcalloc(NH, sizeof(double));  // dloss/dh_t from lm_head, then + the carry
        double *dxh = xcalloc(K, sizeof(double)), *dxhr = xcalloc(K, sizeof(double));
        double *da = xcalloc(H, sizeof(double)), *dar = xcalloc(H, sizeof(double));
        double *daz = xcalloc(H, sizeof(double)), *carry = xcalloc(H, sizeof(double));
        for (int n = 0; n < N; n++)
            affine_back(dh + (size_t)n * H, dWlm, dblm, dlogits + (size_t)n * V, h + (size_t)n * H,
                        Wlm, H, V);
        for (int b = 0; b < B; b++) {
            memset(carry, 0, (size_t)H * sizeof(double));  // dloss/dh_t through step t+1
            for (int t = T - 1; t >= 0; t--) {
                const size_t n = (size_t)b * T + t;
                const double *hp = xh + n * K + E;  // h_{t-1}
                double *dhn = dh + n * H;
                for (int j = 0; j < H; j++) dhn[j] += carry[j];
                memset(dxh, 0, (size_t)K * sizeof(double));
                if (!gru) {
                    for (int j = 0; j < H; j++) {
                        double hv = h[n * H + j];
                        da[j] = dhn[j] * (1 - hv * hv);
                    }
                    affine_back(dxh, dWh, dbh, da, xh + n * K, Wh, K, H);
                    for (int j = 0; j < H; j++) carry[j] = dxh[E + j];
                } else {
                    const double *rn = r + n * H, *zn = z + n * H, *hbn = hbar + n * H;
                    memset(dxhr, 0, (size_t)K * sizeof(double));
                    for (int j = 0; j < H; j++) {
                        double dz = dhn[j] * (hbn[j] - hp[j]);
                        daz[j] = dz * zn[j] * (1 - zn[j]);
                        da[j] = dhn[j] * zn[j] * (1 - hbn[j] * hbn[j]);  // hbar's pre-activation
                        carry[j] = dhn[j] * (1 - zn[j]);
                    }
                    affine_back(dxhr, dWh, dbh, da, xhr + n * K, Wh, K, H);
                    for (int j = 0; j < H; j++) {
                        double drh = dxhr[E + j];  // d(r * h_{t-1})
                        dar[j] = drh * hp[j] * rn[j] * (1 - rn[j]);
                        carry[j] += drh * rn[j];
                    }
                    affine_back(dxh, dWz, dbz, daz, xh + n * K, Wz, K, H);
                    affine_back(dxh, dWr, dbr, dar, xh + n * K, Wr, K, H);
                    for (int e = 0; e < E; e++) dxh[e] += dxhr[e];
                    for (int j = 0; j < H; j++) carry[j] += dxh[E + j];
                }
                for (int e = 0; e < E; e++) G[1][(size_t)X[n] * E + e] += dxh[e];
            }
            for (int j = 0; j < H; j++) G[0][j] += carry[j];  // start.expand's adjoint
        }
        xfree(dh);
        xfree(dxh);
        xfree(dxhr);
        xfree(da);
        xfree(dar);
        xfree(daz);
        xfree(carry);
        xfree(dlogits);
    }
    xfree(xh);
    xfree(xhr);
    xfree(r);
    xfree(z);
    xfree(hbar);
    xfree(h);
    xfree(logits);
    return loss;
}
