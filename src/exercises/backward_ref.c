// backward_ref.c: the float64 reference -- the same graph (backward_graph.inc)
// instantiated over double, with naive matmuls (no BLAS), so that only the precision
// differs from backward_atomic.c. See backward_ref.h.
#include "backward_ref.h"

#include <string.h>
#include <tgmath.h>

#include "common.h"

#define real double
#define ACTS RefActs
#define PARAMS RefParams
#define GRAPH(name) ref_##name
#define GRAPH_THREADS 0  // the reference runs thousands of small passes (finite differences):
                         // forking for each would cost more than it saves

// out[M,N] = op(A)[M,K] @ op(Bm)[K,N]. Every entry is summed over k in order (so the loop
// order below, picked for contiguous access, does not change a bit of the result).
static void matmul(double *out, int transA, const double *A, int transB, const double *Bm,
                   int M, int N, int K) {
    for (int m = 0; m < M; m++) {
        double *o = out + (size_t)m * N;
        if (!transB) {  // rows of Bm: o += a[m,k] * Bm[k,:], k ascending
            for (int j = 0; j < N; j++) o[j] = 0;
            for (int k = 0; k < K; k++) {
                double x = transA ? A[(size_t)k * M + m] : A[(size_t)m * K + k];
                const double *row = Bm + (size_t)k * N;
                for (int j = 0; j < N; j++) o[j] += x * row[j];
            }
        } else {  // Bm^T: o[j] = dot(op(A)[m,:], Bm[j,:])
            for (int j = 0; j < N; j++) {
                const double *row = Bm + (size_t)j * K;
                double s = 0;
                for (int k = 0; k < K; k++)
                    s += (transA ? A[(size_t)k * M + m] : A[(size_t)m * K + k]) * row[k];
                o[j] = s;
            }
        }
    }
}

// out[n,n_out] = in[n,n_in] @ W[n_in,n_out] + b[n_out]
static void matmul_bias(double *out, const double *in, const double *W, const double *b, int n,
                        int n_in, int n_out) {
    matmul(out, 0, in, 0, W, n, n_out, n_in);
    for (int i = 0; i < n; i++)
        for (int o = 0; o < n_out; o++) out[(size_t)i * n_out + o] += b[o];
}

#include "backward_graph.inc"

void ref_widen(RefActs *r, const AtomicActs *a, const RefParams *p) {
    RefActs layout = *r;
    size_t total = graph_place(&layout, NULL);  // the same layout as a's: same code, same sizes
    for (size_t i = 0; i < total; i++) r->mem[i] = (double)a->mem[i];
    r->loss = a->loss;
    r->C = p->C; r->W1 = p->W1; r->b1 = p->b1; r->W2 = p->W2; r->b2 = p->b2;
    r->bngain = p->bngain; r->bnbias = p->bnbias;
    r->Xb = a->Xb; r->Yb = a->Yb;
}

void ref_abs(RefActs *r, RefParams *p, const Config *cfg) {
    RefActs layout = *r;
    size_t total = graph_place(&layout, NULL);
    const size_t lo = (size_t)(r->logits - r->mem), hi = lo + (size_t)r->B * cfg->V;
    for (size_t i = 0; i < total; i++)
        if (i < lo || i >= hi) r->mem[i] = fabs(r->mem[i]);  // logits keep their signs
    r->loss = fabs(r->loss);
    for (size_t i = 0; i < params_total(cfg); i++) p->mem[i] = fabs(p->mem[i]);
}

// Gradient k's X (grad_info's order) and the forward line that computes it (S_NONE for
// the parameters: the whole forward depends on them).
static const int stage_of[NUM_GRADS] = {
    S_LOGPROBS, S_PROBS,   S_COUNTS_SUM_INV, S_COUNTS_SUM, S_COUNTS, S_NORM_LOGITS,
    S_LOGIT_MAXES, S_LOGITS, S_H,            S_NONE /* W2 */, S_NONE /* b2 */, S_HPREACT,
    S_NONE /* bngain */, S_NONE /* bnbias */, S_BNRAW, S_BNVAR_INV, S_BNVAR, S_BNDIFF2,
    S_BNDIFF, S_BNMEANI, S_HPREBN, S_EMBCAT, S_NONE /* W1 */, S_NONE /* b1 */, S_EMB,
    S_NONE /* C */,
};

double *ref_value(RefActs *r, RefParams *p, int k) {
    (void)p;  // r's parameter pointers point into p
    double *x[NUM_GRADS];
    ref_values(x, r);
    return x[k];
}

double ref_forward_after(RefActs *r, int k) { return forward_after(r, stage_of[k]); }

void ref_params_from(RefParams *rp, const Params *p, const Config *cfg) {
    size_t numel[NUM_PARAMS];  // the layout of the table (model.h), in double
    for (int k = 0; k < NUM_PARAMS; k++) numel[k] = param_numel(cfg, k);
    const float *src[7] = {p->C, p->W1, p->b1, p->W2, p->b2, p->bngain, p->bnbias};
    double **dst[7] = {&rp->C, &rp->W1, &rp->b1, &rp->W2, &rp->b2, &rp->bngain, &rp->bnbias};
    size_t total = 0;
    for (int k = 0; k < 7; k++) total += numel[k];
    rp->mem = xcalloc(total, sizeof(double));
    size_t off = 0;
    for (int k = 0; k < 7; k++) {
        *dst[k] = rp->mem + off;
        for (size_t i = 0; i < numel[k]; i++) (*dst[k])[i] = (double)src[k][i];
        off += numel[k];
    }
}

void ref_params_free(RefParams *rp) {
    xfree(rp->mem);
    memset(rp, 0, sizeof *rp);
}
