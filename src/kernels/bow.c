// bow.c: makemore.py's BoW context block (recurrent_kernels.h): the causal average in
// closed form with running sums, its residual, and the block's tanh MLP.
//
// Threads: the sequence passes split over the batch (rows b of [T,C] are independent);
// column sums (the two bias gradients) are cut into bow_parts(B,T,C) batch ranges -- a
// number fixed by the sizes -- each summed in row order into scratch, the partials then
// added in part order. Results do not depend on the thread count.
#include "recurrent_kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "blas.h"
#include "common.h"
#include "vecmath.h"

#define RED_PARTS 16
// Channels per register-resident running sum in the causal passes.
#define CHUNK 64

static int fork_pays(long work) { return par_worth(work) && omp_get_max_threads() > 1; }

static int bow_parts(int B, int T, int C) {
    if (!par_worth((long)B * T * C)) return 1;
    return B < RED_PARTS ? B : RED_PARTS;
}

static inline int part_start(int B, int p, int n) { return (int)((long)B * p / n); }

// ---- the causal average ----------------------------------------------------------------

// Row b: out = x + running mean of x; also out2 = out + bias when out2 is given (the
// block's residual preloaded with c_proj's bias for the GEMM that accumulates onto it).
static void avg_row(float *out, float *out2, const float *bias, const float *x, int T, int C) {
    for (int c0 = 0; c0 < C; c0 += CHUNK) {
        int n = C - c0 < CHUNK ? C - c0 : CHUNK;
        float run[CHUNK];
        for (int c = 0; c < n; c++) run[c] = 0.0f;
        for (int t = 0; t < T; t++) {
            const float inv = 1.0f / (float)(t + 1);
            size_t o = (size_t)t * C + c0;
            #pragma omp simd
            for (int c = 0; c < n; c++) {
                run[c] += x[o + c];
                float v = x[o + c] + run[c] * inv;
                out[o + c] = v;
                if (out2) out2[o + c] = v + bias[c0 + c];
            }
        }
    }
}

// Row b of the adjoint: g_t = dout_t (+ add_t when add is given); dx_s = g_s + sum_{t>=s}
// g_t/(t+1). dx may alias dout or add (each element is read before it is written).
// colsum (may be NULL) += dout over the row's T positions, in t order.
static void avg_row_backward(float *dx, const float *dout, const float *add, float *colsum,
                             int T, int C) {
    for (int c0 = 0; c0 < C; c0 += CHUNK) {
        int n = C - c0 < CHUNK ? C - c0 : CHUNK;
        float run[CHUNK];
        for (int c = 0; c < n; c++) run[c] = 0.0f;
        for (int t = T - 1; t >= 0; t--) {
            const float inv = 1.0f / (float)(t + 1);
            size_t o = (size_t)t * C + c0;
            #pragma omp simd
            for (int c = 0; c < n; c++) {
                float g = add ? dout[o + c] + add[o + c] : dout[o + c];
                run[c] += g * inv;
                dx[o + c] = g + run[c];
            }
        }
    }
    if (colsum)
        for (int t = 0; t < T; t++) {
            const float *row = dout + (size_t)t * C;
            #pragma omp simd
            for (int c = 0; c < C; c++) colsum[c] += row[c];
        }
}

// Rows [b0, b1) of the two whole-sequence passes (row = T*C floats per batch row).
static void avg_rows(float *out, float *out2, const float *bias, const float *x, int b0, int b1,
                     int T, int C) {
    const size_t row = (size_t)T * C;
    for (int b = b0; b < b1; b++)
        avg_row(out + b * row, out2 ? out2 + b * row : NULL, bias, x + b * row, T, C);
}
static void avg_rows_backward(float *dx, const float *dout, int b0, int b1, int T, int C) {
    const size_t row = (size_t)T * C;
    for (int b = b0; b < b1; b++) avg_row_backward(dx + b * row, dout + b * row, NULL, NULL, T, C);
}

// Serial paths are plain calls, not `parallel if (0)` regions (kernels.c: GCC 12 still
// enters libgomp for those). Threads take contiguous batch ranges; a row's result does
// not depend on which thread computes it.
void bow_avg_forward(float *out, const float *x, int B, int T, int C) {
    if (!fork_pays((long)B * T * C)) {
        avg_rows(out, NULL, NULL, x, 0, B, T, C);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        avg_rows(out, NULL, NULL, x, part_start(B, k, nt), part_start(B, k + 1, nt), T, C);
    }
}

void bow_avg_backward(float *dx, const float *dout, int B, int T, int C) {
    if (!fork_pays((long)B * T * C)) {
        avg_rows_backward(dx, dout, 0, B, T, C);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        avg_rows_backward(dx, dout, part_start(B, k, nt), part_start(B, k + 1, nt), T, C);
    }
}

// ---- the block ------------------------------------------------------------------------

size_t bow_state_floats(int B, int T, int C, int C2) { return (size_t)B * T * (C + C2); }

size_t bow_scratch_floats(int B, int T, int C, int C2) {
    return (size_t)B * T * C2 + (size_t)RED_PARTS * (C > C2 ? C : C2);
}

// h rows [r0, r1): h = tanh(h + bfc), one vector loop per row.
static void bias_tanh_rows(float *h, const float *bfc, long r0, long r1, int C2) {
    for (long r = r0; r < r1; r++) {
        float *hr = h + r * C2;
        #pragma omp simd
        for (int j = 0; j < C2; j++) hr[j] = tanhf(hr[j] + bfc[j]);
    }
}

void bow_block_forward(float *x2, float *state, const float *x0, const float *Wfc,
                       const float *bfc, const float *Wproj, const float *bproj, int B, int T,
                       int C, int C2) {
    float *x1 = state, *h = state + (size_t)B * T * C;
    const long N = (long)B * T;
    // x1 = x0 + avg(x0); x2 = x1 + bproj, which c_proj's GEMM accumulates onto
    if (!fork_pays(N * C)) {
        avg_rows(x1, x2, bproj, x0, 0, B, T, C);
    } else {
        #pragma omp parallel
        {
            int nt = omp_get_num_threads(), k = omp_get_thread_num();
            avg_rows(x1, x2, bproj, x0, part_start(B, k, nt), part_start(B, k + 1, nt), T, C);
        }
    }
    gemm(0, 0, (int)N, C2, C, 1.0f, x1, Wfc, 0.0f, h);
    if (!fork_pays(8 * N * C2)) {  // tanhf: ~8 element-touches of work each
        bias_tanh_rows(h, bfc, 0, N, C2);
    } else {
        #pragma omp parallel
        {
            int nt = omp_get_num_threads(), k = omp_get_thread_num();
            bias_tanh_rows(h, bfc, N * k / nt, N * (k + 1) / nt, C2);
        }
    }
    gemm(0, 0, (int)N, C, C2, 1.0f, h, Wproj, 1.0f, x2);
}

// One position of B rows (sampling's decode): avg_row's step t on the running sum kept in
// state, then the block's two GEMMs on B rows.
size_t bow_step_floats(int B, int C, int C2) { return (size_t)B * (2 * (size_t)C + C2); }

void bow_block_forward_step(float *x2, float *state, const float *x0, const float *Wfc,
                            const float *bfc, const float *Wproj, const float *bproj, int t,
                            int B, int C, int C2) {
    float *run = state, *x1 = run + (size_t)B * C, *h = x1 + (size_t)B * C;
    if (t == 0) memset(run, 0, (size_t)B * C * sizeof(float));
    const float inv = 1.0f / (float)(t + 1);
    for (int b = 0; b < B; b++) {
        const size_t o = (size_t)b * C;
        #pragma omp simd
        for (int c = 0; c < C; c++) {
            run[o + c] += x0[o + c];
            float v = x0[o + c] + run[o + c] * inv;
            x1[o + c] = v;
            x2[o + c] = v + bproj[c];
        }
    }
    gemm(0, 0, B, C2, C, 1.0f, x1, Wfc, 0.0f, h);
    bias_tanh_rows(h, bfc, 0, B, C2);
    gemm(0, 0, B, C, C2, 1.0f, h, Wproj, 1.0f, x2);
}

// Partial column sums [parts][n] in part order into out[n].
static void combine_parts(float *out, const float *partial, int parts, int n) {
    for (int j = 0; j < n; j++) {
        float s = 0.0f;
        for (int p = 0; p < parts; p++) s += partial[(size_t)p * n + j];
        out[j] = s;
    }
}

// Part p of parts (batch rows [b0, b1)): dhpre = dh * (1 - h^2) in place, its column sums
// into ps [C2].
static void tanh_backward_part(float *dh, float *ps, const float *h, int b0, int b1, int T,
                               int C2) {
    for (int j = 0; j < C2; j++) ps[j] = 0.0f;
    for (long r = (long)b0 * T; r < (long)b1 * T; r++) {
        float *d = dh + r * C2;
        const float *hr = h + r * C2;
        #pragma omp simd
        for (int j = 0; j < C2; j++) {
            d[j] *= 1.0f - hr[j] * hr[j];
            ps[j] += d[j];
        }
    }
}

// Part p: dx1 = dx2 + dx0 (c_fc's share, already in dx0); dx0 = dx1 + the average's adjoint
// of dx1, in place; ps [C] = column sums of dx2 over the part's rows.
static void residual_backward_part(float *dx0, float *ps, const float *dx2, int b0, int b1, int T,
                                   int C) {
    const size_t row = (size_t)T * C;
    for (int j = 0; j < C; j++) ps[j] = 0.0f;
    for (int b = b0; b < b1; b++)
        avg_row_backward(dx0 + b * row, dx2 + b * row, dx0 + b * row, ps, T, C);
}

void bow_block_backward(float *dx0, float *dWfc, float *dbfc, float *dWproj, float *dbproj,
                        float *scratch, const float *dx2, const float *state, const float *Wfc,
                        const float *Wproj, int B, int T, int C, int C2) {
    const float *x1 = state, *h = state + (size_t)B * T * C;
    float *dh = scratch, *partial = scratch + (size_t)B * T * C2;
    const long N = (long)B * T;
    const int parts = bow_parts(B, T, C);
    const int fork = parts > 1 && omp_get_max_threads() > 1;

    gemm(0, 1, (int)N, C2, C, 1.0f, dx2, Wproj, 0.0f, dh);  // dh = dx2 . Wproj^T
    gemm(1, 0, C2, C, (int)N, 1.0f, h, dx2, 0.0f, dWproj);   // dWproj = h^T . dx2
    if (!fork) {
        for (int p = 0; p < parts; p++)
            tanh_backward_part(dh, partial + (size_t)p * C2, h, part_start(B, p, parts),
                               part_start(B, p + 1, parts), T, C2);
    } else {
        #pragma omp parallel for schedule(static)
        for (int p = 0; p < parts; p++)
            tanh_backward_part(dh, partial + (size_t)p * C2, h, part_start(B, p, parts),
                               part_start(B, p + 1, parts), T, C2);
    }
    combine_parts(dbfc, partial, parts, C2);
    gemm(1, 0, C, C2, (int)N, 1.0f, x1, dh, 0.0f, dWfc);     // dWfc = x1^T . dhpre
    gemm(0, 1, (int)N, C, C2, 1.0f, dh, Wfc, 0.0f, dx0);     // c_fc's share of dx1
    if (!fork) {
        for (int p = 0; p < parts; p++)
            residual_backward_part(dx0, partial + (size_t)p * C, dx2, part_start(B, p, parts),
                                   part_start(B, p + 1, parts), T, C);
    } else {
        #pragma omp parallel for schedule(static)
        for (int p = 0; p < parts; p++)
            residual_backward_part(dx0, partial + (size_t)p * C, dx2, part_start(B, p, parts),
                                   part_start(B, p + 1, parts), T, C);
    }
    combine_parts(dbproj, partial, parts, C);
}
