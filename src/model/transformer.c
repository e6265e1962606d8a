// transformer.c: makemore.py's Transformer on the layer table (transformer.h), in the
// manner of llm.c's gpt2_forward / gpt2_backward: one composite layer kind per block, its
// forward and backward written out step by step.
#include "transformer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"
#include "linear.h"
#include "mlp.h"
#include "seq_kernels.h"
#include "transformer_kernels.h"

void transformer_recipe(NetRecipe *r) {
    *r = (NetRecipe){.T = 0, .E = 64, .H = 64, .layers = 4, .heads = 4,
                     .bn_stats = BN_STATS_CALIBRATE, .optim = OPTIM_ADAMW, .steps = 20000,
                     .decay_step = 0, .lr = 5e-4f, .lr2 = 5e-4f, .weight_decay = 0.01f,
                     .batch = 32};
}

int transformer_config_check(NetConfig *c, Err *err) {
    if (c->layers < 1 || c->layers > 32) return err_set(err, "--n-layer %d (allowed: 1..32)", c->layers);
    if (c->heads < 1 || c->E % c->heads)
        return err_set(err, "--n-head %d does not divide --n-embd %d (allowed: a divisor of n_embd)",
                       c->heads, c->E);
    return 0;
}

// A block's tensors, consecutive from L->t0, in state_dict order.
enum { LN1_W, LN1_B, QKV_W, QKV_B, PROJ_W, PROJ_B, LN2_W, LN2_B, FC_W, FC_B, FP_W, FP_B, TB_NT };
// Its activations (L->a): its own, then the scratch every block shares.
enum { A_LN1, A_MEAN1, A_RSTD1, A_QKV, A_HEADS, A_ATT, A_ATTY, A_X1, A_LN2, A_MEAN2, A_RSTD2,
       A_FCPRE, A_FC, A_OWN,
       A_TMP = A_OWN, A_DFC, A_DFCPRE, A_DLN2, A_DX1, A_DATTY, A_DQKV, A_DLN1, A_ASCR, TB_NA };
_Static_assert(TB_NA <= LAYER_ACTS, "a block's activations fit the layer");
// Its plan ops (L->op).
enum { O_QKV_F, O_QKV_DX, O_QKV_DW, O_PROJ_F, O_PROJ_DX, O_PROJ_DW, O_FC_F, O_FC_DX, O_FC_DW,
       O_FP_F, O_FP_DX, O_FP_DW, TB_NO };
_Static_assert(TB_NO <= LAYER_OPS, "a block's ops fit the layer");

#define P(k) net_tensor(n, L->t0 + (k))
#define G(k) net_grad(n, L->t0 + (k))
#define ACT(k) (n->acts + L->a[k])
#define OP(k) (&n->plan.op[L->op[k]])

// ---- token and position embeddings: x = wte[X] + wpe[t] ----------------------------------

static void tokpos_forward(Net *n, const Layer *L, int l, int ur) {
    (void)l, (void)ur;
    const int C = n->cfg.E;
    if (!n->packed) {
        embedding_pos_forward(n->acts + L->out, n->Xb, P(0), P(1), n->B, n->cfg.T, C);
        return;
    }
    const float *wte = P(0), *wpe = P(1);
    for (int i = 0; i < n->rows; i++) {  // packed: row i is token pk_x[i] at position pk_t[i]
        float *o = n->acts + L->out + (size_t)i * C;
        const float *e = wte + (size_t)n->pk_x[i] * C, *p = wpe + (size_t)n->pk_t[i] * C;
        #pragma omp simd
        for (int c = 0; c < C; c++) o[c] = e[c] + p[c];
    }
}
static void tokpos_backward(Net *n, const Layer *L, int l, float lr) {
    (void)l, (void)lr;
    const int C = n->cfg.E;
    const float *dout = n->acts + L->dout;
    if (!n->packed) {
        embedding_pos_backward(G(0), G(1), dout, n->Xb, n->B, n->cfg.T, C, n->cfg.V);
        return;
    }
    embedding_backward(G(0), dout, n->pk_x, n->rows, 1, C, n->cfg.V);  // rows as examples of one
    float *dwpe = G(1);
    memset(dwpe, 0, (size_t)n->cfg.T * C * sizeof(float));
    for (int i = 0; i < n->rows; i++) {  // rows in order: a fixed sum
        float *d = dwpe + (size_t)n->pk_t[i] * C;
        const float *g = dout + (size_t)i * C;
        #pragma omp simd
        for (int c = 0; c < C; c++) d[c] += g[c];
    }
}

// Decode: net_decode_step packed the rows as position t of each sequence (pk_x, pk_t);
// position-wise, the packed forward on those rows is the step.
static void tokpos_decode(Net *n, const Layer *L, int l, int t) {
    (void)t;
    tokpos_forward(n, L, l, 0);
}

// ---- a block -------------------------------------------------------------------------------

// The block's two halves around the attention, on N rows of x [N, C]:
//   qkv = c_attn(ln_1(x))                                        ACT(A_QKV) [N, 3C]
static void block_qkv(Net *n, const Layer *L, const float *x, int N) {
    const int C = n->cfg.E;
    layernorm_forward(ACT(A_LN1), ACT(A_MEAN1), ACT(A_RSTD1), x, P(LN1_W), P(LN1_B), N, C);
    linear_forward_op_rows(OP(O_QKV_F), N, ACT(A_QKV), ACT(A_LN1), P(QKV_W), P(QKV_B));
}
//   x1 = x + c_proj(y);  out = x1 + mlp(ln_2(x1))   (y: the attention's ACT(A_ATTY) [N, C])
static void block_proj_mlp(Net *n, const Layer *L, const float *x, float *out, int N) {
    const int C = n->cfg.E;
    gemm_op_run_rows(OP(O_PROJ_F), N, 1.0f, ACT(A_ATTY), P(PROJ_W), ACT(A_TMP));
    bias_residual_forward(ACT(A_X1), x, ACT(A_TMP), P(PROJ_B), N, C);  // x1 = x + attn
    layernorm_forward(ACT(A_LN2), ACT(A_MEAN2), ACT(A_RSTD2), ACT(A_X1), P(LN2_W), P(LN2_B), N, C);
    gemm_op_run_rows(OP(O_FC_F), N, 1.0f, ACT(A_LN2), P(FC_W), ACT(A_FCPRE));     // [N, 4C]
    bias_gelu_forward(ACT(A_FC), ACT(A_FCPRE), P(FC_B), N, 4 * C);  // pre += b, gelu
    gemm_op_run_rows(OP(O_FP_F), N, 1.0f, ACT(A_FC), P(FP_W), ACT(A_TMP));
    bias_residual_forward(out, ACT(A_X1), ACT(A_TMP), P(FP_B), N, C);  // out = x1 + mlp
}

// The block runs on the step's N rows (B*T, or packed: n->rows); the attention between its
// two linear layers on [B, T] (the packed rows put back in place, zeros between).
static void tblock_forward(Net *n, const Layer *L, int l, int ur) {
    (void)ur;
    const int B = n->B, T = n->cfg.T, C = n->cfg.E, N = n->rows;
    const float *x = n->acts + n->layer[l - 1].out;           // [N, C]
    float *out = n->acts + L->out;                             // [N, C]
    AttnOps ao = attention_ops(&n->plan, n->attn);
    block_qkv(n, L, x, N);                                     // [N, 3C]
    if (n->packed) {  // [B, T] for the attention (the backward's buffers are free now)
        net_unpack_rows(n, ACT(A_DQKV), ACT(A_QKV), 3 * C);
        attention_forward_len(ACT(A_DATTY), ACT(A_HEADS), ACT(A_ATT), ACT(A_ASCR), ACT(A_DQKV), &ao,
                              B, T, C, n->cfg.heads, n->pk_len);  // rows < pk_len[b] only
        net_pack_rows(n, ACT(A_ATTY), ACT(A_DATTY), C);
    } else {
        attention_forward(ACT(A_ATTY), ACT(A_HEADS), ACT(A_ATT), ACT(A_ASCR), ACT(A_QKV), &ao, B, T,
                          C, n->cfg.heads);                                        // [N, C]
    }
    block_proj_mlp(n, L, x, out, N);                           // [N, C]
}

// Decode: position t of the B sequences, one row each (x, out [B, C]); the keys and values
// of positions 0..t-1 wait in the heads activation, where the forward keeps its own
// (attention_forward_step): one query row per sequence and head against t + 1 keys. It
// pays: 6-8x the samples per second of the whole forward over the prefix
// (docs/MAKEMORE_PY.md, Sampling).
static void tblock_decode(Net *n, const Layer *L, int l, int t) {
    const int B = n->B;
    const float *x = n->acts + n->layer[l - 1].out;           // [B, C]
    block_qkv(n, L, x, B);                                     // [B, 3C]
    attention_forward_step(ACT(A_ATTY), ACT(A_HEADS), ACT(A_ATT), ACT(A_QKV), t, B, n->cfg.T,
                           n->cfg.E, n->cfg.heads);            // [B, C]
    block_proj_mlp(n, L, x, n->acts + L->out, B);              // [B, C]
}

static void tblock_backward(Net *n, const Layer *L, int l, float lr) {
    (void)lr;
    const int B = n->B, T = n->cfg.T, C = n->cfg.E, N = n->rows;
    const Layer *p = &n->layer[l - 1];
    const float *x = n->acts + p->out, *dout = n->acts + L->dout;
    float *dx = n->acts + p->dout;
    AttnOps ao = attention_ops(&n->plan, n->attn);
    // out = x1 + fc_proj(gelu(fc(ln2(x1))))
    linear_backward_op_rows(OP(O_FP_DX), OP(O_FP_DW), N, ACT(A_DFC), G(FP_W), G(FP_B), dout,
                            ACT(A_FC), P(FP_W));
    gelu_bias_backward(ACT(A_DFCPRE), G(FC_B), ACT(A_DFC), ACT(A_FCPRE), N, 4 * C);
    linear_backward_op_rows(OP(O_FC_DX), OP(O_FC_DW), N, ACT(A_DLN2), G(FC_W), NULL, ACT(A_DFCPRE),
                            ACT(A_LN2), P(FC_W));
    memcpy(ACT(A_DX1), dout, (size_t)N * C * sizeof(float));  // the residual's path
    layernorm_backward(ACT(A_DX1), G(LN2_W), G(LN2_B), ACT(A_DLN2), ACT(A_X1), P(LN2_W),
                       ACT(A_MEAN2), ACT(A_RSTD2), N, C);
    // x1 = x + c_proj(attn(c_attn(ln1(x))))
    linear_backward_op_rows(OP(O_PROJ_DX), OP(O_PROJ_DW), N, ACT(A_DATTY), G(PROJ_W), G(PROJ_B),
                            ACT(A_DX1), ACT(A_ATTY), P(PROJ_W));
    float *dqkv = ACT(A_DQKV);
    if (n->packed) {  // [B, T] for the attention; its dqkv packed into qkv's own rows
        net_unpack_rows(n, ACT(A_DLN1), ACT(A_DATTY), C);
        attention_backward_len(ACT(A_DQKV), ACT(A_ASCR), ACT(A_DLN1), ACT(A_HEADS), ACT(A_ATT),
                               &ao, B, T, C, n->cfg.heads, n->pk_len);
        net_pack_rows(n, ACT(A_QKV), ACT(A_DQKV), 3 * C);
        dqkv = ACT(A_QKV);
    } else {
        attention_backward(ACT(A_DQKV), ACT(A_ASCR), ACT(A_DATTY), ACT(A_HEADS), ACT(A_ATT), &ao, B,
                           T, C, n->cfg.heads);
    }
    linear_backward_op_rows(OP(O_QKV_DX), OP(O_QKV_DW), N, ACT(A_DLN1), G(QKV_W), G(QKV_B), dqkv,
                            ACT(A_LN1), P(QKV_W));
    memcpy(dx, ACT(A_DX1), (size_t)N * C * sizeof(float));
    layernorm_backward(dx, G(LN1_W), G(LN1_B), ACT(A_DLN1), x, P(LN1_W), ACT(A_MEAN1), ACT(A_RSTD1),
                       N, C);
}

// Phase 0: the attention's six ops (once, shared by every block), then the block's four
// forwards; phase 1: its backward's, from the output down.
static void tblock_plan(Net *n, Layer *L, int phase) {
    const int BT = n->B * n->cfg.T, C = n->cfg.E;
    char tag[4][16];
    int idx = 0;  // the block's number
    for (int l = 0; l < n->n_layers && &n->layer[l] != L; l++) idx += n->layer[l].kind == L_TBLOCK;
    snprintf(tag[0], sizeof tag[0], "_qkv%d", idx % 100);
    snprintf(tag[1], sizeof tag[1], "_prj%d", idx % 100);
    snprintf(tag[2], sizeof tag[2], "_fc%d", idx % 100);
    snprintf(tag[3], sizeof tag[3], "_fcp%d", idx % 100);
    const int in[4] = {C, C, C, 4 * C}, out[4] = {3 * C, C, 4 * C, C};
    if (phase == 0 && n->attn[0] < 0)
        attention_plan_add(&n->plan, n->cfg.T, C / n->cfg.heads, GEMM_BLAS, n->attn);
    for (int j = phase ? 3 : 0; phase ? j >= 0 : j < 4; j += phase ? -1 : 1)
        net_plan_linear(n, phase, tag[j], BT, in[j], out[j], 0.0f, GEMM_BLAS, 0, &L->op[3 * j],
                        &L->op[3 * j + 1], &L->op[3 * j + 2]);
}

// ---- ln_f ----------------------------------------------------------------------------------

static void lnf_forward(Net *n, const Layer *L, int l, int ur) {
    (void)ur;
    layernorm_forward(n->acts + L->out, ACT(0), ACT(1), n->acts + n->layer[l - 1].out, P(0), P(1),
                      n->rows, n->cfg.E);
}
// Decode: net_decode_step packed the rows as position t of each sequence; position-wise,
// the forward on those rows is the step.
static void lnf_decode(Net *n, const Layer *L, int l, int t) {
    (void)t;
    lnf_forward(n, L, l, 0);
}
static void lnf_backward(Net *n, const Layer *L, int l, float lr) {
    (void)lr;
    const Layer *p = &n->layer[l - 1];
    memset(n->acts + p->dout, 0, (size_t)n->rows * n->cfg.E * sizeof(float));  // it accumulates
    layernorm_backward(n->acts + p->dout, G(0), G(1), n->acts + L->dout, n->acts + p->out, P(0),
                       ACT(0), ACT(1), n->rows, n->cfg.E);
}

// A block's nonlinearity is its MLP's GELU: its output A_FC and input A_FCPRE [N, 4C], both
// the block's own (the backward leaves them).
static void tblock_probe(const Net *n, const Layer *L, int l, LayerProbe *p) {
    net_probe_output(n, L, l, p);
    p->nl = NET_NL_GELU;
    p->act = ACT(A_FC);
    p->pre = ACT(A_FCPRE);
    p->act_cols = 4 * n->cfg.E;
}

const LayerOps TOKPOS_OPS = {L_TOKPOS, tokpos_forward, tokpos_backward, NULL, net_probe_output,
                                    .decode = tokpos_decode};
static const LayerOps TBLOCK_OPS = {L_TBLOCK, tblock_forward, tblock_backward, tblock_plan,
                                    tblock_probe,
                                    .decode = tblock_decode};
static const LayerOps LNF_OPS = {L_LAYERNORM, lnf_forward, lnf_backward, NULL, net_probe_output,
                                    .decode = lnf_decode};

// ---- the table -----------------------------------------------------------------------------

// A linear layer's weight, kept [in, out] (PyTorch's [out, in] transposed), and its bias:
// nn.Linear's default initialisation, U(-1/sqrt(in), 1/sqrt(in)) for both.
static int add_linear(Net *n, NetOffsets *o, const char *base, int in, int out, int bias) {
    char name[NET_NAME_MAX];
    const float bound = 1.0f / sqrtf((float)in);
    snprintf(name, sizeof name, "%.40s.weight", base);
    int w = net_add_param(n, o, name, in, out, NET_INIT_UNIFORM, bound, 0.0f);
    n->tensor[w].transposed = 1;
    if (bias) {
        snprintf(name, sizeof name, "%.40s.bias", base);
        net_add_param(n, o, name, out, 0, NET_INIT_UNIFORM, bound, 0.0f);
    }
    return w;
}

static int add_layernorm(Net *n, NetOffsets *o, const char *base, int C) {
    char name[NET_NAME_MAX];
    snprintf(name, sizeof name, "%.40s.weight", base);
    int w = net_add_param(n, o, name, C, 0, NET_INIT_NORMAL, 0.0f, 1.0f);
    snprintf(name, sizeof name, "%.40s.bias", base);
    net_add_param(n, o, name, C, 0, NET_INIT_NORMAL, 0.0f, 0.0f);
    return w;
}

void transformer_build(Net *n, NetOffsets *o) {
    const NetConfig *c = &n->cfg;
    const int C = c->E, T = c->T, V = c->V, nh = c->heads;
    const size_t B = (size_t)n->B, BT = B * T, BTC = BT * C;
    n->packed = NET_PACK_CAUSAL;  // a position after a sequence's last target reaches nothing
    Layer *L = net_add_layer(n, L_TOKPOS, &TOKPOS_OPS, T, C);
    L->t0 = net_add_param(n, o, "transformer.wte.weight", V, C, NET_INIT_NORMAL, 1.0f, 0.0f);
    net_add_param(n, o, "transformer.wpe.weight", T, C, NET_INIT_NORMAL, 1.0f, 0.0f);
    L->out = net_add_act(o, BTC);
    L->dout = net_add_act(o, BTC);
    size_t shared[TB_NA] = {0};
    for (int i = 0; i < c->layers; i++) {
        char base[40];
        L = net_add_layer(n, L_TBLOCK, &TBLOCK_OPS, T, C);
        snprintf(base, sizeof base, "transformer.h.%d.ln_1", i);
        L->t0 = add_layernorm(n, o, base, C);
        snprintf(base, sizeof base, "transformer.h.%d.attn.c_attn", i);
        add_linear(n, o, base, C, 3 * C, 1);
        snprintf(base, sizeof base, "transformer.h.%d.attn.c_proj", i);
        add_linear(n, o, base, C, C, 1);
        snprintf(base, sizeof base, "transformer.h.%d.ln_2", i);
        add_layernorm(n, o, base, C);
        snprintf(base, sizeof base, "transformer.h.%d.mlp.c_fc", i);
        add_linear(n, o, base, C, 4 * C, 1);
        snprintf(base, sizeof base, "transformer.h.%d.mlp.c_proj", i);
        add_linear(n, o, base, 4 * C, C, 1);
        const size_t own[A_OWN] = {BTC, BT, BT, 3 * BTC, attention_heads_floats(n->B, T, C),
                                   B * nh * T * T, BTC, BTC, BTC, BT, BT, 4 * BTC, 4 * BTC};
        for (int k = 0; k < A_OWN; k++) L->a[k] = net_add_act(o, own[k]);
        if (i == 0) {  // the scratch of the forward's products and of the backward, shared
            const size_t sh[TB_NA - A_OWN] = {BTC, 4 * BTC, 4 * BTC, BTC, BTC, BTC, 3 * BTC, BTC,
                                              attention_scratch_floats(n->B, T, C, nh)};
            for (int k = A_OWN; k < TB_NA; k++) shared[k] = net_add_act(o, sh[k - A_OWN]);
        }
        for (int k = A_OWN; k < TB_NA; k++) L->a[k] = shared[k];
        L->out = net_add_act(o, BTC);
        L->dout = net_add_act(o, BTC);
    }
    L = net_add_layer(n, L_LAYERNORM, &LNF_OPS, T, C);
    L->t0 = add_layernorm(n, o, "transformer.ln_f", C);
    L->a[0] = net_add_act(o, BT);
    L->a[1] = net_add_act(o, BT);
    L->out = net_add_act(o, BTC);
    L->dout = net_add_act(o, BTC);
    L = net_add_layer(n, L_LINEAR_OUT, &MLP_LINEAR_OUT_OPS, T, V);  // logits, masked CE
    L->w = add_linear(n, o, "lm_head", C, V, 0);
    L->op[0] = 1;
    L->out = net_add_act(o, BT * V);
    L->dout = net_add_act(o, BT * V);
}
