// seq_kernels.h: the kernels every sequence model of makemore.py shares (bigram, mlp, bow,
// rnn, gru, transformer): the masked cross-entropy (F.cross_entropy(..., ignore_index=-1)),
// torch.optim.AdamW's update, and the token + position embedding; each fused, and the
// cross-entropy and AdamW also in their atomic form (one loop per notebook line), the
// other side of the fused-against-atomic comparison.
//
// House rules, as kernels.h: outputs first, then inputs, then sizes; OpenMP only where
// par_worth(work) says the fork pays; no allocation; every sum runs in an order fixed by
// the sizes alone, so results are bit-identical at any thread count.
#ifndef MAKEMORE_SEQ_KERNELS_H
#define MAKEMORE_SEQ_KERNELS_H

#include <stddef.h>

// ---- masked cross-entropy ---------------------------------------------------------------
// logits, dlogits [N,V]; targets [N] in -1..V-1, where -1 marks a row the loss ignores.
// n_valid = the number of rows with target >= 0.

// One pass per row: returns the mean loss over the valid rows,
//   loss = -1/n_valid * sum_{valid i} log softmax(logits[i])[targets[i]],
// and writes dlogits = (softmax(logits) - onehot(targets)) / n_valid on the valid rows,
// 0 on the ignored rows (dlogits overwritten). The per-row terms are summed in double over
// row parts fixed by N and V, combined in part order. With no valid row: returns NAN and
// dlogits is all zeros.
float ce_masked_forward_backward(float *dlogits, const float *logits, const int *targets,
                                 int N, int V);

// Evaluation: the SUM (not mean) of -log softmax(logits[i])[targets[i]] over the valid rows,
// computed in double; *n_valid (may be NULL) receives the number of valid rows.
double ce_masked_loss_sum(const float *logits, const int *targets, int N, int V, int *n_valid);

// The atomic form: the lecture's chain, one loop per line (the forward lines over every row)
//   logit_maxes = logits.max(1, keepdim=True).values             [N,1]
//   norm_logits = logits - logit_maxes                            [N,V]
//   counts = norm_logits.exp()                                    [N,V]
//   counts_sum = counts.sum(1, keepdims=True)                     [N,1]
//   counts_sum_inv = counts_sum**-1                               [N,1]
//   probs = counts * counts_sum_inv                               [N,V]
//   logprobs = probs.log()                                        [N,V]
//   loss = -logprobs[valid, targets[valid]].mean()                []
// then backward, line by line (dlogprobs = -1/n_valid at the valid targets, 0 elsewhere;
// dprobs; dcounts_sum_inv; dcounts; dcounts_sum; dcounts += dcounts_sum; dnorm_logits;
// dlogits = dnorm_logits; dlogit_maxes; dlogits += onehot(argmax) * dlogit_maxes).
// Same inputs and outputs as ce_masked_forward_backward; every gradient of the chain is 0
// on the ignored rows. Like the notebook's, the dprobs line gives inf * 0 = NaN where a
// probability underflows to 0 (a logit gap above ~88). The loss is summed in double.
// scratch: ce_masked_atomic_scratch(N, V) floats (overwritten).
float ce_masked_forward_backward_atomic(float *dlogits, const float *logits,
                                        const int *targets, int N, int V, float *scratch);
size_t ce_masked_atomic_scratch(int N, int V);  // 8*N*V + 6*N

// ---- AdamW ------------------------------------------------------------------------------
// torch.optim.AdamW's single-tensor update (torch 1.13, amsgrad off), in PyTorch's float
// order so that the results agree with it to the bit on the elements tested:
//   p = p * (1 - lr*weight_decay)
//   m = beta1*m + (1-beta1)*g                  (as torch: fma(g, 1-beta1, m*beta1))
//   v = beta2*v + (1-beta2)*g*g                (as torch: fma((1-beta2)*g, g, v*beta2))
//   denom = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p = p + (-(lr / (1 - beta1^t)) * m) / denom
// The hyperparameters are Python's floats (doubles: beta1 = 0.9, not 0.9f, for 1 - beta1 to
// be Python's); the scalars (1 - lr*wd, 1 - beta, the bias corrections, the step size) are
// computed in double, as Python does, and each rounded to float once where torch's kernels
// take it. t is the step count after its increment (1 on the first step). p, m, v [n]
// updated in place; g [n] read.
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, double lr,
                  double beta1, double beta2, double eps, double weight_decay, long t);

// The atomic form: one loop per line of the update above (decay, m, v, denom, step);
// denom [n] is caller scratch. Same float operations, so the same bits as adamw_update.
void adamw_update_atomic(float *p, const float *g, float *m, float *v, float *denom, size_t n,
                         double lr, double beta1, double beta2, double eps,
                         double weight_decay, long t);

// ---- token + position embedding ---------------------------------------------------------
// out[b,t,:] = wte[idx[b,t],:] + wpe[t,:]      out [B,T,C], idx [B,T] in 0..V-1,
//                                              wte [V,C], wpe [>= T, C]
void embedding_pos_forward(float *out, const int *idx, const float *wte, const float *wpe, int B,
                           int T, int C);
// dwte[v,:] = sum over (b,t) with idx[b,t] == v of dout[b,t,:]   (in (b,t) order)
// dwpe[t,:] = sum over b of dout[b,t,:]                          (in b order)
// dwte [V,C] and dwpe [T,C] overwritten (rows of wpe past T are not touched).
void embedding_pos_backward(float *dwte, float *dwpe, const float *dout, const int *idx, int B,
                            int T, int C, int V);

// A linear layer's bias and tanh in one pass over its product: h = tanh(h + bias[M]),
// h [N,M] in place (makemore.py's Bengio MLP: Linear -> Tanh).
void bias_tanh_forward(float *h, const float *bias, int N, int M);
// Its backward: dpre = (1 - h^2) * dh [N,M] and dbias = column sums of dpre, in one pass
// (dbias overwritten; bit-identical at any thread count).
void tanh_bias_backward(float *dpre, float *dbias, const float *dh, const float *h, int N, int M);

#endif
