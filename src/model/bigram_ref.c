// bigram_ref.c: the float64 twin of makemore.py's Bigram (mm_ref.h): logits = W[X], the
// masked cross-entropy, and the gradient of W by hand (the gather's scatter-add).
#include "mm_ref.h"

#include <stdio.h>
#include <string.h>

#include "common.h"

int mm_ref_bigram_tensors(const MmConfig *c, MmTensorInfo *out, int max) {
    if (max > 0) {
        snprintf(out[0].name, MM_NAME_MAX, "logits");
        out[0].ndim = 2;
        out[0].shape[0] = out[0].shape[1] = c->V;
    }
    return 1;
}

double mm_ref_bigram_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y,
                          int B, double *const *G) {
    const int V = c->V, N = B * c->T;
    const double *W = P[0];
    double *logits = xcalloc((size_t)N * V, sizeof(double));
    double *dlogits = G ? xcalloc((size_t)N * V, sizeof(double)) : NULL;
    for (int n = 0; n < N; n++)  // logits = self.logits[idx]
        memcpy(logits + (size_t)n * V, W + (size_t)X[n] * V, (size_t)V * sizeof(double));
    double loss = mm_ref_ce(logits, Y, N, V, dlogits);
    if (G) {
        double *dW = G[0];
        memset(dW, 0, (size_t)V * V * sizeof(double));
        for (int n = 0; n < N; n++)
            for (int v = 0; v < V; v++) dW[(size_t)X[n] * V + v] += dlogits[(size_t)n * V + v];
    }
    xfree(logits);
    xfree(dlogits);
    return loss;
}
