// attention.c: causal multi-head self-attention between c_attn and c_proj, forward and
// backward (transformer_kernels.h); the per-head matmuls through the caller's GemmOps.
//
// One task per (b, h): it gathers its head's q, k, v out of qkv (and k, v transposed), runs
// its matmuls and its softmax rows, and scatters its results into its own channels of y or
// dqkv. Tasks share nothing but read-only inputs, so running them in parallel (static
// schedule) or in order gives the same bits; the tasks' softmax rows are computed by the same
// code either way (expf through libmvec in the vector loops: a row's path never depends on
// the thread).
#include "transformer_kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "common.h"
#include "vecmath.h"

// ---- the ops ---------------------------------------------------------------------------------

void attention_plan_add(GemmPlan *p, int T, int hs, GemmKind fixed, int idx[ATTN_N_OPS]) {
    idx[ATTN_QK] = gemm_plan_add(p, "att_qk", 0, 0, T, T, hs, 0.0f, fixed);
    idx[ATTN_AV] = gemm_plan_add(p, "att_av", 0, 0, T, hs, T, 0.0f, fixed);
    idx[ATTN_DATT] = gemm_plan_add(p, "att_da", 0, 0, T, T, hs, 0.0f, fixed);
    idx[ATTN_DV] = gemm_plan_add(p, "att_dv", 1, 0, T, hs, T, 0.0f, fixed);
    idx[ATTN_DQ] = gemm_plan_add(p, "att_dq", 0, 0, T, hs, T, 0.0f, fixed);
    idx[ATTN_DK] = gemm_plan_add(p, "att_dk", 1, 0, T, hs, T, 0.0f, fixed);
}

AttnOps attention_ops(const GemmPlan *p, const int idx[ATTN_N_OPS]) {
    AttnOps o;
    for (int i = 0; i < ATTN_N_OPS; i++) o.op[i] = &p->op[idx[i]];
    return o;
}

// gemm_plan.c's kinds write op->scratch for: blas_t (NT: B^T; TN: the transposed product),
// xsmm and own on NT (B^T copies) and xsmm with alpha != 1 (never here: alpha is 1).
static int op_writes_scratch(const GemmOp *op) {
    return op->kind == GEMM_BLAS_T || (op->transB && op->kind != GEMM_BLAS);
}

int attention_ops_parallel_safe(const AttnOps *ops) {
    for (int i = 0; i < ATTN_N_OPS; i++)
        if (op_writes_scratch(ops->op[i])) return 0;
    return 1;
}

size_t attention_heads_floats(int B, int T, int C) { return 5 * (size_t)B * T * C; }

size_t attention_scratch_floats(int B, int T, int C, int nh) {
    return 2 * (size_t)B * T * C + (size_t)B * nh * T * T;
}

// Whether the B*nh tasks fork: the work pays, there are threads, and the ops allow it.
static int tasks_fork(const AttnOps *ops, int B, int T, int C, int nh) {
    long work = 9L * B * T * C + (long)B * nh * T * T;
    return par_worth(work) && omp_get_max_threads() > 1 && attention_ops_parallel_safe(ops);
}

// ---- forward ---------------------------------------------------------------------------------

// Row t of a head's scores in place: s <= t: softmax(scale * raw); s > t: 0. The loops run
// the whole row, masked (one vector call of expf for a row of 16, not a short loop and a
// scalar remainder whose length changes from row to row).
static void softmax_causal_row(float *r, int t, int T, float scale) {
    float mx = -INFINITY;
    for (int s = 0; s <= t; s++) mx = r[s] * scale > mx ? r[s] * scale : mx;
    #pragma omp simd
    for (int s = 0; s < T; s++) r[s] = expf(r[s] * scale - mx);  // whole vectors (s > t: unused)
    for (int s = t + 1; s < T; s++) r[s] = 0.0f;
    float sum = 0.0f;
    for (int s = 0; s <= t; s++) sum += r[s];
    const float inv = 1.0f / sum;
    #pragma omp simd
    for (int s = 0; s < T; s++) r[s] *= inv;
}

// Task bh = b*nh + h.
static void forward_task(float *y, float *heads, float *att, float *scratch, const float *qkv,
                         const AttnOps *ops, int bh, int B, int T, int C, int nh, const int *lens) {
    const int hs = C / nh, b = bh / nh, h = bh % nh, L = lens ? lens[b] : T;
    const size_t plane = (size_t)B * T * C, off = (size_t)bh * T * hs;
    float *q = heads + off, *k = q + plane, *v = k + plane, *kt = v + plane, *vt = kt + plane;
    memset(k + (size_t)L * hs, 0, (size_t)(T - L) * hs * sizeof(float));  // rows past L: zeros
    memset(v + (size_t)L * hs, 0, (size_t)(T - L) * hs * sizeof(float));
    for (int t = 0; t < L; t++) {  // the head's rows (short: loops, not memcpy calls)
        const float *row = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
        float *qt = q + (size_t)t * hs, *kr = k + (size_t)t * hs, *vr = v + (size_t)t * hs;
        #pragma omp simd
        for (int d = 0; d < hs; d++) {
            qt[d] = row[d];
            kr[d] = row[C + d];
            vr[d] = row[2 * C + d];
        }
    }
    for (int d = 0; d < hs; d++) {  // k^T, v^T: a column of the copies per row (gathers)
        float *ktd = kt + (size_t)d * T, *vtd = vt + (size_t)d * T;
        #pragma omp simd
        for (int t = 0; t < T; t++) {
            ktd[t] = k[t * hs + d];
            vtd[t] = v[t * hs + d];
        }
    }
    float *a = att + (size_t)bh * T * T, *yh = scratch + off;
    if (L == 0) return;
    gemm_op_run_rows(ops->op[ATTN_QK], L, 1.0f, q, kt, a);  // preatt = q k^T, rows < L
    const float scale = (float)(1.0 / sqrt((double)hs));
    for (int t = 0; t < L; t++) softmax_causal_row(a + (size_t)t * T, t, T, scale);
    gemm_op_run_rows(ops->op[ATTN_AV], L, 1.0f, a, v, yh);  // y_h = att v, rows < L
    for (int t = 0; t < L; t++) {
        float *dst = y + ((size_t)b * T + t) * C + h * hs;
        const float *src = yh + (size_t)t * hs;
        #pragma omp simd
        for (int d = 0; d < hs; d++) dst[d] = src[d];
    }
}

void attention_forward(float *y, float *heads, float *att, float *scratch, const float *qkv,
                       const AttnOps *ops, int B, int T, int C, int nh) {
    attention_forward_len(y, heads, att, scratch, qkv, ops, B, T, C, nh, NULL);
}

void attention_forward_len(float *y, float *heads, float *att, float *scratch, const float *qkv,
                           const AttnOps *ops, int B, int T, int C, int nh, const int *lens) {
    const int tasks = B * nh;
    if (!tasks_fork(ops, B, T, C, nh)) {
        for (int bh = 0; bh < tasks; bh++)
            forward_task(y, heads, att, scratch, qkv, ops, bh, B, T, C, nh, lens);
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < tasks; bh++)
        forward_task(y, heads, att, scratch, qkv, ops, bh, B, T, C, nh, lens);
}

// ---- one position (sampling's decode) -------------------------------------------------------

void attention_forward_step(float *y, float *heads, float *att, const float *qkv, int t, int B,
                            int T, int C, int nh) {
    const int hs = C / nh;
    const size_t plane = (size_t)B * T * C;
    const float scale = (float)(1.0 / sqrt((double)hs));  // the forward's
    for (int bh = 0; bh < B * nh; bh++) {
        const int b = bh / nh, h = bh % nh;
        const float *q = qkv + (size_t)b * 3 * C + h * hs;  // [hs]: row b's q of head h
        float *k = heads + plane + (size_t)bh * T * hs;    // [T,hs]: the cached keys
        float *v = k + plane;                              // [T,hs]: the cached values
        float *a = att + ((size_t)bh * T + t) * T;         // [T]: row t of the scores
        float *yh = y + (size_t)b * C + h * hs;            // [hs]
        #pragma omp simd
        for (int d = 0; d < hs; d++) {  // position t joins the cache
            k[(size_t)t * hs + d] = q[C + d];
            v[(size_t)t * hs + d] = q[2 * C + d];
        }
        for (int s = 0; s <= t; s++) {  // preatt = q k^T, s <= t
            const float *ks = k + (size_t)s * hs;
            float dot = 0.0f;
            #pragma omp simd reduction(+ : dot)
            for (int d = 0; d < hs; d++) dot += q[d] * ks[d];
            a[s] = dot;
        }
        for (int s = t + 1; s < T; s++) a[s] = 0.0f;  // masked: read, then zeroed
        softmax_causal_row(a, t, T, scale);
        for (int d = 0; d < hs; d++) yh[d] = 0.0f;
        for (int s = 0; s <= t; s++) {  // y_h = att v, s <= t
            const float p = a[s], *vs = v + (size_t)s * hs;
            #pragma omp simd
            for (int d = 0; d < hs; d++) yh[d] += p * vs[d];
        }
    }
}

// ---- backward --------------------------------------------------------------------------------

// Row t in place: datt -> dpreatt = scale * att * (datt - sum_{s<=t} att*datt), 0 for s > t
// (att is 0 there: the whole row runs, masked).
static void softmax_causal_row_backward(float *dr, const float *ar, int t, int T, float scale) {
    float dot = 0.0f;
    for (int s = 0; s <= t; s++) dot += ar[s] * dr[s];
    #pragma omp simd
    for (int s = 0; s < T; s++) dr[s] = s <= t ? scale * (ar[s] * (dr[s] - dot)) : 0.0f;
}

// part 0, 1, 2 (q, k, v) of dqkv for head h of batch row b from a head's [T,hs] gradient.
static void scatter_head(float *dqkv, const float *g, int part, int b, int h, int T, int C,
                         int hs, int L) {
    for (int t = 0; t < L; t++) {
        float *dst = dqkv + ((size_t)b * T + t) * 3 * C + part * C + h * hs;
        const float *src = g + (size_t)t * hs;
        #pragma omp simd
        for (int d = 0; d < hs; d++) dst[d] = src[d];
    }
}

static void backward_task(float *dqkv, float *scratch, const float *dy, const float *heads,
                          const float *att, const AttnOps *ops, int bh, int B, int T, int C,
                          int nh, const int *lens) {
    const int hs = C / nh, b = bh / nh, h = bh % nh, L = lens ? lens[b] : T;
    const size_t plane = (size_t)B * T * C, off = (size_t)bh * T * hs;
    const float *q = heads + off, *k = q + plane, *vt = k + 3 * plane;
    float *dyh = scratch + off;
    float *datt = scratch + plane + (size_t)bh * T * T;
    float *g = scratch + plane + (size_t)B * nh * T * T + off;
    const float *a = att + (size_t)bh * T * T;
    if (L == 0) return;
    for (int t = 0; t < L; t++) {
        float *dst = dyh + (size_t)t * hs;
        const float *src = dy + ((size_t)b * T + t) * C + h * hs;
        #pragma omp simd
        for (int d = 0; d < hs; d++) dst[d] = src[d];
    }
    // Rows t >= L reach nothing (their dy is 0 and, causally, no earlier row reads them): every
    // product runs on the first L rows (the M, or the K, of its op).
    gemm_op_run_rows(ops->op[ATTN_DATT], L, 1.0f, dyh, vt, datt);  // datt = dy_h v^T
    gemm_op_run_rows(ops->op[ATTN_DV], L, 1.0f, a, dyh, g);        // dv = att^T dy_h
    scatter_head(dqkv, g, 2, b, h, T, C, hs, L);
    const float scale = (float)(1.0 / sqrt((double)hs));
    for (int t = 0; t < L; t++)
        softmax_causal_row_backward(datt + (size_t)t * T, a + (size_t)t * T, t, T, scale);
    gemm_op_run_rows(ops->op[ATTN_DQ], L, 1.0f, datt, k, g);  // dq = dpreatt k
    scatter_head(dqkv, g, 0, b, h, T, C, hs, L);
    gemm_op_run_rows(ops->op[ATTN_DK], L, 1.0f, datt, q, g);  // dk = dpreatt^T q
    scatter_head(dqkv, g, 1, b, h, T, C, hs, L);
}

void attention_backward(float *dqkv, float *scratch, const float *dy, const float *heads,
                        const float *att, const AttnOps *ops, int B, int T, int C, int nh) {
    attention_backward_len(dqkv, scratch, dy, heads, att, ops, B, T, C, nh, NULL);
}

void attention_backward_len(float *dqkv, float *scratch, const float *dy, const float *heads,
                            const float *att, const AttnOps *ops, int B, int T, int C, int nh,
                            const int *lens) {
    const int tasks = B * nh;
    if (!tasks_fork(ops, B, T, C, nh)) {
        for (int bh = 0; bh < tasks; bh++)
            backward_task(dqkv, scratch, dy, heads, att, ops, bh, B, T, C, nh, lens);
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < tasks; bh++)
        backward_task(dqkv, scratch, dy, heads, att, ops, bh, B, T, C, nh, lens);
}
