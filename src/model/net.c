// net.c: the registry of architectures over the layer table (net.h): names, recipes,
// config checks, the table each one builds, buffers, the GEMM plan, sizes and memory.
// The architectures themselves are one file each (mlp.c, transformer.c, seqmodels.c).
#include "net.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels.h"
#include "mlp.h"
#include "seqmodels.h"
#include "transformer.h"

const char *const NET_ARCH_NAMES[NET_N_ARCHS + 1] = {
    "mlp", "wavenet", "bigram", "bengio", "bow", "rnn", "gru", "transformer", NULL};
const char *const BN_STATS_NAMES[3] = {"calibrate", "running", NULL};
const char *const OPTIM_NAMES[3] = {"sgd", "adamw", NULL};
const char *const NORM_NAMES[3] = {"batchnorm", "none", NULL};
const char *const INIT_NAMES[3] = {"lecture", "plain", NULL};

// One row per architecture: its recipe, its own checks, the table it builds.
typedef struct {
    const char *makemore_name;  // makemore.py's --type, NULL for the lecture's family
    void (*recipe)(NetRecipe *r);
    int (*check)(NetConfig *c, Err *err);
    void (*build)(Net *n, NetOffsets *o);
} Arch;

static const Arch ARCHS[NET_N_ARCHS] = {
    [ARCH_MLP] = {NULL, mlp_recipe, mlp_config_check, mlp_build},
    [ARCH_WAVENET] = {NULL, wavenet_recipe, mlp_config_check, mlp_build},
    [ARCH_BIGRAM] = {"bigram", seqmodels_recipe, seqmodels_config_check, bigram_build},
    [ARCH_BENGIO] = {"mlp", seqmodels_recipe, seqmodels_config_check, bengio_build},
    [ARCH_BOW] = {"bow", seqmodels_recipe, seqmodels_config_check, bow_build},
    [ARCH_RNN] = {"rnn", seqmodels_recipe, seqmodels_config_check, rnn_build},
    [ARCH_GRU] = {"gru", seqmodels_recipe, seqmodels_config_check, rnn_build},
    [ARCH_TRANSFORMER] = {"transformer", transformer_recipe, transformer_config_check,
                          transformer_build},
};
_Static_assert(sizeof ARCHS / sizeof ARCHS[0] == NET_N_ARCHS, "one row per architecture");

static int arch_ok(NetArch a) { return a >= 0 && a < NET_N_ARCHS; }
const char *net_arch_name(NetArch a) { return arch_ok(a) ? NET_ARCH_NAMES[a] : "?"; }
int net_arch_is_seq(NetArch a) { return arch_ok(a) && ARCHS[a].makemore_name != NULL; }
const char *net_arch_makemore_name(NetArch a) { return arch_ok(a) ? ARCHS[a].makemore_name : NULL; }

void net_recipe(NetArch a, NetRecipe *r) { ARCHS[arch_ok(a) ? a : ARCH_MLP].recipe(r); }

int net_config_check(NetConfig *c, Err *err) {
    if (!arch_ok(c->arch)) return err_set(err, "architecture %d (allowed: 0..%d)", (int)c->arch, NET_N_ARCHS - 1);
    if (c->V < 2 || c->V > 256) return err_set(err, "vocabulary of %d symbols (allowed: 2..256)", c->V);
    int max_t = net_arch_is_seq(c->arch) ? 1024 : 64;
    if (c->T < 1 || c->T > max_t) return err_set(err, "--block %d (allowed: 1..%d)", c->T, max_t);
    if (c->E < 1 || c->E > 4096) return err_set(err, "--embd %d (allowed: 1..4096)", c->E);
    if (c->H < 1 || c->H > 16384) return err_set(err, "--hidden %d (allowed: 1..16384)", c->H);
    if (c->heads < 1 && c->arch != ARCH_TRANSFORMER) c->heads = 1;
    if (c->optim != OPTIM_SGD && c->optim != OPTIM_ADAMW)
        return err_set(err, "optimizer %d (allowed: sgd, adamw)", (int)c->optim);
    return ARCHS[c->arch].check(c, err);
}

// ---- the table ---------------------------------------------------------------------------

void net_build(Net *n, const NetConfig *cfg, int B) {
    memset(n, 0, sizeof *n);
    n->cfg = *cfg;
    if (n->cfg.heads < 1) n->cfg.heads = 1;  // heads count for the transformer alone
    n->B = B;
    n->seq = net_arch_is_seq(cfg->arch);
    for (int k = 0; k < 6; k++) n->attn[k] = -1;
    NetOffsets o = {0, 0, 0};
    ARCHS[cfg->arch].build(n, &o);
    n->num_params = o.params;
    n->num_stats = o.stats;
    n->num_acts = o.acts;
}

void net_plan_sizes(const NetConfig *c, int B, char *buf, size_t len) {
    NetRecipe r;
    net_recipe(c->arch, &r);
    char opt[40];
    snprintf(opt, sizeof opt, "%s%s", c->optim == r.optim ? "" : c->optim == OPTIM_ADAMW ? ",optim=adamw"
                                                                                      : ",optim=sgd",
             c->norm == NORM_NONE ? ",norm=none" : "");
    if (c->arch == ARCH_MLP && c->layers == 1 && !*opt)
        snprintf(buf, len, "B=%d,TE=%d,H=%d,V=%d", B, c->T * c->E, c->H, c->V);
    else if (c->arch == ARCH_TRANSFORMER)
        snprintf(buf, len, "B=%d,arch=%s,layers=%d,heads=%d,T=%d,E=%d,V=%d%s", B,
                 net_arch_name(c->arch), c->layers, c->heads, c->T, c->E, c->V, opt);
    else
        snprintf(buf, len, "B=%d,arch=%s,layers=%d,T=%d,E=%d,H=%d,V=%d%s", B, net_arch_name(c->arch),
                 c->layers, c->T, c->E, c->H, c->V, opt);
}

// The ops in the order the step runs them: every forward from the input up, then the
// backward's from the output down.
static void plan_build(Net *n) {
    char sizes[160];
    net_plan_sizes(&n->cfg, n->B, sizes, sizeof sizes);
    gemm_plan_begin(&n->plan, sizes);
    for (int l = 0; l < n->n_layers; l++)
        if (n->layer[l].ops && n->layer[l].ops->plan) n->layer[l].ops->plan(n, &n->layer[l], 0);
    for (int l = n->n_layers - 1; l >= 0; l--)
        if (n->layer[l].ops && n->layer[l].ops->plan) n->layer[l].ops->plan(n, &n->layer[l], 1);
}

void net_alloc(Net *n, const NetConfig *cfg, int B) {
    net_build(n, cfg, B);
    n->params = xcalloc(n->num_params, sizeof(float));
    n->grads = xcalloc(n->num_params, sizeof(float));
    n->stats = xcalloc(n->num_stats ? n->num_stats : 1, sizeof(float));
    n->acts = xcalloc(n->num_acts ? n->num_acts : 1, sizeof(float));
    n->Xb = xcalloc((size_t)B * cfg->T, sizeof(int));
    n->Yb = xcalloc((size_t)B * (n->seq ? cfg->T : 1), sizeof(int));
    if (n->packed) {
        size_t bt = (size_t)B * cfg->T;
        n->pk_x = xcalloc(bt, sizeof(int));
        n->pk_y = xcalloc(bt, sizeof(int));
        n->pk_t = xcalloc(bt, sizeof(int));
        n->pk_p = xcalloc(bt, sizeof(int));
        n->pk_off = xcalloc((size_t)B + 1, sizeof(int));
        n->pk_len = xcalloc((size_t)B, sizeof(int));
    }
    if (cfg->optim == OPTIM_ADAMW) {
        n->adam_m = xcalloc(n->num_params, sizeof(float));
        n->adam_v = xcalloc(n->num_params, sizeof(float));
    }
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
    void *all[] = {n->params, n->grads, n->stats, n->acts, n->Xb, n->Yb, n->adam_m, n->adam_v,
                   n->pk_x, n->pk_y, n->pk_t, n->pk_p, n->pk_off, n->pk_len};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
    memset(n, 0, sizeof *n);
}

// ---- sizes ---------------------------------------------------------------------------------

enum { EVAL_ROWS = 4096, EVAL_SEQS = 256 };  // net_infer.c's evaluation chunks

double net_memory_bytes(const NetConfig *cfg, int B) {
    static Net n;  // the table alone (no buffers)
    net_build(&n, cfg, B);
    size_t widest = 0;
    for (int l = 0; l < n.n_layers; l++) {
        size_t w = (size_t)n.layer[l].rows * n.layer[l].cols;
        widest = w > widest ? w : widest;
    }
    double floats;
    if (n.seq) {  // + AdamW's moments, the evaluation's view (activations for its chunk)
        double per_example = (double)n.num_acts / B;
        floats = (cfg->optim == OPTIM_ADAMW ? 4.0 : 2.0) * n.num_params + n.num_stats +
                 n.num_acts + per_example * EVAL_SEQS + 2.0 * B * cfg->T;
    } else {
        // + the output layer's transposed copies (its two GEMM_BLAS_T ops), the batch, and
        // the evaluation's ping-pong scratch and logits
        floats = 2.0 * n.num_params + n.num_stats + n.num_acts + 2.0 * cfg->V * cfg->H +
                 (double)B * (cfg->T + 1) + 4096.0 * (2.0 * widest + cfg->V + cfg->T);
    }
    return 4.0 * floats;
}

// Every tensor of the model, every activation of its training step (batch B) and of its
// evaluation (chunks of 4096 examples, net_infer.c) must fit the int indices of the
// kernels, and the whole must fit the machine's memory.
int net_check_sizes(const NetConfig *c, int B, char *msg, size_t len) {
    static Net n;  // the table alone (no buffers)
    net_build(&n, c, 1);
    long long worst = 0;
    char what[128] = "";
    for (int i = 0; i < n.n_tensors; i++) {
        const NetTensor *t = &n.tensor[i];
        if ((long long)t->numel <= worst) continue;
        worst = (long long)t->numel;
        snprintf(what, sizeof what, "the parameter %s [%d x %d]", t->name, t->shape[0],
                 t->ndim == 2 ? t->shape[1] : 1);
    }
    static const char *const KIND[] = {"embeddings", "", "linear output", "hidden layer", "logits"};
    const long long eval = n.seq ? EVAL_SEQS : EVAL_ROWS;
    const long long rows = B > eval ? B : eval;  // the batch, or the evaluation's chunk
    for (int l = 0, hidden = 0; l < n.n_layers; l++) {
        const Layer *L = &n.layer[l];
        hidden += L->kind == L_BN_TANH || L->kind == L_TANH;
        long long a = rows * L->rows * L->cols;
        if (L->kind == L_FLATTEN || a <= worst) continue;
        worst = a;
        snprintf(what, sizeof what, "the %s's %s%.0d (%lld x %d x %d)", B > eval ? "batch" : "evaluation",
                 L->kind < 5 ? KIND[L->kind] : L->kind == L_TANH ? KIND[3] : LAYER_KIND_NAMES[L->kind],
                 L->kind == L_BN_TANH || L->kind == L_TANH ? hidden : 0, rows, L->rows, L->cols);
    }
    long long acts = (long long)n.num_acts * rows;  // every activation at once
    if (n.seq && acts > worst) {
        worst = acts;
        snprintf(what, sizeof what, "the %s's activations (%lld x %zu)", B > eval ? "batch" : "evaluation",
                 rows, n.num_acts);
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
