// backward_atomic.c: exercise 1 in float32 -- the lecture's graph (backward_graph.inc)
// instantiated over float, its matmuls through cblas_sgemm (blas.h). See
// backward_atomic.h; the notebook's lines are the functions of backward_graph.inc.
#include "backward_atomic.h"

#include <string.h>
#include <tgmath.h>

#include "common.h"
#include "blas.h"
#include "linear.h"

#define real float
#define ACTS AtomicActs
#define PARAMS Params
#define GRAPH(name) atomic_##name
#define GRAPH_THREADS 1

// out[M,N] = op(A)[M,K] @ op(Bm)[K,N]: cblas_sgemm.
static void matmul(float *out, int transA, const float *A, int transB, const float *Bm, int M,
                   int N, int K) {
    gemm(transA, transB, M, N, K, 1.0f, A, Bm, 0.0f, out);
}

// out[n,n_out] = in[n,n_in] @ W[n_in,n_out] + b[n_out]: the bias rows, then cblas_sgemm.
static void matmul_bias(float *out, const float *in, const float *W, const float *b, int n,
                        int n_in, int n_out) {
    linear_forward(out, in, W, b, n, n_in, n_out);
}

#include "backward_graph.inc"

void atomic_dlogits_add_max(float *dlogits, const float *logits, const float *dlogit_maxes,
                            int B, int V) {
    bwd_dlogits_add_max(dlogits, logits, dlogit_maxes, B, V);
}

void grad_info(GradInfo info[NUM_GRADS], const Config *cfg, int B) {
    const int64_t n = B, T = cfg->T, E = cfg->E, H = cfg->H, V = cfg->V;
    const GradInfo list[NUM_GRADS] = {
        {"logprobs", 2, {n, V, 0}, 0},       {"probs", 2, {n, V, 0}, 0},
        {"counts_sum_inv", 2, {n, 1, 0}, 0}, {"counts_sum", 2, {n, 1, 0}, 0},
        {"counts", 2, {n, V, 0}, 0},         {"norm_logits", 2, {n, V, 0}, 0},
        {"logit_maxes", 2, {n, 1, 0}, 0},    {"logits", 2, {n, V, 0}, 0},
        {"h", 2, {n, H, 0}, 0},              {"W2", 2, {H, V, 0}, 0},
        {"b2", 1, {V, 0, 0}, 0},             {"hpreact", 2, {n, H, 0}, 0},
        {"bngain", 2, {1, H, 0}, 0},         {"bnbias", 2, {1, H, 0}, 0},
        {"bnraw", 2, {n, H, 0}, 0},          {"bnvar_inv", 2, {1, H, 0}, 0},
        {"bnvar", 2, {1, H, 0}, 0},          {"bndiff2", 2, {n, H, 0}, 0},
        {"bndiff", 2, {n, H, 0}, 0},         {"bnmeani", 2, {1, H, 0}, 0},
        {"hprebn", 2, {n, H, 0}, 0},         {"embcat", 2, {n, T * E, 0}, 0},
        {"W1", 2, {T * E, H, 0}, 0},         {"b1", 1, {H, 0, 0}, 0},
        {"emb", 3, {n, T, E}, 0},            {"C", 2, {V, E, 0}, 0},
    };
    for (int k = 0; k < NUM_GRADS; k++) {
        info[k] = list[k];
        info[k].numel = 1;
        for (int d = 0; d < info[k].ndim; d++) info[k].numel *= (long)info[k].shape[d];
    }
}
