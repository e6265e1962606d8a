// bench_seq.c: the `seq` entries, makemore.py's kernels (seq_kernels.h, transformer_kernels.h,
// recurrent_kernels.h), each atomic form (variant 0: one loop or GEMM per line, every
// intermediate materialised) against the fused kernel, at makemore.py's sizes: B x C with
// T = SEQ_T, n_head = SEQ_NH, V = SEQ_V and n_embd = n_embd2 = C (bench.h).
//
// Every entry starts from its forward, run once in setup (the fused forward for the fused
// variants, the atomic forward for the atomic one: each backward reads what its own forward
// saved); then only the backward (or the update, or the loss with its gradient) is timed.
// Inputs are seeded, the weights at PyTorch's default scale (uniform +-1/sqrt(fan_in) there;
// here the bench's approximately normal draws of the same spread).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "common.h"
#include "gemm_plan.h"
#include "recurrent_kernels.h"
#include "seq_kernels.h"
#include "transformer_kernels.h"
#include "vecmath.h"

// ---- helpers ------------------------------------------------------------------------------

static float *zeros(size_t n) { return xcalloc(n ? n : 1, sizeof(float)); }

static float *randn(size_t n, float scale, unsigned long long seed) {
    float *x = zeros(n);
    fill_normal_seeded(x, (long)n, scale, seed);
    return x;
}

static void out_set(Case *c, int v, int k, const char *name, float *data, size_t n) {
    c->out[v][k] = (OutBuf){name, data, (long)n};
    if (k + 1 > c->n_outs) c->n_outs = k + 1;
}

// frees a NULL-terminated list
static void free_all(float **list) {
    for (int i = 0; list[i]; i++) xfree(list[i]);
}

// "32x16x64": B x T x C
static void seq_label(char *buf, size_t len, BenchSize s) {
    snprintf(buf, len, "%dx%dx%d", s.B, SEQ_T, s.H);
}

// ---- layernorm_backward -------------------------------------------------------------------
//
// Block.ln_1 / ln_2 / ln_f: N = B*T rows of C. dinp is accumulated (the residual stream's
// gradient): each checked run starts it from the same residual gradient.

typedef struct {
    int N, C;
    float *inp, *weight, *mean, *rstd, *dout, *dres, *scratch;
    float *dinp[2], *dweight[2], *dbias[2];
} LnState;

static void ln_atomic(void *p) {
    LnState *s = p;
    layernorm_backward_atomic(s->dinp[0], s->dweight[0], s->dbias[0], s->dout, s->inp, s->weight,
                              s->mean, s->rstd, s->N, s->C, s->scratch);
}

static void ln_fused(void *p) {
    LnState *s = p;
    layernorm_backward(s->dinp[1], s->dweight[1], s->dbias[1], s->dout, s->inp, s->weight,
                       s->mean, s->rstd, s->N, s->C);
}

static void ln_prepare(void *p, int v) {
    LnState *s = p;
    memcpy(s->dinp[v], s->dres, (size_t)s->N * s->C * sizeof(float));
}

static void ln_destroy(void *p) {
    LnState *s = p;
    free_all((float *[]){s->inp, s->weight, s->mean, s->rstd, s->dout, s->dres, s->scratch,
                         s->dinp[0], s->dinp[1], s->dweight[0], s->dweight[1], s->dbias[0],
                         s->dbias[1], NULL});
    xfree(s);
}

static void ln_setup(Case *c, BenchSize sz) {
    LnState *s = xcalloc(1, sizeof *s);
    int N = sz.B * SEQ_T, C = sz.H;
    size_t nc = (size_t)N * C;
    s->N = N;
    s->C = C;
    s->inp = randn(nc, 1.0f, 101);
    s->weight = randn(C, 0.1f, 102);
    for (int j = 0; j < C; j++) s->weight[j] += 1.0f;
    float *bias = randn(C, 0.1f, 103), *out = zeros(nc);
    s->mean = zeros(N);
    s->rstd = zeros(N);
    layernorm_forward(out, s->mean, s->rstd, s->inp, s->weight, bias, N, C);
    xfree(out);
    xfree(bias);
    s->dout = randn(nc, 0.01f, 104);
    s->dres = randn(nc, 0.01f, 105);
    s->scratch = zeros(layernorm_backward_atomic_scratch(N, C));
    for (int v = 0; v < 2; v++) {
        s->dinp[v] = zeros(nc);
        s->dweight[v] = zeros(C);
        s->dbias[v] = zeros(C);
        memcpy(s->dinp[v], s->dres, nc * sizeof(float));
        out_set(c, v, 0, "dinp", s->dinp[v], nc);
        out_set(c, v, 1, "dweight", s->dweight[v], C);
        out_set(c, v, 2, "dbias", s->dbias[v], C);
    }
    c->state = s;
    c->prepare = ln_prepare;
    c->destroy = ln_destroy;
    // dout, inp in; dinp read and written; mean, rstd in; weight in, dweight, dbias out
    c->bytes = 4.0 * (4.0 * (double)nc + 2.0 * N + 3.0 * C);
    c->basis = ROOF_BANDWIDTH;
}

const Entry ENTRY_LAYERNORM = {
    .name = "layernorm_backward",
    .about = "nn.LayerNorm's backward over B*T rows of C (dinp accumulated, dweight, dbias): "
             "the atomic lines (xdiff, xhat re-run; drstd, dvar, dxdiff, dmean) vs the closed form",
    .tolerance = 1e-5,
    .n_variants = 2,
    .variants = {{"atomic", ln_atomic, "layernorm_backward_lines", 1},
                 {"fused", ln_fused, "layernorm_backward_nn", 1}},
    .setup = ln_setup,
    .group = "seq",
    .label = seq_label,
};

// ---- attention_backward -------------------------------------------------------------------
//
// Between c_attn's output qkv [B,T,3C] and c_proj's input y [B,T,C], n_head heads: dqkv from
// dy. The per-(b,h) GEMMs are plan ops: the default plan (every op cblas_sgemm) for the
// atomic and the fused variant, the planner's choice (gemm_plan_auto, made again at each
// thread count) for fused_auto.

typedef struct {
    int B, C;
    GemmPlan plan[2];  // [0] the default plan, [1] the planner's
    int idx[2][ATTN_N_OPS];
    AttnOps ops[2];
    int planned_threads;
    float *qkv, *dy;
    float *heads, *att, *scratch;                           // the fused forward's
    float *heads_a, *att_a, *tape, *scratch_a;              // the atomic forward's
    float *dqkv[3];
} AttnState;

static void attn_atomic(void *p) {
    AttnState *s = p;
    attention_backward_atomic(s->dqkv[0], s->scratch_a, s->dy, s->heads_a, s->att_a, s->tape,
                              &s->ops[0], s->B, SEQ_T, s->C, SEQ_NH);
}

static void attn_fused(void *p) {
    AttnState *s = p;
    attention_backward(s->dqkv[1], s->scratch, s->dy, s->heads, s->att, &s->ops[0], s->B, SEQ_T,
                       s->C, SEQ_NH);
}

static void attn_fused_auto(void *p) {
    AttnState *s = p;
    attention_backward(s->dqkv[2], s->scratch, s->dy, s->heads, s->att, &s->ops[1], s->B, SEQ_T,
                       s->C, SEQ_NH);
}

// Before each thread count's check: the planner's plan is made again at that thread count.
static void attn_reset(void *p) {
    AttnState *s = p;
    if (s->planned_threads != threads_get()) {
        gemm_plan_auto(&s->plan[1], NULL);
        s->ops[1] = attention_ops(&s->plan[1], s->idx[1]);
        s->planned_threads = threads_get();
    }
}

static void attn_destroy(void *p) {
    AttnState *s = p;
    gemm_plan_free(&s->plan[0]);
    gemm_plan_free(&s->plan[1]);
    free_all((float *[]){s->qkv, s->dy, s->heads, s->att, s->scratch, s->heads_a, s->att_a,
                         s->tape, s->scratch_a, s->dqkv[0], s->dqkv[1], s->dqkv[2], NULL});
    xfree(s);
}

static void attn_setup(Case *c, BenchSize sz) {
    AttnState *s = xcalloc(1, sizeof *s);
    int B = sz.B, T = SEQ_T, C = sz.H, nh = SEQ_NH;
    s->B = B;
    s->C = C;
    for (int k = 0; k < 2; k++) {
        gemm_plan_begin(&s->plan[k], "bench attention");
        attention_plan_add(&s->plan[k], T, C / nh, GEMM_BLAS, s->idx[k]);
        s->ops[k] = attention_ops(&s->plan[k], s->idx[k]);
    }
    size_t nqkv = (size_t)B * T * 3 * C, ny = (size_t)B * T * C, na = (size_t)B * nh * T * T;
    s->qkv = randn(nqkv, 1.0f, 201);
    s->dy = randn(ny, 0.01f, 202);
    float *y = zeros(ny);
    s->heads = zeros(attention_heads_floats(B, T, C));
    s->att = zeros(na);
    s->scratch = zeros(attention_scratch_floats(B, T, C, nh));
    attention_forward(y, s->heads, s->att, s->scratch, s->qkv, &s->ops[0], B, T, C, nh);
    s->heads_a = zeros(attention_heads_floats(B, T, C));
    s->att_a = zeros(na);
    s->tape = zeros(attention_atomic_tape_floats(B, T, C, nh));
    s->scratch_a = zeros(attention_atomic_scratch_floats(B, T, C, nh));
    attention_forward_atomic(y, s->heads_a, s->att_a, s->tape, s->scratch_a, s->qkv, &s->ops[0], B,
                             T, C, nh);
    xfree(y);
    for (int v = 0; v < 3; v++) {
        s->dqkv[v] = zeros(nqkv);
        out_set(c, v, 0, "dqkv", s->dqkv[v], nqkv);
    }
    c->state = s;
    c->reset = attn_reset;
    c->destroy = attn_destroy;
    // the four backward GEMMs per (b,h), 2*T*T*hs each: datt, dv, dq, dk
    c->flops = 8.0 * B * T * (double)T * C;
    c->basis = ROOF_FLOPS;
}

const Entry ENTRY_ATTENTION = {
    .name = "attention_backward",
    .about = "causal self-attention's backward, dqkv [B,T,3C] from dy (4 heads): the softmax's "
             "atomic lines vs its closed form, same GEMM ops; fused_auto: the planner's ops",
    .tolerance = 1e-5,
    .n_variants = 3,
    .variants = {{"atomic", attn_atomic, "attention_backward_lines", 1},
                 {"fused", attn_fused, "attention_backward_mm", 1},
                 {"fused_auto", attn_fused_auto, "attention_backward_mm", 1}},
    .setup = attn_setup,
    .group = "seq",
    .label = seq_label,
};

// ---- gelu_backward ------------------------------------------------------------------------
//
// The MLP's c_fc output: pre = x.W + bias [B*T, 4C] (bias_gelu_forward added the bias in
// place), then NewGELU. From dout: dpre = gelu'(pre) * dout and c_fc's bias gradient.

typedef struct {
    int N, M;
    float *pre, *dout, *scratch;
    float *dpre[2], *dbias[2];
} GeluState;

static void gelu_atomic(void *p) {
    GeluState *s = p;
    gelu_bias_backward_atomic(s->dpre[0], s->dbias[0], s->dout, s->pre, s->N, s->M, s->scratch);
}

static void gelu_fused(void *p) {
    GeluState *s = p;
    gelu_bias_backward(s->dpre[1], s->dbias[1], s->dout, s->pre, s->N, s->M);
}

static void gelu_destroy(void *p) {
    GeluState *s = p;
    free_all((float *[]){s->pre, s->dout, s->scratch, s->dpre[0], s->dpre[1], s->dbias[0],
                         s->dbias[1], NULL});
    xfree(s);
}

static void gelu_setup(Case *c, BenchSize sz) {
    GeluState *s = xcalloc(1, sizeof *s);
    int N = sz.B * SEQ_T, M = 4 * sz.H;
    size_t nm = (size_t)N * M;
    s->N = N;
    s->M = M;
    s->pre = randn(nm, 1.0f, 301);
    float *bias = randn(M, 0.1f, 302), *out = zeros(nm);
    bias_gelu_forward(out, s->pre, bias, N, M);
    xfree(out);
    xfree(bias);
    s->dout = randn(nm, 0.01f, 303);
    s->scratch = zeros(gelu_backward_atomic_scratch(nm));
    for (int v = 0; v < 2; v++) {
        s->dpre[v] = zeros(nm);
        s->dbias[v] = zeros(M);
        out_set(c, v, 0, "dpre", s->dpre[v], nm);
        out_set(c, v, 1, "dbias", s->dbias[v], M);
    }
    c->state = s;
    c->destroy = gelu_destroy;
    c->bytes = 4.0 * (3.0 * (double)nm + M);  // dout, pre in; dpre out; dbias out
    c->basis = ROOF_BANDWIDTH;
}

const Entry ENTRY_GELU = {
    .name = "gelu_backward",
    .about = "NewGELU's backward on c_fc's output [B*T,4C] with c_fc's bias gradient: the "
             "atomic lines (forward re-run, 9 backward lines, then the column sums, each a "
             "vector loop) vs one pass",
    .tolerance = 1e-5,
    .n_variants = 2,
    .variants = {{"atomic", gelu_atomic, "gelu_backward_mm", 1},
                 {"fused", gelu_fused, "gelu_backward_F", 1}},
    .setup = gelu_setup,
    .group = "seq",
    .label = seq_label,
};

// ---- adamw --------------------------------------------------------------------------------
//
// makemore.py's optimizer, torch.optim.AdamW(lr 5e-4, betas (0.9, 0.99), eps 1e-8, weight
// decay 0.01), over the parameters of its Transformer at width C (4 layers, block 16,
// vocabulary 27: 204 544 at C = 64) as one buffer, at step 100. p, m, v are updated in place:
// each checked run starts them from the same values.

static const double ADAMW_LR = 5e-4, ADAMW_B1 = 0.9, ADAMW_B2 = 0.99, ADAMW_EPS = 1e-8,
                    ADAMW_WD = 0.01;
static const long ADAMW_STEP = 100;

// wte, wpe; per layer ln_1, c_attn, c_proj, ln_2, c_fc, mlp's c_proj (12 C^2 + 13 C); ln_f;
// lm_head without bias.
static size_t transformer_params(int C) {
    size_t c = (size_t)C;
    return (size_t)SEQ_V * c + (size_t)SEQ_T * c + SEQ_LAYERS * (12 * c * c + 13 * c) + 2 * c +
           (size_t)SEQ_V * c;
}

static void adamw_label(char *buf, size_t len, BenchSize s) {
    snprintf(buf, len, "n=%zu", transformer_params(s.H));
}

typedef struct {
    size_t n;
    float *g, *p0, *m0, *v0, *denom;
    float *p[2], *m[2], *v[2];
} AdamState;

static void adam_atomic(void *p) {
    AdamState *s = p;
    adamw_update_atomic(s->p[0], s->g, s->m[0], s->v[0], s->denom, s->n, ADAMW_LR, ADAMW_B1,
                        ADAMW_B2, ADAMW_EPS, ADAMW_WD, ADAMW_STEP);
}

static void adam_fused(void *p) {
    AdamState *s = p;
    adamw_update(s->p[1], s->g, s->m[1], s->v[1], s->n, ADAMW_LR, ADAMW_B1, ADAMW_B2, ADAMW_EPS,
                 ADAMW_WD, ADAMW_STEP);
}

static void adam_prepare(void *p, int v) {
    AdamState *s = p;
    size_t bytes = s->n * sizeof(float);
    memcpy(s->p[v], s->p0, bytes);
    memcpy(s->m[v], s->m0, bytes);
    memcpy(s->v[v], s->v0, bytes);
}

static void adam_destroy(void *p) {
    AdamState *s = p;
    free_all((float *[]){s->g, s->p0, s->m0, s->v0, s->denom, s->p[0], s->p[1], s->m[0], s->m[1],
                         s->v[0], s->v[1], NULL});
    xfree(s);
}

static void adam_setup(Case *c, BenchSize sz) {
    AdamState *s = xcalloc(1, sizeof *s);
    size_t n = transformer_params(sz.H);
    s->n = n;
    s->g = randn(n, 0.01f, 401);
    s->p0 = randn(n, 0.05f, 402);
    s->m0 = randn(n, 0.005f, 403);
    s->v0 = randn(n, 1e-4f, 404);
    for (size_t i = 0; i < n; i++) s->v0[i] *= s->v0[i];  // v >= 0: a running mean of g^2
    s->denom = zeros(n);
    static const char *const names[3] = {"p", "m", "v"};
    for (int v = 0; v < 2; v++) {
        s->p[v] = zeros(n);
        s->m[v] = zeros(n);
        s->v[v] = zeros(n);
        adam_prepare(s, v);
        float *bufs[3] = {s->p[v], s->m[v], s->v[v]};
        for (int k = 0; k < 3; k++) out_set(c, v, k, names[k], bufs[k], n);
    }
    c->state = s;
    c->prepare = adam_prepare;
    c->destroy = adam_destroy;
    c->bytes = 4.0 * 7.0 * (double)n;  // p, g, m, v in; p, m, v out
    c->basis = ROOF_BANDWIDTH;
}

const Entry ENTRY_ADAMW = {
    .name = "adamw",
    .about = "torch.optim.AdamW's update (makemore.py's settings) over the Transformer's "
             "parameters as one buffer: one loop per line (decay, m, v, denom, step) vs one pass",
    .tolerance = 1e-5,
    .n_variants = 2,
    .variants = {{"atomic", adam_atomic, "adamw_mm", 1}, {"fused", adam_fused, "adamw_mm", 1}},
    .setup = adam_setup,
    .group = "seq",
    .label = adamw_label,
};

// ---- ce_masked ----------------------------------------------------------------------------
//
// makemore.py's loss: F.cross_entropy over the B*T positions with ignore_index=-1, loss and
// dlogits. The targets as names.txt's words make them: a word of 2..15 characters and its
// end token valid, the rest of the row -1.

typedef struct {
    int N;
    float *logits, *scratch;
    int *targets;
    float *dlogits[2], loss[2];
} CeMState;

static void cem_atomic(void *p) {
    CeMState *s = p;
    s->loss[0] = ce_masked_forward_backward_atomic(s->dlogits[0], s->logits, s->targets, s->N,
                                                   SEQ_V, s->scratch);
}

static void cem_fused(void *p) {
    CeMState *s = p;
    s->loss[1] = ce_masked_forward_backward(s->dlogits[1], s->logits, s->targets, s->N, SEQ_V);
}

static void cem_destroy(void *p) {
    CeMState *s = p;
    free_all((float *[]){s->logits, s->scratch, s->dlogits[0], s->dlogits[1], NULL});
    xfree(s->targets);
    xfree(s);
}

static void cem_setup(Case *c, BenchSize sz) {
    CeMState *s = xcalloc(1, sizeof *s);
    int B = sz.B, T = SEQ_T, N = B * T;
    size_t nv = (size_t)N * SEQ_V;
    s->N = N;
    s->logits = randn(nv, 2.0f, 501);
    s->targets = xcalloc((size_t)N, sizeof(int));
    int *len = xcalloc((size_t)B, sizeof(int));
    fill_index_seeded(len, B, T - 2, 502);  // valid positions: 3 .. T
    fill_index_seeded(s->targets, N, SEQ_V, 503);
    for (int b = 0; b < B; b++)
        for (int t = len[b] + 3; t < T; t++) s->targets[b * T + t] = -1;
    xfree(len);
    s->scratch = zeros(ce_masked_atomic_scratch(N, SEQ_V));
    for (int v = 0; v < 2; v++) {
        s->dlogits[v] = zeros(nv);
        out_set(c, v, 0, "dlogits", s->dlogits[v], nv);
        out_set(c, v, 1, "loss", &s->loss[v], 1);
    }
    c->state = s;
    c->destroy = cem_destroy;
    c->bytes = 4.0 * (2.0 * (double)nv + N);  // logits, targets in; dlogits out
    c->basis = ROOF_BANDWIDTH;
}

const Entry ENTRY_CE_MASKED = {
    .name = "ce_masked",
    .about = "F.cross_entropy(ignore_index=-1) over B*T positions of 27 logits, loss and "
             "dlogits: the notebook's lines (forward, then the backward chain) vs one pass",
    .tolerance = 1e-5,
    .n_variants = 2,
    .variants = {{"atomic", cem_atomic, "ce_masked_lines", 1},
                 {"fused", cem_fused, "ce_masked_mm", 1}},
    .setup = cem_setup,
    .group = "seq",
    .label = seq_label,
};

// ---- the recurrences: inputs shared by gru_backward and rnn_backward ----------------------
//
// x [B,T,C] (wte[X]), the hidden width n_h = C (n_embd2), weights [(C + C), C], start [C].

typedef struct {
    int B, n_in, n_h;
    float *x, *start, *dhidden, *work, *state, *scratch;
} RecCommon;

static void rec_common_init(RecCommon *r, BenchSize sz, unsigned long long seed) {
    r->B = sz.B;
    r->n_in = r->n_h = sz.H;
    size_t nx = (size_t)sz.B * SEQ_T * sz.H;
    r->x = randn(nx, 1.0f, seed);
    r->start = randn(sz.H, 0.1f, seed + 1);
    r->dhidden = randn(nx, 0.01f, seed + 2);
}

static float rec_weight_scale(const RecCommon *r) {
    return 1.0f / sqrtf((float)(r->n_in + r->n_h)) / sqrtf(3.0f);  // U(-k, k)'s spread
}

// ---- gru_backward -------------------------------------------------------------------------

enum { GRU_W = 3 };

typedef struct {
    RecCommon r;
    float *W[GRU_W], *b[GRU_W];  // z, r, hbar
    float *dx[2], *dstart[2], *dW[2][GRU_W], *db[2][GRU_W];
} GruState;

static GruWeights gru_weights(const GruState *s) {
    return (GruWeights){s->W[0], s->b[0], s->W[1], s->b[1], s->W[2], s->b[2]};
}

static GruGrads gru_grads(GruState *s, int v) {
    return (GruGrads){s->dW[v][0], s->db[v][0], s->dW[v][1], s->db[v][1], s->dW[v][2],
                      s->db[v][2]};
}

static void gru_atomic(void *p) {
    GruState *s = p;
    GruWeights w = gru_weights(s);
    GruGrads g = gru_grads(s, 0);
    const RecCommon *r = &s->r;
    gru_backward_atomic(s->dx[0], &g, s->dstart[0], r->work, r->dhidden, &w, r->B, SEQ_T, r->n_in,
                        r->n_h);
}

static void gru_fused(void *p) {
    GruState *s = p;
    GruWeights w = gru_weights(s);
    GruGrads g = gru_grads(s, 1);
    const RecCommon *r = &s->r;
    gru_backward(s->dx[1], &g, s->dstart[1], r->scratch, r->dhidden, r->state, r->x, &w, r->B,
                 SEQ_T, r->n_in, r->n_h);
}

static void gru_destroy(void *p) {
    GruState *s = p;
    RecCommon *r = &s->r;
    free_all((float *[]){r->x, r->start, r->dhidden, r->work, r->state, r->scratch, NULL});
    for (int k = 0; k < GRU_W; k++) {
        xfree(s->W[k]);
        xfree(s->b[k]);
        for (int v = 0; v < 2; v++) {
            xfree(s->dW[v][k]);
            xfree(s->db[v][k]);
        }
    }
    for (int v = 0; v < 2; v++) {
        xfree(s->dx[v]);
        xfree(s->dstart[v]);
    }
    xfree(s);
}

static void gru_setup(Case *c, BenchSize sz) {
    GruState *s = xcalloc(1, sizeof *s);
    RecCommon *r = &s->r;
    rec_common_init(r, sz, 601);
    int B = r->B, T = SEQ_T, ni = r->n_in, nh = r->n_h;
    size_t nW = (size_t)(ni + nh) * nh, nx = (size_t)B * T * ni, nhid = (size_t)B * T * nh;
    for (int k = 0; k < GRU_W; k++) {
        s->W[k] = randn(nW, rec_weight_scale(r), 611 + k);
        s->b[k] = randn(nh, rec_weight_scale(r), 621 + k);
    }
    GruWeights w = gru_weights(s);
    float *hidden = zeros(nhid);
    r->state = zeros(gru_state_floats(B, T, ni, nh));
    r->scratch = zeros(gru_scratch_floats(B, T, ni, nh));
    gru_forward(hidden, r->state, r->x, &w, r->start, B, T, ni, nh);
    r->work = zeros(gru_atomic_floats(B, T, ni, nh));
    gru_forward_atomic(hidden, r->work, r->x, &w, r->start, B, T, ni, nh);
    xfree(hidden);
    static const char *const dWn[GRU_W] = {"dWz", "dWr", "dWh"}, *const dbn[GRU_W] = {"dbz", "dbr", "dbh"};
    for (int v = 0; v < 2; v++) {
        s->dx[v] = zeros(nx);
        s->dstart[v] = zeros(nh);
        out_set(c, v, 0, "dx", s->dx[v], nx);
        out_set(c, v, 1, "dstart", s->dstart[v], nh);
        for (int k = 0; k < GRU_W; k++) {
            s->dW[v][k] = zeros(nW);
            s->db[v][k] = zeros(nh);
            out_set(c, v, 2 + 2 * k, dWn[k], s->dW[v][k], nW);
            out_set(c, v, 3 + 2 * k, dbn[k], s->db[v][k], nh);
        }
    }
    c->state = s;
    c->destroy = gru_destroy;
    // per gate: the weight gradient over B*T rows, dx's and dh_{t-1}'s products
    c->flops = 12.0 * B * T * (double)nh * (ni + nh);
    c->basis = ROOF_FLOPS;
}

const Entry ENTRY_GRU = {
    .name = "gru_backward",
    .about = "makemore.py's GRUCell, backpropagation through all T steps (dx, dstart, the "
             "three gates' dW, db): per step the cell's lines vs the fused passes and GEMMs",
    .tolerance = 1e-4,  // sums over B*T rows (and T steps) in other orders
    .n_variants = 2,
    .variants = {{"atomic", gru_atomic, "gru_backward_mm", 1},
                 {"fused", gru_fused, "gru_backward_mm", 1}},
    .setup = gru_setup,
    .group = "seq",
    .label = seq_label,
};

// ---- rnn_backward -------------------------------------------------------------------------

typedef struct {
    RecCommon r;
    float *W, *b, *hidden;  // hidden: the fused forward's output, which its backward reads
    float *dx[2], *dW[2], *db[2], *dstart[2];
} RnnState;

static void rnn_atomic(void *p) {
    RnnState *s = p;
    const RecCommon *r = &s->r;
    rnn_backward_atomic(s->dx[0], s->dW[0], s->db[0], s->dstart[0], r->work, r->dhidden, s->W,
                        r->B, SEQ_T, r->n_in, r->n_h);
}

static void rnn_fused(void *p) {
    RnnState *s = p;
    const RecCommon *r = &s->r;
    rnn_backward(s->dx[1], s->dW[1], s->db[1], s->dstart[1], r->scratch, r->dhidden, s->hidden,
                 r->state, r->x, s->W, r->B, SEQ_T, r->n_in, r->n_h);
}

static void rnn_destroy(void *p) {
    RnnState *s = p;
    RecCommon *r = &s->r;
    free_all((float *[]){r->x, r->start, r->dhidden, r->work, r->state, r->scratch, s->W, s->b,
                         s->hidden, s->dx[0], s->dx[1], s->dW[0], s->dW[1], s->db[0], s->db[1],
                         s->dstart[0], s->dstart[1], NULL});
    xfree(s);
}

static void rnn_setup(Case *c, BenchSize sz) {
    RnnState *s = xcalloc(1, sizeof *s);
    RecCommon *r = &s->r;
    rec_common_init(r, sz, 701);
    int B = r->B, T = SEQ_T, ni = r->n_in, nh = r->n_h;
    size_t nW = (size_t)(ni + nh) * nh, nx = (size_t)B * T * ni, nhid = (size_t)B * T * nh;
    s->W = randn(nW, rec_weight_scale(r), 711);
    s->b = randn(nh, rec_weight_scale(r), 712);
    s->hidden = zeros(nhid);
    r->state = zeros(rnn_state_floats(B, T, nh));
    r->scratch = zeros(rnn_scratch_floats(B, T, ni, nh));
    rnn_forward(s->hidden, r->state, r->x, s->W, s->b, r->start, B, T, ni, nh);
    float *hidden_a = zeros(nhid);
    r->work = zeros(rnn_atomic_floats(B, T, ni, nh));
    rnn_forward_atomic(hidden_a, r->work, r->x, s->W, s->b, r->start, B, T, ni, nh);
    xfree(hidden_a);
    for (int v = 0; v < 2; v++) {
        s->dx[v] = zeros(nx);
        s->dW[v] = zeros(nW);
        s->db[v] = zeros(nh);
        s->dstart[v] = zeros(nh);
        out_set(c, v, 0, "dx", s->dx[v], nx);
        out_set(c, v, 1, "dW", s->dW[v], nW);
        out_set(c, v, 2, "db", s->db[v], nh);
        out_set(c, v, 3, "dstart", s->dstart[v], nh);
    }
    c->state = s;
    c->destroy = rnn_destroy;
    // the weight gradient over B*T rows, dx's and dh_{t-1}'s products
    c->flops = 4.0 * B * T * (double)nh * (ni + nh);
    c->basis = ROOF_FLOPS;
}

const Entry ENTRY_RNN = {
    .name = "rnn_backward",
    .about = "makemore.py's RNNCell, backpropagation through all T steps (dx, dW, db, dstart): "
             "per step the cell's lines vs the fused passes and GEMMs",
    .tolerance = 1e-4,  // sums over B*T rows (and T steps) in other orders
    .n_variants = 2,
    .variants = {{"atomic", rnn_atomic, "rnn_backward_mm", 1},
                 {"fused", rnn_fused, "rnn_backward_mm", 1}},
    .setup = rnn_setup,
    .group = "seq",
    .label = seq_label,
};

// ---- bow_backward -------------------------------------------------------------------------
//
// makemore.py's BoWBlock on x0 [B,T,C]: x1 = x0 + causal_avg(x0), x2 = x1 + c_proj(tanh(c_fc(x1))),
// n_embd2 = C. dx0 and the four parameter gradients from dx2.

typedef struct {
    int B, C;
    float *x0, *Wfc, *bfc, *Wproj, *bproj, *dx2, *state, *scratch, *work;
    float *dx0[2], *dWfc[2], *dbfc[2], *dWproj[2], *dbproj[2];
} BowState;

static void bow_atomic(void *p) {
    BowState *s = p;
    bow_block_backward_atomic(s->dx0[0], s->dWfc[0], s->dbfc[0], s->dWproj[0], s->dbproj[0],
                              s->work, s->dx2, s->Wfc, s->Wproj, s->B, SEQ_T, s->C, s->C);
}

static void bow_fused(void *p) {
    BowState *s = p;
    bow_block_backward(s->dx0[1], s->dWfc[1], s->dbfc[1], s->dWproj[1], s->dbproj[1], s->scratch,
                       s->dx2, s->state, s->Wfc, s->Wproj, s->B, SEQ_T, s->C, s->C);
}

static void bow_destroy(void *p) {
    BowState *s = p;
    free_all((float *[]){s->x0, s->Wfc, s->bfc, s->Wproj, s->bproj, s->dx2, s->state, s->scratch,
                         s->work, NULL});
    for (int v = 0; v < 2; v++)
        free_all((float *[]){s->dx0[v], s->dWfc[v], s->dbfc[v], s->dWproj[v], s->dbproj[v], NULL});
    xfree(s);
}

static void bow_setup(Case *c, BenchSize sz) {
    BowState *s = xcalloc(1, sizeof *s);
    int B = sz.B, T = SEQ_T, C = sz.H, C2 = sz.H;
    size_t n = (size_t)B * T * C, nW = (size_t)C * C2;
    s->B = B;
    s->C = C;
    float k = 1.0f / sqrtf((float)C) / sqrtf(3.0f);
    s->x0 = randn(n, 1.0f, 801);
    s->Wfc = randn(nW, k, 802);
    s->bfc = randn(C2, k, 803);
    s->Wproj = randn(nW, k, 804);
    s->bproj = randn(C, k, 805);
    s->dx2 = randn(n, 0.01f, 806);
    float *x2 = zeros(n);
    s->state = zeros(bow_state_floats(B, T, C, C2));
    s->scratch = zeros(bow_scratch_floats(B, T, C, C2));
    bow_block_forward(x2, s->state, s->x0, s->Wfc, s->bfc, s->Wproj, s->bproj, B, T, C, C2);
    s->work = zeros(bow_atomic_floats(B, T, C, C2));
    bow_block_forward_atomic(x2, s->work, s->x0, s->Wfc, s->bfc, s->Wproj, s->bproj, B, T, C, C2);
    xfree(x2);
    for (int v = 0; v < 2; v++) {
        s->dx0[v] = zeros(n);
        s->dWfc[v] = zeros(nW);
        s->dbfc[v] = zeros(C2);
        s->dWproj[v] = zeros(nW);
        s->dbproj[v] = zeros(C);
        out_set(c, v, 0, "dx0", s->dx0[v], n);
        out_set(c, v, 1, "dWfc", s->dWfc[v], nW);
        out_set(c, v, 2, "dbfc", s->dbfc[v], C2);
        out_set(c, v, 3, "dWproj", s->dWproj[v], nW);
        out_set(c, v, 4, "dbproj", s->dbproj[v], C);
    }
    c->state = s;
    c->destroy = bow_destroy;
    c->flops = 8.0 * B * T * (double)C * C2;  // the two linear layers' dW and dX
    c->basis = ROOF_FLOPS;
}

const Entry ENTRY_BOW = {
    .name = "bow_backward",
    .about = "makemore.py's BoWBlock backward (dx0, c_fc's and c_proj's dW, db): the lines "
             "with att^T @ dx1 (T x T per row) vs the suffix sum, bias sums riding the passes",
    .tolerance = 1e-4,  // sums over B*T rows (and T steps) in other orders
    .n_variants = 2,
    .variants = {{"atomic", bow_atomic, "bow_backward_mm", 1},
                 {"fused", bow_fused, "bow_backward_mm", 1}},
    .setup = bow_setup,
    .group = "seq",
    .label = seq_label,
};

// ---- context_backward ---------------------------------------------------------------------
//
// makemore.py's MLP (Bengio 2003): the context of every position, T embeddings of width
// E = C concatenated (emb_cat [B,T,T*E]); dwte [V+1,E] from demb_cat.

typedef struct {
    int B, E;
    int *X;
    float *demb, *work;
    float *dwte[3];
} CtxState;

static void ctx_atomic(void *p) {
    CtxState *s = p;
    context_backward_atomic(s->dwte[0], s->work, s->demb, s->B, SEQ_T, s->E, SEQ_V);
}

static void ctx_serial(void *p) {
    CtxState *s = p;
    context_backward_serial(s->dwte[1], s->demb, s->X, s->B, SEQ_T, s->E, SEQ_V);
}

static void ctx_fused(void *p) {
    CtxState *s = p;
    context_backward(s->dwte[2], s->demb, s->X, s->B, SEQ_T, s->E, SEQ_V);
}

static void ctx_destroy(void *p) {
    CtxState *s = p;
    free_all((float *[]){s->demb, s->work, s->dwte[0], s->dwte[1], s->dwte[2], NULL});
    xfree(s->X);
    xfree(s);
}

static void ctx_setup(Case *c, BenchSize sz) {
    CtxState *s = xcalloc(1, sizeof *s);
    int B = sz.B, T = SEQ_T, E = sz.H;
    size_t ncat = (size_t)B * T * T * E, nwte = (size_t)(SEQ_V + 1) * E;
    s->B = B;
    s->E = E;
    s->X = xcalloc((size_t)B * T, sizeof(int));
    fill_index_seeded(s->X, (long)B * T, SEQ_V, 901);
    float *wte = randn(nwte, 1.0f, 902), *emb = zeros(ncat);
    s->work = zeros(context_atomic_floats(B, T, E));
    context_forward_atomic(emb, s->work, wte, s->X, B, T, E, SEQ_V);
    xfree(emb);
    xfree(wte);
    s->demb = randn(ncat, 0.01f, 903);
    for (int v = 0; v < 3; v++) {
        s->dwte[v] = zeros(nwte);
        out_set(c, v, 0, "dwte", s->dwte[v], nwte);
    }
    c->state = s;
    c->destroy = ctx_destroy;
    c->bytes = 4.0 * ((double)ncat + (double)B * T + (double)nwte);  // demb_cat, X in; dwte out
    c->basis = ROOF_BANDWIDTH;
}

const Entry ENTRY_CONTEXT = {
    .name = "context_backward",
    .about = "makemore.py's MLP context gather, dwte [V+1,C] from demb_cat [B,T,T*C]: the cat's "
             "split then T scatter-adds (atomic) vs one pass; serial loop and row ownership",
    .tolerance = 1e-4,  // sums over B*T rows (and T steps) in other orders
    .n_variants = 3,
    .variants = {{"atomic", ctx_atomic, "context_backward_mm", 1},
                 {"fused_serial", ctx_serial, "context_backward_mm", 1},
                 {"fused", ctx_fused, "context_backward_mm", 1}},
    .setup = ctx_setup,
    .group = "seq",
    .label = seq_label,
};
