// dp_step.h: data-parallel training of a layer table over the ranks of dist.h (make MPI=1,
// docs/SCALING.md). It lives above the table: the table knows nothing of ranks, and this
// module swaps the synchronised batchnorm kernels (syncbn.h) into it and runs the step
// with one fused gradient allreduce.
#ifndef MAKEMORE_DP_STEP_H
#define MAKEMORE_DP_STEP_H

#include "data.h"
#include "net.h"
#include "rng.h"

// Makes every batchnorm of n take the statistics of the global batch (all ranks' rows).
// net_dp_train_step calls it on its first step.
void dp_use_syncbn(Net *n);

// One data-parallel step. Every rank draws the whole global batch (n->B * P examples)
// from rng, exactly as one process draws it, and keeps its own rows; forward and backward
// with every batchnorm synchronised; then ONE allreduce of a fused buffer (the gradients
// but the batchnorms' gains and shifts, already global sums; the loss; each rank's
// pending stop signal), and the same update on every rank: net_sgd (lr), or AdamW's step t
// (lr, weight_decay); the running statistics move with the global batch's. makemore.py's
// types weight each rank's mean by its share of the batch's counted positions, so the
// step's loss and gradient are the global batch's mean. *stop: in, this rank's signal (0
// none); out, the signal the ranks agreed on (SIGINT if any rank had one, else SIGTERM if
// any, else 0). Returns the global batch's mean loss.
float net_dp_train_step(Net *n, const Examples *ex, float lr, float weight_decay, long t, Rng *rng,
                        int *stop);

#endif
