// mm_ref.c: the dispatch of the float64 twins (mm_ref.h) and their shared loss.
#include "mm_ref.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>

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

void mm_ref_info(MmTensorInfo *out, int max, int i, const char *name, int ndim, int s0, int s1) {
    if (i >= max) return;
    snprintf(out[i].name, MM_NAME_MAX, "%s", name);
    out[i].ndim = ndim;
    out[i].shape[0] = s0;
    out[i].shape[1] = ndim == 2 ? s1 : 0;
}

// out[n,o] = b[o] + sum_i W[o,i] in[n,i]                        W [n_out, n_in]
void mm_ref_linear(double *out, const double *in, const double *W, const double *b, int N,
                   int n_in, int n_out) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < n_out; o++) {
            double s = b[o];
            for (int i = 0; i < n_in; i++) s += W[(size_t)o * n_in + i] * in[(size_t)n * n_in + i];
            out[(size_t)n * n_out + o] = s;
        }
}

// dW = dout^T in, db = sum_n dout (overwritten); din += dout W (accumulated; may be NULL)
void mm_ref_linear_back(double *din, double *dW, double *db, const double *dout, const double *in,
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
            din[(size_t)n * n_in + i] += s;
        }
}
