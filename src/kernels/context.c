// context.c: the lookup-table models' gathers and their scatter-adds (recurrent_kernels.h):
// the bigram's rows of W, and the mlp's context of T embeddings per position with the
// <BLANK> row before the start of each row.
#include "recurrent_kernels.h"

#include <omp.h>
#include <string.h>

#include "blas.h"
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

// ---- mlp: the context through its projection tables ------------------------------------------

void context_tables(float *P, const float *wte, const float *W1, int T, int E, int V1, int H) {
    for (int k = 0; k < T; k++)  // P_k = wte . W1_k
        gemm(0, 0, V1, H, E, 1.0f, wte, W1 + (size_t)k * E * H, 0.0f, P + (size_t)k * V1 * H);
}

// Token k places before position pos (= b*T + t), or the <BLANK> row V1 - 1.
static int context_token(const int *X, int pos, int k, int T, int V1) {
    int t = pos % T;
    return t >= k ? X[pos - k] : V1 - 1;
}

void context_proj_forward(float *hpre, const float *P, const int *X, const int *pos, int rows,
                          int T, int V1, int H) {
    #pragma omp parallel for schedule(static) if (fork_pays((long)rows * T * H))
    for (int i = 0; i < rows; i++) {
        float *h = hpre + (size_t)i * H;
        const int p = pos[i];
        const float *r0 = P + (size_t)context_token(X, p, 0, T, V1) * H;
        for (int j = 0; j < H; j++) h[j] = r0[j];
        for (int k = 1; k < T; k++) {
            const float *r = P + ((size_t)k * V1 + context_token(X, p, k, T, V1)) * H;
            #pragma omp simd
            for (int j = 0; j < H; j++) h[j] += r[j];
        }
    }
}

void context_proj_backward(float *dW1, float *dwte, float *S, const float *dpre, const float *wte,
                           const float *W1, const int *X, const int *pos, int rows, int T, int E,
                           int V1, int H) {
    #pragma omp parallel for schedule(static) if (fork_pays((long)rows * T * H))
    for (int k = 0; k < T; k++) {  // S_k, one thread each, rows in order
        float *Sk = S + (size_t)k * V1 * H;
        memset(Sk, 0, (size_t)V1 * H * sizeof(float));
        for (int i = 0; i < rows; i++) {
            float *s = Sk + (size_t)context_token(X, pos[i], k, T, V1) * H;
            const float *d = dpre + (size_t)i * H;
            #pragma omp simd
            for (int j = 0; j < H; j++) s[j] += d[j];
        }
    }
    for (int k = 0; k < T; k++) {
        const float *Sk = S + (size_t)k * V1 * H, *Wk = W1 + (size_t)k * E * H;
        gemm(1, 0, E, H, V1, 1.0f, wte, Sk, 0.0f, dW1 + (size_t)k * E * H);       // wte^T S_k
        gemm(0, 1, V1, E, H, 1.0f, Sk, Wk, k ? 1.0f : 0.0f, dwte);                // += S_k W1_k^T
    }
}
