// train_opts.c: `makemore train`'s flag table (train_opts.h).
#include "train_opts.h"

#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "train_gemm.h"
#include "outfile.h"

static const char *const BN_VAR_CHOICES[] = {"unbiased", "biased", NULL};
static const char *const SEQ = "makemore.py's types";

#define O(field) offsetof(TrainOpts, field)
#define MODEL (FL_MODEL | FL_SWEEP | FL_GRID)
static const Flag FLAGS[] = {
    {"--arch", NULL, FT_CHOICE, O(arch), 0, 0, NET_ARCH_NAMES, "A",
     "the model: mlp (the lecture's MLP; part 3's deeper stack with --layers),\n"
     "wavenet (part 5's hierarchical model), or one of makemore.py's types: bigram,\n"
     "bengio (its \"mlp\"), bow, rnn, gru, transformer (docs/ARCHITECTURES.md)", MODEL},
    {"--layers", NULL, FT_INT, O(layers), 1, 32, NULL, "N",
     "mlp: hidden Linear-BatchNorm-Tanh blocks (1..16; wavenet: log2(--block), not a\n"
     "flag); transformer: n_layer", MODEL},
    {"--heads", NULL, FT_INT, O(heads), 1, 64, NULL, "N", "transformer: n_head", MODEL},
    {"--bn-stats", NULL, FT_CHOICE, O(bn_stats), 0, 0, BN_STATS_NAMES, "S",
     "batchnorm's inference statistics: calibrate (on the training split after\n"
     "training: part 4) or running (momentum 0.1: part 5)", MODEL},
    {"--data", NULL, FT_STRING, O(data), 0, 0, NULL, "FILE", "words, one per line",
     FL_SWEEP | FL_GRID | FL_CONTINUE | FL_ALWAYS | FL_PATH},
    {"--block", NULL, FT_INT, O(block), 0, 1024, NULL, "T",
     "context length (wavenet: a power of two >= 2; makemore.py's types: 0, the\n"
     "longest word + 1, as makemore.py's block_size)", MODEL},
    {"--embd", NULL, FT_INT, O(embd), 1, 4096, NULL, "E", "embedding width (makemore.py's n_embd)", MODEL},
    {"--hidden", NULL, FT_INT, O(hidden), 1, 16384, NULL, "H", "hidden width (makemore.py's n_embd2)", MODEL},
    {"--batch", NULL, FT_INT, O(batch), 1, 1 << 20, NULL, "B",
     "batch size (>= 2 with --bn-var unbiased)", MODEL},
    {"--bn-var", NULL, FT_CHOICE, O(bn_var), 0, 0, BN_VAR_CHOICES, "MODE",
     "unbiased (B-1, the lecture) or biased (B, nn.BatchNorm1d)", MODEL},
    {"--norm", NULL, FT_CHOICE, O(norm), 0, 0, NORM_NAMES, "N",
     "mlp's hidden blocks: Linear -> BatchNorm -> Tanh (batchnorm) or Linear -> Tanh\n"
     "(none: part 3's start, before batchnorm)", MODEL},
    {"--init", NULL, FT_CHOICE, O(init), 0, 0, INIT_NAMES, "I",
     "mlp, wavenet: the architecture's initialisation (lecture: hidden weights at\n"
     "(5/3)/sqrt(fan_in), small output weights) or plain (every weight and bias\n"
     "N(0, 1): part 3's first cell, before its fixes)", FL_SWEEP | FL_GRID},
    {"--steps", NULL, FT_LONG, O(steps), 1, 1e9, NULL, "N",
     "training steps (with --resume: extends or shortens the run)", FL_SWEEP | FL_GRID},
    {"--optim", NULL, FT_CHOICE, O(optim), 0, 0, OPTIM_NAMES, "O",
     "sgd (the lecture's, folded into the weights' GEMMs) or adamw (makemore.py's:\n"
     "torch.optim.AdamW, betas 0.9 and 0.99, eps 1e-8, decay on every parameter)", MODEL},
    {"--lr", NULL, FT_FLOAT, O(lr), 0, 1000, NULL, "X", "learning rate", MODEL},
    {"--lr2", NULL, FT_FLOAT, O(lr2), 0, 1000, NULL, "X", "learning rate from --decay-step on (not used when it is 0)", MODEL},
    {"--decay-step", NULL, FT_LONG, O(decay_step), 0, 1e9, NULL, "N", "step of the decay from --lr to --lr2 (0: none, --lr throughout)", MODEL},
    {"--weight-decay", NULL, FT_FLOAT_0, O(weight_decay), 0, 1000, NULL, "X", "AdamW's weight decay", MODEL},
    {"--seed", NULL, FT_U64, O(seed), 0, 0, NULL, "S", "initialisation and batch sampling", FL_MODEL},
    {"--split-seed", NULL, FT_U64, O(split_seed), 0, 0, NULL, "S",
     "the split: Python's random.seed of the lecture's 80/10/10; the engine's\n"
     "generator's seed of makemore.py's (test: min(1000, 10%) of the words)", MODEL},
    {"--threads", NULL, FT_INT, O(threads), 1, 1024, NULL, "N",
     "threads of the engine's kernels and GEMM tiles (default: all cores;\n"
     "OpenBLAS itself runs one thread per call)", FL_CONTINUE | FL_ALWAYS | FL_META},
    {"--print-every", NULL, FT_INT, O(print_every), 1, 1e9, NULL, "N",
     "loss line every N steps", FL_SWEEP | FL_CONTINUE},
    {"--eval-every", NULL, FT_INT, O(eval_every), 1, 1e9, NULL, "N",
     "every N steps: the val loss (makemore.py's types: test) on the inference\n"
     "path, one line, a val column in --log; --out keeps the best model by it", FL_CONTINUE},
    {"--log", NULL, FT_STRING, O(log), 0, 0, NULL, "FILE", "write a step,loss CSV line for every step",
     FL_CONTINUE | FL_PATH},
    {"--diag", NULL, FT_STRING, O(diag), 0, 0, NULL, "DIR",
     "diagnostics as CSV files in DIR (made if missing): per layer its nonlinearity's\n"
     "mean, std, saturation and histogram and its gradient's, per parameter grad:data\n"
     "and update:data (docs/DIAGNOSTICS.md); makemore plot DIR draws them",
     FL_CONTINUE | FL_PATH},
    {"--diag-every", NULL, FT_LONG, O(diag_every), 1, 1e9, NULL, "N",
     "--diag's statistics every N steps", FL_CONTINUE},
    {"--out", NULL, FT_STRING, O(out), 0, 0, NULL, "FILE", "save the trained model (safetensors) there",
     FL_PATH},
    {"--save-every", NULL, FT_LONG, O(save_every), 1, 1e9, NULL, "N",
     "also checkpoint to --out every N steps", FL_SWEEP | FL_CONTINUE},
    {"--resume", NULL, FT_STRING, O(resume), 0, 0, NULL, "FILE",
     "continue a checkpointed run: same batches, same schedule; only\n"
     "--steps may change; --out defaults to FILE", FL_PATH},
    {"--accept-unchecked", NULL, FT_SWITCH, O(accept_unchecked), 0, 0, NULL, NULL,
     "resume from a checkpoint without a checksum (an older file)", 0},
    {"--samples", NULL, FT_INT, O(samples), 0, 100000, NULL, "N", "names to sample at the end",
     FL_CONTINUE},
    {"--gemm", NULL, FT_CHOICE, O(gemm), 0, 0, GEMM_MODE_CHOICES, "MODE",
     "the step's GEMMs: wisdom (the default: the plan kept for this machine,\n"
     "these shapes and threads, or one made inside the step now and kept), auto\n"
     "(made now, not kept), blas (cblas_sgemm: the fixed path) or xsmm", 0},
    {"--plan", NULL, FT_STRING, O(plan), 0, 0, NULL, "FILE",
     "read the GEMM plan from FILE, or write the one made to it", FL_PATH},
};
#undef MODEL
#undef O
#define N_FLAGS ((int)(sizeof FLAGS / sizeof FLAGS[0]))
_Static_assert(N_FLAGS <= FLAGS_MAX, "train's flag table is larger than FLAGS_MAX");

// The defaults: the command's own, then the architecture's recipe.
static void train_defaults(TrainOpts *o, NetArch arch) {
    NetRecipe r;
    net_recipe(arch, &r);
    *o = (TrainOpts){.data = "data/names.txt", .arch = arch, .layers = r.layers, .heads = r.heads,
                     .bn_stats = r.bn_stats, .embd = r.E, .hidden = r.H, .block = r.T,
                     .batch = r.batch, .bn_var = 0, .threads = omp_get_num_procs(), .samples = 20,
                     .print_every = net_arch_is_seq(arch) ? 1000 : 10000, .steps = r.steps,
                     .decay_step = r.decay_step, .lr = r.lr, .lr2 = r.lr2, .optim = r.optim,
                     .weight_decay = r.weight_decay, .seed = 1, .split_seed = 42, .gemm = -1,
                     .diag_every = 1000};
}

const FlagTable *train_flags(void) {
    static TrainOpts defaults[NET_N_ARCHS];
    static FlagDefaults variants[NET_N_ARCHS];
    static FlagTable t;
    if (!t.n) {
        for (int a = 0; a < NET_N_ARCHS; a++) {
            train_defaults(&defaults[a], (NetArch)a);
            variants[a] = (FlagDefaults){a ? NET_ARCH_NAMES[a] : NULL, &defaults[a],
                                         net_arch_is_seq((NetArch)a) ? SEQ : NULL};
        }
        t = (FlagTable){"train", FLAGS, N_FLAGS, variants, NET_N_ARCHS};
    }
    return &t;
}

int train_opts_given(const TrainOpts *o, const char *name) {
    int i = flags_find(train_flags(), name);
    return i >= 0 && o->given[i];
}

NetConfig train_opts_model(const TrainOpts *o, int V) {
    return (NetConfig){.arch = (NetArch)o->arch, .V = V, .T = o->block, .E = o->embd,
                       .H = o->hidden, .layers = o->layers, .heads = o->heads,
                       .bessel = o->bn_var == 0, .bn_stats = (BnStats)o->bn_stats,
                       .momentum = 0.1f, .optim = (Optim)o->optim, .norm = (Norm)o->norm,
                       .init = (InitKind)o->init};
}

void train_usage(void) {
    printf("usage:\n");
    flags_synopsis(stdout, train_flags(), "makemore train", 17, NULL, NULL);
    printf("\nTrains a model of the makemore MLP family with the fused hand-written backward: by\n"
           "default the lecture's MLP (embedding -> linear -> batchnorm -> tanh -> linear ->\n"
           "cross-entropy), then calibrates batchnorm, prints train/val/test loss and samples.\n\n");
    flags_help(stdout, train_flags());
    printf("On SIGINT/SIGTERM/SIGHUP (or when stdout is closed) the current step finishes, a\n"
           "checkpoint is written (to --out, or " TRAIN_DEFAULT_INTERRUPT_PATH ") and the run\n"
           "exits with 128 + the signal (130/143/129; 141 for a closed stdout), printing the\n"
           "command that continues it. A second signal stops at once (no temp file is left). A\n"
           "failed write of the log (disk full, file-size limit) also stops the run with a\n"
           "checkpoint. --out and --log are locked (FILE.lock) against a second run writing them.\n"
           "Exit status: 0 done, 1 failed (file, data, divergence), 2 usage.\n");
    char d[256];
    dist_describe(d, sizeof d);
    printf("This build: %s.\n%s\n", d, dist_built() ?
           "Data-parallel: mpirun -np P makemore train --batch B ... gives each rank\n"
           "B/P rows of every batch (synchronised batchnorm, one gradient allreduce per step);\n"
           "rank 0 prints and saves; resume with the same P for bit-identical results." :
           "Data-parallel training over MPI needs the MPI build: make MPI=1.");
}

// The architecture first (it sets the defaults), then every flag, then the checks across
// flags.
int train_opts_parse(TrainOpts *o, int argc, char **argv, Err *err) {
    const FlagTable *t = train_flags();
    TrainOpts first;
    train_defaults(&first, ARCH_MLP);
    int r = flags_parse(t, &first, first.given, argc, argv, err);
    if (r != FLAGS_OK) return r;
    train_defaults(o, (NetArch)first.arch);
    if (flags_parse(t, o, o->given, argc, argv, err) != FLAGS_OK) return FLAGS_ERROR;
    if (o->arch == ARCH_WAVENET && train_opts_given(o, "--layers"))
        return err_set(err, "--layers %d with --arch wavenet: its depth is log2(--block) (give "
                       "--block)", o->layers);
    const int seq = net_arch_is_seq((NetArch)o->arch);
    if (!seq && o->block == 0) return err_set(err, "--block 0 is for makemore.py's types (the data's block)");
    if (!o->resume) {  // the words file's vocabulary comes later; everything else is checked now
        NetConfig cfg = train_opts_model(o, 2);
        if (seq && cfg.T == 0) cfg.T = 1;  // from the data, later
        if (net_config_check(&cfg, err)) return FLAGS_ERROR;
        if (!seq && o->bn_var == 0 && o->batch < 2)
            return err_set(err, "--batch: %d is too small for --bn-var unbiased (the variance "
                           "divides by B-1 = 0; allowed: >= 2, or use --bn-var biased)", o->batch);
    }
    if (o->save_every && !o->out && !o->resume) return err_set(err, "--save-every needs --out FILE");
    if (o->save_every && o->eval_every)
        return err_set(err, "--save-every with --eval-every: --out keeps the best model by the "
                       "held-out loss, as makemore.py keeps model.pt (give one of the two)");
    if (o->resume && train_opts_given(o, "--init"))
        return err_set(err, "--init with --resume: a resumed run continues its checkpoint's "
                       "parameters (allowed: --init on a fresh run)");
    if (seq && o->init != INIT_LECTURE)
        return err_set(err, "--init %s with --arch %s: makemore.py's types start as PyTorch's "
                       "defaults (allowed: --arch mlp or wavenet)", INIT_NAMES[o->init],
                       NET_ARCH_NAMES[o->arch]);
    if (train_opts_given(o, "--diag-every") && !o->diag)
        return err_set(err, "--diag-every needs --diag DIR");
    if (o->resume && !o->out) o->out = o->resume;  // a resumed run keeps writing its file
    return FLAGS_OK;
}

// The flags a checkpoint records, as the command line would have given them.
static void opts_of_checkpoint(TrainOpts *s, const NetConfig *c, const TrainState *ts) {
    train_defaults(s, c->arch);
    s->arch = c->arch;
    s->layers = c->layers;
    s->bn_stats = c->bn_stats;
    s->block = c->T;
    s->embd = c->E;
    s->hidden = c->H;
    s->batch = ts->batch;
    s->bn_var = !c->bessel;
    s->heads = c->heads;
    s->optim = c->optim;
    s->norm = c->norm;
    s->weight_decay = ts->weight_decay;
    s->lr = ts->lr;
    s->lr2 = ts->lr2;
    s->decay_step = ts->decay_step;
    s->seed = ts->seed;
    s->split_seed = ts->split_seed;
}

// Every model and schedule flag given must agree with the checkpoint, in the table's order
// (the first that differs is named).
int train_opts_check_resume(const TrainOpts *o, const NetConfig *c, const TrainState *ts, Err *err) {
    const FlagTable *t = train_flags();
    TrainOpts saved;
    opts_of_checkpoint(&saved, c, ts);
    for (int i = 0; i < t->n; i++) {
        const Flag *f = &t->flag[i];
        if (!(f->roles & FL_MODEL) || !o->given[i] || flags_same(f, o, &saved)) continue;
        char mine[64], theirs[64];
        flags_format(f, o, mine, sizeof mine);
        flags_format(f, &saved, theirs, sizeof theirs);
        return err_set(err, "%s %s conflicts with --resume %s, which was trained with %s %s (a "
                       "resumed run keeps the checkpoint's model and schedule; only --steps may "
                       "change)", f->name, mine, o->resume, f->name, theirs);
    }
    int steps_given = train_opts_given(o, "--steps");
    if (steps_given && o->steps < ts->step)
        return err_set(err, "--steps %ld: --resume %s is already at step %ld (allowed: --steps >= "
                       "%ld)", o->steps, o->resume, ts->step, ts->step);
    if (!steps_given && ts->step == ts->steps && ts->calibrated)
        return err_set(err, "--resume %s: the run is complete (%ld of %ld steps); give --steps N "
                       "with N > %ld to train on", o->resume, ts->step, ts->steps, ts->step);
    return 0;
}

// The command that continues a stopped run: every path shell-quoted (one line whatever
// they hold), and every flag the checkpoint does not record (FL_CONTINUE rows that differ
// from their default, and the FL_ALWAYS ones), and --out when the checkpoint is another
// file (--eval-every's best model). Caller frees.
char *train_opts_continue_command(const TrainOpts *o, const char *ckpt) {
    const FlagTable *t = train_flags();
    TrainOpts def;
    train_defaults(&def, (NetArch)o->arch);
    size_t cap = 4096, n = 0;
    char *cmd = malloc(cap);
    if (!cmd) return NULL;
    cmd[0] = '\0';
    #define ADD(...) do {                                                              \
        int k_ = snprintf(NULL, 0, __VA_ARGS__);                                       \
        while (n + (size_t)k_ + 1 > cap) { cap *= 2; char *p_ = realloc(cmd, cap);     \
                                           if (!p_) { free(cmd); return NULL; } cmd = p_; } \
        n += (size_t)snprintf(cmd + n, cap - n, __VA_ARGS__);                          \
    } while (0)
    if (dist_size() > 1) ADD("mpirun -np %d ", dist_size());  // DIST: the same number of ranks
    ADD("makemore train");
    char *q = outfile_shell_quote(ckpt);
    for (int i = 0; i < t->n; i++) {
        const Flag *f = &t->flag[i];
        if (!(f->roles & FL_CONTINUE)) continue;
        int set = f->type != FT_STRING || *(const char *const *)((const char *)o + f->off);
        if (!set || (!(f->roles & FL_ALWAYS) && flags_same(f, o, &def))) continue;
        char v[4096];
        flags_format(f, o, v, sizeof v);
        char *qv = f->roles & FL_PATH ? outfile_shell_quote(v) : strdup(v);
        ADD(" %s %s", f->name, qv ? qv : "?");
        free(qv);
        if (!strcmp(f->name, "--data")) ADD(" --resume %s", q ? q : "?");
    }
    if (o->out && strcmp(o->out, ckpt)) {  // --eval-every: the stop's checkpoint is not --out
        char *qo = outfile_shell_quote(o->out);
        ADD(" --out %s", qo ? qo : "?");
        free(qo);
    }
    #undef ADD
    free(q);
    return cmd;
}
