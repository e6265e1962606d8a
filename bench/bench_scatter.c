// bench_scatter.c: the strategies tried for the embedding scatter-add besides the
// engine's two (serial loop and row ownership, in src/kernels/kernels.c), and the naive matmul
// loops the linear entry compares cblas_sgemm with. Kept in bench/ only: they are
// measured, not used.
#include <omp.h>
#include <string.h>

#include "bench.h"
#include "common.h"

// Per-thread buffers: every thread scatters its share of positions into a private
// [V,E] copy, then the copies are summed in thread order (fixed order, but not the
// serial one: rows match serial up to rounding).
void scatter_thread_buffers(float *dC, const float *dembcat, const int *Xb, int n, int E, int V) {
    size_t row_floats = (size_t)V * E;
    int nt = omp_get_max_threads();
    float *priv = xcalloc((size_t)nt * row_floats, sizeof(float));
    #pragma omp parallel num_threads(nt)
    {
        float *mine = priv + (size_t)omp_get_thread_num() * row_floats;
        #pragma omp for schedule(static)
        for (int p = 0; p < n; p++) {
            float *row = mine + (size_t)Xb[p] * E;
            const float *src = dembcat + (size_t)p * E;
            for (int e = 0; e < E; e++) row[e] += src[e];
        }
        #pragma omp for schedule(static)
        for (size_t i = 0; i < row_floats; i++) {
            float s = 0.0f;
            for (int k = 0; k < nt; k++) s += priv[(size_t)k * row_floats + i];
            dC[i] = s;
        }
    }
    xfree(priv);
}

// Sort then reduce: a counting sort groups positions by index (stable, so each group
// keeps (b,t) order), then rows are summed in parallel, each by one thread: the result
// is bit-identical to the serial loop.
void scatter_sorted(float *dC, const float *dembcat, const int *Xb, int n, int E, int V) {
    int *start = xcalloc((size_t)V + 1, sizeof(int));
    int *order = xcalloc((size_t)n, sizeof(int));
    for (int p = 0; p < n; p++) start[Xb[p] + 1]++;
    for (int v = 0; v < V; v++) start[v + 1] += start[v];
    int *fill = xcalloc((size_t)V, sizeof(int));
    for (int p = 0; p < n; p++) order[start[Xb[p]] + fill[Xb[p]]++] = p;
    #pragma omp parallel for schedule(dynamic, 1)
    for (int v = 0; v < V; v++) {
        float *row = dC + (size_t)v * E;
        memset(row, 0, (size_t)E * sizeof(float));
        for (int k = start[v]; k < start[v + 1]; k++) {
            const float *src = dembcat + (size_t)order[k] * E;
            for (int e = 0; e < E; e++) row[e] += src[e];
        }
    }
    xfree(start);
    xfree(order);
    xfree(fill);
}

// Atomic adds: positions split among threads, every element added with an atomic
// update. Order of additions (and so the rounding) varies run to run.
void scatter_atomic_adds(float *dC, const float *dembcat, const int *Xb, int n, int E, int V) {
    memset(dC, 0, (size_t)V * E * sizeof(float));
    #pragma omp parallel for schedule(static)
    for (int p = 0; p < n; p++) {
        float *row = dC + (size_t)Xb[p] * E;
        const float *src = dembcat + (size_t)p * E;
        for (int e = 0; e < E; e++) {
            #pragma omp atomic update
            row[e] += src[e];
        }
    }
}

// The definitions as three loops each, the reduction index innermost.
void linear_backward_loops(float *din, float *dW, float *db, const float *dout,
                           const float *in, const float *W, int B, int n_in, int n_out) {
    for (int i = 0; i < n_in; i++)
        for (int o = 0; o < n_out; o++) {
            float s = 0.0f;
            for (int b = 0; b < B; b++)
                s += in[(size_t)b * n_in + i] * dout[(size_t)b * n_out + o];
            dW[(size_t)i * n_out + o] = s;
        }
    for (int b = 0; b < B; b++)
        for (int i = 0; i < n_in; i++) {
            float s = 0.0f;
            for (int o = 0; o < n_out; o++)
                s += dout[(size_t)b * n_out + o] * W[(size_t)i * n_out + o];
            din[(size_t)b * n_in + i] = s;
        }
    for (int o = 0; o < n_out; o++) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += dout[(size_t)b * n_out + o];
        db[o] = s;
    }
}
