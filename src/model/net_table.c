// net_table.c: the layer table's building blocks and the drivers that run any table
// (net_table.h, net.h): forward, backward, the SGD and AdamW updates, initialisation, the
// numerical guard.
#include "net_table.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "seq_kernels.h"

const char *const LAYER_KIND_NAMES[L_N_KINDS] = {
    "embedding", "flatten", "linear", "batchnorm+tanh", "linear output", "tanh",
    "token+position embedding", "transformer block", "layernorm",
    "bigram table", "context projection+tanh", "bag of words", "rnn", "gru"};

const char *const NET_NL_NAMES[NET_N_NL] = {"none", "tanh", "gelu"};

// ---- building ----------------------------------------------------------------------------

static int add(Net *n, NetOffsets *o, const char *name, int rows, int cols, int is_stat) {
    NetTensor *t = &n->tensor[n->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols > 0 ? cols : 0;
    t->numel = (size_t)rows * (size_t)(cols > 0 ? cols : 1);
    t->is_stat = is_stat;
    t->fan_in = rows;
    size_t *off = is_stat ? &o->stats : &o->params;
    t->off = *off;
    *off += t->numel;
    return n->n_tensors++;
}

int net_add_tensor(Net *n, NetOffsets *o, const char *base, int k, int rows, int cols,
                   int is_stat, float scale, float shift) {
    char name[NET_NAME_MAX];
    if (k > 0) snprintf(name, sizeof name, "%s%d", base, k);
    else snprintf(name, sizeof name, "%s", base);
    int i = add(n, o, name, rows, cols, is_stat);
    n->tensor[i].init = NET_INIT_NORMAL;
    n->tensor[i].init_scale = scale;
    n->tensor[i].init_shift = shift;
    return i;
}

int net_add_param(Net *n, NetOffsets *o, const char *name, int rows, int cols, int init,
                  float scale, float shift) {
    int i = add(n, o, name, rows, cols, 0);
    n->tensor[i].init = init;
    n->tensor[i].init_scale = scale;
    n->tensor[i].init_shift = shift;
    return i;
}

size_t net_add_act(NetOffsets *o, size_t floats) {
    size_t at = o->acts;
    o->acts += (floats + 15) & ~(size_t)15;
    return at;
}

Layer *net_add_layer(Net *n, LayerKind kind, const LayerOps *ops, int rows, int cols) {
    Layer *L = &n->layer[n->n_layers];
    const Layer *prev = n->n_layers ? &n->layer[n->n_layers - 1] : NULL;
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->ops = ops;
    L->in_rows = prev ? prev->rows : 0;
    L->in_cols = prev ? prev->cols : 0;
    L->rows = rows;
    L->cols = cols;
    L->w = L->b = L->mean = L->var = L->t0 = -1;
    L->fwd = L->dx = L->dw = -1;
    for (int k = 0; k < LAYER_OPS; k++) L->op[k] = -1;
    n->n_layers++;
    return L;
}

void net_plan_linear(Net *n, int phase, const char *tag, int rows, int in, int out,
                     float fwd_beta, GemmKind fixed, int fused, int *fwd, int *dx, int *dw) {
    char name[16];
    if (phase == 0) {
        snprintf(name, sizeof name, "fwd%s", tag);
        *fwd = gemm_plan_add(&n->plan, name, 0, 0, rows, out, in, fwd_beta, GEMM_BLAS);
        return;
    }
    const float dw_beta = fused ? 1.0f : 0.0f;
    snprintf(name, sizeof name, "dx%s", tag);
    *dx = gemm_plan_add(&n->plan, name, 0, 1, rows, in, out, 0.0f, fixed);
    snprintf(name, sizeof name, "dw%s", tag);
    *dw = gemm_plan_add(&n->plan, name, 1, 0, in, out, rows, dw_beta, fixed);
}

int net_step_rows(const Net *n, const Layer *L) { return n->seq ? n->rows : n->B * L->rows; }

void net_probe_output(const Net *n, const Layer *L, int l, LayerProbe *p) {
    (void)l;
    *p = (LayerProbe){.rows = net_step_rows(n, L), .nl = NET_NL_NONE, .grad = n->acts + L->dout,
                      .cols = L->cols, .fused_w = -1};
}

// ---- access ------------------------------------------------------------------------------

float *net_tensor(const Net *n, int i) {
    const NetTensor *t = &n->tensor[i];
    return (t->is_stat ? n->stats : n->params) + t->off;
}

float *net_grad(const Net *n, int i) { return n->grads + n->tensor[i].off; }

int net_find(const Net *n, const char *name) {
    for (int i = 0; i < n->n_tensors; i++)
        if (strcmp(n->tensor[i].name, name) == 0) return i;
    return -1;
}

int net_tensor_is_bn(const Net *n, int i) { return n->tensor[i].is_bn; }

void net_torch_shape(const Net *n, int i, int shape[2]) {
    const NetTensor *t = &n->tensor[i];
    shape[0] = t->transposed ? t->shape[1] : t->shape[0];
    shape[1] = t->transposed ? t->shape[0] : t->shape[1];
}

// dst [cols, rows] = src [rows, cols]^T
static void transpose(float *dst, const float *src, int rows, int cols) {
    for (int a = 0; a < cols; a++)
        for (int b = 0; b < rows; b++) dst[(size_t)a * rows + b] = src[(size_t)b * cols + a];
}

void net_to_torch(const Net *n, int i, const float *x, float *out) {
    const NetTensor *t = &n->tensor[i];
    if (t->transposed) transpose(out, x, t->shape[0], t->shape[1]);  // [r, c] -> [c, r]
    else memcpy(out, x, t->numel * sizeof(float));
}

void net_from_torch(const Net *n, int i, const float *in, float *x) {
    const NetTensor *t = &n->tensor[i];
    if (t->transposed) transpose(x, in, t->shape[1], t->shape[0]);  // [c, r] -> [r, c]
    else memcpy(x, in, t->numel * sizeof(float));
}

// ---- initialisation ----------------------------------------------------------------------

// In tensor order, one draw per element of every tensor that has a random part, exactly
// as the notebooks draw them (for mlp with one layer: the lecture's part-4 initialisation;
// for makemore.py's types: PyTorch's defaults, from the engine's generator).
void net_init(Net *n, Rng *rng, int perturb) {
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        float *x = net_tensor(n, i);
        for (size_t k = 0; t->is_stat && k < t->numel; k++) x[k] = t->init_shift;
    }
    net_init_params(n, rng, perturb);
}

void net_init_params(Net *n, Rng *rng, int perturb) {
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        if (t->is_stat) continue;
        float *x = net_tensor(n, i), scale = t->init_scale;
        if (perturb && scale == 0.0f) scale = 0.1f;
        if (t->init == NET_INIT_UNIFORM && scale > 0.0f) {
            for (size_t k = 0; k < t->numel; k++) x[k] = (2.0f * rng_uniform(rng) - 1.0f) * scale;
            continue;
        }
        for (size_t k = 0; k < t->numel; k++)
            x[k] = scale == 0.0f ? t->init_shift : rng_normal(rng) * scale + t->init_shift;
    }
}

// ---- the step ----------------------------------------------------------------------------

void net_layer_forward(Net *n, int l, int update_running) {
    const Layer *L = &n->layer[l];
    if (L->ops && L->ops->forward) L->ops->forward(n, L, l, update_running);
}

void net_layer_backward(Net *n, int l, int sgd, float lr) {
    const Layer *L = &n->layer[l];
    if (L->ops && L->ops->backward) L->ops->backward(n, L, l, sgd ? lr : 0.0f);
}

static int counted_length(const int *y, int T) {
    int L = T;
    while (L > 0 && y[L - 1] < 0) L--;
    return L;
}

void net_pack(Net *n) {
    const int B = n->B, T = n->cfg.T;
    int r = 0, Lmax = 0;
    for (int b = 0; b < B && n->packed == NET_PACK_UNIFORM; b++) {
        int L = counted_length(n->Yb + (size_t)b * T, T);
        Lmax = L > Lmax ? L : Lmax;
    }
    n->Tp = Lmax;
    for (int b = 0; b < B; b++) {
        const int *y = n->Yb + (size_t)b * T, *x = n->Xb + (size_t)b * T;
        int L = n->packed == NET_PACK_UNIFORM ? Lmax : counted_length(y, T);
        n->pk_off[b] = r;
        n->pk_len[b] = L;
        for (int t = 0; t < L; t++, r++) {
            n->pk_x[r] = x[t];
            n->pk_y[r] = y[t];
            n->pk_t[r] = t;
            n->pk_p[r] = b * T + t;
        }
    }
    n->pk_off[B] = r;
    n->rows = r;
}

void net_pack_rows(const Net *n, float *dst, const float *src, int w) {
    const int T = n->cfg.T;
    for (int b = 0; b < n->B; b++) {
        int L = n->pk_off[b + 1] - n->pk_off[b];
        memcpy(dst + (size_t)n->pk_off[b] * w, src + (size_t)b * T * w, (size_t)L * w * sizeof(float));
    }
}

void net_unpack_rows(const Net *n, float *dst, const float *src, int w) {
    const int T = n->cfg.T;
    for (int b = 0; b < n->B; b++) {
        int L = n->pk_off[b + 1] - n->pk_off[b];
        float *d = dst + (size_t)b * T * w;
        memcpy(d, src + (size_t)n->pk_off[b] * w, (size_t)L * w * sizeof(float));
        memset(d + (size_t)L * w, 0, (size_t)(T - L) * w * sizeof(float));
    }
}

const float *net_seq_logits(const Net *n, int b, int t) {
    const Layer *L = &n->layer[n->n_layers - 1];
    const int V = n->cfg.V;
    if (!n->packed) return n->acts + L->out + ((size_t)b * n->cfg.T + t) * V;
    if (t >= n->pk_off[b + 1] - n->pk_off[b]) return NULL;
    return n->acts + L->out + ((size_t)n->pk_off[b] + t) * V;
}

float net_forward(Net *n, const int *Xb, const int *Yb, int update_running) {
    size_t ny = (size_t)n->B * (n->seq ? n->cfg.T : 1);
    if (n->Xb != Xb) memcpy(n->Xb, Xb, (size_t)n->B * n->cfg.T * sizeof(int));
    if (n->Yb != Yb) memcpy(n->Yb, Yb, ny * sizeof(int));
    n->rows = n->B * (n->seq ? n->cfg.T : 1);
    if (n->packed) net_pack(n);
    for (int l = 0; l < n->n_layers; l++) net_layer_forward(n, l, update_running);
    return n->loss;
}

int net_decode_ready(const Net *n) {
    if (!n->seq || !n->packed) return 0;
    for (int l = 0; l < n->n_layers; l++) {
        const LayerOps *ops = n->layer[l].ops;
        if (ops && ops->forward && !ops->decode) return 0;
    }
    return 1;
}

const float *net_decode_step(Net *n, int t) {
    const int T = n->cfg.T;
    for (int b = 0; b < n->B; b++) {  // row b: position t of sequence b
        n->pk_x[b] = n->Xb[(size_t)b * T + t];
        n->pk_y[b] = -1;
        n->pk_t[b] = t;
        n->pk_p[b] = b * T + t;
        n->pk_off[b] = b;
        n->pk_len[b] = 1;
    }
    n->pk_off[n->B] = n->rows = n->B;
    for (int l = 0; l < n->n_layers; l++) {
        const Layer *L = &n->layer[l];
        if (L->ops && L->ops->decode) L->ops->decode(n, L, l, t);
    }
    return n->acts + n->layer[n->n_layers - 1].out;
}

void net_backward(Net *n) {
    for (int l = n->n_layers - 1; l >= 0; l--) net_layer_backward(n, l, 0, 0.0f);
}

static void sgd_update(float *w, const float *g, size_t n, float lr) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) w[i] -= lr * g[i];
}

void net_sgd(Net *n, float lr) { sgd_update(n->params, n->grads, n->num_params, lr); }

void net_backward_sgd(Net *n, float lr) {
    for (int l = n->n_layers - 1; l >= 0; l--) net_layer_backward(n, l, 1, lr);
    net_sgd_small(n, lr);
}

void net_sgd_small(Net *n, float lr) {
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        if (!t->is_stat && !t->gemm_updated)
            sgd_update(n->params + t->off, n->grads + t->off, t->numel, lr);
    }
}

void net_adamw(Net *n, float lr, float weight_decay, long t) {
    adamw_update(n->params, n->grads, n->adam_m, n->adam_v, n->num_params, lr, NET_ADAM_BETA1,
                 NET_ADAM_BETA2, NET_ADAM_EPS, weight_decay, t);
}

float net_train_step(Net *n, const Examples *ex, float lr, Rng *rng) {
    examples_sample_batch(n->Xb, n->Yb, ex, n->B, rng);
    float loss = net_forward(n, n->Xb, n->Yb, 1);
    net_backward_sgd(n, lr);
    return loss;
}

float net_train_step_adamw(Net *n, const Examples *ex, float lr, float weight_decay, long t,
                           Rng *rng) {
    examples_sample_batch(n->Xb, n->Yb, ex, n->B, rng);
    float loss = net_forward(n, n->Xb, n->Yb, 1);
    net_backward(n);
    net_adamw(n, lr, weight_decay, t);
    return loss;
}

// ---- the guard ---------------------------------------------------------------------------

// Finite-checks on the bits, not with isfinite(): immune to -ffinite-math-only (which lets
// the compiler assume isfinite() is always true). A float is non-finite iff its exponent
// bits are all ones, i.e. |bits| >= 0x7f800000. First a max-reduction, which vectorises
// (the guard runs every step); the index only when something is wrong.
static size_t first_nonfinite(const float *x, size_t n) {
    uint32_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        u &= 0x7fffffffu;
        worst = u > worst ? u : worst;
    }
    if (worst < 0x7f800000u) return n;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], sizeof u);
        if ((u & 0x7f800000u) == 0x7f800000u) return i;
    }
    return n;
}

int net_nonfinite(const Net *n, int small_grads, char *msg, size_t len) {
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        if (t->is_stat || (small_grads && t->gemm_updated)) continue;
        const float *x = (small_grads ? n->grads : n->params) + t->off;
        size_t k = first_nonfinite(x, t->numel);
        if (k < t->numel) {
            snprintf(msg, len, "%s %s[%zu] is %g", small_grads ? "the gradient" : "parameter",
                     t->name, k, (double)x[k]);
            return 1;
        }
    }
    return 0;
}
