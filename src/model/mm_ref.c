// mm_ref.c: the dispatch of the float64 twins (mm_ref.h) and their shared loss.
#include "mm_ref.h"

#include <math.h>
#include <stddef.h>

int mm_tensors(const MmConfig *c, MmTensorInfo *out, int max) {
    switch (c->type) {
    case MM_BIGRAM: return mm_ref_bigram_tensors(c, out, max);
    case MM_MLP: return mm_ref_mlp_tensors(c, out, max);
    case MM_BOW: return mm_ref_bow_tensors(c, out, max);
    case MM_RNN:
    case MM_GRU: return mm_ref_rnn_tensors(c, out, max);
    case MM_TRANSFORMER: return mm_ref_transformer_tensors(c, out, max);
    default: return 0;
    }
}

double mm_ref_loss(const MmConfig *c, const double *const *P, const int *X, const int *Y, int B,
                   double *const *G) {
    switch (c->type) {
    case MM_BIGRAM: return mm_ref_bigram_loss(c, P, X, Y, B, G);
    case MM_MLP: return mm_ref_mlp_loss(c, P, X, Y, B, G);
    case MM_BOW: return mm_ref_bow_loss(c, P, X, Y, B, G);
    case MM_RNN:
    case MM_GRU: return mm_ref_rnn_loss(c, P, X, Y, B, G);
    case MM_TRANSFORMER: return mm_ref_transformer_loss(c, P, X, Y, B, G);
    default: return NAN;
    }
}

// loss = -1/n sum_{rows with Y >= 0} log softmax(logits)[Y]; dlogits = (softmax - onehot)/n
double mm_ref_ce(const double *logits, const int *Y, int N, int V, double *dlogits) {
    int n = 0;
    for (int i = 0; i < N; i++) n += Y[i] >= 0;
    double loss = 0.0;
    for (int i = 0; i < N; i++) {
        const double *l = logits + (size_t)i * V;
        double *d = dlogits ? dlogits + (size_t)i * V : NULL;
        if (Y[i] < 0) {
            for (int v = 0; d && v < V; v++) d[v] = 0.0;
            continue;
        }
        double mx = l[0];
        for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp(l[v] - mx);
        loss -= l[Y[i]] - mx - log(sum);
        for (int v = 0; d && v < V; v++) d[v] = (exp(l[v] - mx) / sum - (v == Y[i])) / n;
    }
    return n ? loss / n : NAN;
}
