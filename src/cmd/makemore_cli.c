// makemore_cli.c: makemore.py's command line (makemore_cli.h). Its flags, as makemore.py
// defines them, fill the engine's training options; what makemore.py does, the run does:
// the loss every 10 steps, train and test loss every 500 (its evaluate(): 11 batches of
// 100) with the best model by test loss kept in the work directory, 10 samples every 200,
// --sample-only prints 50. Where the engine goes further, it says so: --resume continues
// the work directory's checkpoint (optimizer state and all) bit for bit, where makemore.py
// restarts from its best model with a fresh optimizer.
//
// The work directory holds model.safetensors (the best model, makemore.py's model.pt: its
// state_dict names and layouts; tests/mm_export.py writes the model.pt itself), and
// checkpoint.safetensors (the last step's whole state, for --resume), both locked while a
// run writes them.
#include "makemore_cli.h"

#include <errno.h>
#include <omp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "flags.h"
#include "net_io.h"
#include "outfile.h"
#include "sample.h"
#include "train.h"
#include "train_opts.h"

#define CMD NULL  // messages read "makemore: ..."

typedef struct {
    const char *input, *work_dir, *device;
    int resume, sample_only, num_workers, top_k, type, n_layer, n_head, n_embd, n_embd2, batch;
    int threads;
    long max_steps;
    uint64_t seed;
    float lr, wd;
} MmOpts;

// makemore.py's --type choices, in the order it lists them.
static const char *const TYPES[] = {"bigram", "mlp", "rnn", "gru", "bow", "transformer", NULL};
static const NetArch TYPE_ARCH[] = {ARCH_BIGRAM, ARCH_BENGIO, ARCH_RNN, ARCH_GRU, ARCH_BOW,
                                    ARCH_TRANSFORMER};

#define O(field) offsetof(MmOpts, field)
static const Flag FLAGS[] = {
    {"--input-file", "-i", FT_STRING, O(input), 0, 0, NULL, "FILE", "input file with things one per line", FL_PATH},
    {"--work-dir", "-o", FT_STRING, O(work_dir), 0, 0, NULL, "DIR", "output working directory", FL_PATH},
    {"--resume", NULL, FT_SWITCH, O(resume), 0, 0, NULL, NULL,
     "continue the work directory's run from its checkpoint (bit for bit)", 0},
    {"--sample-only", NULL, FT_SWITCH, O(sample_only), 0, 0, NULL, NULL,
     "just sample from the work directory's model and quit, don't train", 0},
    {"--num-workers", "-n", FT_INT, O(num_workers), 0, 1024, NULL, "N",
     "makemore.py's data workers: accepted (the engine's batches need none)", 0},
    {"--max-steps", NULL, FT_LONG, O(max_steps), -1, 1e9, NULL, "N",
     "max number of optimization steps to run for, or -1 for infinite", 0},
    {"--device", NULL, FT_STRING, O(device), 0, 0, NULL, "D", "device to use for compute: cpu", 0},
    {"--seed", NULL, FT_U64, O(seed), 0, 0, NULL, "S", "seed", 0},
    {"--top-k", NULL, FT_INT, O(top_k), -1, 256, NULL, "K", "top-k for sampling, -1 means no top-k", 0},
    {"--type", NULL, FT_CHOICE, O(type), 0, 0, TYPES, "T", "model class type to use", 0},
    {"--n-layer", NULL, FT_INT, O(n_layer), 1, 32, NULL, "N", "number of layers", 0},
    {"--n-head", NULL, FT_INT, O(n_head), 1, 64, NULL, "N", "number of heads (in a transformer)", 0},
    {"--n-embd", NULL, FT_INT, O(n_embd), 1, 4096, NULL, "N", "number of feature channels in the model", 0},
    {"--n-embd2", NULL, FT_INT, O(n_embd2), 1, 16384, NULL, "N",
     "number of feature channels elsewhere in the model", 0},
    {"--batch-size", "-b", FT_INT, O(batch), 1, 1 << 20, NULL, "B", "batch size during optimization", 0},
    {"--learning-rate", "-l", FT_FLOAT, O(lr), 0, 1000, NULL, "X", "learning rate", 0},
    {"--weight-decay", "-w", FT_FLOAT_0, O(wd), 0, 1000, NULL, "X", "weight decay", 0},
    {"--threads", NULL, FT_INT, O(threads), 1, 1024, NULL, "N",
     "the engine's threads (default: all cores)", FL_META},
};
#undef O
static const MmOpts DEFAULTS = {.input = "names.txt", .work_dir = "out", .device = "cpu",
                                .num_workers = 4, .max_steps = -1, .seed = 3407, .top_k = -1,
                                .type = 5, .n_layer = 4, .n_head = 4, .n_embd = 64, .n_embd2 = 64,
                                .batch = 32, .lr = 5e-4f, .wd = 0.01f, .threads = 0};
static const FlagDefaults DEFAULTS_V[] = {{NULL, &DEFAULTS, NULL}};
static const FlagTable TABLE = {"makemore", FLAGS, sizeof FLAGS / sizeof FLAGS[0], DEFAULTS_V, 1};

int makemore_cli_form(int argc, char **argv) {
    if (argc < 2) return 0;
    char name[64];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(argv[1], "="), argv[1]);
    return flags_find(&TABLE, name) >= 0 && argv[1][0] == '-';
}

void makemore_cli_usage(void) {
    printf("usage:\n");
    flags_synopsis(stdout, &TABLE, "makemore", 17, NULL, NULL);
    printf("\nmakemore.py's command line: its six models (bigram, mlp, rnn, gru, bow, transformer),\n"
           "its data and split, AdamW (betas 0.9, 0.99, eps 1e-8), its work directory. Prints the\n"
           "loss every 10 steps, train and test loss every 500 (the best model kept in the work\n"
           "directory as model.safetensors: tests/mm_export.py turns it into makemore.py's\n"
           "model.pt), 10 samples every 200. Ctrl-C stops with a checkpoint; --resume continues it.\n"
           "The engine's own command for the same models: makemore train --arch T.\n\n");
    flags_help(stdout, &TABLE);
}

// "DIR/NAME" (caller frees).
static char *in_dir(const char *dir, const char *name) {
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0) cmd_fail(CMD, EXIT_RUNTIME, "out of memory");
    return p;
}

// --sample-only: the work directory's best model, 50 samples sorted as makemore.py sorts
// them against its split of the words file.
static int sample_only(const MmOpts *m, const char *model) {
    Net n;
    Vocab v;
    TrainState ts = {0};
    int has_ts = 0;
    Err err;
    if (net_load(&n, &v, &ts, &has_ts, model, 1, &err)) cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
    if (!n.seq) cmd_fail(CMD, EXIT_RUNTIME, "%s is a %s model, not one of makemore.py's types",
                         model, net_arch_name(n.cfg.arch));
    if (TYPE_ARCH[m->type] != n.cfg.arch)
        cmd_fail(CMD, EXIT_USAGE, "--type %s: %s holds a %s (give --type %s)", TYPES[m->type], model,
                 net_arch_makemore_name(n.cfg.arch), net_arch_makemore_name(n.cfg.arch));
    Dataset d;
    uint64_t split = ts.has_split_seed ? ts.split_seed : m->seed;  // the run's split, as recorded
    if (dataset_load_makemore(&d, m->input, n.cfg.T, split, &v, &err) != DATASET_OK)
        cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
    static char words[50][MAX_WORD_LEN + 1];
    Rng r;
    rng_seed(&r, m->seed);
    if (sample_seq_words(&n, &v, &r, 50, 1.0f, m->top_k > 0 ? m->top_k : 0, words))
        cmd_fail(CMD, EXIT_RUNTIME, "%s: a logit is not finite (the model's forward overflows)", model);
    WordSet tr, te;
    int ntr = d.split.n_words[0];
    wordset_build(&tr, d.words.w, ntr);
    wordset_build(&te, d.words.w + ntr, d.words.n - ntr);
    static const char *const DESC[3] = {"in train", "in test", "new"};
    printf("--------------------------------------------------------------------------------\n");
    for (int g = 0; g < 3; g++) {
        int count = 0;
        for (int k = 0; k < 50; k++)
            count += (wordset_has(&tr, words[k]) ? 0 : wordset_has(&te, words[k]) ? 1 : 2) == g;
        printf("%d samples that are %s:\n", count, DESC[g]);
        for (int k = 0; k < 50; k++)
            if ((wordset_has(&tr, words[k]) ? 0 : wordset_has(&te, words[k]) ? 1 : 2) == g)
                printf("%s\n", words[k]);
    }
    printf("--------------------------------------------------------------------------------\n");
    wordset_free(&tr);
    wordset_free(&te);
    dataset_free(&d);
    net_free(&n);
    return cmd_stdout_done(CMD, 0);
}

int makemore_cli_main(int argc, char **argv) {
    static MmOpts m;
    m = DEFAULTS;
    unsigned char given[FLAGS_MAX];
    Err err;
    int r = flags_parse(&TABLE, &m, given, argc, argv, &err);
    if (r == FLAGS_HELP) {
        makemore_cli_usage();
        return cmd_stdout_done(CMD, 0);
    }
    if (r != FLAGS_OK) cmd_fail(CMD, EXIT_USAGE, "%s", err.msg);
    if (strcmp(m.device, "cpu"))
        cmd_fail(CMD, EXIT_USAGE, "--device %s: this makemore computes on the CPU (allowed: cpu)",
                 m.device);
    if (mkdir(m.work_dir, 0777) != 0 && errno != EEXIST)  // makemore.py: os.makedirs(exist_ok)
        cmd_fail(CMD, EXIT_RUNTIME, "--work-dir %s: cannot create it: %s", m.work_dir, strerror(errno));
    struct stat st;
    if (stat(m.work_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        cmd_fail(CMD, EXIT_RUNTIME, "--work-dir %s: not a directory", m.work_dir);
    char *best = in_dir(m.work_dir, "model.safetensors"), *ckpt = in_dir(m.work_dir, "checkpoint.safetensors");
    if (m.sample_only) {
        free(ckpt);
        int rc = sample_only(&m, best);
        free(best);
        return rc;
    }
    if (m.resume && stat(ckpt, &st) != 0)
        cmd_fail(CMD, EXIT_RUNTIME, "--resume: %s has no checkpoint (%s: %s); train without "
                 "--resume first", m.work_dir, ckpt, strerror(errno));
    if (!m.resume && stat(ckpt, &st) == 0)
        cmd_fail(CMD, EXIT_USAGE, "--work-dir %s holds a run (%s); give --resume to continue it, "
                 "or another --work-dir", m.work_dir, ckpt);
    static TrainOpts o;
    memset(&o, 0, sizeof o);
    o.data = m.input;
    o.arch = TYPE_ARCH[m.type];
    NetRecipe rec;
    net_recipe((NetArch)o.arch, &rec);
    o.layers = m.n_layer;
    o.heads = m.n_head;
    o.embd = m.n_embd;
    o.hidden = m.n_embd2;
    o.block = 0;  // the data's: the longest word + 1
    o.batch = m.batch;
    o.optim = OPTIM_ADAMW;
    o.lr = o.lr2 = m.lr;
    o.weight_decay = m.wd;
    o.decay_step = 0;
    o.steps = m.max_steps < 0 ? 1000000000L : m.max_steps;
    o.seed = o.split_seed = m.seed;
    o.threads = m.threads ? m.threads : omp_get_num_procs();
    o.print_every = 10;
    o.makemore_lines = 1;
    o.eval_every = 500;
    o.sample_every = 200;
    o.samples = 0;
    o.top_k = m.top_k > 0 ? m.top_k : 0;
    o.gemm = -1;
    o.out = ckpt;
    o.best = best;
    o.save_every = 500;
    if (m.resume) {
        o.resume = ckpt;
        // the run's own flags, held against its checkpoint: makemore.py's spelling of them
        const char *names[] = {"--arch", "--layers", "--heads", "--embd", "--hidden", "--batch",
                               "--lr", "--weight-decay", "--seed"};
        const char *mine[] = {"--type", "--n-layer", "--n-head", "--n-embd", "--n-embd2",
                              "--batch-size", "--learning-rate", "--weight-decay", "--seed"};
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (given[flags_find(&TABLE, mine[k])]) o.given[flags_find(train_flags(), names[k])] = 1;
        if (given[flags_find(&TABLE, "--max-steps")]) o.given[flags_find(train_flags(), "--steps")] = 1;
    }
    NetConfig cfg = train_opts_model(&o, 2);
    cfg.T = 1;
    if (net_config_check(&cfg, &err)) cmd_fail(CMD, EXIT_USAGE, "%s", err.msg);
    o.resume_cmd = outfile_shell_command("makemore", argc, argv, "--resume");
    int status = train_run(&o);
    free(best);
    free(ckpt);
    return status;
}
