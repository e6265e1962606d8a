// net.c: the MLP family's layer table, its buffers, initialisation and training step.
// Inference (calibration, evaluation, logits) is in net_infer.c. The layer kinds call
// the engine's kernels (kernels.h) and GEMMs (linear.h); nothing here is a new kernel.
#include "net.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "kernels.h"
#include "linear.h"

const char *const NET_ARCH_NAMES[NET_N_ARCHS + 1] = {"mlp", "wavenet", NULL};
const char *const BN_STATS_NAMES[3] = {"calibrate", "running", NULL};

const char *net_arch_name(NetArch a) { return a >= 0 && a < NET_N_ARCHS ? NET_ARCH_NAMES[a] : "?"; }

// The lecture's MLP (part 4: 200 000 steps, lr 0.1 then 0.01 from step 100 000, batchnorm
// calibrated after training) and part 5's WaveNet (block 8, embd 24, hidden 128, lr 0.01
// from step 150 000, running statistics).
static void mlp_recipe(NetRecipe *r) {
    *r = (NetRecipe){.T = 3, .E = 10, .H = 200, .layers = 1, .bn_stats = BN_STATS_CALIBRATE,
                     .steps = 200000, .decay_step = 100000, .lr = 0.1f, .lr2 = 0.01f};
}
static void wavenet_recipe(NetRecipe *r) {
    *r = (NetRecipe){.T = 8, .E = 24, .H = 128, .layers = 1, .bn_stats = BN_STATS_RUNNING,
                     .steps = 200000, .decay_step = 150000, .lr = 0.1f, .lr2 = 0.01f};
}

void net_recipe(NetArch a, NetRecipe *r) {
    if (a == ARCH_WAVENET) wavenet_recipe(r);
    else mlp_recipe(r);
}

int net_config_check(NetConfig *c, Err *err) {
    if (c->V < 2 || c->V > 256) return err_set(err, "vocabulary of %d symbols (allowed: 2..256)", c->V);
    if (c->T < 1 || c->T > 64) return err_set(err, "--block %d (allowed: 1..64)", c->T);
    if (c->E < 1 || c->E > 4096) return err_set(err, "--embd %d (allowed: 1..4096)", c->E);
    if (c->H < 1 || c->H > 16384) return err_set(err, "--hidden %d (allowed: 1..16384)", c->H);
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
    if (!(c->momentum > 0.0f && c->momentum <= 1.0f))
        return err_set(err, "batchnorm momentum %g (allowed: 0 < m <= 1)", (double)c->momentum);
    return 0;
}

// ---- the table -----------------------------------------------------------------------

typedef struct {
    size_t params, stats, acts;
} Offsets;

static int add_tensor(Net *n, Offsets *o, const char *base, int k, int rows, int cols,
                      int is_stat, float scale, float shift) {
    NetTensor *t = &n->tensor[n->n_tensors];
    memset(t, 0, sizeof *t);
    if (k > 0) snprintf(t->name, sizeof t->name, "%s%d", base, k);
    else snprintf(t->name, sizeof t->name, "%s", base);
    t->ndim = cols > 0 ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols > 0 ? cols : 0;
    t->numel = (size_t)rows * (size_t)(cols > 0 ? cols : 1);
    t->is_stat = is_stat;
    t->fan_in = rows;
    t->init_scale = scale;
    t->init_shift = shift;
    size_t *off = is_stat ? &o->stats : &o->params;
    t->off = *off;
    *off += t->numel;
    return n->n_tensors++;
}

// Activation offsets are rounded to 16 floats (64 bytes).
static size_t add_act(Offsets *o, size_t floats) {
    size_t at = o->acts;
    o->acts += (floats + 15) & ~(size_t)15;
    return at;
}

static Layer *add_layer(Net *n, LayerKind kind, int rows, int cols) {
    Layer *L = &n->layer[n->n_layers];
    const Layer *prev = n->n_layers ? &n->layer[n->n_layers - 1] : NULL;
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->in_rows = prev ? prev->rows : 0;
    L->in_cols = prev ? prev->cols : 0;
    L->rows = rows;
    L->cols = cols;
    L->w = L->b = L->mean = L->var = -1;
    L->fwd = L->dx = L->dw = -1;
    n->n_layers++;
    return L;
}

// The tensors in checkpoint order: C; the linear layers' W and b from the input up; the
// batchnorms' gain and bias; then their statistics. For mlp with one layer these are the
// lecture's names and order (C, W1, b1, W2, b2, bngain, bnbias, bnmean, bnvar).
static void build_tensors(Net *n, Offsets *o, int lin_w[], int lin_b[], int bn_g[], int bn_b[],
                          int bn_m[], int bn_v[]) {
    const NetConfig *c = &n->cfg;
    int L = c->layers, wave = c->arch == ARCH_WAVENET;
    add_tensor(n, o, "C", 0, c->V, c->E, 0, 1.0f, 0.0f);
    for (int k = 1; k <= L + 1; k++) {
        int out = k <= L, fan_in = out ? (k == 1 ? (wave ? 2 * c->E : c->T * c->E)
                                                 : (wave ? 2 * c->H : c->H))
                                       : c->H;
        int fan_out = out ? c->H : c->V;
        float scale = wave ? (out ? 1.0f : 0.1f) / sqrtf((float)fan_in)
                           : (out ? (5.0f / 3.0f) / sqrtf((float)fan_in) : 0.1f);
        lin_w[k] = add_tensor(n, o, "W", k, fan_in, fan_out, 0, scale, 0.0f);
        n->tensor[lin_w[k]].gemm_updated = 1;
        lin_b[k] = -1;
        if (!wave || !out) lin_b[k] = add_tensor(n, o, "b", k, fan_out, 0, 0, wave ? 0.0f : 0.1f, 0.0f);
    }
    int numbered = wave || L > 1;
    for (int k = 1; k <= L; k++) {
        bn_g[k] = add_tensor(n, o, "bngain", numbered ? k : 0, 1, c->H, 0, wave ? 0.0f : 0.1f, 1.0f);
        bn_b[k] = add_tensor(n, o, "bnbias", numbered ? k : 0, 1, c->H, 0, wave ? 0.0f : 0.1f, 0.0f);
        n->tensor[bn_g[k]].is_bn = n->tensor[bn_b[k]].is_bn = 1;
    }
    for (int k = 1; k <= L; k++) {
        bn_m[k] = add_tensor(n, o, "bnmean", numbered ? k : 0, 1, c->H, 1, 0.0f, 0.0f);
        bn_v[k] = add_tensor(n, o, "bnvar", numbered ? k : 0, 1, c->H, 1, 0.0f, 1.0f);
    }
}

void net_build(Net *n, const NetConfig *cfg, int B) {
    memset(n, 0, sizeof *n);
    n->cfg = *cfg;
    n->B = B;
    const NetConfig *c = &n->cfg;
    int lin_w[NET_MAX_LAYERS], lin_b[NET_MAX_LAYERS], bn_g[NET_MAX_LAYERS], bn_b[NET_MAX_LAYERS];
    int bn_m[NET_MAX_LAYERS], bn_v[NET_MAX_LAYERS];
    Offsets o = {0, 0, 0};
    build_tensors(n, &o, lin_w, lin_b, bn_g, bn_b, bn_m, bn_v);
    size_t Bz = (size_t)B;
    Layer *L = add_layer(n, L_EMBED, c->T, c->E);  // (B, T, E)
    L->w = 0;
    L->out = add_act(&o, Bz * c->T * c->E);
    L->dout = add_act(&o, Bz * c->T * c->E);
    for (int k = 1; k <= c->layers; k++) {
        const Layer *p = &n->layer[n->n_layers - 1];
        if (c->arch == ARCH_WAVENET || k == 1) {  // FlattenConsecutive: a view of p's rows
            int f = c->arch == ARCH_WAVENET ? 2 : c->T;
            size_t out = p->out, dout = p->dout;
            L = add_layer(n, L_FLATTEN, p->rows / f, p->cols * f);
            L->out = out;
            L->dout = dout;
        }
        size_t rows = Bz * n->layer[n->n_layers - 1].rows;
        L = add_layer(n, L_LINEAR, n->layer[n->n_layers - 1].rows, c->H);
        L->w = lin_w[k];
        L->b = lin_b[k];
        L->out = add_act(&o, rows * c->H);
        L->dout = add_act(&o, rows * c->H);
        L = add_layer(n, L_BN_TANH, L->rows, c->H);
        L->w = bn_g[k];
        L->b = bn_b[k];
        L->mean = bn_m[k];
        L->var = bn_v[k];
        L->out = add_act(&o, rows * c->H);
        L->dout = add_act(&o, rows * c->H);
        L->raw = add_act(&o, rows * c->H);
        L->bmean = add_act(&o, (size_t)c->H);
        L->bvar = add_act(&o, (size_t)c->H);
        L->binv = add_act(&o, (size_t)c->H);
    }
    L = add_layer(n, L_LINEAR_OUT, 1, c->V);  // (B, V), then the cross-entropy
    L->w = lin_w[c->layers + 1];
    L->b = lin_b[c->layers + 1];
    L->out = add_act(&o, Bz * c->V);
    L->dout = add_act(&o, Bz * c->V);
    n->num_params = o.params;
    n->num_stats = o.stats;
    n->num_acts = o.acts;
}

void net_plan_sizes(const NetConfig *c, int B, char *buf, size_t len) {
    if (c->arch == ARCH_MLP && c->layers == 1)
        snprintf(buf, len, "B=%d,TE=%d,H=%d,V=%d", B, c->T * c->E, c->H, c->V);
    else
        snprintf(buf, len, "B=%d,arch=%s,layers=%d,T=%d,E=%d,H=%d,V=%d", B, net_arch_name(c->arch),
                 c->layers, c->T, c->E, c->H, c->V);
}

// The ops in the order the step runs them: every forward from the input up, then dX and
// dW of each linear layer from the output down. The output layer's fixed path runs both
// on a transposed copy (GEMM_BLAS_T: its 27-wide NT and TN forms are OpenBLAS's slow
// paths, linear.h); the others run cblas_sgemm as the shapes are.
static void plan_build(Net *n) {
    char sizes[96], name[16];
    net_plan_sizes(&n->cfg, n->B, sizes, sizeof sizes);
    gemm_plan_begin(&n->plan, sizes);
    int k = 0;
    for (int l = 0; l < n->n_layers; l++) {
        Layer *L = &n->layer[l];
        if (L->kind != L_LINEAR && L->kind != L_LINEAR_OUT) continue;
        // A hidden layer's product alone (its bias goes into the batchnorm's passes); the
        // output layer's accumulated onto its preloaded bias rows.
        snprintf(name, sizeof name, "fwd%d", ++k);
        L->fwd = gemm_plan_add(&n->plan, name, 0, 0, n->B * L->in_rows, L->cols, L->in_cols,
                               L->kind == L_LINEAR_OUT ? 1.0f : 0.0f, GEMM_BLAS);
    }
    for (int l = n->n_layers - 1; l >= 0; l--) {
        Layer *L = &n->layer[l];
        if (L->kind != L_LINEAR && L->kind != L_LINEAR_OUT) continue;
        GemmKind fixed = L->kind == L_LINEAR_OUT ? GEMM_BLAS_T : GEMM_BLAS;
        int rows = n->B * L->in_rows;
        snprintf(name, sizeof name, "dx%d", k);
        L->dx = gemm_plan_add(&n->plan, name, 0, 1, rows, L->in_cols, L->cols, 0.0f, fixed);
        snprintf(name, sizeof name, "dw%d", k--);
        L->dw = gemm_plan_add(&n->plan, name, 1, 0, L->in_cols, L->cols, rows, 1.0f, fixed);
    }
}

void net_alloc(Net *n, const NetConfig *cfg, int B) {
    net_build(n, cfg, B);
    n->params = xcalloc(n->num_params, sizeof(float));
    n->grads = xcalloc(n->num_params, sizeof(float));
    n->stats = xcalloc(n->num_stats ? n->num_stats : 1, sizeof(float));
    n->acts = xcalloc(n->num_acts, sizeof(float));
    n->Xb = xcalloc((size_t)B * cfg->T, sizeof(int));
    n->Yb = xcalloc((size_t)B, sizeof(int));
    for (int i = 0; i < n->n_tensors; i++)  // statistics start as mean 0, variance 1
        if (n->tensor[i].is_stat)
            for (size_t k = 0; k < n->tensor[i].numel; k++)
                n->stats[n->tensor[i].off + k] = n->tensor[i].init_shift;
    n->bn_forward = batchnorm_tanh_forward_bias;
    n->bn_backward = bn_tanh_backward_fused;
    plan_build(n);
}

void net_free(Net *n) {
    gemm_plan_free(&n->plan);
    void *all[] = {n->params, n->grads, n->stats, n->acts, n->Xb, n->Yb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
    memset(n, 0, sizeof *n);
}

float *net_tensor(const Net *n, int i) {
    const NetTensor *t = &n->tensor[i];
    return (t->is_stat ? n->stats : n->params) + t->off;
}

int net_find(const Net *n, const char *name) {
    for (int i = 0; i < n->n_tensors; i++)
        if (strcmp(n->tensor[i].name, name) == 0) return i;
    return -1;
}

double net_memory_bytes(const NetConfig *cfg, int B) {
    Net n;
    net_build(&n, cfg, B);
    size_t widest = 0;
    for (int l = 0; l < n.n_layers; l++) {
        size_t w = (size_t)n.layer[l].rows * n.layer[l].cols;
        widest = w > widest ? w : widest;
    }
    // + the output layer's transposed copies (its two GEMM_BLAS_T ops), the batch, and
    // the evaluation's ping-pong scratch and logits
    double floats = 2.0 * n.num_params + n.num_stats + n.num_acts + 2.0 * cfg->V * cfg->H +
                    (double)B * (cfg->T + 1) + 4096.0 * (2.0 * widest + cfg->V + cfg->T);
    return 4.0 * floats;
}

// Every tensor of the model, every activation of its training step (batch B) and of its
// evaluation (chunks of 4096 examples, net_infer.c) must fit the int indices of the
// kernels, and the whole must fit the machine's memory.
int net_check_sizes(const NetConfig *c, int B, char *msg, size_t len) {
    const long long EVAL = 4096;  // net_infer.c's evaluation chunk
    static Net n;  // the table alone (no buffers)
    net_build(&n, c, 1);
    long long worst = 0;
    char what[96] = "";
    for (int i = 0; i < n.n_tensors; i++) {
        const NetTensor *t = &n.tensor[i];
        if ((long long)t->numel <= worst) continue;
        worst = (long long)t->numel;
        snprintf(what, sizeof what, "the parameter %s [%d x %d]", t->name, t->shape[0],
                 t->ndim == 2 ? t->shape[1] : 1);
    }
    static const char *const KIND[] = {"embeddings", "", "linear output", "hidden layer", "logits"};
    const long long rows = B > EVAL ? B : EVAL;  // the batch, or the evaluation's chunk
    for (int l = 0, hidden = 0; l < n.n_layers; l++) {
        const Layer *L = &n.layer[l];
        hidden += L->kind == L_BN_TANH;
        long long a = rows * L->rows * L->cols;
        if (L->kind == L_FLATTEN || a <= worst) continue;
        worst = a;
        snprintf(what, sizeof what, "the %s's %s%.0d (%lld x %d x %d)", B > EVAL ? "batch" : "evaluation",
                 KIND[L->kind], L->kind == L_BN_TANH ? hidden : 0, rows, L->rows, L->cols);
    }
    if (worst > INT_MAX / 2) {
        snprintf(msg, len, "%s would have %lld elements (allowed: at most %d); lower --batch, "
                 "--block, --embd or --hidden", what, worst, INT_MAX / 2);
        return -1;
    }
    double need = net_memory_bytes(c, B), have = machine_memory();
    if (have > 0 && need > have) {
        snprintf(msg, len, "the model and its batch need %.1f GiB, more than this machine's "
                 "%.1f GiB of memory; lower --batch, --block, --embd, --hidden or --layers",
                 need / (1 << 30), have / (1 << 30));
        return -1;
    }
    return 0;
}

// In tensor order, one draw per element of every tensor that has a random part, exactly
// as the notebooks draw them (for mlp with one layer: the lecture's part-4 initialisation).
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
        for (size_t k = 0; k < t->numel; k++)
            x[k] = scale == 0.0f ? t->init_shift : rng_normal(rng) * scale + t->init_shift;
    }
}

// ---- the training step -------------------------------------------------------------

// Running statistics, as part 5's BatchNorm1d: r = (1 - m) * r + m * batch.
static void running_update(float *mean, float *var, const float *bmean, const float *bvar,
                           float m, int H) {
    for (int j = 0; j < H; j++) {
        mean[j] = (1.0f - m) * mean[j] + m * bmean[j];
        var[j] = (1.0f - m) * var[j] + m * bvar[j];
    }
}

void net_layer_forward(Net *n, int l, int update_running) {
    const NetConfig *c = &n->cfg;
    float *A = n->acts;
    int B = n->B;
    const Layer *L = &n->layer[l];
    const float *in = l ? A + n->layer[l - 1].out : NULL;  // [B*in_rows, in_cols]
    int rows = B * L->rows;
    switch (L->kind) {
    case L_EMBED:    // (B*T, E)
        embedding_forward(A + L->out, net_tensor(n, L->w), n->Xb, B, c->T, c->E);
        break;
    case L_FLATTEN:  // a view: (B*rows, cols) over the same floats
        break;
    case L_LINEAR:   // (B*rows, H): the product; its bias is added in the batchnorm's passes
        linear_forward_op(&n->plan.op[L->fwd], A + L->out, in, net_tensor(n, L->w), NULL);
        break;
    case L_BN_TANH:  // (B*rows, H), statistics over all B*rows rows
        // the linear layer before it left its product alone: its bias is added here
        n->bn_forward(A + L->out, A + L->raw, A + L->bmean, A + L->bvar, A + L->binv, in,
                      n->layer[l - 1].b >= 0 ? net_tensor(n, n->layer[l - 1].b) : NULL,
                      net_tensor(n, L->w), net_tensor(n, L->b), rows, L->cols, c->bessel);
        if (update_running && c->bn_stats == BN_STATS_RUNNING)
            running_update(net_tensor(n, L->mean), net_tensor(n, L->var), A + L->bmean,
                           A + L->bvar, c->momentum, L->cols);
        break;
    case L_LINEAR_OUT:  // (B, V), then the loss and dlogits
        linear_forward_op(&n->plan.op[L->fwd], A + L->out, in, net_tensor(n, L->w),
                          net_tensor(n, L->b));
        n->loss = ce_forward_backward_fused(A + L->dout, A + L->out, n->Yb, B, c->V);
        break;
    }
}

float net_forward(Net *n, const int *Xb, const int *Yb, int update_running) {
    if (n->Xb != Xb) memcpy(n->Xb, Xb, (size_t)n->B * n->cfg.T * sizeof(int));
    if (n->Yb != Yb) memcpy(n->Yb, Yb, (size_t)n->B * sizeof(int));
    for (int l = 0; l < n->n_layers; l++) net_layer_forward(n, l, update_running);
    return n->loss;
}

int net_tensor_is_bn(const Net *n, int i) { return n->tensor[i].is_bn; }

static float *grad_of(Net *n, int i) { return n->grads + n->tensor[i].off; }

void net_layer_backward(Net *n, int l, int sgd, float lr) {
    const NetConfig *c = &n->cfg;
    float *A = n->acts;
    const Layer *L = &n->layer[l];
    const Layer *p = l ? &n->layer[l - 1] : NULL;
    int B = n->B, rows = B * L->rows;
    float *W = L->w >= 0 ? net_tensor(n, L->w) : NULL;
    float *db = L->b >= 0 ? grad_of(n, L->b) : NULL;
    switch (L->kind) {
    case L_LINEAR_OUT:  // dh = dlogits . W^T, dW = h^T . dlogits, db = sums of dlogits
        if (sgd) linear_backward_sgd_op(&n->plan.op[L->dx], &n->plan.op[L->dw], A + p->dout, W, db,
                                        A + L->dout, A + p->out, lr);
        else linear_backward(A + p->dout, grad_of(n, L->w), db, A + L->dout, A + p->out, W, B,
                             L->in_cols, c->V);
        break;
    case L_BN_TANH:     // exercise 3 with tanh fused, over all B*rows rows
        n->bn_backward(A + p->dout, grad_of(n, L->w), grad_of(n, L->b), A + L->dout, A + L->out,
                       A + L->raw, A + L->binv, W, rows, L->cols, c->bessel);
        break;
    case L_LINEAR:
        if (sgd) linear_backward_sgd_op(&n->plan.op[L->dx], &n->plan.op[L->dw], A + p->dout, W, db,
                                        A + L->dout, A + p->out, lr);
        else linear_backward(A + p->dout, grad_of(n, L->w), db, A + L->dout, A + p->out, W,
                             B * L->in_rows, L->in_cols, L->cols);
        break;
    case L_FLATTEN:     // a view: its dout is its input's dout, nothing moves
        break;
    case L_EMBED:       // the scatter-add
        embedding_backward(grad_of(n, L->w), A + L->dout, n->Xb, B, c->T, c->E, c->V);
        break;
    }
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
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        if (!t->is_stat && !t->gemm_updated)
            sgd_update(n->params + t->off, n->grads + t->off, t->numel, lr);
    }
}

float net_train_step(Net *n, const Examples *ex, float lr, Rng *rng) {
    examples_sample_batch(n->Xb, n->Yb, ex, n->B, rng);
    float loss = net_forward(n, n->Xb, n->Yb, 1);
    net_backward_sgd(n, lr);
    return loss;
}

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
