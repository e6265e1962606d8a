// dp_step.c: the data-parallel step over a layer table (dp_step.h).
#include "dp_step.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "dist.h"
#include "syncbn.h"

// ---- scratch, allocated once (grown, never per step), freed at exit ------------------

static float *g_fused;   // the fused gradient buffer
static size_t g_fused_cap;
static int *g_batch;     // the global batch: X [B,T] then Y [B]
static size_t g_batch_cap;

static void scratch_free(void) {  // registered once per buffer: idempotent
    free(g_fused);
    free(g_batch);
    g_fused = NULL;
    g_batch = NULL;
}

void dp_use_syncbn(Net *n) {
    n->bn_forward = syncbn_tanh_forward;
    n->bn_backward = syncbn_tanh_backward;
}

// The data-parallel step for a Net (net.h): every batchnorm of the table is synchronised
// (net.c calls the functions above when P > 1), and every gradient but the batchnorm gains
// and shifts (already global sums) goes through the one fused allreduce, then / P.
// Each rank's dlogits is (softmax - onehot) / Bl: P times its share of the global mean's
// gradient, and every gradient downstream (the synchronised batchnorm sums included) scales
// with it. So the global gradient is (sum over ranks) / P, and bngain/bnbias's, already
// summed by the batchnorm allreduce, are divided by P alone.
float net_dp_train_step(Net *n, const Examples *ex, float lr, float weight_decay, long t, Rng *rng,
                        int *stop) {
    if (n->bn_forward != syncbn_tanh_forward) dp_use_syncbn(n);  // first step: set once
    const int P = dist_size(), r = dist_rank(), Bl = n->B, T = n->cfg.T, ty = n->seq ? T : 1;
    const size_t B = (size_t)Bl * P, np = n->num_params;
    g_batch = xgrow(g_batch, &g_batch_cap, B * (T + ty), sizeof(int), scratch_free);
    g_fused = xgrow(g_fused, &g_fused_cap, np + 3, sizeof(float), scratch_free);
    int *Xg = g_batch, *Yg = g_batch + B * T;
    examples_sample_batch(Xg, Yg, ex, (int)B, rng);  // the global batch, as one process draws it
    const int *Yr = Yg + (size_t)r * Bl * ty;
    float loss = net_forward(n, Xg + (size_t)r * Bl * T, Yr, 1);
    net_backward(n);
    // Each rank's loss and gradients are means over its own rows; weight w = its share of
    // the global mean: 1/P for the lecture's rows, n_r / N for makemore.py's counted
    // positions (every rank has the whole batch's targets: no message needed).
    float w = 1.0f / (float)P;
    if (n->seq) {
        long mine = 0, all = 0;
        for (size_t k = 0; k < B * T; k++) all += Yg[k] >= 0;
        for (size_t k = 0; k < (size_t)Bl * T; k++) mine += Yr[k] >= 0;
        w = all ? (float)mine / (float)all : 0.0f;
        if (!mine) loss = 0.0f;  // no position of this rank counts (its mean is NAN)
    }
    float *f = g_fused;
    for (size_t k = 0; k < np; k++) f[k] = n->grads[k] * w;  // batchnorm entries: sent, unused
    f[np] = loss * w;
    f[np + 1] = *stop == SIGINT;
    f[np + 2] = *stop != 0 && *stop != SIGINT;
    dist_allreduce_sum(f, (int)(np + 3));  // DIST: the step's one gradient allreduce
    const float inv_P = 1.0f / (float)P;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *x = &n->tensor[i];
        if (x->is_stat) continue;
        float *g = n->grads + x->off;
        if (net_tensor_is_bn(n, i))  // already the global sums (the synchronised batchnorm)
            for (size_t k = 0; k < x->numel; k++) g[k] *= inv_P;
        else
            memcpy(g, f + x->off, x->numel * sizeof(float));
    }
    *stop = f[np + 1] > 0 ? SIGINT : f[np + 2] > 0 ? SIGTERM : 0;
    if (n->cfg.optim == OPTIM_ADAMW) net_adamw(n, lr, weight_decay, t);
    else net_sgd(n, lr);
    return f[np];
}
