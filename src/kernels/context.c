// context.c: the lookup-table models' gathers and their scatter-adds (recurrent_kernels.h):
// the bigram's rows of W, and the mlp's context of T embeddings per position with the
// <BLANK> row before the start of each row.
#include "recurrent_kernels.h"

#include <omp.h>
#include <string.h>

#include "common.h"
#include "kernels.h"

static int fork_pays(long work) { return par_worth(work) && omp_get_max_threads() > 1; }

// ---- bigram ----------------------------------------------------------------------------
// The bigram's logits are an embedding of width V: kernels.h's gather and its row-owned
// scatter-add (each row of dW summed in n order by one thread) with T = 1, E = V.

void bigram_forward(float *logits, const float *W, const int *X, int N, int V) {
    embedding_forward(logits, W, X, N, 1, V);
}

void bigram_backward(float *dW, const float *dlogits, const int *X, int N, int V) {
    embedding_backward(dW, dlogits, X, N, 1, V, V);
}

// ---- mlp context -----------------------------------------------------------------------

// Positions [p0, p1), p = b*T + t: the T rows of wte that position p sees, nearest first.
static void context_rows(float *emb_cat, const float *wte, const int *X, int p0, int p1, int T,
                         int E, int V) {
    for (int p = p0; p < p1; p++) {
        int t = p % T;
        const int *row = X + (size_t)(p - t);  // X[b, 0..T)
        float *dst = emb_cat + (size_t)p * T * E;
        for (int k = 0; k < T; k++) {
            const float *src = wte + (size_t)(t >= k ? row[t - k] : V) * E;
            for (int e = 0; e < E; e++) dst[(size_t)k * E + e] = src[e];
        }
    }
}

void context_forward(float *emb_cat, const float *wte, const int *X, int B, int T, int E,
                     int V) {
    if (!fork_pays((long)B * T * T * E)) {
        context_rows(emb_cat, wte, X, 0, B * T, T, E, V);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        context_rows(emb_cat, wte, X, (int)((long)B * T * k / nt),
                     (int)((long)B * T * (k + 1) / nt), T, E, V);
    }
}

// Rows [v0, v1) of dwte (zeroed here), every (b,t,k) scanned in order and the ones whose
// source row falls in the range added: each row's sum runs in (b,t,k) order.
static void context_scatter(float *dwte, const float *demb_cat, const int *X, int B, int T,
                            int E, int V, int v0, int v1) {
    memset(dwte + (size_t)v0 * E, 0, (size_t)(v1 - v0) * E * sizeof(float));
    for (int b = 0; b < B; b++) {
        const int *row = X + (size_t)b * T;
        for (int t = 0; t < T; t++) {
            const float *src = demb_cat + ((size_t)b * T + t) * T * E;
            for (int k = 0; k < T; k++) {
                int v = t >= k ? row[t - k] : V;
                if (v < v0 || v >= v1) continue;
                float *dst = dwte + (size_t)v * E;
                const float *g = src + (size_t)k * E;
                for (int e = 0; e < E; e++) dst[e] += g[e];
            }
        }
    }
}

void context_backward_serial(float *dwte, const float *demb_cat, const int *X, int B, int T,
                             int E, int V) {
    context_scatter(dwte, demb_cat, X, B, T, E, V, 0, V + 1);
}

// Row ownership: thread k of nt owns rows [(V+1)k/nt, (V+1)(k+1)/nt) of dwte. The <BLANK>
// row takes T(T-1)/2 of each row's T^2 slices, so its owner does the most; the split is
// still bit-identical to the serial loop, which is what it is for.
void context_backward(float *dwte, const float *demb_cat, const int *X, int B, int T, int E,
                      int V) {
    if (!fork_pays((long)B * T * T * E)) {
        context_backward_serial(dwte, demb_cat, X, B, T, E, V);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        context_scatter(dwte, demb_cat, X, B, T, E, V, (int)((long)(V + 1) * k / nt),
                        (int)((long)(V + 1) * (k + 1) / nt));
    }
}
