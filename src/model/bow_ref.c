// bow_ref.c: the float64 twin of makemore.py's BoW (mm_ref.h): x = wte[X] + wpe[t]; the
// causal average y_t = sum_{s<=t} x_s / (t+1) (att @ x, att the softmax of masked zeros:
// att[t,s] = 1/(t+1) for s <= t, else 0); x = x + y; x = x + c_proj(tanh(c_fc(x)));
// logits = lm_head(x); the masked cross-entropy, and every gradient by hand. Weights in
// PyTorch's layout ([out, in]).
#include "mm_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

int mm_ref_bow_tensors(const MmConfig *c, MmTensorInfo *out, int max) {
    const int V = c->V, T = c->T, C = c->n_embd, C2 = c->n_embd2;
    mm_ref_info(out, max, 0, "wte.weight", 2, V, C);
    mm_ref_info(out, max, 1, "wpe.weight", 2, T, C);
    mm_ref_info(out, max, 2, "context_block.mlp.c_fc.weight", 2, C2, C);
    mm_ref_info(out, max, 3, "context_block.mlp.c_fc.bias", 1, C2, 0);
    mm_ref_info(out, max, 4, "context_block.mlp.c_proj.weight", 2, C, C2);
    mm_ref_info(out, max, 5, "context_block.mlp.c_proj.bias", 1, C, 0);
    mm_ref_info(out, max, 6, "lm_head.weight", 2, V, C);
    mm_ref_info(out, max, 7, "lm_head.bias", 1, V, 0);
    return 8;
}

double mm_ref_bow_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y,
                       int B, double *const *G) {
    const int V = c->V, T = c->T, C = c->n_embd, C2 = c->n_embd2, N = B * T;
    const double *wte = P[0], *wpe = P[1], *Wfc = P[2], *bfc = P[3], *Wp = P[4], *bp = P[5];
    const double *Wlm = P[6], *blm = P[7];
    const size_t nC = (size_t)N * C, nC2 = (size_t)N * C2;
    double *x0 = xcalloc(nC, sizeof(double)), *x1 = xcalloc(nC, sizeof(double));
    double *h = xcalloc(nC2, sizeof(double)), *x2 = xcalloc(nC, sizeof(double));
    double *logits = xcalloc((size_t)N * V, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int e = 0; e < C; e++)
                x0[((size_t)b * T + t) * C + e] =
                    wte[(size_t)X[b * T + t] * C + e] + wpe[(size_t)t * C + e];
    for (int b = 0; b < B; b++)  // x1 = x0 + att @ x0
        for (int t = 0; t < T; t++)
            for (int e = 0; e < C; e++) {
                double y = 0;
                for (int s = 0; s <= t; s++) y += x0[((size_t)b * T + s) * C + e] / (t + 1);
                x1[((size_t)b * T + t) * C + e] = x0[((size_t)b * T + t) * C + e] + y;
            }
    mm_ref_linear(h, x1, Wfc, bfc, N, C, C2);
    for (size_t i = 0; i < nC2; i++) h[i] = tanh(h[i]);
    mm_ref_linear(x2, h, Wp, bp, N, C2, C);
    for (size_t i = 0; i < nC; i++) x2[i] += x1[i];
    mm_ref_linear(logits, x2, Wlm, blm, N, C, V);
    double *dlogits = G ? xcalloc((size_t)N * V, sizeof(double)) : NULL;
    double loss = mm_ref_ce(logits, Y, N, V, dlogits);
    if (G) {
        double *dx2 = xcalloc(nC, sizeof(double)), *dh = xcalloc(nC2, sizeof(double));
        double *dx1 = xcalloc(nC, sizeof(double)), *dx0 = xcalloc(nC, sizeof(double));
        mm_ref_linear_back(dx2, G[6], G[7], dlogits, x2, Wlm, N, C, V);
        memcpy(dx1, dx2, nC * sizeof(double));                   // the residual
        mm_ref_linear_back(dh, G[4], G[5], dx2, h, Wp, N, C2, C);
        for (size_t i = 0; i < nC2; i++) dh[i] *= 1 - h[i] * h[i];  // through tanh
        mm_ref_linear_back(dx1, G[2], G[3], dh, x1, Wfc, N, C, C2);
        for (int b = 0; b < B; b++)  // dx0 = dx1 + att^T @ dx1
            for (int s = 0; s < T; s++)
                for (int e = 0; e < C; e++) {
                    double g = dx1[((size_t)b * T + s) * C + e];
                    for (int t = s; t < T; t++) g += dx1[((size_t)b * T + t) * C + e] / (t + 1);
                    dx0[((size_t)b * T + s) * C + e] = g;
                }
        memset(G[0], 0, (size_t)V * C * sizeof(double));
        memset(G[1], 0, (size_t)T * C * sizeof(double));
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int e = 0; e < C; e++) {
                    double g = dx0[((size_t)b * T + t) * C + e];
                    G[0][(size_t)X[b * T + t] * C + e] += g;
                    G[1][(size_t)t * C + e] += g;
                }
        xfree(dx2);
        xfree(dh);
        xfree(dx1);
        xfree(dx0);
        xfree(dlogits);
    }
    xfree(x0);
    xfree(x1);
    xfree(h);
    xfree(x2);
    xfree(logits);
    return loss;
}
