// mlp.c: the lecture's family on the layer table (mlp.h): the MLP of parts 3-4 and part 5's
// WaveNet, their recipes, and the layer kinds EMBED, FLATTEN, LINEAR, BN_TANH, LINEAR_OUT.
// The kinds call the engine's kernels (kernels.h) and GEMMs (linear.h); nothing here is a
// new kernel.
#include "mlp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"
#include "linear.h"
#include "seq_kernels.h"

// The lecture's MLP (part 4: 200 000 steps, lr 0.1 then 0.01 from step 100 000, batchnorm
// calibrated after training) and part 5's WaveNet (block 8, embd 24, hidden 128, lr 0.01
// from step 150 000, running statistics).
void mlp_recipe(NetRecipe *r) {
    *r = (NetRecipe){.T = 3, .E = 10, .H = 200, .layers = 1, .heads = 1,
                     .bn_stats = BN_STATS_CALIBRATE, .optim = OPTIM_SGD, .steps = 200000,
                     .decay_step = 100000, .lr = 0.1f, .lr2 = 0.01f, .batch = 32};
}
void wavenet_recipe(NetRecipe *r) {
    *r = (NetRecipe){.T = 8, .E = 24, .H = 128, .layers = 1, .heads = 1,
                     .bn_stats = BN_STATS_RUNNING, .optim = OPTIM_SGD, .steps = 200000,
                     .decay_step = 150000, .lr = 0.1f, .lr2 = 0.01f, .batch = 32};
}

int mlp_config_check(NetConfig *c, Err *err) {
    if (c->arch == ARCH_WAVENET) {
        if (c->T < 2 || (c->T & (c->T - 1)))
            return err_set(err, "--block %d with --arch wavenet: the context is halved by each "
                           "FlattenConsecutive(2) level down to 1, so it must be a power of two "
                           ">= 2 (2, 4, 8, 16, 32, 64)", c->T);
        c->layers = 0;
        for (int t = c->T; t > 1; t >>= 1) c->layers++;
    } else if (c->layers < 1 || c->layers > 16) {
        return err_set(err, "--layers %d (allowed: 1..16 hidden blocks)", c->layers);
    }
    if (c->norm == NORM_NONE && c->arch != ARCH_MLP)
        return err_set(err, "--norm none with --arch wavenet: its blocks keep their batchnorm "
                       "(allowed: --arch mlp)");
    if (!(c->momentum > 0.0f && c->momentum <= 1.0f))
        return err_set(err, "batchnorm momentum %g (allowed: 0 < m <= 1)", (double)c->momentum);
    return 0;
}

// ---- the kinds -----------------------------------------------------------------------------

static const float *input_of(const Net *n, int l) { return l ? n->acts + n->layer[l - 1].out : NULL; }

// Packed (makemore.py's rnn and gru): each packed row's token, a sequence of one.
static void embed_forward(Net *n, const Layer *L, int l, int update_running) {
    (void)l, (void)update_running;
    if (n->packed) embedding_forward(n->acts + L->out, net_tensor(n, L->w), n->pk_x, n->rows, 1, n->cfg.E);
    else embedding_forward(n->acts + L->out, net_tensor(n, L->w), n->Xb, n->B, n->cfg.T, n->cfg.E);
}
static void embed_backward(Net *n, const Layer *L, int l, float lr) {  // the scatter-add
    (void)l, (void)lr;
    const int V = n->tensor[L->w].shape[0];
    if (n->packed)
        embedding_backward(net_grad(n, L->w), n->acts + L->dout, n->pk_x, n->rows, 1, n->cfg.E, V);
    else
        embedding_backward(net_grad(n, L->w), n->acts + L->dout, n->Xb, n->B, n->cfg.T, n->cfg.E, V);
}

// (B*rows, H): the product alone; its bias is added in the batchnorm's passes.
static void linear_forward_kind(Net *n, const Layer *L, int l, int update_running) {
    (void)update_running;
    linear_forward_op(&n->plan.op[L->fwd], n->acts + L->out, input_of(n, l), net_tensor(n, L->w), NULL);
}

void mlp_linear_backward(Net *n, const Layer *L, float *din, const float *dout, const float *in,
                         int rows, float lr) {
    float *W = net_tensor(n, L->w), *db = L->b >= 0 ? net_grad(n, L->b) : NULL;
    const GemmOp *dx = &n->plan.op[L->dx], *dw = &n->plan.op[L->dw];
    if (n->tensor[L->w].gemm_updated) {  // the plan's dW folds the SGD step in
        if (lr > 0.0f) linear_backward_sgd_op(dx, dw, din, W, db, dout, in, lr);
        else linear_backward(din, net_grad(n, L->w), db, dout, in, W, rows, L->in_cols, L->cols);
    } else {
        linear_backward_op_rows(dx, dw, rows, din, net_grad(n, L->w), db, dout, in, W);
    }
}

static void linear_backward_kind(Net *n, const Layer *L, int l, float lr) {
    const Layer *p = &n->layer[l - 1];
    mlp_linear_backward(n, L, n->acts + p->dout, n->acts + L->dout, n->acts + p->out,
                        n->B * L->in_rows, lr);
}

void mlp_linear_plan(Net *n, Layer *L, int phase, int k, float fwd_beta, GemmKind fixed) {
    char tag[8];
    snprintf(tag, sizeof tag, "%d", k);
    net_plan_linear(n, phase, tag, n->B * L->in_rows, L->in_cols, L->cols, fwd_beta, fixed,
                    n->tensor[L->w].gemm_updated, &L->fwd, &L->dx, &L->dw);
}

// A hidden layer's product alone (its bias goes into the batchnorm's passes); the output
// layer's accumulated onto its preloaded bias rows. The output layer's fixed path runs its
// dX and dW on a transposed copy (GEMM_BLAS_T: its 27-wide NT and TN forms are OpenBLAS's
// slow paths, linear.h); the others run cblas_sgemm as the shapes are.
static void linear_plan(Net *n, Layer *L, int phase) { mlp_linear_plan(n, L, phase, L->op[0], 0.0f, GEMM_BLAS); }
static void linear_out_plan(Net *n, Layer *L, int phase) {
    mlp_linear_plan(n, L, phase, L->op[0], 1.0f, GEMM_BLAS_T);
}

// Running statistics, as part 5's BatchNorm1d: r = (1 - m) * r + m * batch.
static void running_update(float *mean, float *var, const float *bmean, const float *bvar,
                           float m, int H) {
    for (int j = 0; j < H; j++) {
        mean[j] = (1.0f - m) * mean[j] + m * bmean[j];
        var[j] = (1.0f - m) * var[j] + m * bvar[j];
    }
}

// (B*rows, H), statistics over all B*rows rows; the linear layer before it left its
// product alone: its bias is added here.
static void bn_tanh_forward_kind(Net *n, const Layer *L, int l, int update_running) {
    const NetConfig *c = &n->cfg;
    float *A = n->acts;
    n->bn_forward(A + L->out, A + L->raw, A + L->bmean, A + L->bvar, A + L->binv, input_of(n, l),
                  n->layer[l - 1].b >= 0 ? net_tensor(n, n->layer[l - 1].b) : NULL,
                  net_tensor(n, L->w), net_tensor(n, L->b), n->B * L->rows, L->cols, c->bessel);
    if (update_running && c->bn_stats == BN_STATS_RUNNING)
        running_update(net_tensor(n, L->mean), net_tensor(n, L->var), A + L->bmean, A + L->bvar,
                       c->momentum, L->cols);
}

// Exercise 3 with tanh fused, over all B*rows rows.
static void bn_tanh_backward_kind(Net *n, const Layer *L, int l, float lr) {
    (void)lr;
    float *A = n->acts;
    const Layer *p = &n->layer[l - 1];
    n->bn_backward(A + p->dout, net_grad(n, L->w), net_grad(n, L->b), A + L->dout, A + L->out,
                   A + L->raw, A + L->binv, net_tensor(n, L->w), n->B * L->rows, L->cols,
                   n->cfg.bessel);
}

// --norm none (part 3's start): h = tanh(hprod + b) in place over the linear layer's
// product (L->out is p->out: no backward reads the pre-activation), its bias added here as
// the batchnorm's pass adds it.
static void tanh_forward_kind(Net *n, const Layer *L, int l, int update_running) {
    (void)update_running;
    bias_tanh_forward(n->acts + L->out, net_tensor(n, n->layer[l - 1].b), n->B * L->rows, L->cols);
}

// dpre = (1 - h^2) dh into the linear layer's output gradient; the bias's gradient (the
// same column sums) is the linear layer's backward's to write, so it goes to its slot
// here and is overwritten there.
static void tanh_backward_kind(Net *n, const Layer *L, int l, float lr) {
    (void)lr;
    const Layer *p = &n->layer[l - 1];
    tanh_bias_backward(n->acts + p->dout, net_grad(n, p->b), n->acts + L->dout, n->acts + L->out,
                       n->B * L->rows, L->cols);
}

// The rows a layer of makemore.py's types runs on: the step's (packed or B*T).
static int out_rows(const Net *n, const Layer *L) { return net_step_rows(n, L); }

// (B*rows, V), then the loss and dlogits.
static void linear_out_forward(Net *n, const Layer *L, int l, int update_running) {
    (void)update_running;
    float *A = n->acts;
    const int rows = out_rows(n, L);
    linear_forward_op_rows(&n->plan.op[L->fwd], rows, A + L->out, input_of(n, l),
                           net_tensor(n, L->w), L->b >= 0 ? net_tensor(n, L->b) : NULL);
    if (n->seq)
        n->loss = ce_masked_forward_backward(A + L->dout, A + L->out, n->packed ? n->pk_y : n->Yb,
                                             rows, L->cols);
    else
        n->loss = ce_forward_backward_fused(A + L->dout, A + L->out, n->Yb, n->B, L->cols);
}

static void linear_out_backward(Net *n, const Layer *L, int l, float lr) {
    const Layer *p = &n->layer[l - 1];
    mlp_linear_backward(n, L, n->acts + p->dout, n->acts + L->dout, n->acts + p->out,
                        out_rows(n, L), lr);
}

// Decode (makemore.py's rnn, gru, and every type's head): net_decode_step packed the rows
// as position t of each sequence, so the embedding is the packed forward's gather; the
// head's logits are its forward's product, without a loss (no target to score).
static void embed_decode(Net *n, const Layer *L, int l, int t) {
    (void)t;
    embed_forward(n, L, l, 0);
}
static void linear_out_decode(Net *n, const Layer *L, int l, int t) {
    (void)t;
    linear_forward_op_rows(&n->plan.op[L->fwd], n->rows, n->acts + L->out, input_of(n, l),
                           net_tensor(n, L->w), L->b >= 0 ? net_tensor(n, L->b) : NULL);
}

// ---- what the diagnostics read (LayerProbe) ---------------------------------------------

// A linear layer: its output's gradient, and (SGD) where its weight's gradient comes from.
static void linear_probe(const Net *n, const Layer *L, int l, LayerProbe *p) {
    net_probe_output(n, L, l, p);
    if (!n->tensor[L->w].gemm_updated) return;
    p->fused_w = L->w;
    p->in = n->acts + n->layer[l - 1].out;
    p->in_cols = L->in_cols;
}
// BN_TANH and TANH: the tanh's output is the layer's.
static void tanh_probe(const Net *n, const Layer *L, int l, LayerProbe *p) {
    net_probe_output(n, L, l, p);
    p->nl = NET_NL_TANH;
    p->act = n->acts + L->out;
    p->act_cols = L->cols;
}

const LayerOps MLP_EMBED_OPS = {L_EMBED, embed_forward, embed_backward, NULL, net_probe_output,
                                    .decode = embed_decode};
static const LayerOps FLATTEN_OPS = {L_FLATTEN, NULL, NULL, NULL, NULL, NULL};  // a view of its input
static const LayerOps LINEAR_OPS = {L_LINEAR, linear_forward_kind, linear_backward_kind, linear_plan,
                                    linear_probe, NULL};
static const LayerOps BN_TANH_OPS = {L_BN_TANH, bn_tanh_forward_kind, bn_tanh_backward_kind, NULL,
                                     tanh_probe, NULL};
static const LayerOps TANH_OPS = {L_TANH, tanh_forward_kind, tanh_backward_kind, NULL, tanh_probe,
                                  NULL};
const LayerOps MLP_LINEAR_OUT_OPS = {L_LINEAR_OUT, linear_out_forward, linear_out_backward,
                                     linear_out_plan, linear_probe,
                                    .decode = linear_out_decode};

// ---- the table -----------------------------------------------------------------------------

// The tensors in checkpoint order: C; the linear layers' W and b from the input up; the
// batchnorms' gain and bias; then their statistics. For mlp with one layer these are the
// lecture's names and order (C, W1, b1, W2, b2, bngain, bnbias, bnmean, bnvar); with
// --norm none part 3's first cell's (C, W1, b1, W2, b2). --init plain draws every W and b
// from N(0, 1).
static void build_tensors(Net *n, NetOffsets *o, int lin_w[], int lin_b[], int bn_g[], int bn_b[],
                          int bn_m[], int bn_v[]) {
    const NetConfig *c = &n->cfg;
    int L = c->layers, wave = c->arch == ARCH_WAVENET, plain = c->init == INIT_PLAIN;
    net_add_tensor(n, o, "C", 0, c->V, c->E, 0, 1.0f, 0.0f);
    for (int k = 1; k <= L + 1; k++) {
        int out = k <= L, fan_in = out ? (k == 1 ? (wave ? 2 * c->E : c->T * c->E)
                                                 : (wave ? 2 * c->H : c->H))
                                       : c->H;
        int fan_out = out ? c->H : c->V;
        float scale = wave ? (out ? 1.0f : 0.1f) / sqrtf((float)fan_in)
                           : (out ? (5.0f / 3.0f) / sqrtf((float)fan_in) : 0.1f);
        lin_w[k] = net_add_tensor(n, o, "W", k, fan_in, fan_out, 0, plain ? 1.0f : scale, 0.0f);
        n->tensor[lin_w[k]].gemm_updated = c->optim == OPTIM_SGD;
        lin_b[k] = -1;
        if (!wave || !out)
            lin_b[k] = net_add_tensor(n, o, "b", k, fan_out, 0, 0, plain ? 1.0f : wave ? 0.0f : 0.1f, 0.0f);
    }
    if (c->norm == NORM_NONE) return;  // part 3's start: no batchnorm
    int numbered = wave || L > 1;
    for (int k = 1; k <= L; k++) {
        bn_g[k] = net_add_tensor(n, o, "bngain", numbered ? k : 0, 1, c->H, 0, wave ? 0.0f : 0.1f, 1.0f);
        bn_b[k] = net_add_tensor(n, o, "bnbias", numbered ? k : 0, 1, c->H, 0, wave ? 0.0f : 0.1f, 0.0f);
        n->tensor[bn_g[k]].is_bn = n->tensor[bn_b[k]].is_bn = 1;
    }
    for (int k = 1; k <= L; k++) {
        bn_m[k] = net_add_tensor(n, o, "bnmean", numbered ? k : 0, 1, c->H, 1, 0.0f, 0.0f);
        bn_v[k] = net_add_tensor(n, o, "bnvar", numbered ? k : 0, 1, c->H, 1, 0.0f, 1.0f);
    }
}

void mlp_build(Net *n, NetOffsets *o) {
    const NetConfig *c = &n->cfg;
    int lin_w[NET_MAX_LAYERS], lin_b[NET_MAX_LAYERS], bn_g[NET_MAX_LAYERS], bn_b[NET_MAX_LAYERS];
    int bn_m[NET_MAX_LAYERS], bn_v[NET_MAX_LAYERS];
    build_tensors(n, o, lin_w, lin_b, bn_g, bn_b, bn_m, bn_v);
    size_t Bz = (size_t)n->B;
    Layer *L = net_add_layer(n, L_EMBED, &MLP_EMBED_OPS, c->T, c->E);  // (B, T, E)
    L->w = 0;
    L->out = net_add_act(o, Bz * c->T * c->E);
    L->dout = net_add_act(o, Bz * c->T * c->E);
    for (int k = 1; k <= c->layers; k++) {
        const Layer *p = &n->layer[n->n_layers - 1];
        if (c->arch == ARCH_WAVENET || k == 1) {  // FlattenConsecutive: a view of p's rows
            int f = c->arch == ARCH_WAVENET ? 2 : c->T;
            size_t out = p->out, dout = p->dout;
            L = net_add_layer(n, L_FLATTEN, &FLATTEN_OPS, p->rows / f, p->cols * f);
            L->out = out;
            L->dout = dout;
        }
        size_t rows = Bz * n->layer[n->n_layers - 1].rows;
        L = net_add_layer(n, L_LINEAR, &LINEAR_OPS, n->layer[n->n_layers - 1].rows, c->H);
        L->w = lin_w[k];
        L->b = lin_b[k];
        L->op[0] = k;
        L->out = net_add_act(o, rows * c->H);
        L->dout = net_add_act(o, rows * c->H);
        if (c->norm == NORM_NONE) {  // tanh in place over the product
            size_t out = L->out;
            L = net_add_layer(n, L_TANH, &TANH_OPS, L->rows, c->H);
            L->out = out;
            L->dout = net_add_act(o, rows * c->H);
            continue;
        }
        L = net_add_layer(n, L_BN_TANH, &BN_TANH_OPS, L->rows, c->H);
        L->w = bn_g[k];
        L->b = bn_b[k];
        L->mean = bn_m[k];
        L->var = bn_v[k];
        L->out = net_add_act(o, rows * c->H);
        L->dout = net_add_act(o, rows * c->H);
        L->raw = net_add_act(o, rows * c->H);
        L->bmean = net_add_act(o, (size_t)c->H);
        L->bvar = net_add_act(o, (size_t)c->H);
        L->binv = net_add_act(o, (size_t)c->H);
    }
    L = net_add_layer(n, L_LINEAR_OUT, &MLP_LINEAR_OUT_OPS, 1, c->V);  // (B, V), then the CE
    L->w = lin_w[c->layers + 1];
    L->b = lin_b[c->layers + 1];
    L->op[0] = c->layers + 1;
    L->out = net_add_act(o, Bz * c->V);
    L->dout = net_add_act(o, Bz * c->V);
}
