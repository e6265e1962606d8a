// mlp_ref.c: the float64 twin of makemore.py's MLP (mm_ref.h): position t's context is the
// embeddings of X[t], X[t-1], ..., X[t-T+1] concatenated (the <BLANK> row V before the
// start), then Linear -> tanh -> Linear, the masked cross-entropy, and every gradient by
// hand. Weights in PyTorch's layout: an nn.Linear weight is [out, in].
#include "mm_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static void info(MmTensorInfo *out, int max, int i, const char *name, int ndim, int s0, int s1) {
    if (i >= max) return;
    snprintf(out[i].name, MM_NAME_MAX, "%s", name);
    out[i].ndim = ndim;
    out[i].shape[0] = s0;
    out[i].shape[1] = ndim == 2 ? s1 : 0;
}

int mm_ref_mlp_tensors(const MmConfig *c, MmTensorInfo *out, int max) {
    info(out, max, 0, "wte.weight", 2, c->V + 1, c->n_embd);
    info(out, max, 1, "mlp.0.weight", 2, c->n_embd2, c->T * c->n_embd);
    info(out, max, 2, "mlp.0.bias", 1, c->n_embd2, 0);
    info(out, max, 3, "mlp.2.weight", 2, c->V, c->n_embd2);
    info(out, max, 4, "mlp.2.bias", 1, c->V, 0);
    return 5;
}

// out[n,o] = b[o] + sum_i W[o,i] in[n,i]                        W [n_out, n_in]
static void linear(double *out, const double *in, const double *W, const double *b, int N,
                   int n_in, int n_out) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < n_out; o++) {
            double s = b[o];
            for (int i = 0; i < n_in; i++) s += W[(size_t)o * n_in + i] * in[(size_t)n * n_in + i];
            out[(size_t)n * n_out + o] = s;
        }
}

// dW = dout^T in, db = sum_n dout, din = dout W (din may be NULL); all overwritten
static void linear_back(double *din, double *dW, double *db, const double *dout, const double *in,
                        const double *W, int N, int n_in, int n_out) {
    for (int o = 0; o < n_out; o++) {
        double sb = 0;
        for (int n = 0; n < N; n++) sb += dout[(size_t)n * n_out + o];
        db[o] = sb;
        for (int i = 0; i < n_in; i++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * n_out + o] * in[(size_t)n * n_in + i];
            dW[(size_t)o * n_in + i] = s;
        }
    }
    for (int n = 0; din && n < N; n++)
        for (int i = 0; i < n_in; i++) {
            double s = 0;
            for (int o = 0; o < n_out; o++) s += dout[(size_t)n * n_out + o] * W[(size_t)o * n_in + i];
            din[(size_t)n * n_in + i] = s;
        }
}

double mm_ref_mlp_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y,
                       int B, double *const *G) {
    const int V = c->V, T = c->T, E = c->n_embd, H = c->n_embd2, N = B * T, D = T * E;
    const double *wte = P[0], *W1 = P[1], *b1 = P[2], *W2 = P[3], *b2 = P[4];
    double *emb = xcalloc((size_t)N * D, sizeof(double));
    double *h = xcalloc((size_t)N * H, sizeof(double));
    double *logits = xcalloc((size_t)N * V, sizeof(double));
    // emb[b,t, k*E + e] = wte[X[b,t-k] or <BLANK>, e]
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int k = 0; k < T; k++) {
                int src = t >= k ? X[b * T + t - k] : V;
                for (int e = 0; e < E; e++)
                    emb[((size_t)b * T + t) * D + (size_t)k * E + e] = wte[(size_t)src * E + e];
            }
    linear(h, emb, W1, b1, N, D, H);
    for (size_t i = 0; i < (size_t)N * H; i++) h[i] = tanh(h[i]);
    linear(logits, h, W2, b2, N, H, V);
    double *dlogits = G ? xcalloc((size_t)N * V, sizeof(double)) : NULL;
    double loss = mm_ref_ce(logits, Y, N, V, dlogits);
    if (G) {
        double *dh = xcalloc((size_t)N * H, sizeof(double));
        double *demb = xcalloc((size_t)N * D, sizeof(double));
        linear_back(dh, G[3], G[4], dlogits, h, W2, N, H, V);
        for (size_t i = 0; i < (size_t)N * H; i++) dh[i] *= 1 - h[i] * h[i];  // through tanh
        linear_back(demb, G[1], G[2], dh, emb, W1, N, D, H);
        memset(G[0], 0, (size_t)(V + 1) * E * sizeof(double));
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int k = 0; k < T; k++) {
                    int src = t >= k ? X[b * T + t - k] : V;
                    for (int e = 0; e < E; e++)
                        G[0][(size_t)src * E + e] +=
                            demb[((size_t)b * T + t) * D + (size_t)k * E + e];
                }
        xfree(dh);
        xfree(demb);
        xfree(dlogits);
    }
    xfree(emb);
    xfree(h);
    xfree(logits);
    return loss;
}
