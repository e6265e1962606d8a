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

static void scratch_free(void) {
    free(g_fused);
    free(g_batch);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem) {
    static int registered = 0;
    if (need <= *cap) return p;
    if (!registered) {
        atexit(scratch_free);
        registered = 1;
    }
    free(p);
    *cap = need;
    return xcalloc(need, elem);
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
float net_dp_train_step(Net *n, const Examples *ex, float lr, Rng *rng, int *stop) {
    if (n->bn_forward != syncbn_tanh_forward) dp_use_syncbn(n);  // first step: set once
    const int P = dist_size(), r = dist_rank(), Bl = n->B, T = n->cfg.T;
    const size_t B = (size_t)Bl * P, np = n->num_params;
    g_batch = grow(g_batch, &g_batch_cap, B * (T + 1), sizeof(int));
    g_fused = grow(g_fused, &g_fused_cap, np + 3, sizeof(float));
    int *Xg = g_batch, *Yg = g_batch + B * T;
    examples_sample_batch(Xg, Yg, ex, (int)B, rng);  // the global batch, as one process draws it
    float loss = net_forward(n, Xg + (size_t)r * Bl * T, Yg + (size_t)r * Bl, 1);
    net_backward(n);
    float *f = g_fused;
    memcpy(f, n->grads, np * sizeof(float));  // the batchnorm entries are sent and not used
    f[np] = loss;
    f[np + 1] = *stop == SIGINT;
    f[np + 2] = *stop != 0 && *stop != SIGINT;
    dist_allreduce_sum(f, (int)(np + 3));  // DIST: the step's one gradient allreduce
    const float inv_P = 1.0f / (float)P;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        if (t->is_stat) continue;
        float *g = n->grads + t->off;
        const float *src = net_tensor_is_bn(n, i) ? g : f + t->off;
        for (size_t k = 0; k < t->numel; k++) g[k] = src[k] * inv_P;
    }
    *stop = f[np + 1] > 0 ? SIGINT : f[np + 2] > 0 ? SIGTERM : 0;
    net_sgd(n, lr);
    return f[np] * inv_P;
}
