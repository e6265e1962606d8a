// syncbn.h: data-parallel training over the ranks of dist.h. Each of P ranks holds B/P rows
// of every global batch of B; batchnorm runs on the statistics of the global batch
// (synchronised batchnorm), and the gradients are summed over the ranks before the same
// SGD update on every rank. With P = 1 these compute what the plain kernels compute (up to
// float rounding: the column sums here are in double).
#ifndef MAKEMORE_SYNCBN_H
#define MAKEMORE_SYNCBN_H

#include "data.h"
#include "net.h"
#include "rng.h"

// Training-mode batchnorm + tanh on this rank's Bl rows with the global batch's statistics
// (global B = Bl * P): ONE allreduce of the 2H column sums sum_b x and sum_b x^2 (in double),
// then bnmeani = S1/B, bnvar = (S2 - S1^2/B) / (B-1 or B). Same outputs and shapes as
// batchnorm_tanh_forward: h, bnraw, hprebn [Bl,H]; bnmeani, bnvar, bnvar_inv, bngain, bnbias [H].
void syncbn_tanh_forward(float *h, float *bnraw, float *bnmeani, float *bnvar, float *bnvar_inv,
                         const float *hprebn, const float *bngain, const float *bnbias, int Bl,
                         int H, int bessel);
// Exercise 3's closed form on this rank's rows, with its two column sums, sum_b dhpreact and
// sum_b dhpreact*bnraw, taken over the global batch in ONE allreduce (in double). dbngain and
// dbnbias come out as those global sums (already summed over the ranks).
// dhprebn, dh, h, bnraw [Bl,H]; dbngain, dbnbias, bnvar_inv, bngain [H].
void syncbn_tanh_backward(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                          const float *h, const float *bnraw, const float *bnvar_inv,
                          const float *bngain, int Bl, int H, int bessel);

// One data-parallel step for a Net of the MLP family. Every rank draws the whole global
// batch (n->B * P examples) from rng, exactly as one process draws it, and keeps its own
// n->B rows; forward and backward with every batchnorm synchronised; then ONE allreduce of
// a fused buffer (the gradients, the loss, and each rank's pending stop signal), and
// net_sgd on every rank; the running statistics move with the global batch's.
// *stop: in, this rank's signal (0 none); out, the signal the ranks agreed on (SIGINT if any
// rank had one, else SIGTERM if any, else 0). Returns the global batch's mean loss.
float net_dp_train_step(Net *n, const Examples *ex, float lr, Rng *rng, int *stop);

// TO BE DELETED with model.c: the same step for model.c's Model (src/syncbn.c, at the
// bottom), declared only where model.h was included first (src/train.c, its last user).
#ifdef MAKEMORE_MODEL_H
float dp_train_step(Model *m, const Examples *ex, float lr, Rng *rng, int *stop);
#endif

#endif
