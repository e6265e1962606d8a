// gradcheck_seq.c: `makemore gradcheck --arch T` for makemore.py's types: every parameter
// gradient of the engine's float32 backward against its float64 twin (mm_ref.h, written
// from makemore.py's classes, in PyTorch's layouts), the twin against central differences
// of its float64 loss; one row per tensor, under makemore.py's state_dict names.
#include "gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm_ref.h"

#define RTOL 1e-5   // |a - b| <= RTOL * max|b| + ATOL over the tensor
#define ATOL 1e-8
#define FD_PROBES 6  // elements per tensor held to central differences

static MmConfig mm_config(const NetConfig *c) {
    static const MmType TYPE[NET_N_ARCHS] = {
        [ARCH_BIGRAM] = MM_BIGRAM, [ARCH_BENGIO] = MM_MLP, [ARCH_BOW] = MM_BOW,
        [ARCH_RNN] = MM_RNN, [ARCH_GRU] = MM_GRU, [ARCH_TRANSFORMER] = MM_TRANSFORMER};
    return (MmConfig){TYPE[c->arch], c->V, c->T, c->layers, c->heads, c->E, c->H};
}

// A batch as makemore.py's CharDataset gives them: random words of 1..T-1 letters,
// X = [0, w...] padded with 0, Y = [w..., 0, -1 ...].
static void random_batch(int *X, int *Y, int B, int T, int V, Rng *r) {
    for (int b = 0; b < B; b++) {
        int len = 1 + (int)rng_below(r, (uint32_t)(T > 1 ? T - 1 : 1));
        int *x = X + (size_t)b * T, *y = Y + (size_t)b * T;
        for (int t = 0; t < T; t++) x[t] = 0, y[t] = -1;
        for (int t = 0; t < len && t < T; t++) {
            int ch = 1 + (int)rng_below(r, (uint32_t)(V - 1));
            y[t] = ch;
            if (t + 1 < T) x[t + 1] = ch;
        }
        if (len < T) y[len] = 0;
    }
}

static int dump(const char *path, const Net *n, const MmConfig *mc, float *const *P32,
                float *const *G32, int B, Err *err) {
    StTensor t[2 * NET_MAX_TENSORS + 2];
    char names[NET_MAX_TENSORS][NET_NAME_MAX + 8];
    int k = 0, np = 0;
    for (int i = 0; i < n->n_tensors; i++) {
        if (n->tensor[i].is_stat) continue;
        int s[2];
        net_torch_shape(n, i, s);
        int nd = n->tensor[i].ndim;
        t[k++] = (StTensor){.name = n->tensor[i].name, .dtype = ST_F32, .ndim = nd, .shape = {s[0], s[1]},
                            .data = P32[np]};
        snprintf(names[np], sizeof names[np], "grad.%s", n->tensor[i].name);
        t[k++] = (StTensor){.name = names[np], .dtype = ST_F32, .ndim = nd, .shape = {s[0], s[1]},
                            .data = G32[np]};
        np++;
    }
    t[k++] = (StTensor){.name = "X", .dtype = ST_I32, .ndim = 2, .shape = {B, mc->T}, .data = n->Xb};
    t[k++] = (StTensor){.name = "Y", .dtype = ST_I32, .ndim = 2, .shape = {B, mc->T}, .data = n->Yb};
    static const char *const TYPES[] = {"bigram", "mlp", "bow", "rnn", "gru", "transformer"};
    char text[8][ST_META_TEXT];
    const int vals[] = {mc->V, mc->T, mc->n_layer, mc->n_head, mc->n_embd, mc->n_embd2, B};
    static const char *const keys[] = {"vocab_size", "block_size", "n_layer", "n_head", "n_embd",
                                       "n_embd2", "batch"};
    StMeta meta[11];
    st_meta_ints(meta, text, keys, vals, 7);
    snprintf(text[7], sizeof text[7], "%.9g", (double)n->loss);
    meta[7] = (StMeta){"loss", text[7]};
    meta[8] = (StMeta){"type", TYPES[mc->type]};
    meta[9] = (StMeta){"format", "makemore-gradcheck-mm-1"};
    meta[10] = (StMeta){"source", "makemore gradcheck: the engine's float32 backward"};
    return st_save(path, t, k, meta, 11, err);
}

int gc_seq(const NetConfig *cfg, int B, uint64_t seed, const char *dump_path) {
    NetConfig c = *cfg;
    Net n;
    net_alloc(&n, &c, B);
    Rng r;
    rng_seed(&r, seed);
    net_init(&n, &r, 1);  // non-trivial biases and gains: zeros hide bugs
    random_batch(n.Xb, n.Yb, B, c.T, c.V, &r);
    net_forward(&n, n.Xb, n.Yb, 0);
    net_backward(&n);

    MmConfig mc = mm_config(&c);
    int nt = mm_tensors(&mc, NULL, 0), np = 0;
    MmTensorInfo *info = xcalloc((size_t)nt, sizeof *info);
    mm_tensors(&mc, info, nt);
    int *idx = xcalloc((size_t)nt + 1, sizeof(int));  // twin tensor k -> engine tensor
    for (int i = 0; i < n.n_tensors; i++) np += !n.tensor[i].is_stat;
    int ok = np == nt;
    for (int k = 0; k < nt && ok; k++) {
        idx[k] = net_find(&n, info[k].name);
        int s[2] = {0, 0};
        if (idx[k] >= 0) net_torch_shape(&n, idx[k], s);
        ok = idx[k] >= 0 && s[0] == info[k].shape[0] && (info[k].ndim == 1 || s[1] == info[k].shape[1]);
        if (!ok) say("gradcheck", "the table's tensors are not makemore.py's: %s", info[k].name);
    }
    if (!ok) {
        net_free(&n);
        return EXIT_RUNTIME;
    }
    double **P = xcalloc((size_t)nt, sizeof *P), **Gd = xcalloc((size_t)nt, sizeof *Gd);
    float **P32 = xcalloc((size_t)nt, sizeof *P32), **G32 = xcalloc((size_t)nt, sizeof *G32);
    for (int k = 0; k < nt; k++) {
        size_t numel = n.tensor[idx[k]].numel;
        P32[k] = xcalloc(numel, sizeof(float));
        G32[k] = xcalloc(numel, sizeof(float));
        P[k] = xcalloc(numel, sizeof(double));
        Gd[k] = xcalloc(numel, sizeof(double));
        net_to_torch(&n, idx[k], net_tensor(&n, idx[k]), P32[k]);
        net_to_torch(&n, idx[k], net_grad(&n, idx[k]), G32[k]);
        for (size_t e = 0; e < numel; e++) P[k][e] = P32[k][e];
    }
    double loss = mm_ref_loss(&mc, (const double *const *)P, n.Xb, n.Yb, B, Gd);
    printf("gradcheck --arch %s (seed %llu): makemore.py's %s, B=%d T=%d n_embd=%d n_embd2=%d "
           "n_layer=%d n_head=%d V=%d, %zu parameters\nloss: float32 %.9g, float64 %.12g\n",
           net_arch_name(c.arch), (unsigned long long)seed, net_arch_makemore_name(c.arch), B, c.T,
           c.E, c.H, c.layers, c.heads, c.V, n.num_params, (double)n.loss, loss);
    printf("float32 backward vs the float64 twin (approximate: maxdiff <= %g max|grad| + %g, and "
           "the twin within 1e-6 max|grad| of central differences at %d elements):\n", RTOL, ATOL,
           FD_PROBES);
    ok = fabs(loss - n.loss) <= 1e-5 * fabs(loss);
    int good = 0;
    for (int k = nt - 1; k >= 0; k--) {  // backward order, as the lecture prints
        size_t numel = n.tensor[idx[k]].numel;
        double scale = 0, md = 0, fd = 0;
        int exact = 1;
        for (size_t e = 0; e < numel; e++) {
            scale = fmax(scale, fabs(Gd[k][e]));
            md = fmax(md, fabs(G32[k][e] - Gd[k][e]));
            exact &= G32[k][e] == (float)Gd[k][e];
        }
        for (int p = 0; p < FD_PROBES && (size_t)p < numel; p++) {
            size_t e = (size_t)p * numel / FD_PROBES;
            double h = 1e-5, keep = P[k][e];
            P[k][e] = keep + h;
            double up = mm_ref_loss(&mc, (const double *const *)P, n.Xb, n.Yb, B, NULL);
            P[k][e] = keep - h;
            double dn = mm_ref_loss(&mc, (const double *const *)P, n.Xb, n.Yb, B, NULL);
            P[k][e] = keep;
            fd = fmax(fd, fabs((up - dn) / (2 * h) - Gd[k][e]));
        }
        int approx = md <= RTOL * scale + ATOL && fd <= 1e-6 * scale + 1e-8;
        good += approx;
        printf("%-36s | exact: %-5s | approximate: %-5s | maxdiff: %.6g | scale: %.3g | "
               "float64 vs differences: %.3g\n", info[k].name, exact ? "True" : "False",
               approx ? "True" : "False", md, scale, fd);
        if (!approx) say("gradcheck", "mismatch in %s", info[k].name);
    }
    ok &= good == nt;
    printf("%s: %d of %d rows approximately equal\n", ok ? "ok" : "MISMATCH", good, nt);
    if (dump_path) {
        Err err;
        if (dump(dump_path, &n, &mc, P32, G32, B, &err)) {
            say("gradcheck", "%s", err.msg);
            ok = 0;
        } else {
            printf("wrote %s (check it: /usr/bin/python3 tests/torch_reference.py check-mm %s)\n",
                   dump_path, dump_path);
        }
    }
    for (int k = 0; k < nt; k++) {
        xfree(P[k]), xfree(Gd[k]), xfree(P32[k]), xfree(G32[k]);
    }
    xfree(P), xfree(Gd), xfree(P32), xfree(G32), xfree(info), xfree(idx);
    net_free(&n);
    return ok ? 0 : 1;
}
