// net_io.c: a Net (and its training state) as one safetensors file.
//
// Tensors (F32): the table's, under the table's names (src/ARCHITECTURES.md), statistics
// included. Metadata: format = "makemore-net-1"; arch = "mlp" | "wavenet"; layers, block,
// embd, hidden, vocab_size (decimal); bn_var = "unbiased" | "biased"; bn_stats =
// "calibrate" | "running"; momentum ("%.9g"); then itos and the training state exactly
// as checkpoint.c writes them. A "makemore-mlp-1" file (model.c's, with or without its
// arch/layers keys) loads as mlp with 1 layer and calibrated statistics.
#include "net_io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "safetensors.h"

#define NET_FORMAT "makemore-net-1"
#define MODEL_FORMAT "makemore-mlp-1"
enum { META_ROOM = 40 };

int net_save(const char *path, const Net *n, const Vocab *v, const TrainState *ts, Err *err) {
    const NetConfig *c = &n->cfg;
    if (v->V != c->V) return err_set(err, "%s: not saved: vocabulary of %d, model of %d", path, v->V, c->V);
    StTensor t[NET_MAX_TENSORS];
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *x = &n->tensor[i];
        t[i] = (StTensor){.name = x->name, .dtype = ST_F32, .data = net_tensor(n, i), .ndim = x->ndim};
        t[i].shape[0] = x->shape[0];
        t[i].shape[1] = x->shape[1];
    }
    StMeta meta[META_ROOM];
    char text[META_ROOM][80], itos[2 * 256 + 1];
    int k = 0;
    meta[k++] = (StMeta){"format", NET_FORMAT};
    meta[k++] = (StMeta){"arch", net_arch_name(c->arch)};
    meta[k++] = (StMeta){"bn_var", c->bessel ? "unbiased" : "biased"};
    meta[k++] = (StMeta){"bn_stats", c->bn_stats == BN_STATS_RUNNING ? "running" : "calibrate"};
    const char *keys[] = {"layers", "vocab_size", "block", "embd", "hidden"};
    int vals[] = {c->layers, c->V, c->T, c->E, c->H};
    for (int i = 0; i < 5; i++) {
        snprintf(text[k], sizeof text[k], "%d", vals[i]);
        meta[k] = (StMeta){keys[i], text[k]};
        k++;
    }
    snprintf(text[k], sizeof text[k], "%.9g", (double)c->momentum);
    meta[k] = (StMeta){"momentum", text[k]};
    k++;
    int m = checkpoint_meta_common(meta + k, text + k, META_ROOM - k, v, ts, itos);
    if (m < 0) return err_set(err, "%s: not saved: too much metadata", path);
    return st_save(path, t, n->n_tensors, meta, k + m, err);
}

// The config from the metadata: a Net file's keys, or a model.c file as mlp/1.
static int read_net_config(const StFile *f, const char *path, NetConfig *c, Err *err) {
    const char *format = st_meta_get(f, "format");
    if (!format || (strcmp(format, NET_FORMAT) && strcmp(format, MODEL_FORMAT)))
        return err_set(err, "%s: metadata \"format\" = \"%.40s\": expected \"" NET_FORMAT
                       "\" or \"" MODEL_FORMAT "\"", path, format ? format : "(missing)");
    int net = strcmp(format, NET_FORMAT) == 0;
    *c = (NetConfig){.arch = ARCH_MLP, .layers = 1, .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f};
    if (checkpoint_meta_int(f, path, "vocab_size", 2, 256, &c->V, err) ||
        checkpoint_meta_int(f, path, "block", 1, 64, &c->T, err) ||
        checkpoint_meta_int(f, path, "embd", 1, 4096, &c->E, err) ||
        checkpoint_meta_int(f, path, "hidden", 1, 16384, &c->H, err))
        return -1;
    const char *bn = st_meta_get(f, "bn_var");
    if (!bn || (strcmp(bn, "unbiased") && strcmp(bn, "biased")))
        return err_set(err, "%s: metadata \"bn_var\": expected \"unbiased\" or \"biased\"", path);
    c->bessel = strcmp(bn, "unbiased") == 0;
    const char *arch = st_meta_get(f, "arch");
    if (arch && strcmp(arch, "mlp") && strcmp(arch, "wavenet"))
        return err_set(err, "%s: metadata \"arch\" = \"%.40s\": expected \"mlp\" or \"wavenet\"", path, arch);
    if (!net) {
        if (arch && strcmp(arch, "mlp"))
            return err_set(err, "%s: a \"" MODEL_FORMAT "\" file must be arch mlp", path);
        return 0;
    }
    if (!arch) return err_set(err, "%s: metadata \"arch\" is missing", path);
    c->arch = strcmp(arch, "wavenet") == 0 ? ARCH_WAVENET : ARCH_MLP;
    if (checkpoint_meta_int(f, path, "layers", 1, 16, &c->layers, err)) return -1;
    const char *st = st_meta_get(f, "bn_stats"), *mom = st_meta_get(f, "momentum");
    if (!st || (strcmp(st, "calibrate") && strcmp(st, "running")))
        return err_set(err, "%s: metadata \"bn_stats\": expected \"calibrate\" or \"running\"", path);
    c->bn_stats = strcmp(st, "running") == 0 ? BN_STATS_RUNNING : BN_STATS_CALIBRATE;
    char *end = NULL;
    c->momentum = mom ? strtof(mom, &end) : NAN;
    if (!mom || end == mom || *end || !(c->momentum > 0 && c->momentum <= 1))
        return err_set(err, "%s: metadata \"momentum\": expected a number in (0, 1]", path);
    int layers = c->layers;
    if (net_config_check(c, err)) return -1;
    if (c->layers != layers)
        return err_set(err, "%s: metadata \"layers\" = %d, but a wavenet of block %d has %d",
                       path, layers, c->T, c->layers);
    return 0;
}

// Tensor i of the table: present, F32, its shape (or [H] for [1,H]), finite values,
// variances non-negative.
static int check_tensor(const StFile *f, const char *path, const Net *n, int i,
                        const StTensor **out, Err *err) {
    const NetTensor *x = &n->tensor[i];
    const StTensor *t = st_find(f, x->name);
    if (!t) return err_set(err, "%s: tensor \"%s\" is missing", path, x->name);
    if (t->dtype != ST_F32) return err_set(err, "%s: tensor \"%s\": dtype is not F32", path, x->name);
    int same = t->ndim == x->ndim && t->shape[0] == x->shape[0] &&
               (x->ndim == 1 || t->shape[1] == x->shape[1]);
    int flat = x->ndim == 2 && x->shape[0] == 1 && t->ndim == 1 && t->shape[0] == x->shape[1];
    if (!same && !flat)
        return err_set(err, "%s: tensor \"%s\": wrong shape, expected [%d%s%.0d]", path, x->name,
                       x->shape[0], x->ndim == 2 ? ", " : "", x->ndim == 2 ? x->shape[1] : 0);
    int is_var = strncmp(x->name, "bnvar", 5) == 0;
    const unsigned char *bytes = t->data;
    for (size_t k = 0; k < x->numel; k++) {
        float v;
        memcpy(&v, bytes + 4 * k, sizeof v);
        if (!isfinite(v) || (is_var && v < 0))
            return err_set(err, "%s: tensor \"%s\": element %zu is %g, expected a finite%s value",
                           path, x->name, k, (double)v, is_var ? " non-negative" : "");
    }
    *out = t;
    return 0;
}

static int load_validated(Net *n, Vocab *v, TrainState *ts, int *has_ts, const StFile *f,
                          const char *path, int B, Err *err) {
    NetConfig c;
    if (read_net_config(f, path, &c, err)) return -1;
    TrainState state;
    int has = 0;
    if (checkpoint_read_common(f, path, c.V, v, &state, &has, err)) return -1;
    Net shape;
    net_build(&shape, &c, 1);
    const StTensor *t[NET_MAX_TENSORS];
    for (int i = 0; i < shape.n_tensors; i++)
        if (check_tensor(f, path, &shape, i, &t[i], err)) return -1;
    for (int k = 0; k < f->n_tensors; k++)
        if (net_find(&shape, f->tensors[k].name) < 0)
            return err_set(err, "%s: unexpected tensor \"%.64s\" (not part of a %s model with %d "
                           "layer%s)", path, f->tensors[k].name, net_arch_name(c.arch), c.layers,
                           c.layers == 1 ? "" : "s");
    net_alloc(n, &c, B);
    for (int i = 0; i < n->n_tensors; i++)
        memcpy(net_tensor(n, i), t[i]->data, n->tensor[i].numel * sizeof(float));
    if (has_ts) *has_ts = has;
    if (ts && has) *ts = state;
    return 0;
}

int net_load(Net *n, Vocab *v, TrainState *ts, int *has_ts, const char *path, int B, Err *err) {
    memset(n, 0, sizeof *n);
    if (has_ts) *has_ts = 0;
    if (B < 1) return err_set(err, "%s: batch size %d: must be at least 1", path, B);
    StFile f;
    if (st_load(&f, path, err)) return -1;
    int rc = load_validated(n, v, ts, has_ts, &f, path, B, err);
    st_free(&f);
    if (rc) err_make_printable(err);
    return rc;
}

int net_file_kind(const char *path, NetConfig *cfg) {
    StFile f;
    Err err;
    if (st_load(&f, path, &err)) return -1;
    const char *format = st_meta_get(&f, "format");
    int kind = format && strcmp(format, NET_FORMAT) == 0;
    if (cfg && read_net_config(&f, path, cfg, &err)) kind = -1;
    st_free(&f);
    return kind;
}
