// gradcheck.c: `makemore gradcheck`: one flag table, one parser, and the checker it chooses
// (gradcheck.h): the lecture's exercise cell, a --ref file, or the layer table (--arch).
#include "gradcheck.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "flags.h"
#include "outfile.h"

#define CMD "gradcheck"

typedef struct {
    int arch;  // -1: the lecture's exercise cell; else NetArch
    int layers, heads, norm, batch, hidden, embd, block, vocab, bn_var, ties;
    uint64_t seed;
    const char *dump, *ref;
} GcOpts;

static const char *const BN_VAR[] = {"unbiased", "biased", NULL};

#define O(field) offsetof(GcOpts, field)
static const Flag FLAGS[] = {
    {"--arch", NULL, FT_CHOICE, O(arch), 0, 0, NET_ARCH_NAMES, "A",
     "check the layer table of that model, every layer (default: the lecture's\n"
     "exercise cell, exercises 1-3 line by line)", 0},
    {"--layers", NULL, FT_INT, O(layers), 1, 32, NULL, "N",
     "--arch mlp: hidden blocks; --arch transformer: n_layer", 0},
    {"--heads", NULL, FT_INT, O(heads), 1, 64, NULL, "N", "--arch transformer: n_head", 0},
    {"--norm", NULL, FT_CHOICE, O(norm), 0, 0, NORM_NAMES, "N",
     "--arch mlp: Linear -> BatchNorm -> Tanh blocks, or Linear -> Tanh (none)", 0},
    {"--batch", NULL, FT_INT, O(batch), 2, GC_MAX_BATCH, NULL, "N", "batch size n", 0},
    {"--hidden", NULL, FT_INT, O(hidden), 1, GC_MAX_HIDDEN, NULL, "N", "hidden width H", 0},
    {"--embd", NULL, FT_INT, O(embd), 1, GC_MAX_EMBD, NULL, "N", "embedding width E", 0},
    {"--block", NULL, FT_INT, O(block), 1, GC_MAX_BLOCK, NULL, "N", "context length T", 0},
    {"--vocab", NULL, FT_INT, O(vocab), 2, GC_MAX_VOCAB, NULL, "N", "vocabulary size V", 0},
    {"--seed", NULL, FT_U64, O(seed), 0, 0, NULL, "N", "seed of the random parameters and batch", 0},
    {"--bn-var", NULL, FT_CHOICE, O(bn_var), 0, 0, BN_VAR, "MODE",
     "unbiased: batch variance / (n-1), the lecture's; biased: / n, as\n"
     "nn.BatchNorm1d normalises in training", 0},
    {"--ties", NULL, FT_SWITCH, O(ties), 0, 0, NULL, NULL,
     "the exercise cell: make two logits columns tie, bit for bit, at every\n"
     "row's maximum", 0},
    {"--dump", NULL, FT_STRING, O(dump), 0, 0, NULL, "FILE",
     "also write parameters, batch, loss and every gradient (float32, PyTorch's\n"
     "shapes) as safetensors, for tests/torch_reference.py", FL_PATH},
    {"--ref", NULL, FT_STRING, O(ref), 0, 0, NULL, "FILE",
     "hold the exercise cell against the gradients in FILE instead (e.g. from\n"
     "tests/torch_reference.py write); sizes and bn_var come from it", FL_PATH},
};
#undef O
#define N_FLAGS ((int)(sizeof FLAGS / sizeof FLAGS[0]))

// The defaults: the exercise cell's (B 32, H 64 as the lecture's check), then each
// architecture's recipe sizes (the mlp's hidden width stays the cell's 64). makemore.py's
// types are checked small (B 8, T 8, n_embd 16, n_embd2 12, 2 layers of 2 heads): the
// float64 twin's central differences take seconds, and any size is a flag away.
static void gc_defaults(GcOpts *o, int arch) {
    *o = (GcOpts){.arch = arch, .layers = 1, .heads = 1, .batch = 32, .hidden = 64, .embd = 10,
                  .block = 3, .vocab = 27, .seed = 42};
    if (arch < 0 || arch == ARCH_MLP) return;
    if (net_arch_is_seq((NetArch)arch)) {
        *o = (GcOpts){.arch = arch, .layers = 2, .heads = 2, .batch = 8, .hidden = 12, .embd = 16,
                      .block = 8, .vocab = 27, .seed = 42};
        return;
    }
    NetRecipe r;
    net_recipe((NetArch)arch, &r);
    o->block = r.T;
    o->embd = r.E;
    o->hidden = r.H;
}

static const FlagTable *gc_flags(void) {
    static GcOpts d[NET_N_ARCHS + 1];
    static FlagDefaults v[NET_N_ARCHS + 1];
    static FlagTable t;
    if (!t.n) {
        gc_defaults(&d[0], -1);
        v[0] = (FlagDefaults){NULL, &d[0], NULL};
        for (int a = 0; a < NET_N_ARCHS; a++) {
            gc_defaults(&d[a + 1], a);
            v[a + 1] = (FlagDefaults){NET_ARCH_NAMES[a], &d[a + 1],
                                      net_arch_is_seq((NetArch)a) ? "makemore.py's types" : NULL};
        }
        t = (FlagTable){CMD, FLAGS, N_FLAGS, v, NET_N_ARCHS + 1};
    }
    return &t;
}

static void usage(void) {
    static const char *const only_ref[] = {"--arch", "--layers", "--heads", "--norm", "--batch", "--hidden", "--embd",
                                           "--block", "--vocab", "--seed", "--bn-var", "--ties",
                                           "--dump", "--ref", NULL};
    static const char *const cell[] = {"--arch", "--layers", "--heads", "--norm", "--ref", NULL};
    static const char *const net[] = {"--arch", "--ties", "--ref", NULL};
    printf("usage:\n");
    flags_synopsis(stdout, gc_flags(), "makemore gradcheck", 17, NULL, cell);
    flags_synopsis(stdout, gc_flags(), "makemore gradcheck", 17, "--ref FILE", only_ref);
    flags_synopsis(stdout, gc_flags(), "makemore gradcheck", 17, "--arch A", net);
    printf("\nExercises 1-3 of 'becoming a backprop ninja' as the lecture's table: every one of the\n"
           "26 gradients of the atomic float32 backward (one loop per notebook line) against the\n"
           "same graph in float64, the float64 graph against central finite differences, and the\n"
           "fused kernels (cross-entropy, batchnorm, batchnorm+tanh, embedding scatter-add)\n"
           "against the atomic chain and float64. With --arch, every parameter gradient of that\n"
           "model's layer table (its fused backward) against its float64 twin and finite\n"
           "differences. 'approximate' is torch.allclose's rule: |a - b| <= 1e-8 + 1e-5 |b|,\n"
           "b the reference. Exit status 0 only when every row is approximately equal (1: a\n"
           "mismatch, named on stderr; 2: a bad flag).\n\n");
    flags_help(stdout, gc_flags());
}

static int given(const unsigned char *g, const char *name) { return g[flags_find(gc_flags(), name)]; }

int gradcheck_main(int argc, char **argv) {
    const FlagTable *t = gc_flags();
    GcOpts first, o;
    unsigned char g[FLAGS_MAX];
    Err err;
    gc_defaults(&first, -1);
    int r = flags_parse(t, &first, g, argc, argv, &err);  // the architecture sets the defaults
    if (r == FLAGS_HELP) {
        usage();
        return cmd_stdout_done(CMD, 0);
    }
    if (r != FLAGS_OK) cmd_fail(CMD, EXIT_USAGE, "%s", err.msg);
    gc_defaults(&o, given(g, "--arch") ? first.arch : -1);
    flags_parse(t, &o, g, argc, argv, &err);
    if (o.ref) {
        for (int i = 0; i < t->n; i++)
            if (g[i] && strcmp(FLAGS[i].name, "--ref"))
                cmd_fail(CMD, EXIT_USAGE, "--ref takes sizes, seed, bn-var and batch from its "
                         "file: it combines with no other flag (%s given)", FLAGS[i].name);
        return cmd_stdout_done(CMD, gc_ref(o.ref));
    }
    if (o.arch < 0 && given(g, "--layers"))
        cmd_fail(CMD, EXIT_USAGE, "--layers needs --arch mlp (the exercise cell has one hidden layer)");
    if (o.arch == ARCH_WAVENET && given(g, "--layers"))
        cmd_fail(CMD, EXIT_USAGE, "--layers %d with --arch wavenet: its depth is log2(--block) "
                 "(give --block)", o.layers);
    if (o.arch != ARCH_MLP && given(g, "--norm"))
        cmd_fail(CMD, EXIT_USAGE, "--norm is for --arch mlp (the exercise cell and the others keep their layers)");
    if (o.arch >= 0 && o.ties) cmd_fail(CMD, EXIT_USAGE, "--ties is for the exercise cell (without --arch)");
    if (o.dump) {  // a bad path fails before the check
        if (outfile_claim("--dump", o.dump, OUT_MODEL, &err)) cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
    }
    if (o.arch >= 0) {
        NetRecipe rec;
        net_recipe((NetArch)o.arch, &rec);
        NetConfig c = {.arch = (NetArch)o.arch, .V = o.vocab, .T = o.block, .E = o.embd,
                       .H = o.hidden, .layers = o.layers, .heads = o.heads,
                       .bessel = o.bn_var == 0, .momentum = 0.1f, .optim = rec.optim,
                       .norm = (Norm)o.norm};
        if (net_config_check(&c, &err)) cmd_fail(CMD, EXIT_USAGE, "%s", err.msg);
        return cmd_stdout_done(CMD, net_arch_is_seq(c.arch) ? gc_seq(&c, o.batch, o.seed, o.dump)
                                                            : gc_net(&c, o.batch, o.seed, o.dump));
    }
    Config cfg = {.V = o.vocab, .T = o.block, .E = o.embd, .H = o.hidden, .bessel = o.bn_var == 0};
    if (gc_sizes_ok(&cfg, o.batch, "flags", &err)) cmd_fail(CMD, EXIT_USAGE, "%s", err.msg);
    return cmd_stdout_done(CMD, gc_exercises(&cfg, o.batch, o.seed, o.ties, o.dump));
}
