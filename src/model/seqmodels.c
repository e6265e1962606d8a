// seqmodels.c: makemore.py's bigram, Bengio MLP, bag of words, RNN and GRU on the layer
// table (seqmodels.h). Each kind calls its kernels; nothing here is a new kernel.
#include "seqmodels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "linear.h"
#include "mlp.h"
#include "recurrent_kernels.h"
#include "seq_kernels.h"
#include "transformer.h"

void seqmodels_recipe(NetRecipe *r) {
    *r = (NetRecipe){.T = 0, .E = 64, .H = 64, .layers = 1, .heads = 1,
                     .bn_stats = BN_STATS_CALIBRATE, .optim = OPTIM_ADAMW, .steps = 20000,
                     .decay_step = 0, .lr = 5e-4f, .lr2 = 5e-4f, .weight_decay = 0.01f,
                     .batch = 32};
}

int seqmodels_config_check(NetConfig *c, Err *err) {
    (void)c, (void)err;
    return 0;
}

#define P(k) net_tensor(n, L->t0 + (k))
#define G(k) net_grad(n, L->t0 + (k))
#define ACT(k) (n->acts + L->a[k])

static const float *input_of(const Net *n, int l) { return n->acts + n->layer[l - 1].out; }
static float *dinput_of(const Net *n, int l) { return n->acts + n->layer[l - 1].dout; }

// A linear weight [in, out] (PyTorch's [out, in] transposed) and its bias, nn.Linear's
// initialisation U(-1/sqrt(in), 1/sqrt(in)). Returns the weight's index.
static int add_linear(Net *n, NetOffsets *o, const char *base, int in, int out) {
    char name[NET_NAME_MAX];
    const float bound = 1.0f / sqrtf((float)in);
    snprintf(name, sizeof name, "%.40s.weight", base);
    int w = net_add_param(n, o, name, in, out, NET_INIT_UNIFORM, bound, 0.0f);
    n->tensor[w].transposed = 1;
    snprintf(name, sizeof name, "%.40s.bias", base);
    net_add_param(n, o, name, out, 0, NET_INIT_UNIFORM, bound, 0.0f);
    return w;
}

// lm_head: LINEAR_OUT with its bias, plan ops numbered k; logits [B*T, V].
static void add_head(Net *n, NetOffsets *o, int in, int k) {
    const size_t BT = (size_t)n->B * n->cfg.T;
    Layer *L = net_add_layer(n, L_LINEAR_OUT, &MLP_LINEAR_OUT_OPS, n->cfg.T, n->cfg.V);
    L->w = add_linear(n, o, "lm_head", in, n->cfg.V);
    L->b = L->w + 1;
    L->op[0] = k;
    L->out = net_add_act(o, BT * n->cfg.V);
    L->dout = net_add_act(o, BT * n->cfg.V);
}

// ---- bigram: logits = W[X], a [V,V] table ---------------------------------------------------

static void bigram_fwd(Net *n, const Layer *L, int l, int ur) {  // packed: position-wise
    (void)l, (void)ur;
    const int N = n->rows, V = n->cfg.V;
    bigram_forward(n->acts + L->out, P(0), n->pk_x, N, V);
    n->loss = ce_masked_forward_backward(n->acts + L->dout, n->acts + L->out, n->pk_y, N, V);
}
static void bigram_bwd(Net *n, const Layer *L, int l, float lr) {
    (void)l, (void)lr;
    bigram_backward(G(0), n->acts + L->dout, n->pk_x, n->rows, n->cfg.V);
}
// Decode: the packed rows are position t of each sequence (net_decode_step); no loss. It
// pays: 3-4x the samples per second of the whole forward over the prefix, which gathers
// every position again and scores it (docs/MAKEMORE_PY.md, Sampling).
static void bigram_decode(Net *n, const Layer *L, int l, int t) {
    (void)l, (void)t;
    bigram_forward(n->acts + L->out, P(0), n->pk_x, n->rows, n->cfg.V);
}
static const LayerOps BIGRAM_OPS = {L_BIGRAM, bigram_fwd, bigram_bwd, NULL, net_probe_output,
                                    .decode = bigram_decode};

void bigram_build(Net *n, NetOffsets *o) {
    const int V = n->cfg.V;
    const size_t BT = (size_t)n->B * n->cfg.T;
    n->packed = NET_PACK_CAUSAL;
    Layer *L = net_add_layer(n, L_BIGRAM, &BIGRAM_OPS, n->cfg.T, V);
    L->t0 = net_add_param(n, o, "logits", V, V, NET_INIT_NORMAL, 0.0f, 0.0f);  // zeros
    L->out = net_add_act(o, BT * V);
    L->dout = net_add_act(o, BT * V);
}

// ---- bengio: the T previous tokens' embeddings -> Linear -> tanh -> Linear -------------------
// The first linear layer through its projection tables (recurrent_kernels.h): the sum of T
// rows of wte . W1_k per position, the same function as makemore.py's concatenation times
// W1 with 14 times fewer multiply-adds at makemore.py's sizes on names.txt; packed (a
// position's context lies before it).

static void context_fwd(Net *n, const Layer *L, int l, int ur) {
    (void)l, (void)ur;
    const NetConfig *c = &n->cfg;
    context_tables(ACT(0), P(0), P(1), c->T, c->E, c->V + 1, c->H);
    context_proj_forward(n->acts + L->out, ACT(0), n->Xb, n->pk_p, n->rows, c->T, c->V + 1, c->H);
    bias_tanh_forward(n->acts + L->out, P(2), n->rows, c->H);
}
static void context_bwd(Net *n, const Layer *L, int l, float lr) {
    (void)l, (void)lr;
    const NetConfig *c = &n->cfg;
    tanh_bias_backward(ACT(1), G(2), n->acts + L->dout, n->acts + L->out, n->rows, c->H);
    context_proj_backward(G(1), G(0), ACT(2), ACT(1), P(0), P(1), n->Xb, n->pk_p, n->rows, c->T,
                          c->E, c->V + 1, c->H);
}
// Decode: position t's window is the T tokens up to it in Xb (pk_p: row b is b*T + t), no
// cache; the projection tables, which the forward builds every step, are built at t = 0
// and kept for the positions after (the parameters do not move while sampling). It pays:
// 5x the samples per second of the whole forward (docs/MAKEMORE_PY.md, Sampling).
static void context_decode(Net *n, const Layer *L, int l, int t) {
    (void)l;
    const NetConfig *c = &n->cfg;
    if (t == 0) context_tables(ACT(0), P(0), P(1), c->T, c->E, c->V + 1, c->H);
    context_proj_forward(n->acts + L->out, ACT(0), n->Xb, n->pk_p, n->rows, c->T, c->V + 1, c->H);
    bias_tanh_forward(n->acts + L->out, P(2), n->rows, c->H);
}
// The tanh's output is the layer's (bias_tanh_forward in place).
static void context_probe(const Net *n, const Layer *L, int l, LayerProbe *p) {
    net_probe_output(n, L, l, p);
    p->nl = NET_NL_TANH;
    p->act = n->acts + L->out;
    p->act_cols = L->cols;
}
static const LayerOps CONTEXT_OPS = {L_CONTEXT, context_fwd, context_bwd, NULL, context_probe,
                                    .decode = context_decode};

void bengio_build(Net *n, NetOffsets *o) {
    const NetConfig *c = &n->cfg;
    const size_t BT = (size_t)n->B * c->T, tables = (size_t)c->T * (c->V + 1) * c->H;
    n->packed = NET_PACK_CAUSAL;
    Layer *L = net_add_layer(n, L_CONTEXT, &CONTEXT_OPS, c->T, c->H);
    // V + 1 rows: row V is the <BLANK> token of the positions before the start
    L->t0 = net_add_param(n, o, "wte.weight", c->V + 1, c->E, NET_INIT_NORMAL, 1.0f, 0.0f);
    add_linear(n, o, "mlp.0", c->T * c->E, c->H);
    L->out = net_add_act(o, BT * c->H);
    L->dout = net_add_act(o, BT * c->H);
    L->a[0] = net_add_act(o, tables);   // P: the projection tables
    L->a[1] = net_add_act(o, BT * c->H);  // dpre
    L->a[2] = net_add_act(o, tables);   // S
    Layer *H = net_add_layer(n, L_LINEAR_OUT, &MLP_LINEAR_OUT_OPS, c->T, c->V);
    H->w = add_linear(n, o, "mlp.2", c->H, c->V);
    H->b = H->w + 1;
    H->op[0] = 1;
    H->out = net_add_act(o, BT * c->V);
    H->dout = net_add_act(o, BT * c->V);
}

// ---- bow: x = x + causal average; x = x + c_proj(tanh(c_fc(x))) ------------------------------

static void bow_fwd(Net *n, const Layer *L, int l, int ur) {
    (void)ur;
    const NetConfig *c = &n->cfg;
    bow_block_forward(n->acts + L->out, ACT(0), input_of(n, l), P(0), P(1), P(2), P(3), n->B, n->Tp,
                      c->E, c->H);  // packed [B, Tp]
}
static void bow_bwd(Net *n, const Layer *L, int l, float lr) {
    (void)lr;
    const NetConfig *c = &n->cfg;
    bow_block_backward(dinput_of(n, l), G(0), G(1), G(2), G(3), ACT(1), n->acts + L->dout, ACT(0),
                       P(0), P(2), n->B, n->Tp, c->E, c->H);
}
// Decode: the causal average as a running sum kept in ACT(2) (bow_block_forward_step). It
// pays: 5-6x the samples per second of the whole forward (docs/MAKEMORE_PY.md, Sampling).
static void bow_decode(Net *n, const Layer *L, int l, int t) {
    const NetConfig *c = &n->cfg;
    bow_block_forward_step(n->acts + L->out, ACT(2), input_of(n, l), P(0), P(1), P(2), P(3), t,
                           n->B, c->E, c->H);  // [B, C]
}
// The block's tanh: h, after x1 in the forward's state (recurrent_kernels.h), [B, Tp, n_embd2].
static void bow_probe(const Net *n, const Layer *L, int l, LayerProbe *p) {
    net_probe_output(n, L, l, p);
    p->nl = NET_NL_TANH;
    p->act = ACT(0) + (size_t)n->B * n->Tp * n->cfg.E;
    p->act_cols = n->cfg.H;
}
static const LayerOps BOW_OPS = {L_BOW, bow_fwd, bow_bwd, NULL, bow_probe,
                                    .decode = bow_decode};

void bow_build(Net *n, NetOffsets *o) {
    const NetConfig *c = &n->cfg;
    const size_t BT = (size_t)n->B * c->T;
    n->packed = NET_PACK_UNIFORM;  // its kernels take [B, T]: the batch's longest sequence
    Layer *L = net_add_layer(n, L_TOKPOS, &TOKPOS_OPS, c->T, c->E);
    L->t0 = net_add_param(n, o, "wte.weight", c->V, c->E, NET_INIT_NORMAL, 1.0f, 0.0f);
    net_add_param(n, o, "wpe.weight", c->T, c->E, NET_INIT_NORMAL, 1.0f, 0.0f);
    L->out = net_add_act(o, BT * c->E);
    L->dout = net_add_act(o, BT * c->E);
    L = net_add_layer(n, L_BOW, &BOW_OPS, c->T, c->E);
    L->t0 = add_linear(n, o, "context_block.mlp.c_fc", c->E, c->H);
    add_linear(n, o, "context_block.mlp.c_proj", c->H, c->E);
    L->a[0] = net_add_act(o, bow_state_floats(n->B, c->T, c->E, c->H));
    L->a[1] = net_add_act(o, bow_scratch_floats(n->B, c->T, c->E, c->H));
    L->a[2] = net_add_act(o, bow_step_floats(n->B, c->E, c->H));  // decode's running sum
    L->out = net_add_act(o, BT * c->E);
    L->dout = net_add_act(o, BT * c->E);
    add_head(n, o, c->E, 1);
}

// ---- rnn and gru: backprop through time -------------------------------------------------------

static void rnn_fwd(Net *n, const Layer *L, int l, int ur) {
    (void)ur;
    const NetConfig *c = &n->cfg;
    rnn_forward(n->acts + L->out, ACT(0), input_of(n, l), P(0), P(1), net_tensor(n, L->w), n->B,
                n->Tp, c->E, c->H);  // packed [B, Tp]
}
static void rnn_bwd(Net *n, const Layer *L, int l, float lr) {
    (void)lr;
    const NetConfig *c = &n->cfg;
    rnn_backward(dinput_of(n, l), G(0), G(1), net_grad(n, L->w), ACT(1), n->acts + L->dout,
                 n->acts + L->out, ACT(0), input_of(n, l), P(0), n->B, n->Tp, c->E, c->H);
}

// The cell's tensors from t0: z, r, hbar (weight, bias each); the start state is L->w.
static GruWeights gru_weights(const Net *n, const Layer *L) {
    return (GruWeights){P(0), P(1), P(2), P(3), P(4), P(5)};
}
static void gru_fwd(Net *n, const Layer *L, int l, int ur) {
    (void)ur;
    const NetConfig *c = &n->cfg;
    GruWeights w = gru_weights(n, L);
    gru_forward(n->acts + L->out, ACT(0), input_of(n, l), &w, net_tensor(n, L->w), n->B, n->Tp,
                c->E, c->H);
}
static void gru_bwd(Net *n, const Layer *L, int l, float lr) {
    (void)lr;
    const NetConfig *c = &n->cfg;
    GruWeights w = gru_weights(n, L);
    GruGrads g = {G(0), G(1), G(2), G(3), G(4), G(5)};
    gru_backward(dinput_of(n, l), &g, net_grad(n, L->w), ACT(1), n->acts + L->dout, ACT(0), input_of(n, l), &w,
                 n->B, n->Tp, c->E, c->H);
}
// Decode: the hidden state h_{t-1} of each sequence kept in ACT(2) (*_forward_step). It
// pays: 5x (rnn) and 5.6-5.8x (gru) the samples per second of the whole forward, which
// runs the recurrence from the start for every token (docs/MAKEMORE_PY.md, Sampling).
static void rnn_decode(Net *n, const Layer *L, int l, int t) {
    const NetConfig *c = &n->cfg;
    rnn_forward_step(n->acts + L->out, ACT(2), input_of(n, l), P(0), P(1), net_tensor(n, L->w), t,
                     n->B, c->E, c->H);  // [B, H]
}
static void gru_decode(Net *n, const Layer *L, int l, int t) {
    const NetConfig *c = &n->cfg;
    GruWeights w = gru_weights(n, L);
    gru_forward_step(n->acts + L->out, ACT(2), input_of(n, l), &w, net_tensor(n, L->w), t, n->B,
                     c->E, c->H);  // [B, H]
}
// The rnn's tanh is its hidden state h_t (the layer's output); the gru's is hbar, after z|r
// in the forward's state (recurrent_kernels.h), [B, Tp, n_embd2].
static void rnn_probe(const Net *n, const Layer *L, int l, LayerProbe *p) {
    net_probe_output(n, L, l, p);
    p->nl = NET_NL_TANH;
    p->act = L->kind == L_GRU ? ACT(0) + (size_t)n->B * n->Tp * 2 * n->cfg.H : n->acts + L->out;
    p->act_cols = n->cfg.H;
}
static const LayerOps RNN_OPS = {L_RNN, rnn_fwd, rnn_bwd, NULL, rnn_probe,
                                    .decode = rnn_decode};
static const LayerOps GRU_OPS = {L_GRU, gru_fwd, gru_bwd, NULL, rnn_probe,
                                    .decode = gru_decode};

void rnn_build(Net *n, NetOffsets *o) {
    const NetConfig *c = &n->cfg;
    const int gru = c->arch == ARCH_GRU, B = n->B;
    const size_t BT = (size_t)B * c->T;
    n->packed = NET_PACK_UNIFORM;  // the recurrence runs to the batch's longest sequence
    int start = net_add_param(n, o, "start", 1, c->H, NET_INIT_NORMAL, 0.0f, 0.0f);  // zeros
    Layer *L = net_add_layer(n, L_EMBED, &MLP_EMBED_OPS, c->T, c->E);
    L->w = net_add_param(n, o, "wte.weight", c->V, c->E, NET_INIT_NORMAL, 1.0f, 0.0f);
    L->out = net_add_act(o, BT * c->E);
    L->dout = net_add_act(o, BT * c->E);
    L = net_add_layer(n, gru ? L_GRU : L_RNN, gru ? &GRU_OPS : &RNN_OPS, c->T, c->H);
    L->w = start;
    if (gru) {
        L->t0 = add_linear(n, o, "cell.xh_to_z", c->E + c->H, c->H);
        add_linear(n, o, "cell.xh_to_r", c->E + c->H, c->H);
        add_linear(n, o, "cell.xh_to_hbar", c->E + c->H, c->H);
    } else {
        L->t0 = add_linear(n, o, "cell.xh_to_h", c->E + c->H, c->H);
    }
    L->a[0] = net_add_act(o, gru ? gru_state_floats(B, c->T, c->E, c->H) : rnn_state_floats(B, c->T, c->H));
    L->a[1] = net_add_act(o, gru ? gru_scratch_floats(B, c->T, c->E, c->H)
                                 : rnn_scratch_floats(B, c->T, c->E, c->H));
    L->a[2] = net_add_act(o, gru ? gru_step_floats(B, c->H) : rnn_step_floats(B, c->H));  // decode's
    L->out = net_add_act(o, BT * c->H);
    L->dout = net_add_act(o, BT * c->H);
    add_head(n, o, c->H, 1);
}
