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

// out[M,N] = op(A)[M,K] @ op(Bm)[K,N], summed over k in order.
static void matmul(double *out, int transA, const double *A, int transB, const double *Bm,
                   int M, int N, int K) {
    #pragma omp parallel for if (par_worth((long)M * N * K / 8))
    for (int m = 0; m < M; m++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) {
                double x = transA ? A[(size_t)k * M + m] : A[(size_t)m * K + k];
                double y = transB ? Bm[(size_t)j * K + k] : Bm[(size_t)k * N + j];
                s += x * y;
            }
            out[(size_t)m * N + j] = s;
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

void ref_params_from(RefParams *rp, const Params *p, const Config *cfg) {
    const size_t V = cfg->V, T = cfg->T, E = cfg->E, H = cfg->H;
    const size_t numel[7] = {V * E, T * E * H, H, H * V, V, H, H};
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
