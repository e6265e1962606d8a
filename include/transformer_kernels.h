// transformer_kernels.h: the non-matmul kernels of makemore.py's Transformer (a GPT-2 block:
// x + attn(ln_1(x)), x + mlp(ln_2(x)); ln_f; lm_head), forward and hand-written backward:
// LayerNorm, the tanh GELU, causal self-attention between c_attn and c_proj, bias and
// residual adds. The linear layers' own GEMMs are not here (the caller runs them through
// the GEMM planner); attention's per-head matmuls are, through GemmOps the caller owns.
// Each fused kernel has an atomic twin (one loop per notebook line) with the same inputs
// and outputs, the other side of the fused-against-atomic comparison.
//
// House rules, as kernels.h: outputs first, then inputs, then sizes; activations [B,T,C]
// row-major, seen as N = B*T rows of C; OpenMP only where par_worth(work) says the fork pays;
// no allocation (scratch is passed in, sizes below); every sum runs in an order fixed by the
// sizes alone, so results are bit-identical at any thread count. The atomic forms never fork.
#ifndef MAKEMORE_TRANSFORMER_KERNELS_H
#define MAKEMORE_TRANSFORMER_KERNELS_H

#include <stddef.h>

#include "gemm_plan.h"

// nn.LayerNorm's default epsilon.
#define LN_EPS 1e-5f

// ---- LayerNorm over the channels ----------------------------------------------------------
//   mean[i] = 1/C sum_j inp[i,j];  var[i] = 1/C sum_j (inp[i,j] - mean[i])^2  (biased)
//   rstd[i] = (var[i] + LN_EPS)^-1/2;  xhat = (inp - mean) * rstd
//   out[i,j] = xhat[i,j] * weight[j] + bias[j]
// out, inp [N,C]; mean, rstd [N] (saved for the backward); weight, bias [C]. All overwritten.
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C);

// Closed form, per row after its two sums (dxhat = dout * weight):
//   dinp[i,:] += rstd[i] * (dxhat - mean_j(dxhat) - xhat * mean_j(dxhat * xhat))
//   dweight[j] = sum_i dout[i,j] * xhat[i,j];   dbias[j] = sum_i dout[i,j]
// dinp [N,C] is ACCUMULATED (+=: the residual stream's gradient); dweight, dbias [C] are
// overwritten, each column summed over the rows in row order by one thread. xhat is
// recomputed from inp, mean, rstd. dout [N,C].
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C);

// Atomic forms, one loop per line, same inputs and outputs as the fused kernels:
//   forward:  mean = 1/C*x.sum(-1); xdiff = x - mean; xdiff2 = xdiff**2;
//             var = 1/C*xdiff2.sum(-1); rstd = (var + eps)**-0.5; xhat = xdiff*rstd;
//             out = weight*xhat + bias
//   backward: (xdiff, xhat re-run from inp, mean, rstd, as the fused kernel recomputes xhat)
//             dbias = dout.sum(0); dweight = (dout*xhat).sum(0); dxhat = dout*weight;
//             drstd = (dxhat*xdiff).sum(-1); dvar = -0.5*rstd**3*drstd;
//             dxdiff2 = 1/C*dvar; dxdiff = dxhat*rstd + 2*xdiff*dxdiff2;
//             dmean = -dxdiff.sum(-1); dinp += dxdiff + 1/C*dmean
// scratch: layernorm_*_atomic_scratch(N, C) floats, overwritten.
void layernorm_forward_atomic(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C,
                              float *scratch);
void layernorm_backward_atomic(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int N, int C, float *scratch);
size_t layernorm_forward_atomic_scratch(int N, int C);   // 3*N*C + N
size_t layernorm_backward_atomic_scratch(int N, int C);  // 5*N*C + 3*N

// ---- GELU, tanh approximation (makemore.py's NewGELU) -------------------------------------
//   gelu(x) = 0.5*x * (1 + tanh(sqrt(2/pi) * (x + 0.044715*x^3)))
//   gelu'(x) = 0.5*(1 + th) + 0.5*x*(1 - th^2)*sqrt(2/pi)*(1 + 3*0.044715*x^2)
// out, inp [n]; dinp, dout [n]; dinp overwritten (may be dout itself).
void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

// The MLP's fused forms. c_fc's GEMM leaves its bare product in pre [N,M]:
//   bias_gelu_forward:  pre += bias (in place: pre is the pre-activation the backward needs)
//                       and out = gelu(pre), in one pass over the rows instead of two (the
//                       bias add and the activation each read and write N*M floats).
//   gelu_bias_backward: dpre = gelu'(pre) * dout and dbias[j] = sum_i dpre[i,j] (c_fc's bias
//                       gradient) in one pass: the column sums ride along the row pass that
//                       writes dpre instead of re-reading it (when the kernel forks, the
//                       columns are summed by their owner threads in a second pass over dpre).
// out, pre, dpre, dout [N,M]; bias, dbias [M]; outputs overwritten; dpre may be dout.
void bias_gelu_forward(float *out, float *pre, const float *bias, int N, int M);
void gelu_bias_backward(float *dpre, float *dbias, const float *dout, const float *pre, int N,
                        int M);

// Atomic forms, one loop per line (pre = prod + bias for the bias form, then):
//   x3 = x**3; inner = x + 0.044715*x3; u = sqrt(2/pi)*inner; th = tanh(u);
//   onep = 1 + th; halfx = 0.5*x; out = halfx*onep
// and backward (the forward's lines re-run from inp, as the fused kernel recomputes tanh):
//   dhalfx = onep*dout; donep = halfx*dout; dth = donep; du = (1 - th**2)*dth;
//   dinner = sqrt(2/pi)*du; dx3 = 0.044715*dinner;
//   dx = dinner; dx += 3*x**2*dx3; dx += 0.5*dhalfx        (then dbias = dx.sum(0))
// scratch: gelu_*_atomic_scratch(n) floats, n = N*M for the bias forms.
void gelu_forward_atomic(float *out, const float *inp, size_t n, float *scratch);
void gelu_backward_atomic(float *dinp, const float *dout, const float *inp, size_t n,
                          float *scratch);
void bias_gelu_forward_atomic(float *out, float *pre, const float *bias, int N, int M,
                              float *scratch);
void gelu_bias_backward_atomic(float *dpre, float *dbias, const float *dout, const float *pre,
                               int N, int M, float *scratch);
size_t gelu_forward_atomic_scratch(size_t n);   // 6*n
size_t gelu_backward_atomic_scratch(size_t n);  // 12*n

// ---- bias and residual ----------------------------------------------------------------------
// x[i,j] += bias[j]                               x [N,M] (a GEMM's product), bias [M]
void bias_add(float *x, const float *bias, int N, int M);
// dbias[j] = sum_i dout[i,j] (row order; overwritten)   dout [N,M]
// The same bits as linear.h's bias_backward, with the columns split among threads (each
// column summed by its owner) when the work pays.
void bias_grad(float *dbias, const float *dout, int N, int M);
// out = a + b                                    [n]; out may be a or b
void residual_forward(float *out, const float *a, const float *b, size_t n);
// out[i,j] = res[i,j] + (proj[i,j] + bias[j]): a c_proj's bias and the residual add in one
// pass. out, res, proj [N,M]; out may be res or proj.
void bias_residual_forward(float *out, const float *res, const float *proj, const float *bias,
                           int N, int M);
// The residual's backward where a kernel does not accumulate already: dacc += dout   [n]
void residual_backward(float *dacc, const float *dout, size_t n);

// ---- causal self-attention ------------------------------------------------------------------
// Between c_attn's output qkv [B,T,3C] (bias added; q, k, v in that order along the last
// dimension, head h at channels h*hs .. h*hs+hs-1 of each, hs = C/nh) and c_proj's input
// y [B,T,C] (heads side by side):
//   att = softmax(mask(q k^T * scale)),  scale = 1/sqrt(hs) (rounded to float),
//   y_h = att v,  per (b, h).
// The per-(b,h) matmuls run through the caller's GemmOps (attention_plan_add makes them):
//
//   op           what                      trans  M  N   K   beta   A        B
//   ATTN_QK      preatt = q . k^T          NN     T  T   hs  0      q        kT
//   ATTN_AV      y_h = att . v             NN     T  hs  T   0      att      v
//   ATTN_DATT    datt = dy_h . v^T         NN     T  T   hs  0      dy_h     vT
//   ATTN_DV      dv = att^T . dy_h         TN     T  hs  T   0      att      dy_h
//   ATTN_DQ      dq = dpreatt . k          NN     T  hs  T   0      dpreatt  k
//   ATTN_DK      dk = dpreatt^T . q        TN     T  hs  T   0      dpreatt  q
//
// all run with alpha = 1 (the scale is applied in the softmax passes). Saving k and v also
// transposed (kT, vT [hs,T]) makes every op NN or TN. Threads: the B*nh (b,h) tasks run in
// parallel (OpenMP, static; each task writes only its own outputs and scratch slices, so the
// result is the same at any thread count) when the work pays and every op is scratch-free
// as set. Of these NN/TN shapes at alpha 1, only kind blas_t writes its op's scratch (the
// transposed product of a TN op): with a blas_t op the tasks run one after another on the
// calling thread (the same bits), so any plan is safe. The ops may be shared by every layer.
enum { ATTN_QK, ATTN_AV, ATTN_DATT, ATTN_DV, ATTN_DQ, ATTN_DK, ATTN_N_OPS };

typedef struct {
    const GemmOp *op[ATTN_N_OPS];  // indexed by ATTN_QK ...
} AttnOps;

// Adds the six ops above, named "att_qk", "att_av", "att_da", "att_dv", "att_dq", "att_dk",
// to p, each at its fixed kind `fixed` (GEMM_BLAS: the plain path); idx receives their
// indices in p. The ops depend on T and hs = C/nh only, not on the batch or the layer.
void attention_plan_add(GemmPlan *p, int T, int hs, GemmKind fixed, int idx[ATTN_N_OPS]);
// The ops of p at idx (pointers into p: valid while p stays where it is).
AttnOps attention_ops(const GemmPlan *p, const int idx[ATTN_N_OPS]);
// 1 when the tasks may run in parallel under these ops (none writes its scratch).
int attention_ops_parallel_safe(const AttnOps *ops);

// heads: what the forward saves for the backward, attention_heads_floats(B,T,C) floats:
//   q, k, v  [B,nh,T,hs] each, then kT, vT [B,nh,hs,T] each (in that order).
// att [B,nh,T,T]: the softmax probabilities, exactly 0 above the diagonal (s > t).
// scratch: attention_scratch_floats(B,T,C,nh) floats, contents not kept between calls
//   (the forward uses B*T*C of it, the backward all of it).
size_t attention_heads_floats(int B, int T, int C);              // 5*B*T*C
size_t attention_scratch_floats(int B, int T, int C, int nh);    // 2*B*T*C + B*nh*T*T

// y [B,T,C], heads and att overwritten; qkv [B,T,3C] read.
void attention_forward(float *y, float *heads, float *att, float *scratch, const float *qkv,
                       const AttnOps *ops, int B, int T, int C, int nh);
// dqkv [B,T,3C] overwritten from dy [B,T,C]; per (b,h): datt = dy_h v^T, the softmax's
// backward in closed form per row, dpreatt = att * (datt - sum_s att*datt) * scale (exactly 0
// above the diagonal), then dq, dk, dv through the ops.
void attention_backward(float *dqkv, float *scratch, const float *dy, const float *heads,
                        const float *att, const AttnOps *ops, int B, int T, int C, int nh);

// The same on sequences of lengths lens[B] (NULL: all T): rows t >= lens[b] of sequence b
// are neither read nor written (y's and dqkv's rows there are left as they were), and every
// product runs on the rows before: a batch packed to its counted positions (net_table.h).
void attention_forward_len(float *y, float *heads, float *att, float *scratch, const float *qkv,
                           const AttnOps *ops, int B, int T, int C, int nh, const int *lens);
void attention_backward_len(float *dqkv, float *scratch, const float *dy, const float *heads,
                            const float *att, const AttnOps *ops, int B, int T, int C, int nh,
                            const int *lens);

// One position at a time (sampling's decode): position t of B sequences, their qkv rows
// [B,3C] at t, against the keys and values of positions 0..t. The cache is the forward's
// own heads layout (attention_heads_floats(B,T,C): the k and v planes [B,nh,T,hs]): the
// call writes position t's k and v rows there, row t of att [B,nh,T,T] (the same
// softmax_causal_row as the forward, scaled and masked identically: s > t exactly 0) and
// y [B,C]; the q, kT and vT planes are not touched. Positions 0..t-1 must have been written
// by the calls before (t = 0 needs nothing). Per (b,h): att_t = softmax(scale * q_t k_s^T,
// s <= t), y_t = sum_{s<=t} att_t[s] v_s, each a plain loop (hs and t are short: no GEMM
// pays), on the calling thread.
void attention_forward_step(float *y, float *heads, float *att, const float *qkv, int t, int B,
                            int T, int C, int nh);

// Atomic forms: the same GEMMs (same ops), and the softmax as one loop per line over all
// B*nh*T rows:
//   forward:  preatt = q @ k^T; scaled = preatt*scale; masked = scaled.masked_fill(s > t, -inf);
//             maxes = masked.max(-1); norm = masked - maxes; exps = norm.exp();
//             sums = exps.sum(-1); inv = sums**-1; att = exps*inv; y_h = att @ v
//   backward: datt = dy_h @ v^T; dv = att^T @ dy_h; dexps = datt*inv;
//             dinv = (datt*exps).sum(-1); dsums = -sums**-2*dinv; dexps += dsums;
//             dnorm = exps*dexps; dmasked = dnorm; dmaxes = -dnorm.sum(-1);
//             dmasked += onehot(argmax(masked))*dmaxes; dscaled = dmasked.masked_fill(s > t, 0);
//             dpreatt = scale*dscaled; dq = dpreatt @ k; dk = dpreatt^T @ q
// Like the notebook, the forward keeps every intermediate: tape (attention_atomic_tape_floats,
// written by the forward, read by the backward: preatt, scaled, masked, norm, exps
// [B,nh,T,T], then maxes, sums, inv [B,nh,T]). Outputs as the fused kernels; scratch:
// attention_atomic_scratch_floats, not kept. The (b,h) tasks run on the calling thread.
size_t attention_atomic_tape_floats(int B, int T, int C, int nh);     // 5*B*nh*T*T + 3*B*nh*T
size_t attention_atomic_scratch_floats(int B, int T, int C, int nh);  // 2*B*T*C + 6*B*nh*T*T
                                                                      //   + 3*B*nh*T
void attention_forward_atomic(float *y, float *heads, float *att, float *tape, float *scratch,
                              const float *qkv, const AttnOps *ops, int B, int T, int C, int nh);
void attention_backward_atomic(float *dqkv, float *scratch, const float *dy, const float *heads,
                               const float *att, const float *tape, const AttnOps *ops, int B,
                               int T, int C, int nh);

#endif
