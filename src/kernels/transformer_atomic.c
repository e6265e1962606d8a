// transformer_atomic.c: the atomic forms of the Transformer's kernels (transformer_kernels.h):
// LayerNorm, GELU and attention's softmax written one function per notebook line, each
// computing one tensor (forward) or one gradient dX = dloss/dX (backward) from those before
// it, with the line as its comment; whole-op functions run the chain with caller scratch.
// Plain loops on the calling thread (the side the fused kernels are measured against); every
// sum in index order. Python scalars (1/C, sqrt(2/pi), the attention scale) are computed in
// double and rounded to float once, as PyTorch does with a Python float times a tensor.
#include <math.h>
#include <string.h>

#include "transformer_kernels.h"
#include "vecmath.h"  // the vector tanhf/expf the fused kernels call too

// ================================================================================================
// LayerNorm                                         x, out, xdiff, ... [N,C]; mean, var, ... [N]
// ================================================================================================

size_t layernorm_forward_atomic_scratch(int N, int C) { return 3 * (size_t)N * C + (size_t)N; }
size_t layernorm_backward_atomic_scratch(int N, int C) {
    return 5 * (size_t)N * C + 3 * (size_t)N;
}

// mean = 1/C * x.sum(-1, keepdim=True)
static void ln_mean(float *mean, const float *x, int N, int C) {
    const float inv_C = (float)(1.0 / C);
    for (int i = 0; i < N; i++) {
        float s = 0.0f;
        for (int j = 0; j < C; j++) s += x[(size_t)i * C + j];
        mean[i] = inv_C * s;
    }
}

// xdiff = x - mean
static void ln_xdiff(float *xdiff, const float *x, const float *mean, int N, int C) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) xdiff[(size_t)i * C + j] = x[(size_t)i * C + j] - mean[i];
}

// xdiff2 = xdiff**2
static void ln_xdiff2(float *xdiff2, const float *xdiff, int N, int C) {
    for (size_t k = 0; k < (size_t)N * C; k++) xdiff2[k] = xdiff[k] * xdiff[k];
}

// var = 1/C * xdiff2.sum(-1, keepdim=True)      (biased, as nn.LayerNorm)
static void ln_var(float *var, const float *xdiff2, int N, int C) { ln_mean(var, xdiff2, N, C); }

// rstd = (var + 1e-5)**-0.5
static void ln_rstd(float *rstd, const float *var, int N) {
    for (int i = 0; i < N; i++) rstd[i] = 1.0f / sqrtf(var[i] + LN_EPS);
}

// xhat = xdiff * rstd
static void ln_xhat(float *xhat, const float *xdiff, const float *rstd, int N, int C) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) xhat[(size_t)i * C + j] = xdiff[(size_t)i * C + j] * rstd[i];
}

// out = weight * xhat + bias
static void ln_out(float *out, const float *weight, const float *xhat, const float *bias, int N,
                   int C) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++)
            out[(size_t)i * C + j] = weight[j] * xhat[(size_t)i * C + j] + bias[j];
}

void layernorm_forward_atomic(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C,
                              float *scratch) {
    size_t nc = (size_t)N * C;
    float *xdiff = scratch, *xdiff2 = xdiff + nc, *xhat = xdiff2 + nc, *var = xhat + nc;
    ln_mean(mean, inp, N, C);
    ln_xdiff(xdiff, inp, mean, N, C);
    ln_xdiff2(xdiff2, xdiff, N, C);
    ln_var(var, xdiff2, N, C);
    ln_rstd(rstd, var, N);
    ln_xhat(xhat, xdiff, rstd, N, C);
    ln_out(out, weight, xhat, bias, N, C);
}

// dbias = dout.sum(0)
static void ln_dbias(float *dbias, const float *dout, int N, int C) {
    for (int j = 0; j < C; j++) dbias[j] = 0.0f;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) dbias[j] += dout[(size_t)i * C + j];
}

// dweight = (dout * xhat).sum(0)
static void ln_dweight(float *dweight, const float *dout, const float *xhat, int N, int C) {
    for (int j = 0; j < C; j++) dweight[j] = 0.0f;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) dweight[j] += dout[(size_t)i * C + j] * xhat[(size_t)i * C + j];
}

// dxhat = dout * weight
static void ln_dxhat(float *dxhat, const float *dout, const float *weight, int N, int C) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) dxhat[(size_t)i * C + j] = dout[(size_t)i * C + j] * weight[j];
}

// drstd = (dxhat * xdiff).sum(-1, keepdim=True)
static void ln_drstd(float *drstd, const float *dxhat, const float *xdiff, int N, int C) {
    for (int i = 0; i < N; i++) {
        float s = 0.0f;
        for (int j = 0; j < C; j++) s += dxhat[(size_t)i * C + j] * xdiff[(size_t)i * C + j];
        drstd[i] = s;
    }
}

// dvar = -0.5 * (var + 1e-5)**-1.5 * drstd  =  -0.5 * rstd**3 * drstd
static void ln_dvar(float *dvar, const float *rstd, const float *drstd, int N) {
    for (int i = 0; i < N; i++) dvar[i] = -0.5f * (rstd[i] * rstd[i] * rstd[i]) * drstd[i];
}

// dxdiff2 = 1/C * torch.ones_like(xdiff2) * dvar
static void ln_dxdiff2(float *dxdiff2, const float *dvar, int N, int C) {
    const float inv_C = (float)(1.0 / C);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) dxdiff2[(size_t)i * C + j] = inv_C * dvar[i];
}

// dxdiff = dxhat * rstd + 2*xdiff * dxdiff2
static void ln_dxdiff(float *dxdiff, const float *dxhat, const float *rstd, const float *xdiff,
                      const float *dxdiff2, int N, int C) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) {
            size_t k = (size_t)i * C + j;
            dxdiff[k] = dxhat[k] * rstd[i] + 2.0f * xdiff[k] * dxdiff2[k];
        }
}

// dmean = -dxdiff.sum(-1, keepdim=True)
static void ln_dmean(float *dmean, const float *dxdiff, int N, int C) {
    for (int i = 0; i < N; i++) {
        float s = 0.0f;
        for (int j = 0; j < C; j++) s += -dxdiff[(size_t)i * C + j];
        dmean[i] = s;
    }
}

// dx = dxdiff + 1/C * torch.ones_like(x) * dmean      (dinp += dx: the residual's gradient)
static void ln_dx_add(float *dinp, const float *dxdiff, const float *dmean, int N, int C) {
    const float inv_C = (float)(1.0 / C);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++)
            dinp[(size_t)i * C + j] += dxdiff[(size_t)i * C + j] + inv_C * dmean[i];
}

void layernorm_backward_atomic(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int N, int C, float *scratch) {
    size_t nc = (size_t)N * C;
    float *xdiff = scratch, *xhat = xdiff + nc, *dxhat = xhat + nc, *dxdiff2 = dxhat + nc;
    float *dxdiff = dxdiff2 + nc, *drstd = dxdiff + nc, *dvar = drstd + N, *dmean = dvar + N;
    ln_xdiff(xdiff, inp, mean, N, C);  // the forward's lines the backward reads
    ln_xhat(xhat, xdiff, rstd, N, C);
    ln_dbias(dbias, dout, N, C);
    ln_dweight(dweight, dout, xhat, N, C);
    ln_dxhat(dxhat, dout, weight, N, C);
    ln_drstd(drstd, dxhat, xdiff, N, C);
    ln_dvar(dvar, rstd, drstd, N);
    ln_dxdiff2(dxdiff2, dvar, N, C);
    ln_dxdiff(dxdiff, dxhat, rstd, xdiff, dxdiff2, N, C);
    ln_dmean(dmean, dxdiff, N, C);
    ln_dx_add(dinp, dxdiff, dmean, N, C);
}

// ================================================================================================
// GELU                                                                      every tensor [n]
// ================================================================================================

#define GELU_K 0.7978845608028654f  // math.sqrt(2.0 / math.pi)
#define GELU_C 0.044715f

size_t gelu_forward_atomic_scratch(size_t n) { return 6 * n; }
size_t gelu_backward_atomic_scratch(size_t n) { return 12 * n; }

// x3 = torch.pow(x, 3.0)
static void ge_x3(float *x3, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x3[i] = x[i] * x[i] * x[i];
}
// inner = x + 0.044715 * x3
static void ge_inner(float *inner, const float *x, const float *x3, size_t n) {
    for (size_t i = 0; i < n; i++) inner[i] = x[i] + GELU_C * x3[i];
}
// u = math.sqrt(2.0 / math.pi) * inner
static void ge_u(float *u, const float *inner, size_t n) {
    for (size_t i = 0; i < n; i++) u[i] = GELU_K * inner[i];
}
// th = torch.tanh(u)
static void ge_th(float *th, const float *u, size_t n) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) th[i] = tanhf(u[i]);
}
// onep = 1.0 + th
static void ge_onep(float *onep, const float *th, size_t n) {
    for (size_t i = 0; i < n; i++) onep[i] = 1.0f + th[i];
}
// halfx = 0.5 * x
static void ge_halfx(float *halfx, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) halfx[i] = 0.5f * x[i];
}
// out = halfx * onep
static void ge_out(float *out, const float *halfx, const float *onep, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = halfx[i] * onep[i];
}

// The forward's lines into fw = x3, inner, u, th, onep, halfx (6n); out may be NULL.
static void gelu_forward_lines(float *out, const float *x, size_t n, float *fw) {
    float *x3 = fw, *inner = x3 + n, *u = inner + n, *th = u + n, *onep = th + n;
    float *halfx = onep + n;
    ge_x3(x3, x, n);
    ge_inner(inner, x, x3, n);
    ge_u(u, inner, n);
    ge_th(th, u, n);
    ge_onep(onep, th, n);
    ge_halfx(halfx, x, n);
    if (out) ge_out(out, halfx, onep, n);
}

// dhalfx = onep * dout
static void ge_dhalfx(float *dhalfx, const float *onep, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) dhalfx[i] = onep[i] * dout[i];
}
// donep = halfx * dout
static void ge_donep(float *donep, const float *halfx, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) donep[i] = halfx[i] * dout[i];
}
// dth = donep                          (onep = 1.0 + th)
static void ge_dth(float *dth, const float *donep, size_t n) {
    memcpy(dth, donep, n * sizeof(float));
}
// du = (1.0 - th**2) * dth
static void ge_du(float *du, const float *th, const float *dth, size_t n) {
    for (size_t i = 0; i < n; i++) du[i] = (1.0f - th[i] * th[i]) * dth[i];
}
// dinner = math.sqrt(2.0 / math.pi) * du
static void ge_dinner(float *dinner, const float *du, size_t n) {
    for (size_t i = 0; i < n; i++) dinner[i] = GELU_K * du[i];
}
// dx3 = 0.044715 * dinner
static void ge_dx3(float *dx3, const float *dinner, size_t n) {
    for (size_t i = 0; i < n; i++) dx3[i] = GELU_C * dinner[i];
}
// dx = dinner.clone()                  (inner = x + ...)
static void ge_dx(float *dx, const float *dinner, size_t n) {
    memcpy(dx, dinner, n * sizeof(float));
}
// dx += 3 * x**2 * dx3                 (x3 = x**3)
static void ge_dx_add_x3(float *dx, const float *x, const float *dx3, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] += 3.0f * (x[i] * x[i]) * dx3[i];
}
// dx += 0.5 * dhalfx                   (halfx = 0.5 * x)
static void ge_dx_add_halfx(float *dx, const float *dhalfx, size_t n) {
    for (size_t i = 0; i < n; i++) dx[i] += 0.5f * dhalfx[i];
}

static void gelu_backward_lines(float *dinp, const float *dout, const float *x, size_t n,
                                float *scratch) {
    float *fw = scratch, *bw = scratch + 6 * n;
    gelu_forward_lines(NULL, x, n, fw);
    const float *th = fw + 3 * n, *onep = fw + 4 * n, *halfx = fw + 5 * n;
    float *dhalfx = bw, *donep = dhalfx + n, *dth = donep + n, *du = dth + n;
    float *dinner = du + n, *dx3 = dinner + n;
    ge_dhalfx(dhalfx, onep, dout, n);
    ge_donep(donep, halfx, dout, n);
    ge_dth(dth, donep, n);
    ge_du(du, th, dth, n);
    ge_dinner(dinner, du, n);
    ge_dx3(dx3, dinner, n);
    ge_dx(dinp, dinner, n);
    ge_dx_add_x3(dinp, x, dx3, n);
    ge_dx_add_halfx(dinp, dhalfx, n);
}

void gelu_forward_atomic(float *out, const float *inp, size_t n, float *scratch) {
    gelu_forward_lines(out, inp, n, scratch);
}

void gelu_backward_atomic(float *dinp, const float *dout, const float *inp, size_t n,
                          float *scratch) {
    gelu_backward_lines(dinp, dout, inp, n, scratch);
}

// pre = pre + bias          (c_fc's bias: pre holds the GEMM's product)
static void ge_pre(float *pre, const float *bias, int N, int M) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) pre[(size_t)i * M + j] += bias[j];
}

// dbias = dpre.sum(0)
static void ge_dbias(float *dbias, const float *dpre, int N, int M) {
    for (int j = 0; j < M; j++) dbias[j] = 0.0f;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < M; j++) dbias[j] += dpre[(size_t)i * M + j];
}

void bias_gelu_forward_atomic(float *out, float *pre, const float *bias, int N, int M,
                              float *scratch) {
    ge_pre(pre, bias, N, M);
    gelu_forward_lines(out, pre, (size_t)N * M, scratch);
}

void gelu_bias_backward_atomic(float *dpre, float *dbias, const float *dout, const float *pre,
                               int N, int M, float *scratch) {
    gelu_backward_lines(dpre, dout, pre, (size_t)N * M, scratch);
    ge_dbias(dbias, dpre, N, M);
}

// ================================================================================================
// Attention's softmax                  rows r = (b*nh + h)*T + t of [B,nh,T,T] tensors; t = r % T
// ================================================================================================

size_t attention_atomic_tape_floats(int B, int T, int C, int nh) {
    (void)C;
    size_t rows = (size_t)B * nh * T;
    return 5 * rows * T + 3 * rows;
}

size_t attention_atomic_scratch_floats(int B, int T, int C, int nh) {
    size_t rows = (size_t)B * nh * T;
    return 2 * (size_t)B * T * C + 6 * rows * T + 3 * rows;
}

// scaled = preatt * (1.0 / math.sqrt(hs))
static void at_scaled(float *scaled, const float *preatt, float scale, size_t rows, int T) {
    for (size_t k = 0; k < rows * T; k++) scaled[k] = preatt[k] * scale;
}
// masked = scaled.masked_fill(tril[:T,:T] == 0, float('-inf'))
static void at_masked(float *masked, const float *scaled, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++) {
        int t = (int)(r % T);
        for (int s = 0; s < T; s++) masked[r * T + s] = s <= t ? scaled[r * T + s] : -INFINITY;
    }
}
// maxes = masked.max(-1, keepdim=True).values
static void at_maxes(float *maxes, const float *masked, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++) {
        float m = masked[r * T];
        for (int s = 1; s < T; s++)
            if (masked[r * T + s] > m) m = masked[r * T + s];
        maxes[r] = m;
    }
}
// norm = masked - maxes
static void at_norm(float *norm, const float *masked, const float *maxes, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++)
        for (int s = 0; s < T; s++) norm[r * T + s] = masked[r * T + s] - maxes[r];
}
// exps = norm.exp()
static void at_exps(float *exps, const float *norm, size_t rows, int T) {
    #pragma omp simd
    for (size_t k = 0; k < rows * T; k++) exps[k] = expf(norm[k]);
}
// sums = exps.sum(-1, keepdim=True)
static void at_sums(float *sums, const float *exps, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++) {
        float s = 0.0f;
        for (int j = 0; j < T; j++) s += exps[r * T + j];
        sums[r] = s;
    }
}
// inv = sums**-1
static void at_inv(float *inv, const float *sums, size_t rows) {
    for (size_t r = 0; r < rows; r++) inv[r] = 1.0f / sums[r];
}
// att = exps * inv
static void at_att(float *att, const float *exps, const float *inv, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++)
        for (int s = 0; s < T; s++) att[r * T + s] = exps[r * T + s] * inv[r];
}

// dexps = datt * inv
static void at_dexps(float *dexps, const float *datt, const float *inv, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++)
        for (int s = 0; s < T; s++) dexps[r * T + s] = datt[r * T + s] * inv[r];
}
// dinv = (datt * exps).sum(-1, keepdim=True)
static void at_dinv(float *dinv, const float *datt, const float *exps, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++) {
        float s = 0.0f;
        for (int j = 0; j < T; j++) s += datt[r * T + j] * exps[r * T + j];
        dinv[r] = s;
    }
}
// dsums = (-sums**-2) * dinv
static void at_dsums(float *dsums, const float *sums, const float *dinv, size_t rows) {
    for (size_t r = 0; r < rows; r++) dsums[r] = -1.0f / (sums[r] * sums[r]) * dinv[r];
}
// dexps += torch.ones_like(exps) * dsums
static void at_dexps_add(float *dexps, const float *dsums, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++)
        for (int s = 0; s < T; s++) dexps[r * T + s] += dsums[r];
}
// dnorm = exps * dexps
static void at_dnorm(float *dnorm, const float *exps, const float *dexps, size_t rows, int T) {
    for (size_t k = 0; k < rows * T; k++) dnorm[k] = exps[k] * dexps[k];
}
// dmasked = dnorm.clone()
static void at_dmasked(float *dmasked, const float *dnorm, size_t rows, int T) {
    memcpy(dmasked, dnorm, rows * T * sizeof(float));
}
// dmaxes = (-dnorm).sum(-1, keepdim=True)
static void at_dmaxes(float *dmaxes, const float *dnorm, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++) {
        float s = 0.0f;
        for (int j = 0; j < T; j++) s += -dnorm[r * T + j];
        dmaxes[r] = s;
    }
}
// dmasked += F.one_hot(masked.max(-1).indices, T) * dmaxes      (the first maximum)
static void at_dmasked_add_max(float *dmasked, const float *masked, const float *dmaxes,
                               size_t rows, int T) {
    for (size_t r = 0; r < rows; r++) {
        int arg = 0;
        for (int s = 1; s < T; s++)
            if (masked[r * T + s] > masked[r * T + arg]) arg = s;
        dmasked[r * T + arg] += dmaxes[r];
    }
}
// dscaled = dmasked.masked_fill(tril[:T,:T] == 0, 0)
static void at_dscaled(float *dscaled, const float *dmasked, size_t rows, int T) {
    for (size_t r = 0; r < rows; r++) {
        int t = (int)(r % T);
        for (int s = 0; s < T; s++) dscaled[r * T + s] = s <= t ? dmasked[r * T + s] : 0.0f;
    }
}
// dpreatt = (1.0 / math.sqrt(hs)) * dscaled
static void at_dpreatt(float *dpreatt, const float *dscaled, float scale, size_t rows, int T) {
    for (size_t k = 0; k < rows * T; k++) dpreatt[k] = scale * dscaled[k];
}

// The head planes of `heads` (transformer_kernels.h): q, k, v [B,nh,T,hs], kT, vT [B,nh,hs,T].
static void gather_heads(float *heads, const float *qkv, int B, int T, int C, int nh) {
    const int hs = C / nh;
    const size_t plane = (size_t)B * T * C;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            size_t off = ((size_t)b * nh + h) * T * hs;
            float *q = heads + off, *k = q + plane, *v = k + plane, *kt = v + plane;
            float *vt = kt + plane;
            for (int t = 0; t < T; t++) {
                const float *row = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                for (int d = 0; d < hs; d++) {
                    q[t * hs + d] = row[d];
                    k[t * hs + d] = row[C + d];
                    v[t * hs + d] = row[2 * C + d];
                    kt[d * T + t] = row[C + d];
                    vt[d * T + t] = row[2 * C + d];
                }
            }
        }
}

// out [B,T,C] (part < 0) or part 0..2 of [B,T,3C] from per-head [B,nh,T,hs]; and back.
static void heads_to_rows(float *out, const float *src, int part, int B, int T, int C, int nh) {
    const int hs = C / nh, width = part < 0 ? C : 3 * C, shift = part < 0 ? 0 : part * C;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++)
            for (int t = 0; t < T; t++)
                memcpy(out + ((size_t)b * T + t) * width + shift + h * hs,
                       src + (((size_t)b * nh + h) * T + t) * hs, hs * sizeof(float));
}

static void rows_to_heads(float *dst, const float *in, int B, int T, int C, int nh) {
    const int hs = C / nh;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++)
            for (int t = 0; t < T; t++)
                memcpy(dst + (((size_t)b * nh + h) * T + t) * hs,
                       in + ((size_t)b * T + t) * C + h * hs, hs * sizeof(float));
}

void attention_forward_atomic(float *y, float *heads, float *att, float *tape, float *scratch,
                              const float *qkv, const AttnOps *ops, int B, int T, int C,
                              int nh) {
    const int hs = C / nh, tasks = B * nh;
    const size_t rows = (size_t)tasks * T, tt = rows * T, plane = (size_t)B * T * C;
    const float scale = (float)(1.0 / sqrt((double)hs));
    float *preatt = tape, *scaled = preatt + tt, *masked = scaled + tt, *norm = masked + tt;
    float *exps = norm + tt, *maxes = exps + tt, *sums = maxes + rows, *inv = sums + rows;
    float *yh = scratch;
    gather_heads(heads, qkv, B, T, C, nh);
    const float *q = heads, *v = heads + 2 * plane, *kt = heads + 3 * plane;
    for (int bh = 0; bh < tasks; bh++)  // preatt = q @ k.transpose(-2, -1)
        gemm_op_run(ops->op[ATTN_QK], 1.0f, q + (size_t)bh * T * hs, kt + (size_t)bh * hs * T,
                    preatt + (size_t)bh * T * T);
    at_scaled(scaled, preatt, scale, rows, T);
    at_masked(masked, scaled, rows, T);
    at_maxes(maxes, masked, rows, T);
    at_norm(norm, masked, maxes, rows, T);
    at_exps(exps, norm, rows, T);
    at_sums(sums, exps, rows, T);
    at_inv(inv, sums, rows);
    at_att(att, exps, inv, rows, T);
    for (int bh = 0; bh < tasks; bh++)  // y = att @ v
        gemm_op_run(ops->op[ATTN_AV], 1.0f, att + (size_t)bh * T * T, v + (size_t)bh * T * hs,
                    yh + (size_t)bh * T * hs);
    heads_to_rows(y, yh, -1, B, T, C, nh);
}

void attention_backward_atomic(float *dqkv, float *scratch, const float *dy, const float *heads,
                               const float *att, const float *tape, const AttnOps *ops, int B,
                               int T, int C, int nh) {
    const int hs = C / nh, tasks = B * nh;
    const size_t rows = (size_t)tasks * T, tt = rows * T, plane = (size_t)B * T * C;
    const float scale = (float)(1.0 / sqrt((double)hs));
    const float *masked = tape + 2 * tt, *exps = tape + 4 * tt, *sums = tape + 5 * tt + rows;
    const float *inv = sums + rows;
    const float *q = heads, *k = heads + plane, *vt = heads + 4 * plane;
    float *dyh = scratch, *g = dyh + plane, *datt = g + plane, *dexps = datt + tt;
    float *dnorm = dexps + tt, *dmasked = dnorm + tt, *dscaled = dmasked + tt;
    float *dpreatt = dscaled + tt, *dinv = dpreatt + tt, *dsums = dinv + rows;
    float *dmaxes = dsums + rows;
    rows_to_heads(dyh, dy, B, T, C, nh);
    for (int bh = 0; bh < tasks; bh++) {  // datt = dy @ v^T; dv = att^T @ dy
        size_t o = (size_t)bh * T * hs;
        gemm_op_run(ops->op[ATTN_DATT], 1.0f, dyh + o, vt + o, datt + (size_t)bh * T * T);
        gemm_op_run(ops->op[ATTN_DV], 1.0f, att + (size_t)bh * T * T, dyh + o, g + o);
    }
    heads_to_rows(dqkv, g, 2, B, T, C, nh);
    at_dexps(dexps, datt, inv, rows, T);
    at_dinv(dinv, datt, exps, rows, T);
    at_dsums(dsums, sums, dinv, rows);
    at_dexps_add(dexps, dsums, rows, T);
    at_dnorm(dnorm, exps, dexps, rows, T);
    at_dmasked(dmasked, dnorm, rows, T);
    at_dmaxes(dmaxes, dnorm, rows, T);
    at_dmasked_add_max(dmasked, masked, dmaxes, rows, T);
    at_dscaled(dscaled, dmasked, rows, T);
    at_dpreatt(dpreatt, dscaled, scale, rows, T);
    for (int bh = 0; bh < tasks; bh++)  // dq = dpreatt @ k
        gemm_op_run(ops->op[ATTN_DQ], 1.0f, dpreatt + (size_t)bh * T * T,
                    k + (size_t)bh * T * hs, g + (size_t)bh * T * hs);
    heads_to_rows(dqkv, g, 0, B, T, C, nh);
    for (int bh = 0; bh < tasks; bh++)  // dk = dpreatt^T @ q
        gemm_op_run(ops->op[ATTN_DK], 1.0f, dpreatt + (size_t)bh * T * T,
                    q + (size_t)bh * T * hs, g + (size_t)bh * T * hs);
    heads_to_rows(dqkv, g, 1, B, T, C, nh);
}
