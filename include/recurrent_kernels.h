// recurrent_kernels.h: the kernels of makemore.py's bigram, mlp (Bengio 2003), bow, rnn and
// gru models, forward and hand-written backward, and their atomic forms (one small loop or
// GEMM per line of makemore.py's forward and of its backward written out by hand; the
// references of the fused kernels and the bench's atomic side).
//
// House style of kernels.h: outputs first, then inputs, then sizes; every matrix product
// through blas.h (gemm(), or blas_sgemm on strided sub-blocks); OpenMP only where
// par_worth() or a kernel's own threshold says the fork pays; no allocation per call
// (buffers that outlive a call are `state`, the rest `scratch`, their sizes in floats from
// the *_floats functions below); results bit-identical at any thread count (every split is
// fixed by the sizes alone, every sum runs in a fixed order).
//
// Layout. Every sequence buffer is batch-major, [B,T,n] row-major (row b*T + t), as the
// caller's embedding gather writes x and as lm_head and the loss read the hidden states, so
// nothing is transposed on the way in or out. The recurrences step through time with the
// batch rows of one step strided by T*n: the per-step GEMMs read and write those rows in
// place through blas_sgemm's leading dimensions (OpenBLAS packs its operands, so a strided
// operand is a strided read in the packing, not a copy). Time-major buffers ([T,B,n]) would
// make each step's rows contiguous and h_{t-1} a view of hidden shifted one step; batch-major
// instead keeps x, hidden and their gradients in the caller's layout, and a block of batch
// rows [b0,b1) is one contiguous slab [b0:b1,T,n] that a thread runs through every step
// alone -- one fork per sequence, not one per step (when the recurrence is large enough:
// recurrent.c's rec_blocks). The price is one saved copy of h_{t-1} per position (the
// state's hprev, written by the pass that writes h_t), which makes the hidden half's
// weight gradient one GEMM over the B*T rows.
//
// Weights are the engine's [in, out] (out = in . W + b, a plain NN GEMM; the checkpoint
// writer transposes to PyTorch's [out, in]). For the cells, W [n_in+n_h, n_h]: rows
// [0, n_in) multiply x_t, rows [n_in, n_in+n_h) multiply h_{t-1} (or r*h_{t-1} for the
// GRU's candidate), so all T input projections are one GEMM [B*T, n_in] . W[0:n_in] and
// each step multiplies only the hidden half.
//
// Every gradient output is overwritten (never accumulated); an input is never written.
#ifndef MAKEMORE_RECURRENT_KERNELS_H
#define MAKEMORE_RECURRENT_KERNELS_H

#include <stddef.h>

// ---- bigram: logits[n,:] = W[X[n],:] ---------------------------------------------------

// logits [N,V] = rows X[n] of W [V,V]; X [N] in 0..V-1 (N = B*T positions).
void bigram_forward(float *logits, const float *W, const int *X, int N, int V);
// dW [V,V] (overwritten) = the scatter-add of dlogits [N,V] rows into rows X[n]. Each row
// of dW is summed by one thread in n order: the same bits at any thread count.
void bigram_backward(float *dW, const float *dlogits, const int *X, int N, int V);
// (Both are kernels.h's embedding gather and scatter-add at T = 1, E = V; the atomic form of
// the backward is embedding_backward_serial with the same sizes.)

// ---- mlp: the context through its projection tables ----------------------------------------
// The first linear layer of the mlp multiplies the concatenation of T embeddings, so its
// product is a sum of T table rows: with W1 [T*E, H] cut into T blocks W1_k [E, H] (the
// rows that multiply the token k places back),
//   hpre[b,t] = emb_cat[b,t] . W1 = sum_k P_k[X[b,t-k]],  P_k = wte . W1_k  [V+1, H]
// (X[b,t-k] read as the <BLANK> row V for t < k). The tables cost T (V+1) E H multiply-adds
// and the rows' sums B T T H adds, where the product costs B T (T E) H multiply-adds: at
// makemore.py's sizes on names.txt (B 32, T 16, V+1 28, E = H = 64) 1.8 M and 0.5 M against
// 33.6 M. The backward the same way: S_k[v] = sum of dpre over the positions whose k-th
// context token is v, then
//   dW1_k = wte^T . S_k,   dwte = sum_k S_k . W1_k^T.
// Positions: the rows of `pos` ([rows] entries b*T + t); P, S: [T, V+1, H].
void context_tables(float *P, const float *wte, const float *W1, int T, int E, int V1, int H);
void context_proj_forward(float *hpre, const float *P, const int *X, const int *pos, int rows,
                          int T, int V1, int H);
// dW1 [T*E, H] and dwte [V+1, E] overwritten; S scratch [T, V+1, H]. Each S_k is summed by
// one thread in the rows' order: bit-identical at any thread count.
void context_proj_backward(float *dW1, float *dwte, float *S, const float *dpre, const float *wte,
                           const float *W1, const int *X, const int *pos, int rows, int T, int E,
                           int V1, int H);

// ---- mlp: the context of every position ------------------------------------------------
//
// Position (b,t) sees its own token and the T-1 before it, nearest first; a position before
// the start of the row is the <BLANK> token V (wte's extra row):
//   src(b,t,k) = X[b, t-k] if t >= k, else V                          k = 0 .. T-1
//   emb_cat[b, t, k*E + e] = wte[src(b,t,k), e]
// emb_cat [B,T,T*E], wte [V+1,E], X [B,T] in 0..V-1.
void context_forward(float *emb_cat, const float *wte, const int *X, int B, int T, int E,
                     int V);
// dwte [V+1,E] (overwritten): dwte[v] = sum of demb_cat[b,t,k*E:(k+1)*E] over the (b,t,k)
// with src(b,t,k) == v, summed in (b,t,k) order; each row by one thread (the same bits at
// any thread count, and as context_backward_serial).
void context_backward(float *dwte, const float *demb_cat, const int *X, int B, int T, int E,
                      int V);
// The same in one plain loop nest on the calling thread (the reference order).
void context_backward_serial(float *dwte, const float *demb_cat, const int *X, int B, int T,
                             int E, int V);

// ---- bow: causal bag of words, closed form ---------------------------------------------
//
// The causal average y_t = 1/(t+1) sum_{s<=t} x_s (makemore.py's att @ x with att the
// softmax of masked zeros) as running sums, O(T) per row, with the block's residual fused:
// out [B,T,C] = x + y. x [B,T,C].
void bow_avg_forward(float *out, const float *x, int B, int T, int C);
// Its adjoint with the residual: dx_s = dout_s + sum_{t>=s} dout_t/(t+1), a suffix sum.
// dx may be dout (in place).
void bow_avg_backward(float *dx, const float *dout, int B, int T, int C);

// makemore.py's BoWBlock on x0 = wte[X] + wpe (the caller's embedding), C = n_embd,
// C2 = n_embd2:
//   x1 = x0 + causal_avg(x0)            x1 [B,T,C]
//   h  = tanh(x1 . Wfc + bfc)           h  [B,T,C2]    Wfc [C,C2], bfc [C2]
//   x2 = x1 + h . Wproj + bproj         x2 [B,T,C]     Wproj [C2,C], bproj [C]
// state (bow_state_floats): x1 then h, what the backward reads.
size_t bow_state_floats(int B, int T, int C, int C2);
void bow_block_forward(float *x2, float *state, const float *x0, const float *Wfc,
                       const float *bfc, const float *Wproj, const float *bproj, int B, int T,
                       int C, int C2);
// Given dx2 [B,T,C] and the forward's state: dx0 [B,T,C], dWfc [C,C2], dbfc [C2],
// dWproj [C2,C], dbproj [C] (all overwritten). The bias sums ride on the passes that read
// their rows anyway (tanh's backward, the suffix sum). scratch: bow_scratch_floats.
size_t bow_scratch_floats(int B, int T, int C, int C2);
void bow_block_backward(float *dx0, float *dWfc, float *dbfc, float *dWproj, float *dbproj,
                        float *scratch, const float *dx2, const float *state, const float *Wfc,
                        const float *Wproj, int B, int T, int C, int C2);

// ---- rnn: h_t = tanh([x_t, h_{t-1}] . W + b), h_{-1} = start ------------------------------
//
// x [B,T,n_in] (wte[X]), W [n_in+n_h, n_h], b [n_h], start [n_h] (makemore.py's [1,n_embd2]),
// hidden [B,T,n_h] = h_0 .. h_{T-1} per row (what lm_head reads).
// state (rnn_state_floats = B*T*n_h): hprev [B,T,n_h], hprev[b,t] = h_{t-1} (start at t=0),
// the left operand of the hidden half's weight gradient.
size_t rnn_state_floats(int B, int T, int n_h);
void rnn_forward(float *hidden, float *state, const float *x, const float *W, const float *b,
                 const float *start, int B, int T, int n_in, int n_h);
// Backpropagation through time, given dhidden [B,T,n_h] (from lm_head) and the forward's
// hidden and state: dx [B,T,n_in] (may be NULL: skipped), dW [n_in+n_h, n_h], db [n_h],
// dstart [n_h] (= the sum over b of dh_{-1}), all overwritten. Per step: dpre_t =
// (dhidden_t + dh_t) * (1 - h_t^2) and dh_{t-1} = dpre_t . W_h^T (one GEMM per step on a
// transposed copy of W_h); after the loop dW's two row blocks, x^T . dpre and hprev^T . dpre,
// and dx = dpre . W_x^T are one GEMM each over all B*T rows, db and dstart column sums in
// row order. scratch: rnn_scratch_floats (dpre [B,T,n_h], the carry [B,n_h],
// W_h^T [n_h,n_h], a sum [n_h]).
size_t rnn_scratch_floats(int B, int T, int n_in, int n_h);
void rnn_backward(float *dx, float *dW, float *db, float *dstart, float *scratch,
                  const float *dhidden, const float *hidden, const float *state, const float *x,
                  const float *W, int B, int T, int n_in, int n_h);

// ---- gru: makemore.py's GRUCell ----------------------------------------------------------
//
//   xh = [x_t, h_{t-1}]
//   r = sigmoid(xh . Wr + br)      z = sigmoid(xh . Wz + bz)
//   hbar = tanh([x_t, r*h_{t-1}] . Wh + bh)
//   h_t = (1 - z) * h_{t-1} + z * hbar
// The three linear layers in makemore.py's state_dict order (xh_to_z, xh_to_r,
// xh_to_hbar), each W [n_in+n_h, n_h] and b [n_h] as the engine stores them.
typedef struct {
    const float *Wz, *bz, *Wr, *br, *Wh, *bh;
} GruWeights;
typedef struct {
    float *dWz, *dbz, *dWr, *dbr, *dWh, *dbh;
} GruGrads;

// state (gru_state_floats), what the backward reads, in this order:
//   zr    [B,T,2*n_h]  z | r per row (sigmoids)          hbar [B,T,n_h]
//   hprev [B,T,n_h]    h_{t-1} (start at t=0)             rh   [B,T,n_h]  r * h_{t-1}
//   Wx_zr [n_in,2*n_h], Wh_zr [n_h,2*n_h]: z's and r's weights side by side (packed here
//   from Wz and Wr), so both gates' input projections are one GEMM and their per-step
//   product another. The biases are added in the passes that apply the nonlinearities.
// The forward per step: one GEMM into z|r, a pass (r, r*h), one GEMM into hbar, a pass
// (z's sigmoid, hbar's tanh and the blend in one), the two GEMMs being the data dependence.
size_t gru_state_floats(int B, int T, int n_in, int n_h);
void gru_forward(float *hidden, float *state, const float *x, const GruWeights *w,
                 const float *start, int B, int T, int n_in, int n_h);
// BPTT for the GRU given dhidden [B,T,n_h] and the forward's state (the blend's inputs,
// not hidden): dx [B,T,n_in] (may be NULL), dstart [n_h] and g's six gradients, all
// overwritten. Per step: a pass (with dh: hbar's and z's pre-activation gradients and
// dh*(1-z)), one GEMM (r*h's gradient), a pass (r's pre-activation gradient and the reset
// path into dh_{t-1}), one GEMM (both gates into dh_{t-1}). After the loop every weight
// gradient and dx are GEMMs over all B*T rows. scratch: gru_scratch_floats ([dz | dr]
// [B,T,2*n_h], dhbar's pre-activation [B,T,n_h], the carry and r*h's gradient [B,n_h] each,
// the transposed hidden halves [2*n_h,n_h] and [n_h,n_h], z's and r's weight gradients side
// by side [n_in+n_h,2*n_h] before they are split into dWz and dWr, a sum [2*n_h]).
size_t gru_scratch_floats(int B, int T, int n_in, int n_h);
void gru_backward(float *dx, const GruGrads *g, float *dstart, float *scratch,
                  const float *dhidden, const float *state, const float *x, const GruWeights *w,
                  int B, int T, int n_in, int n_h);

// ---- atomic forms (recurrent_atomic.c) ----------------------------------------------------
//
// The same contracts as the fused kernels above, written as makemore.py's forward runs them
// and its backward by hand, one line per loop or GEMM: every intermediate materialised
// (per time step for the cells), gradients accumulated step by step as autograd does.
// Their workspace (forward writes, backward reads) has the size of the *_atomic_floats
// function. Serial loops apart from the GEMMs.

// mlp's context as makemore.py builds it: T gathers wte[idx] with idx rolled one place
// right and its first column set to <BLANK> after each, then the concatenation.
// work: context_atomic_floats (the T index tensors [T][B,T] as ints, then the T gathers
// [T][B,T,E], whose gradients the backward keeps in the same place).
size_t context_atomic_floats(int B, int T, int E);
void context_forward_atomic(float *emb_cat, float *work, const float *wte, const int *X, int B,
                            int T, int E, int V);
// The backward line by line: the cat's gradient split into the T gathers, each gather's
// scatter-add into dwte with the same rolled indices (dwte overwritten).
void context_backward_atomic(float *dwte, float *work, const float *demb_cat, int B, int T,
                             int E, int V);

// BoWBlock: att = softmax(masked_fill(zeros [T,T], upper triangle, -inf)); y = att @ x per
// row; x1 = x + y; hpre = x1 @ Wfc + bfc; h = tanh(hpre); m = h @ Wproj + bproj; x2 = x1 + m.
// The backward has no line for att (no parameter reaches it): dx0 = dx1 + att^T @ dx1.
// work: att [T,T], then y, x1, hpre, h, m and the backward's dm, dh, dhpre, dx1, dy.
size_t bow_atomic_floats(int B, int T, int C, int C2);
void bow_block_forward_atomic(float *x2, float *work, const float *x0, const float *Wfc,
                              const float *bfc, const float *Wproj, const float *bproj, int B,
                              int T, int C, int C2);
void bow_block_backward_atomic(float *dx0, float *dWfc, float *dbfc, float *dWproj,
                               float *dbproj, float *work, const float *dx2, const float *Wfc,
                               const float *Wproj, int B, int T, int C, int C2);

// RNN and GRU cells, step by step: hprev = start.expand(B, -1); per t: x_t = emb[:, t],
// xh = cat([x_t, hprev]), the cell's lines, hiddens stacked. The backward from the last
// step: dW (+)= xh^T @ da per step, dxh = da @ W^T split into dx[:, t] and dhprev,
// dstart = dhprev.sum(0) (the expand's adjoint). work: every step's intermediates [T][B,...]
// and one step's gradients.
size_t rnn_atomic_floats(int B, int T, int n_in, int n_h);
void rnn_forward_atomic(float *hidden, float *work, const float *x, const float *W,
                        const float *b, const float *start, int B, int T, int n_in, int n_h);
void rnn_backward_atomic(float *dx, float *dW, float *db, float *dstart, float *work,
                         const float *dhidden, const float *W, int B, int T, int n_in, int n_h);
size_t gru_atomic_floats(int B, int T, int n_in, int n_h);
void gru_forward_atomic(float *hidden, float *work, const float *x, const GruWeights *w,
                        const float *start, int B, int T, int n_in, int n_h);
void gru_backward_atomic(float *dx, const GruGrads *g, float *dstart, float *work,
                         const float *dhidden, const GruWeights *w, int B, int T, int n_in,
                         int n_h);

#endif
