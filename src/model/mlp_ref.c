// mlp_ref.c: the float64 twin of makemore.py's MLP (mm_ref.h): position t's context is the
// embeddings of X[t], X[t-1], ..., X[t-T+1] concatenated (the <BLANK> row V before the
// start), then Linear -> tanh -> Linear, the masked cross-entropy, and every gradient by
// hand. Weights in PyTorch's layout: an nn.Linear weight is [out, in].
#include "mm_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

int mm_ref_mlp_tensors(const MmConfig *c, MmTensorInfo *out, int max) {
    mm_ref_info(out, max, 0, "wte.weight", 2, c->V + 1, c->n_embd);
    mm_ref_info(out, max, 1, "mlp.0.weight", 2, c->n_embd2, c->T * c->n_embd);
    mm_ref_info(out, max, 2, "mlp.0.bias", 1, c->n_embd2, 0);
    mm_ref_info(out, max, 3, "mlp.2.weight", 2, c->V, c->n_embd2);
    mm_ref_info(out, max, 4, "mlp.2.bias", 1, c->V, 0);
    return 5;
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
    mm_ref_linear(h, emb, W1, b1, N, D, H);
    for (size_t i = 0; i < (size_t)N * H; i++) h[i] = tanh(h[i]);
    mm_ref_linear(logits, h, W2, b2, N, H, V);
    double *dlogits = G ? xcalloc((size_t)N * V, sizeof(double)) : NULL;
    double loss = mm_ref_ce(logits, Y, N, V, dlogits);
    if (G) {
        double *dh = xcalloc((size_t)N * H, sizeof(double));
        double *demb = xcalloc((size_t)N * D, sizeof(double));
        mm_ref_linear_back(dh, G[3], G[4], dlogits, h, W2, N, H, V);
        for (size_t i = 0; i < (size_t)N * H; i++) dh[i] *= 1 - h[i] * h[i];  // through tanh
        mm_ref_linear_back(demb, G[1], G[2], dh, emb, W1, N, D, H);
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
