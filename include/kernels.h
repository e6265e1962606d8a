// kernels.h: the model's non-matmul kernels, forward and fused backward
// (exercises 2 and 3, and the embedding scatter-add). Plain functions in the
// llm.c manner: outputs first, then inputs, then sizes. OpenMP inside, each
// kernel forking only when its work pays for the fork (par_worth).
// The atomic (one-notebook-line-per-loop) forms live in backward_atomic.h.
#ifndef MAKEMORE_KERNELS_H
#define MAKEMORE_KERNELS_H

// The batchnorm epsilon (torch.nn.BatchNorm1d's default), of every batchnorm kernel.
#define BN_EPS 1e-5f

// embcat[b, t*E + e] = C[Xb[b,t], e]             embcat [B,T*E], C [V,E], Xb [B,T]
void embedding_forward(float *embcat, const float *C, const int *Xb, int B, int T, int E);

// Training-mode batchnorm + tanh on batch statistics:
//   bnmeani[j] = mean_b hprebn[b,j]
//   bnvar[j]   = sum_b (hprebn[b,j]-bnmeani[j])^2 / (B-1 if bessel else B)
//   bnvar_inv  = (bnvar + BN_EPS)^-1/2
//   bnraw      = (hprebn - bnmeani) * bnvar_inv
//   h          = tanh(bngain * bnraw + bnbias)
// h, bnraw, hprebn [B,H]; bnmeani, bnvar, bnvar_inv, bngain, bnbias [H]
void batchnorm_tanh_forward(float *h, float *bnraw, float *bnmeani, float *bnvar,
                            float *bnvar_inv, const float *hprebn, const float *bngain,
                            const float *bnbias, int B, int H, int bessel);

// The same with the linear layer's bias fused in: hprebn = hprod + bias[H] is formed on
// the fly in each pass (hprod [B,H], the GEMM's product alone), so no pass of its own
// writes it. bias NULL: batchnorm_tanh_forward.
void batchnorm_tanh_forward_bias(float *h, float *bnraw, float *bnmeani, float *bnvar,
                                 float *bnvar_inv, const float *hprod, const float *bias,
                                 const float *bngain, const float *bnbias, int B, int H,
                                 int bessel);

// Inference mode: h = tanh(bngain * (hprebn - bnmean) * (bnvar + eps)^-1/2 + bnbias)
void batchnorm_tanh_forward_eval(float *h, const float *hprebn, const float *bnmean,
                                 const float *bnvar, const float *bngain,
                                 const float *bnbias, int B, int H);

// Exercise 2: dlogits = (softmax(logits) - onehot(Yb)) / B         dlogits, logits [B,V]
void ce_backward_fused(float *dlogits, const float *logits, const int *Yb, int B, int V);
// Exercise 2 fused with the loss: one pass per row computes the row's loss term and
// its dlogits row. Returns the mean loss.
float ce_forward_backward_fused(float *dlogits, const float *logits, const int *Yb, int B,
                                int V);
// Sum (not mean) of -log softmax(logits)[b, Yb[b]] over the B rows, in double.
double ce_loss_sum(const float *logits, const int *Yb, int B, int V);

// Exercise 3, closed form (bessel = 1 is the lecture's B-1 variance):
//   dhprebn = bngain*bnvar_inv/B * (B*dhpreact - sum_b dhpreact - k*bnraw*sum_b(dhpreact*bnraw))
//   with k = B/(B-1) (bessel) or 1;  dbngain = sum_b dhpreact*bnraw;  dbnbias = sum_b dhpreact
// dhprebn, dhpreact, bnraw [B,H]; dbngain, dbnbias, bnvar_inv, bngain [H]. Outputs overwritten.
void bn_backward_fused(float *dhprebn, float *dbngain, float *dbnbias, const float *dhpreact,
                       const float *bnraw, const float *bnvar_inv, const float *bngain, int B,
                       int H, int bessel);
// The same with tanh's backward fused in front: dhpreact = (1 - h^2) * dh on the fly.
void bn_tanh_backward_fused(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                            const float *h, const float *bnraw, const float *bnvar_inv,
                            const float *bngain, int B, int H, int bessel);

// Embedding backward, a scatter-add: dC[Xb[b,t], e] += dembcat[b, t*E + e].
// dC [V,E] is overwritten (zeroed first). Race-free and deterministic: every row of dC
// is summed by one thread in (b,t) order, so the result does not depend on the thread count.
void embedding_backward(float *dC, const float *dembcat, const int *Xb, int B, int T, int E,
                        int V);
// The lecture's serial loop (reference and the bench's naive side).
void embedding_backward_serial(float *dC, const float *dembcat, const int *Xb, int B, int T,
                               int E, int V);

#endif
