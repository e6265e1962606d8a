// net_io.c: a model file: a Net (and its training state) as one safetensors file.
//
// Tensors (F32): the table's, under the table's names (docs/ARCHITECTURES.md), statistics
// included, in PyTorch's layouts (a weight the engine keeps [in, out] is written [out, in]);
// for the lecture's model C, W1, b1, W2, b2, bngain, bnbias, bnmean, bnvar; for
// makemore.py's types its state_dict's names (transformer.h.0.attn.c_attn.weight, ...).
// A training checkpoint of an AdamW run adds its moments, adamw.m and adamw.v [params].
// On load a [1,H] tensor may also be [H]; any other tensor is refused. Metadata: format =
// "makemore-net-1"; arch (net.h's names); layers, heads, block, embd, hidden, vocab_size
// (decimal); optim = "sgd" | "adamw" (absent: sgd); bn_var = "unbiased" | "biased";
// bn_stats = "calibrate" | "running"; momentum ("%.9g"); for makemore.py's types also its
// own names (type, vocab_size, block_size, n_layer, n_head, n_embd, n_embd2: what
// tests/mm_export.py reads to build its class); then itos and the training state as
// checkpoint.c writes them. A "makemore-mlp-1" file (written before the layer table, with
// or without arch/layers keys) loads as mlp with 1 layer and calibrated statistics.
//
// Loading checks the file's checksums, then its header (config, every tensor's dtype and
// shape) before the data is read, then every value: a file whose header does not describe
// a makemore model of its real size costs no more than its header.
#include "net_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "safetensors.h"

#define NET_FORMAT "makemore-net-1"
#define MODEL_FORMAT "makemore-mlp-1"
enum { META_ROOM = 48 };

static int save(const char *path, const Net *n, const Vocab *v, const TrainState *ts,
                const uint64_t *split_seed, Err *err) {
    const NetConfig *c = &n->cfg;
    if (v->V != c->V || !checkpoint_vocab_ok(v))
        return err_set(err, "%s: not saved: the vocabulary (V = %d) is malformed or does not "
                       "match the model's V = %d", path, v->V, c->V);
    StTensor t[NET_MAX_TENSORS + 2];
    float *copies = NULL;  // the transposed weights, in PyTorch's layout
    size_t need = 0, at = 0;
    for (int i = 0; i < n->n_tensors; i++) need += n->tensor[i].transposed ? n->tensor[i].numel : 0;
    if (need) copies = xcalloc(need, sizeof(float));
    int nt = 0;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *x = &n->tensor[i];
        int s[2];
        net_torch_shape(n, i, s);
        const float *data = net_tensor(n, i);
        if (x->transposed) {
            net_to_torch(n, i, data, copies + at);
            data = copies + at;
            at += x->numel;
        }
        t[nt++] = (StTensor){.name = x->name, .dtype = ST_F32, .data = data, .ndim = x->ndim,
                             .shape = {s[0], s[1]}};
    }
    if (ts && c->optim == OPTIM_ADAMW && n->adam_m) {  // AdamW's moments: a resume continues them
        t[nt++] = (StTensor){.name = "adamw.m", .dtype = ST_F32, .data = n->adam_m, .ndim = 1,
                             .shape = {(int64_t)n->num_params}};
        t[nt++] = (StTensor){.name = "adamw.v", .dtype = ST_F32, .data = n->adam_v, .ndim = 1,
                             .shape = {(int64_t)n->num_params}};
    }
    StMeta meta[META_ROOM];
    char text[META_ROOM][ST_META_TEXT], itos[2 * 256 + 1];
    int k = 0;
    meta[k++] = (StMeta){"format", NET_FORMAT};
    meta[k++] = (StMeta){"arch", net_arch_name(c->arch)};
    meta[k++] = (StMeta){"bn_var", c->bessel ? "unbiased" : "biased"};
    meta[k++] = (StMeta){"bn_stats", c->bn_stats == BN_STATS_RUNNING ? "running" : "calibrate"};
    meta[k++] = (StMeta){"optim", OPTIM_NAMES[c->optim]};
    if (c->norm == NORM_NONE) meta[k++] = (StMeta){"norm", "none"};  // absent: batchnorm
    static const char *const keys[] = {"layers", "vocab_size", "block", "embd", "hidden", "heads"};
    const int vals[] = {c->layers, c->V, c->T, c->E, c->H, c->heads};
    st_meta_ints(meta + k, text + k, keys, vals, 6);
    k += 6;
    snprintf(text[k], sizeof text[k], "%.9g", (double)c->momentum);
    meta[k] = (StMeta){"momentum", text[k]};
    k++;
    if (net_arch_is_seq(c->arch)) {  // makemore.py's ModelConfig, for its class
        meta[k++] = (StMeta){"type", net_arch_makemore_name(c->arch)};
        static const char *const mk[] = {"block_size", "n_layer", "n_head", "n_embd", "n_embd2"};
        const int mv[] = {c->T, c->layers, c->heads, c->E, c->H};
        st_meta_ints(meta + k, text + k, mk, mv, 5);
        k += 5;
    }
    int m = checkpoint_meta_common(meta + k, text + k, META_ROOM - k, v, ts, itos);
    if (m >= 0 && !ts && split_seed) {
        if (k + m >= META_ROOM) m = -1;
        else {
            snprintf(text[k + m], sizeof text[k + m], "%llu", (unsigned long long)*split_seed);
            meta[k + m] = (StMeta){"words_split_seed", text[k + m]};
            m++;
        }
    }
    int rc = m < 0 ? err_set(err, "%s: not saved: too much metadata", path)
                   : st_save(path, t, nt, meta, k + m, err);
    xfree(copies);
    return rc;
}

int net_save(const char *path, const Net *n, const Vocab *v, const TrainState *ts, Err *err) {
    return save(path, n, v, ts, NULL, err);
}

int net_save_model(const char *path, const Net *n, const Vocab *v, uint64_t split_seed,
                   Err *err) {
    return save(path, n, v, NULL, &split_seed, err);
}

// The config from the metadata: a makemore-net-1 file's keys, or a makemore-mlp-1 file (the
// format before the layer table) as mlp/1.
static int read_net_config(const StFile *f, const char *path, NetConfig *c, Err *err) {
    const char *format = st_meta_get(f, "format");
    if (!format) return err_set(err, "%s: metadata \"format\" is missing", path);
    if (strcmp(format, NET_FORMAT) && strcmp(format, MODEL_FORMAT))
        return err_set(err, "%s: metadata \"format\" = \"%.40s\": expected \"" NET_FORMAT
                       "\" or \"" MODEL_FORMAT "\"", path, format);
    int net = strcmp(format, NET_FORMAT) == 0;
    *c = (NetConfig){.arch = ARCH_MLP, .layers = 1, .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f};
    if (checkpoint_meta_int(f, path, "vocab_size", 2, 256, &c->V, err) ||
        checkpoint_meta_int(f, path, "block", 1, 1024, &c->T, err) ||
        checkpoint_meta_int(f, path, "embd", 1, 4096, &c->E, err) ||
        checkpoint_meta_int(f, path, "hidden", 1, 16384, &c->H, err))
        return -1;
    const char *bn = st_meta_get(f, "bn_var");
    if (!bn) return err_set(err, "%s: metadata \"bn_var\" is missing", path);
    if (strcmp(bn, "unbiased") && strcmp(bn, "biased"))
        return err_set(err, "%s: metadata \"bn_var\" = \"%.40s\": expected \"unbiased\" or "
                       "\"biased\"", path, bn);
    c->bessel = strcmp(bn, "unbiased") == 0;
    const char *arch = st_meta_get(f, "arch");
    int a = -1;
    for (int i = 0; arch && i < NET_N_ARCHS; i++)
        if (!strcmp(arch, NET_ARCH_NAMES[i])) a = i;
    if (arch && a < 0)
        return err_set(err, "%s: metadata \"arch\" = \"%.40s\": not an architecture of this "
                       "makemore (mlp, wavenet, bigram, bengio, bow, rnn, gru, transformer)", path, arch);
    if (!net) {
        if (arch && strcmp(arch, "mlp"))
            return err_set(err, "%s: a \"" MODEL_FORMAT "\" file must be arch mlp", path);
        return 0;
    }
    if (!arch) return err_set(err, "%s: metadata \"arch\" is missing", path);
    c->arch = (NetArch)a;
    if (checkpoint_meta_int(f, path, "layers", 1, 32, &c->layers, err)) return -1;
    c->heads = 1;
    if (st_meta_get(f, "heads") && checkpoint_meta_int(f, path, "heads", 1, 64, &c->heads, err)) return -1;
    const char *opt = st_meta_get(f, "optim");
    if (opt && strcmp(opt, "sgd") && strcmp(opt, "adamw"))
        return err_set(err, "%s: metadata \"optim\" = \"%.40s\": expected \"sgd\" or \"adamw\"", path, opt);
    c->optim = opt && !strcmp(opt, "adamw") ? OPTIM_ADAMW : OPTIM_SGD;
    const char *norm = st_meta_get(f, "norm");
    if (norm && strcmp(norm, "none") && strcmp(norm, "batchnorm"))
        return err_set(err, "%s: metadata \"norm\" = \"%.40s\": expected \"batchnorm\" or \"none\"",
                       path, norm);
    c->norm = norm && !strcmp(norm, "none") ? NORM_NONE : NORM_BATCHNORM;
    const char *st = st_meta_get(f, "bn_stats"), *mom = st_meta_get(f, "momentum");
    if (!st || (strcmp(st, "calibrate") && strcmp(st, "running")))
        return err_set(err, "%s: metadata \"bn_stats\": expected \"calibrate\" or \"running\"", path);
    c->bn_stats = strcmp(st, "running") == 0 ? BN_STATS_RUNNING : BN_STATS_CALIBRATE;
    char *end = NULL;
    c->momentum = mom ? strtof(mom, &end) : NAN;
    if (!mom || end == mom || *end || !(c->momentum > 0 && c->momentum <= 1))
        return err_set(err, "%s: metadata \"momentum\": expected a number in (0, 1]", path);
    int layers = c->layers;
    Err bad;
    if (net_config_check(c, &bad))
        return err_set(err, "%s: metadata: %.400s", path, bad.msg);
    if (c->layers != layers)
        return err_set(err, "%s: metadata \"layers\" = %d, but a wavenet of block %d has %d",
                       path, layers, c->T, c->layers);
    return 0;
}

// Tensor i of the table: present, F32, its shape (or [H] for [1,H]).
static int check_tensor(const StFile *f, const char *path, const Net *n, int i,
                        const StTensor **out, Err *err) {
    const NetTensor *x = &n->tensor[i];
    const StTensor *t = st_find(f, x->name);
    if (!t) return err_set(err, "%s: tensor \"%s\" is missing", path, x->name);
    if (t->dtype != ST_F32) return err_set(err, "%s: tensor \"%s\": dtype is not F32", path, x->name);
    int s[2];
    net_torch_shape(n, i, s);  // the file's layout is PyTorch's
    int same = t->ndim == x->ndim && t->shape[0] == s[0] && (x->ndim == 1 || t->shape[1] == s[1]);
    int flat = x->ndim == 2 && s[0] == 1 && t->ndim == 1 && t->shape[0] == s[1];
    if (!same && !flat) {
        char got[96] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                     (long long)t->shape[d]);
        strcat(got, "]");
        if (x->ndim == 1)
            return err_set(err, "%s: tensor \"%s\": shape %s, expected [%d]", path, x->name, got, s[0]);
        return err_set(err, "%s: tensor \"%s\": shape %s, expected [%d, %d]", path, x->name, got,
                       s[0], s[1]);
    }
    *out = t;
    return 0;
}

// Its values (read by now): finite, and non-negative for a variance.
static int check_values(const char *path, const NetTensor *x, const StTensor *t, Err *err) {
    int is_var = x->is_stat && strncmp(x->name, "bnvar", 5) == 0;
    const unsigned char *bytes = t->data;
    for (size_t k = 0; k < x->numel; k++) {
        float v;
        memcpy(&v, bytes + 4 * k, sizeof v);  // file data is not necessarily aligned
        if (!isfinite(v) || (is_var && v < 0))
            return err_set(err, "%s: tensor \"%s\": element %zu is %g, expected a finite%s value",
                           path, x->name, k, (double)v, is_var ? " non-negative" : "");
    }
    return 0;
}

static int load_validated(Net *n, Vocab *v, TrainState *ts, int *has_ts, StFile *f,
                          const char *path, int B, unsigned flags, Err *err) {
    if (!f->checked && !(flags & NET_ACCEPT_UNCHECKED))
        return err_set(err, "%s: no checksum (written by an older makemore or another program): "
                       "its integrity cannot be verified; give --accept-unchecked to load it "
                       "anyway", path);
    NetConfig c;
    if (read_net_config(f, path, &c, err)) return -1;
    TrainState state;
    int has = 0;
    if (checkpoint_read_common(f, path, c.V, v, &state, &has, err)) return -1;
    static Net shape;  // the table alone (no buffers); large, so not on the stack
    net_build(&shape, &c, 1);
    const StTensor *t[NET_MAX_TENSORS];
    for (int i = 0; i < shape.n_tensors; i++)
        if (check_tensor(f, path, &shape, i, &t[i], err)) return -1;
    const StTensor *moments[2] = {st_find(f, "adamw.m"), st_find(f, "adamw.v")};
    for (int j = 0; j < 2; j++)  // AdamW's moments: both or neither, the parameters' count
        if ((moments[j] && (moments[j]->dtype != ST_F32 || moments[j]->ndim != 1 ||
                            moments[j]->shape[0] != (int64_t)shape.num_params ||
                            c.optim != OPTIM_ADAMW)) || (!moments[j] != !moments[1 - j]))
            return err_set(err, "%s: tensors \"adamw.m\" and \"adamw.v\": expected both, F32 "
                           "[%zu], in an adamw model", path, shape.num_params);
    for (int k = 0; k < f->n_tensors; k++)
        if (net_find(&shape, f->tensors[k].name) < 0 && strcmp(f->tensors[k].name, "adamw.m") &&
            strcmp(f->tensors[k].name, "adamw.v"))
            return err_set(err, "%s: unexpected tensor \"%.64s\" (not part of a %s model with %d "
                           "layer%s)", path, f->tensors[k].name, net_arch_name(c.arch), c.layers,
                           c.layers == 1 ? "" : "s");
    if (st_read_data(f, path, err)) return -1;
    for (int i = 0; i < shape.n_tensors; i++) {
        t[i] = st_find(f, shape.tensor[i].name);  // data pointers are set now
        if (check_values(path, &shape.tensor[i], t[i], err)) return -1;
    }
    // Every tensor is in the file with its full size, so the allocation is bounded by it.
    net_alloc(n, &c, B);
    float *row = NULL;
    for (int i = 0; i < n->n_tensors; i++) {
        if (!n->tensor[i].transposed) {
            memcpy(net_tensor(n, i), t[i]->data, n->tensor[i].numel * sizeof(float));
            continue;
        }
        xfree(row);  // file data is not necessarily aligned: copied, then transposed
        row = xcalloc(n->tensor[i].numel, sizeof(float));
        memcpy(row, t[i]->data, n->tensor[i].numel * sizeof(float));
        net_from_torch(n, i, row, net_tensor(n, i));
    }
    xfree(row);
    if (moments[0] && n->adam_m) {
        memcpy(n->adam_m, st_find(f, "adamw.m")->data, n->num_params * sizeof(float));
        memcpy(n->adam_v, st_find(f, "adamw.v")->data, n->num_params * sizeof(float));
        for (size_t k = 0; k < n->num_params; k++)
            if (!isfinite(n->adam_m[k]) || !(n->adam_v[k] >= 0) || !isfinite(n->adam_v[k])) {
                net_free(n);
                return err_set(err, "%s: tensor \"adamw.m\" or \"adamw.v\": element %zu is "
                               "not a finite moment", path, k);
            }
    }
    if (has_ts) *has_ts = has;
    if (ts && has) *ts = state;
    else if (ts && state.has_split_seed) {  // a plain model file's split
        ts->split_seed = state.split_seed;
        ts->has_split_seed = 1;
    }
    return 0;
}

int net_load_flags(Net *n, Vocab *v, TrainState *ts, int *has_ts, const char *path, int B,
                   unsigned flags, Err *err) {
    memset(n, 0, sizeof *n);
    if (has_ts) *has_ts = 0;
    if (B < 1) return err_set(err, "%s: batch size %d: must be at least 1", path, B);
    StFile f;
    if (st_open(&f, path, err)) return -1;
    int rc = load_validated(n, v, ts, has_ts, &f, path, B, flags, err);
    st_free(&f);
    if (rc) err_make_printable(err);
    return rc;
}

int net_load(Net *n, Vocab *v, TrainState *ts, int *has_ts, const char *path, int B, Err *err) {
    return net_load_flags(n, v, ts, has_ts, path, B, 0, err);
}

int net_load_resume(Net *n, Vocab *v, TrainState *ts, const char *path, unsigned flags, Err *err) {
    int has_ts = 0;
    if (net_load_flags(n, v, ts, &has_ts, path, 1, flags, err) != 0) return -1;
    const char *why = NULL;
    char msg[256];
    if (!has_ts) {
        why = "a model file without a training state (step, rng, schedule) cannot be resumed";
    } else if (n->cfg.bessel && ts->batch < 2) {
        snprintf(msg, sizeof msg, "batch %d with bn_var unbiased (allowed: >= 2)", ts->batch);
        why = msg;
    } else if (!(ts->lr > 0) || ts->lr > 1000 || !(ts->lr2 > 0) || ts->lr2 > 1000) {
        snprintf(msg, sizeof msg, "learning rates %g, %g (allowed: greater than 0, at most "
                 "1000)", ts->lr, ts->lr2);
        why = msg;
    } else if (ts->steps > 1000000000L || ts->decay_step > 1000000000L || ts->batch > 1 << 20) {
        snprintf(msg, sizeof msg, "steps %ld, decay_step %ld, batch %d out of range (allowed: "
                 "at most 1000000000, 1000000000, 1048576)", ts->steps, ts->decay_step, ts->batch);
        why = msg;
    }
    if (!why) return 0;
    net_free(n);
    err_set(err, "--resume %s: %s", path, why);
    err_make_printable(err);
    return -1;
}
