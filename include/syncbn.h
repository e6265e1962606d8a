// syncbn.h: synchronised batchnorm over the ranks of dist.h. Each of P ranks holds B/P rows
// of every global batch of B; batchnorm runs on the statistics of the global batch. These
// have the signatures of the local kernels (kernels.h) the layer table calls, and the
// data-parallel step (dp_step.h) puts them in their place. With P = 1 they compute what
// the plain kernels compute (up to float rounding: the column sums here are in double).
#ifndef MAKEMORE_SYNCBN_H
#define MAKEMORE_SYNCBN_H


// Training-mode batchnorm + tanh on this rank's Bl rows with the global batch's statistics
// (global B = Bl * P): ONE allreduce of the 2H column sums sum_b x and sum_b x^2 (in double),
// then bnmeani = S1/B, bnvar = (S2 - S1^2/B) / (B-1 or B). Same outputs and shapes as
// batchnorm_tanh_forward: h, bnraw, hprebn [Bl,H]; bnmeani, bnvar, bnvar_inv, bngain, bnbias [H].
// hprebn = hprod + bias[H] is formed on the fly (bias may be NULL), as
// batchnorm_tanh_forward_bias does.
void syncbn_tanh_forward(float *h, float *bnraw, float *bnmeani, float *bnvar, float *bnvar_inv,
                         const float *hprod, const float *bias, const float *bngain,
                         const float *bnbias, int Bl, int H, int bessel);
// Exercise 3's closed form on this rank's rows, with its two column sums, sum_b dhpreact and
// sum_b dhpreact*bnraw, taken over the global batch in ONE allreduce (in double). dbngain and
// dbnbias come out as those global sums (already summed over the ranks).
// dhprebn, dh, h, bnraw [Bl,H]; dbngain, dbnbias, bnvar_inv, bngain [H].
void syncbn_tanh_backward(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                          const float *h, const float *bnraw, const float *bnvar_inv,
                          const float *bngain, int Bl, int H, int bessel);

#endif
