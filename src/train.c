// train.c: `makemore train`: the lecture's exercise-4 loop (SGD, lr step decay) for every
// model of the family (the layer table, net.c: the lecture's MLP by default), its
// progress report, checkpoints (periodic, on a stop request, final) and resume; then
// batchnorm calibration, split losses and samples. The log is log.c, the output paths
// and locks outfile.c, the checkpoint and its resume checks checkpoint.c.
//
// Reliability rules (src/RELIABILITY.md has the table of guarantees and their tests):
//  - everything that can be checked before training is: flags (cli.c), sizes against
//    int ranges and the machine's memory, the words file, the checkpoint (its checksum
//    and the words file's fingerprint), and the outputs (writable, ours, locked) -- so a
//    bad path fails in a second, not after hours;
//  - exit status 2: the command line must change (bad flag or value, flags that
//    contradict each other or the resumed checkpoint, a model too large for this
//    machine); 1: a file or the run failed (missing/corrupt input, unwritable output,
//    a failed log or checkpoint write, diverged training); 128 + signal (130 SIGINT, 143
//    SIGTERM, 129 SIGHUP, 141 a closed stdout): stopped after a checkpoint was written,
//    resumable with the command printed;
//  - checkpoints are written atomically (checkpoint_save: temp file, fsync, rename), and
//    never with non-finite parameters; no exit path but kill -9 leaves the temp file;
//  - every message is one escaped line (say(), common.c).
#include "train.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <omp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas_core.h"
#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "data.h"
#include "gemm_plan_train.h"
#include "log.h"
#include "dist.h"
#include "net.h"
#include "net_io.h"
#include "outfile.h"
#include "safetensors.h"
#include "sample.h"
#include "stop.h"
#include "syncbn.h"

#define CMD "train"
#define DEFAULT_INTERRUPT_PATH "makemore-interrupted.safetensors"
// A finite-check of all parameters every this many steps (the loss and the small
// gradients are checked every step; see guard_step).
#define GUARD_FULL_EVERY 100

__attribute__((noreturn, format(printf, 2, 3))) static void fail(int status, const char *fmt, ...);
static void fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cli_die(CMD, status, "%s", msg);
}

// Flags that define the model and the schedule: with --resume they must agree with the
// checkpoint (only --steps may differ: it extends or shortens the run).
enum { F_ARCH, F_LAYERS, F_BNSTATS, F_BLOCK, F_EMBD, F_HIDDEN, F_BATCH, F_BNVAR, F_STEPS, F_LR,
       F_LR2, F_DECAY, F_SEED, F_SPLIT_SEED, F_THREADS, NUM_F };

typedef struct {
    const char *data, *out, *log, *resume;
    const char *plan;  // --plan FILE
    int gemm;          // --gemm: GEMM_MODE_*, -1 not given
    NetArch arch;
    BnStats bn_stats;
    int layers, embd, hidden, block, batch, bessel, threads, samples, print_every;
    long steps, decay_step, save_every;
    float lr, lr2;
    uint64_t seed, split_seed;
    int given[NUM_F];  // which of those flags were on the command line
    int accept_unchecked;
} TrainOpts;

static const char *const BN_VAR_CHOICES[] = {"unbiased", "biased", NULL};
static const char *const ARCH_CHOICES[] = {"mlp", "wavenet", NULL};
static const char *const STATS_CHOICES[] = {"calibrate", "running", NULL};

static NetConfig model_config(const TrainOpts *o, int V) {
    return (NetConfig){.arch = o->arch, .V = V, .T = o->block, .E = o->embd, .H = o->hidden,
                       .layers = o->layers, .bessel = o->bessel, .bn_stats = o->bn_stats,
                       .momentum = 0.1f};
}

// DIST: which build this is, and how to run it data-parallel (src/SCALING.md).
static void dist_usage(void) {
    char d[256];
    dist_describe(d, sizeof d);
    printf("This build: %s.\n%s\n", d, dist_built() ?
           "Data-parallel: mpirun -np P makemore train --batch B ... gives each rank\n"
           "B/P rows of every batch (synchronised batchnorm, one gradient allreduce per step);\n"
           "rank 0 prints and saves; resume with the same P for bit-identical results." :
           "Data-parallel training over MPI needs the MPI build: make MPI=1.");
}

static void train_usage(void) {
    printf(
        "usage: makemore train [flags]\n"
        "Trains a model of the makemore MLP family with the fused hand-written backward: by\n"
        "default the lecture's MLP (embedding -> linear -> batchnorm -> tanh -> linear ->\n"
        "cross-entropy), then calibrates batchnorm, prints train/val/test loss and samples.\n\n"
        "  --arch A           mlp (default) or wavenet (part 5: block 8, embd 24, hidden 128,\n"
        "                     200000 steps, lr 0.1 then 0.01 from 150000, running statistics;\n"
        "                     src/ARCHITECTURES.md)\n"
        "  --layers N         mlp: hidden Linear-BatchNorm-Tanh blocks (1..16, default 1);\n"
        "                     wavenet: log2(--block), not a flag\n"
        "  --bn-stats S       batchnorm's inference statistics: calibrate (on the training\n"
        "                     split after training: part 4, mlp's default) or running\n"
        "                     (momentum 0.1: part 5, wavenet's default)\n"
        "  --data FILE        words, one per line (default data/names.txt)\n"
        "  --block T          context length (default 3; 1..64; wavenet: a power of two >= 2)\n"
        "  --embd E           embedding width (default 10; 1..4096)\n"
        "  --hidden H         hidden width (default 200; 1..16384)\n"
        "  --batch B          batch size (default 32; >= 2 with --bn-var unbiased)\n"
        "  --bn-var MODE      unbiased (B-1, the lecture) or biased (B, nn.BatchNorm1d)\n"
        "  --steps N          training steps (default 200000)\n"
        "  --lr X             learning rate (default 0.1)\n"
        "  --lr2 X            learning rate from --decay-step on (default 0.01)\n"
        "  --decay-step N     step of the decay (default 100000; wavenet 150000)\n"
        "  --seed S           initialisation and batch sampling (default 1)\n"
        "  --split-seed S     Python random.seed of the 80/10/10 split (default 42)\n"
        "  --threads N        threads for BLAS and kernels (default: all cores)\n"
        "  --print-every N    loss line every N steps (default 10000)\n"
        "  --log FILE         write a step,loss CSV line for every step\n"
        "  --out FILE         save the trained model (safetensors) there\n"
        "  --save-every N     also checkpoint to --out every N steps\n"
        "  --resume FILE      continue a checkpointed run: same batches, same schedule; only\n"
        "                     --steps may change; --out defaults to FILE\n"
        "  --samples N        names to sample at the end (default 20)\n"
        "  --gemm MODE        the step's GEMMs: blas (default: cblas_sgemm, the fixed path),\n"
        "                     auto (time every candidate now, keep the fastest), xsmm\n"
        "  --plan FILE        read the GEMM plan from FILE, or write the one made to it\n"
        "  --accept-unchecked resume from a checkpoint without a checksum (an older file)\n"
        "On SIGINT/SIGTERM/SIGHUP (or when stdout is closed) the current step finishes, a\n"
        "checkpoint is written (to --out, or " DEFAULT_INTERRUPT_PATH ") and the run exits\n"
        "with 128 + the signal (130/143/129; 141 for a closed stdout), printing the command\n"
        "that continues it. A second signal stops at once (no temp file is left). A failed\n"
        "write of the log (disk full, file-size limit) also stops the run with a checkpoint.\n"
        "--out and --log are locked (FILE.lock) against a second run writing them.\n"
        "Exit status: 0 done, 1 failed (file, data, divergence), 2 usage.\n");
    dist_usage();  // DIST
}

// The architecture first (it sets the defaults), then every flag.
static void train_parse(TrainOpts *o, int argc, char **argv) {
    Cli c;
    cli_init(&c, CMD, argc, argv);
    NetArch arch = ARCH_MLP;
    while (cli_next(&c))
        if (cli_is(&c, "--arch", 1)) arch = cli_choice(&c, ARCH_CHOICES) == 1 ? ARCH_WAVENET : ARCH_MLP;
    int wave = arch == ARCH_WAVENET;
    *o = (TrainOpts){.data = "data/names.txt", .arch = arch, .layers = 1,
                     .bn_stats = wave ? BN_STATS_RUNNING : BN_STATS_CALIBRATE,
                     .embd = wave ? 24 : 10, .hidden = wave ? 128 : 200, .block = wave ? 8 : 3,
                     .batch = 32, .bessel = 1, .threads = omp_get_num_procs(), .samples = 20,
                     .print_every = 10000, .steps = 200000, .decay_step = wave ? 150000 : 100000,
                     .lr = 0.1f, .lr2 = 0.01f, .seed = 1, .split_seed = 42, .gemm = -1};
    cli_init(&c, CMD, argc, argv);
    int *g = o->given;
    while (cli_next(&c)) {
        if (cli_is(&c, "--help", 0) || cli_is(&c, "-h", 0)) { train_usage(); exit(0); }
        else if (cli_is(&c, "--arch", 1)) g[F_ARCH] = 1;
        else if (cli_is(&c, "--layers", 1)) { o->layers = (int)cli_long(&c, 1, 16); g[F_LAYERS] = 1; }
        else if (cli_is(&c, "--bn-stats", 1)) { o->bn_stats = cli_choice(&c, STATS_CHOICES) ? BN_STATS_RUNNING : BN_STATS_CALIBRATE; g[F_BNSTATS] = 1; }
        else if (cli_is(&c, "--data", 1)) o->data = c.value;
        else if (cli_is(&c, "--block", 1)) { o->block = (int)cli_long(&c, 1, 64); g[F_BLOCK] = 1; }
        else if (cli_is(&c, "--embd", 1)) { o->embd = (int)cli_long(&c, 1, 4096); g[F_EMBD] = 1; }
        else if (cli_is(&c, "--hidden", 1)) { o->hidden = (int)cli_long(&c, 1, 16384); g[F_HIDDEN] = 1; }
        else if (cli_is(&c, "--batch", 1)) { o->batch = (int)cli_long(&c, 1, 1 << 20); g[F_BATCH] = 1; }
        else if (cli_is(&c, "--bn-var", 1)) { o->bessel = cli_choice(&c, BN_VAR_CHOICES) == 0; g[F_BNVAR] = 1; }
        else if (cli_is(&c, "--steps", 1)) { o->steps = cli_long(&c, 1, 1000000000L); g[F_STEPS] = 1; }
        else if (cli_is(&c, "--lr", 1)) { o->lr = cli_positive_float(&c, 1000.0); g[F_LR] = 1; }
        else if (cli_is(&c, "--lr2", 1)) { o->lr2 = cli_positive_float(&c, 1000.0); g[F_LR2] = 1; }
        else if (cli_is(&c, "--accept-unchecked", 0)) o->accept_unchecked = 1;
        else if (cli_is(&c, "--decay-step", 1)) { o->decay_step = cli_long(&c, 0, 1000000000L); g[F_DECAY] = 1; }
        else if (cli_is(&c, "--seed", 1)) { o->seed = cli_u64(&c); g[F_SEED] = 1; }
        else if (cli_is(&c, "--split-seed", 1)) { o->split_seed = cli_u64(&c); g[F_SPLIT_SEED] = 1; }
        else if (cli_is(&c, "--threads", 1)) { o->threads = (int)cli_long(&c, 1, 1024); g[F_THREADS] = 1; }
        else if (cli_is(&c, "--print-every", 1)) o->print_every = (int)cli_long(&c, 1, 1000000000L);
        else if (cli_is(&c, "--log", 1)) o->log = c.value;
        else if (cli_is(&c, "--out", 1)) o->out = c.value;
        else if (cli_is(&c, "--save-every", 1)) o->save_every = cli_long(&c, 1, 1000000000L);
        else if (cli_is(&c, "--resume", 1)) o->resume = c.value;
        else if (cli_is(&c, "--samples", 1)) o->samples = (int)cli_long(&c, 0, 100000);
        else if (cli_is(&c, "--gemm", 1)) o->gemm = cli_choice(&c, GEMM_MODE_CHOICES);
        else if (cli_is(&c, "--plan", 1)) o->plan = c.value;
        else cli_unknown(&c);
    }
    if (o->arch == ARCH_WAVENET && g[F_LAYERS])
        cli_fail(&c, "--layers %d with --arch wavenet: its depth is log2(--block) (give --block)",
                 o->layers);
    if (!o->resume) {  // the words file's vocabulary comes later; everything else is checked now
        NetConfig cfg = model_config(o, 2);
        Err err;
        if (net_config_check(&cfg, &err)) cli_fail(&c, "%s", err.msg);
    }
    if (!o->resume && o->bessel && o->batch < 2)
        cli_fail(&c, "--batch: %d is too small for --bn-var unbiased (the variance divides by "
                     "B-1 = 0; allowed: >= 2, or use --bn-var biased)", o->batch);
    if (o->save_every && !o->out && !o->resume) cli_fail(&c, "--save-every needs --out FILE");
    if (o->resume && !o->out) o->out = o->resume;  // a resumed run keeps writing its file
    if (dist_size() > 1) {  // DIST: P ranks share each batch; rank 0 alone writes the log
        if (!o->resume && o->batch % dist_size() != 0)
            cli_fail(&c, "--batch %d is not a multiple of the %d MPI ranks (each rank takes "
                     "batch/ranks rows; allowed: a multiple of %d)", o->batch, dist_size(), dist_size());
        if (!g[F_THREADS]) o->threads = o->threads / dist_local_size() > 0 ? o->threads / dist_local_size() : 1;
        if (dist_rank() != 0) o->log = NULL;
    }
}

// ---- sizes ---------------------------------------------------------------------------

// Every tensor of the model, every activation of its training step and of its evaluation
// must fit the int indices of the kernels, and the whole must fit the machine's memory.
// 0 or -1 with msg.
static int check_sizes(const NetConfig *c, int B, char *msg, size_t len) {
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
    double need = net_memory_bytes(c, B);
    double have = cli_machine_memory();
    long page = sysconf(_SC_PAGESIZE);
    if (have > 0 && need > have) {
        snprintf(msg, len, "the model and its batch need %.1f GiB, more than this machine's "
                 "%.1f GiB of memory; lower --batch, --block, --embd, --hidden or --layers",
                 need / (1 << 30), have / (1 << 30));
        return -1;
    }
    long avail = sysconf(_SC_AVPHYS_PAGES);
    if (avail > 0 && page > 0 && need > 0.8 * (double)avail * (double)page)
        say(CMD, "note: the model and its batch need %.1f GiB; %.1f GiB of memory is free now",
            need / (1 << 30), (double)avail * page / (1 << 30));
    return 0;
}

// ---- signals -------------------------------------------------------------------------

static const char *stop_name(int sig) {
    return sig == SIGINT ? "interrupted" : sig == SIGTERM ? "terminated"
           : sig == SIGHUP ? "hung up (SIGHUP)" : "stopped: stdout is closed (EPIPE)";
}

// After a line to stdout: a failed write (a closed pipe, a full disk) asks the run to
// stop as a signal would, with SIGPIPE's status.
static void stdout_check(void) {
    if ((fflush(stdout) != 0 || ferror(stdout)) && !stop_signal) stop_signal = SIGPIPE;
}

// ---- the numerical guard -------------------------------------------------------------

static int float_finite(float x) {  // on the bits: immune to -ffinite-math-only
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x7f800000u) != 0x7f800000u;
}

// 1 when the set is finite, else 0 with the first non-finite value named in msg. The
// small set is what every step checks (every gradient the fused step keeps: C, the
// biases, the batchnorms' gains and shifts); the weights are updated inside their GEMMs,
// so their gradients are never materialised: a non-finite one shows in the next step's
// loss, in the small gradients behind it, or in the full check of the parameters every
// GUARD_FULL_EVERY steps and before each save.
static int tensors_finite(const Net *n, int small_grads, char *msg, size_t len) {
    return !net_nonfinite(n, small_grads, msg, len);
}

// ---- the run -------------------------------------------------------------------------

typedef struct {
    Words words;
    Vocab vocab;
    Split split;
} Dataset;

static void dataset_load(Dataset *d, const char *path, int T, uint64_t split_seed,
                         const Vocab *fixed_vocab, const char *ckpt) {
    Err err;
    if (words_load(&d->words, path, &err) != 0) fail(EXIT_RUNTIME, "%s", err.msg);
    if (fixed_vocab) {
        d->vocab = *fixed_vocab;
        if (vocab_check(&d->vocab, &d->words, path, &err) != 0)
            fail(EXIT_RUNTIME, "%s (the vocabulary of %s; resume with the words file it was "
                 "trained on)", err.msg, ckpt);
    } else {
        vocab_build(&d->vocab, &d->words);
    }
    // The examples take (block + 1) ints per letter and word end: a huge words file with
    // a long block must fail here, not in the kernel's OOM killer.
    double examples = 0, have = cli_machine_memory();
    for (int i = 0; i < d->words.n; i++) examples += (double)strlen(d->words.w[i]) + 1;
    if (have > 0 && 4.0 * examples * (T + 1) > 0.5 * have)
        fail(EXIT_USAGE, "%s: %.0f examples with a block of %d need %.1f GiB, more than half "
             "this machine's %.1f GiB of memory; lower --block or use fewer words", path,
             examples, T, 4.0 * examples * (T + 1) / (1 << 30), have / (1 << 30));
    if (split_build(&d->split, &d->words, &d->vocab, T, split_seed, &err) != 0)
        fail(EXIT_RUNTIME, "%s: %s", path, err.msg);
}

static void dataset_free(Dataset *d) {
    split_free(&d->split);
    words_free(&d->words);
}

static void print_header(const char *path, const Dataset *d, const Net *n, const TrainState *ts,
                         int threads) {
    char blas[160];
    blas_describe(blas, sizeof blas);
    const NetConfig *c = &n->cfg;
    const Split *s = &d->split;
    char dist[256];
    dist_describe(dist, sizeof dist);
    printf("makemore train: %s; %d thread%s; %s\n", blas, threads, threads == 1 ? "" : "s", dist);
    printf("data: %s: %d words, vocabulary %d; split (seed %llu): %d/%d/%d words, "
           "%d/%d/%d examples\n", path, d->words.n, d->vocab.V, (unsigned long long)ts->split_seed,
           s->n_words[0], s->n_words[1], s->n_words[2], s->train.n, s->val.n, s->test.n);
    printf("model: %s, %d layer%s, block %d, embd %d, hidden %d, batchnorm variance %s, %s "
           "statistics; %zu parameters\n", net_arch_name(c->arch), c->layers,
           c->layers == 1 ? "" : "s", c->T, c->E, c->H, c->bessel ? "unbiased (B-1)" : "biased (B)",
           c->bn_stats == BN_STATS_RUNNING ? "running" : "calibrated", n->num_params);
    printf("schedule: %ld steps, batch %d, lr %g then %g from step %ld, seed %llu\n", ts->steps,
           ts->batch, ts->lr, ts->lr2, ts->decay_step, (unsigned long long)ts->seed);
    fflush(stdout);
}

// With --resume, every model/schedule flag given must agree with the checkpoint.
static void check_resume_flags(const TrainOpts *o, const NetConfig *c, const TrainState *ts) {
    struct { int f; const char *flag; int same; char given[32], saved[32]; } k[] = {
        {F_ARCH, "--arch", o->arch == c->arch, "", ""},
        {F_LAYERS, "--layers", o->layers == c->layers, "", ""},
        {F_BNSTATS, "--bn-stats", o->bn_stats == c->bn_stats, "", ""},
        {F_BLOCK, "--block", o->block == c->T, "", ""},
        {F_EMBD, "--embd", o->embd == c->E, "", ""},
        {F_HIDDEN, "--hidden", o->hidden == c->H, "", ""},
        {F_BATCH, "--batch", o->batch == ts->batch, "", ""},
        {F_BNVAR, "--bn-var", o->bessel == c->bessel, "", ""},
        {F_LR, "--lr", o->lr == ts->lr, "", ""},
        {F_LR2, "--lr2", o->lr2 == ts->lr2, "", ""},
        {F_DECAY, "--decay-step", o->decay_step == ts->decay_step, "", ""},
        {F_SEED, "--seed", o->seed == ts->seed, "", ""},
        {F_SPLIT_SEED, "--split-seed", o->split_seed == ts->split_seed, "", ""},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (!o->given[k[i].f] || k[i].same) continue;
        char given[48], saved[48];
        switch (k[i].f) {
        case F_ARCH: snprintf(given, sizeof given, "%s", net_arch_name(o->arch)); snprintf(saved, sizeof saved, "%s", net_arch_name(c->arch)); break;
        case F_LAYERS: snprintf(given, sizeof given, "%d", o->layers); snprintf(saved, sizeof saved, "%d", c->layers); break;
        case F_BNSTATS: snprintf(given, sizeof given, "%s", STATS_CHOICES[o->bn_stats]); snprintf(saved, sizeof saved, "%s", STATS_CHOICES[c->bn_stats]); break;
        case F_BLOCK: snprintf(given, sizeof given, "%d", o->block); snprintf(saved, sizeof saved, "%d", c->T); break;
        case F_EMBD: snprintf(given, sizeof given, "%d", o->embd); snprintf(saved, sizeof saved, "%d", c->E); break;
        case F_HIDDEN: snprintf(given, sizeof given, "%d", o->hidden); snprintf(saved, sizeof saved, "%d", c->H); break;
        case F_BATCH: snprintf(given, sizeof given, "%d", o->batch); snprintf(saved, sizeof saved, "%d", ts->batch); break;
        case F_BNVAR: snprintf(given, sizeof given, "%s", BN_VAR_CHOICES[!o->bessel]); snprintf(saved, sizeof saved, "%s", BN_VAR_CHOICES[!c->bessel]); break;
        case F_LR: snprintf(given, sizeof given, "%.9g", o->lr); snprintf(saved, sizeof saved, "%.9g", ts->lr); break;
        case F_LR2: snprintf(given, sizeof given, "%.9g", o->lr2); snprintf(saved, sizeof saved, "%.9g", ts->lr2); break;
        case F_DECAY: snprintf(given, sizeof given, "%ld", o->decay_step); snprintf(saved, sizeof saved, "%ld", ts->decay_step); break;
        case F_SEED: snprintf(given, sizeof given, "%llu", (unsigned long long)o->seed); snprintf(saved, sizeof saved, "%llu", (unsigned long long)ts->seed); break;
        default: snprintf(given, sizeof given, "%llu", (unsigned long long)o->split_seed); snprintf(saved, sizeof saved, "%llu", (unsigned long long)ts->split_seed); break;
        }
        fail(EXIT_USAGE, "%s %s conflicts with --resume %s, which was trained with %s %s (a "
             "resumed run keeps the checkpoint's model and schedule; only --steps may change)",
             k[i].flag, given, o->resume, k[i].flag, saved);
    }
    if (o->given[F_STEPS] && o->steps < ts->step)
        fail(EXIT_USAGE, "--steps %ld: --resume %s is already at step %ld (allowed: --steps >= "
             "%ld)", o->steps, o->resume, ts->step, ts->step);
    if (!o->given[F_STEPS] && ts->step == ts->steps && ts->calibrated)
        fail(EXIT_USAGE, "--resume %s: the run is complete (%ld of %ld steps); give --steps N "
             "with N > %ld to train on", o->resume, ts->step, ts->steps, ts->step);
}

// Loads the checkpoint to resume: the model (activations for the run's batch), its
// vocabulary and training state (checkpoint_load_resume checks it is one this program
// could have written); the flags given must agree with it.
static void resume_load(const TrainOpts *o, Net *n, Vocab *v, TrainState *ts, Rng *rng) {
    Err err;
    Net loaded;
    if (net_load_resume(&loaded, v, ts, o->resume, o->accept_unchecked ? NET_ACCEPT_UNCHECKED : 0,
                        &err) != 0)
        fail(EXIT_RUNTIME, "%s", err.msg);
    const NetConfig *c = &loaded.cfg;
    check_resume_flags(o, c, ts);
    char msg[512];
    if (check_sizes(c, ts->batch, msg, sizeof msg) != 0)
        fail(EXIT_USAGE, "--resume %s: %s", o->resume, msg);
    if (ts->ranks != dist_size()) {  // DIST: each count of ranks rounds its sums its own way
        char how[48] = "without mpirun";
        if (ts->ranks > 1) snprintf(how, sizeof how, "with mpirun -np %d", ts->ranks);
        fail(EXIT_USAGE, "--resume %s was trained on %d process%s, this run has %d; continue it "
             "%s (another count would not give the uninterrupted run's results)", o->resume,
             ts->ranks, ts->ranks == 1 ? "" : "es", dist_size(), how);
    }
    net_alloc(n, c, ts->batch / dist_size());  // activations for this rank's share of the batch
    memcpy(n->params, loaded.params, n->num_params * sizeof(float));
    memcpy(n->stats, loaded.stats, n->num_stats * sizeof(float));
    net_free(&loaded);
    memcpy(rng->s, ts->rng, sizeof rng->s);
    if (o->given[F_STEPS]) ts->steps = o->steps;
    // Training on (a finished run extended): the checkpoints written on the way hold the
    // old batchnorm statistics, which no longer fit the parameters; the final one is
    // calibrated again.
    if (ts->step < ts->steps) ts->calibrated = 0;
}

typedef struct {
    const char *path;       // where checkpoints go
    const char *last_path;  // the last good checkpoint: the last one written, or the
    long last_step;         // one resumed from (-1: none)
} Saved;

// "the last good checkpoint, FILE (step N), is kept" or "no checkpoint was written".
static void kept(char *out, size_t len, const Saved *s) {
    if (s->last_step >= 0)
        snprintf(out, len, "the last good checkpoint, %s (step %ld), is kept", s->last_path,
                 s->last_step);
    else
        snprintf(out, len, "no checkpoint was written");
}

// Writes a checkpoint of the state after `step` steps; never one with non-finite
// parameters (then the previous checkpoint stays, and the run fails). A failed write
// (EFBIG past a file-size limit, ENOSPC, EIO) leaves no temp file and the previous
// checkpoint as it was, and fails naming both; `why` prefixes the message.
static void save_checkpoint(Saved *s, const Net *n, const Vocab *v, const TrainState *ts,
                            Log *log, const char *why) {
    char msg[256], k[1024];
    kept(k, sizeof k, s);
    if (!tensors_finite(n, 0, msg, sizeof msg)) {
        log_close(log);
        fail(EXIT_RUNTIME, "%snot saving %s after step %ld: %s; %s", why, s->path, ts->step, msg, k);
    }
    if (dist_rank() != 0) return;  // DIST: rank 0 writes
    log_sync(log);  // the log on disk covers every step the checkpoint holds
    Err err;
    if (net_save(s->path, n, v, ts, &err) != 0) {
        log_close(log);
        fail(EXIT_RUNTIME, "%s%s after step %ld; %s", why, err.msg, ts->step, k);
    }
    s->last_path = s->path;
    s->last_step = ts->step;
}

// The training failed numerically at step i: says where and what, and which checkpoint stays.
__attribute__((noreturn)) static void diverged(long i, float lr, const char *what,
                                               const Saved *s, Log *log, int live) {
    if (live) fputs("\r\033[K", stderr);
    log_close(log);
    if (s->last_step >= 0)
        fail(EXIT_RUNTIME, "training diverged at step %ld (lr %g): %s; stopped; the last "
             "good checkpoint, %s (step %ld), is kept", i, lr, what, s->last_path, s->last_step);
    fail(EXIT_RUNTIME, "training diverged at step %ld (lr %g): %s; stopped; no checkpoint "
         "was written (--save-every N keeps one)", i, lr, what);
}

static void live_line(long step, long steps, float loss, double t0, long step0) {
    double el = now_seconds() - t0;
    double rate = el > 0 ? (double)(step - step0) / el : 0;
    double eta = rate > 0 ? (double)(steps - step) / rate : 0;
    fprintf(stderr, "\r  step %ld/%ld  loss %.4f  %.0f steps/s  ETA %.0f s   ", step, steps,
            loss, rate, eta);
}

// The command that continues a stopped run: every path shell-quoted (one line whatever
// they hold), and every flag the checkpoint does not record. Caller frees.
static char *continue_command(const TrainOpts *o, const char *ckpt) {
    char *qd = outfile_shell_quote(o->data), *qc = outfile_shell_quote(ckpt), *ql = o->log ? outfile_shell_quote(o->log) : NULL;
    char extra[160] = "";
    if (o->save_every) snprintf(extra, sizeof extra, " --save-every %ld", o->save_every);
    if (o->print_every != 10000)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " --print-every %d", o->print_every);
    if (o->samples != 20)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra), " --samples %d", o->samples);
    char np[32] = "";  // DIST: the same number of ranks
    if (dist_size() > 1) snprintf(np, sizeof np, "mpirun -np %d ", dist_size());
    char *cmd;
    if (asprintf(&cmd, "%smakemore train --data %s --resume %s%s%s --threads %d%s", np, qd, qc,
                 ql ? " --log " : "", ql ? ql : "", o->threads, extra) < 0)
        fail(EXIT_RUNTIME, "out of memory");
    free(qd);
    free(qc);
    free(ql);
    return cmd;
}

// On a TTY, names a long phase on stderr until the next live_clear.
static void phase(int live, const char *what, int n) {
    if (live) fprintf(stderr, "\r\033[K  %s (%d examples)...", what, n);
}
static void live_clear(int live) {
    if (live) fputs("\r\033[K", stderr);
}

// Paths: no output may overwrite an input, every output must be writable, ours to take
// (a log that is not a makemore log is refused) and not written by another run, now.
static void check_outputs(const TrainOpts *o) {
    if (dist_rank() != 0) return;  // DIST: rank 0 alone writes, so rank 0 alone checks and locks
    if (o->out && outfile_same(o->data, o->out))
        fail(EXIT_USAGE, "--out %s is the words file --data %s", o->out, o->data);
    if (o->log && (outfile_same(o->log, o->data) || (o->out && outfile_same(o->log, o->out)) ||
                   (o->resume && outfile_same(o->log, o->resume))))
        fail(EXIT_USAGE, "--log %s is also the words file, --out or --resume (allowed: a file "
             "of its own)", o->log);
    if (o->out) outfile_probe(CMD, "--out", o->out);
    if (o->log) outfile_probe(CMD, "--log", o->log);
    if (o->out) outfile_lock(CMD, "--out", o->out);
    if (o->log) outfile_lock(CMD, "--log", o->log);
    if (o->log && !o->resume) outfile_check_log(CMD, o->log);
}

// The words file must be the one the checkpoint was trained on; a fresh run records it.
static void check_fingerprint(const TrainOpts *o, const Words *w, TrainState *ts) {
    if (!checkpoint_words_match(ts, w))
        fail(EXIT_RUNTIME, "--data %s (%llu bytes, crc32c %08x) is not the words file --resume "
             "%s was trained on (%llu bytes, crc32c %08x); resume with that file", o->data,
             (unsigned long long)w->file_bytes, (unsigned)w->file_crc, o->resume,
             (unsigned long long)ts->data_bytes, (unsigned)ts->data_crc);
    checkpoint_words_record(ts, w);
}

// Stops the run after `step` steps (a signal, a closed stdout, a failed log write): a
// checkpoint, then one line saying why and how to continue. Returns the exit status.
// sig: the signal that stops the run (with P ranks, the one every rank agreed on), or 0
// when the log failed.
static int stop_run(const TrainOpts *o, Saved *saved, const Net *n, const Dataset *d,
                    const TrainState *now, Log *log, int live, int sig) {
    live_clear(live);
    char why[512] = "";
    int log_failed = log->failed;
    if (log_failed)
        snprintf(why, sizeof why, "writing the log %s failed (%s) after step %ld of %ld; ",
                 log->path, strerror(log->err), now->step, now->steps);
    save_checkpoint(saved, n, &d->vocab, now, log, why);
    log_close(log);
    char *cmd = continue_command(o, saved->path);
    if (log_failed)
        say(CMD, "%scheckpoint written to %s; continue with: %s", why, saved->path, cmd);
    else
        say(CMD, "%s after step %ld of %ld; checkpoint written to %s; continue with: %s",
            stop_name(sig), now->step, now->steps, saved->path, cmd);
    free(cmd);
    return log_failed || !sig ? EXIT_RUNTIME : 128 + sig;
}

static void train_loop(const TrainOpts *o, Net *n, Dataset *d, TrainState *ts, Rng *rng,
                       Saved *saved, Log *log, int live, int *stopped) {
    long step0 = ts->step;
    double t0 = now_seconds(), last_live = t0;
    char what[256];
    for (; ts->step < ts->steps; ts->step++) {
        long i = ts->step;
        float lr = i < ts->decay_step ? ts->lr : ts->lr2;
        float loss;
        int stop;
        if (dist_size() > 1) {  // DIST: stop on the signal every rank agreed on (one caught
            // after this step's allreduce waits for the next step); rank 0's failed log
            // counts as a stop request, so that no rank is left waiting in an allreduce
            stop = stop_signal ? stop_signal : log->failed ? SIGPIPE : 0;
            loss = net_dp_train_step(n, &d->split.train, lr, rng, &stop);
        } else {
            loss = net_train_step(n, &d->split.train, lr, rng);
            stop = stop_signal;
        }
        if (!float_finite(loss)) {
            snprintf(what, sizeof what, "the loss is %g", (double)loss);
            diverged(i, lr, what, saved, log, live);
        }
        if (!tensors_finite(n, 1, what, sizeof what) ||
            ((i + 1) % GUARD_FULL_EVERY == 0 && !tensors_finite(n, 0, what, sizeof what)))
            diverged(i, lr, what, saved, log, live);
        if (log->f && !log->failed && fprintf(log->f, "%ld,%.9g\n", i, (double)loss) < 0)
            log_error(log);
        if (i % o->print_every == 0) {
            if (live) fputs("\r\033[K", stderr);
            printf("%7ld/%7ld: %.4f\n", i, ts->steps, loss);
            stdout_check();
        }
        if (live && (i & 63) == 0 && now_seconds() - last_live > 0.25) {
            last_live = now_seconds();
            live_line(i + 1, ts->steps, loss, t0, step0);
        }
        int last = i + 1 == ts->steps;
        if (!last && (stop || log->failed || (o->save_every && (i + 1) % o->save_every == 0))) {
            TrainState now = *ts;
            now.step = i + 1;
            memcpy(now.rng, rng->s, sizeof now.rng);
            if (stop || log->failed) {
                *stopped = stop_run(o, saved, n, d, &now, log, live, log->failed ? 0 : stop);
                return;
            }
            save_checkpoint(saved, n, &d->vocab, &now, log, "");
        }
    }
    double elapsed = now_seconds() - t0;
    live_clear(live);
    long done = ts->step - step0;
    if (done > 0)
        printf("time: %.2f s, %.2f us/step (%.0f steps/s)\n", elapsed, 1e6 * elapsed / done,
               done / elapsed);
}

int train_main(int argc, char **argv) {
    dist_init();  // DIST: one of P ranks under mpirun, else nothing
    TrainOpts o;
    train_parse(&o, argc, argv);
    check_outputs(&o);
    threads_set(o.threads);
    const int live = isatty(STDERR_FILENO);
    if (live) fputs("  loading and splitting the words file...", stderr);

    Net m;
    TrainState ts;
    Rng rng;
    Dataset d;
    if (o.resume) {
        Vocab ckpt_vocab;
        resume_load(&o, &m, &ckpt_vocab, &ts, &rng);
        dataset_load(&d, o.data, m.cfg.T, ts.split_seed, &ckpt_vocab, o.resume);
    } else {
        ts = (TrainState){.step = 0, .steps = o.steps, .decay_step = o.decay_step, .lr = o.lr,
                          .lr2 = o.lr2, .batch = o.batch, .seed = o.seed,
                          .split_seed = o.split_seed, .ranks = dist_size()};
        dataset_load(&d, o.data, o.block, o.split_seed, NULL, NULL);
        NetConfig cfg = model_config(&o, d.vocab.V);
        Err err;
        if (net_config_check(&cfg, &err)) fail(EXIT_USAGE, "%s", err.msg);
        char msg[512];
        if (check_sizes(&cfg, o.batch, msg, sizeof msg) != 0) fail(EXIT_USAGE, "%s", msg);
        net_alloc(&m, &cfg, o.batch / dist_size());  // DIST: this rank's rows
        rng_seed(&rng, o.seed);
        net_init(&m, &rng, 0);
    }
    live_clear(live);
    check_fingerprint(&o, &d.words, &ts);
    Saved saved = {o.out ? o.out : DEFAULT_INTERRUPT_PATH, o.resume, o.resume ? ts.step : -1};
    if (!o.out && !outfile_cwd_writable())
        say(CMD, "note: the working directory is not writable, so an interrupted run could "
            "not be checkpointed; give --out FILE to keep one");
    stop_signals_catch(1);
    print_header(o.data, &d, &m, &ts, o.threads);
    train_gemm_setup(&m.plan, o.gemm, o.plan, o.resume != NULL, ts.gemm_plan, sizeof ts.gemm_plan);
    if (o.resume) printf("resuming %s at step %ld of %ld\n", o.resume, ts.step, ts.steps);
    stdout_check();
    Log log = {NULL, o.log, 0, 0};
    if (o.log) {
        if (o.resume) log_resume(&log, o.log, ts.step);
        else log_create(&log, o.log);
    }

    int stopped = -1;
    train_loop(&o, &m, &d, &ts, &rng, &saved, &log, live, &stopped);
    if (stopped >= 0) {
        dataset_free(&d);
        net_free(&m);
        return stopped;
    }
    log_close(&log);
    if (log.failed) {  // the last lines or the final flush failed
        char k[1024];
        kept(k, sizeof k, &saved);
        fail(EXIT_RUNTIME, "writing the log %s failed (%s) at the end of training; %s", o.log,
             strerror(log.err), k);
    }

    if (dist_size() > 1) {  // DIST: rank 0 calibrates, evaluates, saves and samples alone
        if (!dist_same_everywhere(m.params, m.num_params))
            fail(EXIT_RUNTIME, "the ranks' parameters differ after training (an MPI reduction "
                 "that is not the same on every rank); not saving");
        if (dist_rank() != 0) {
            dataset_free(&d);
            net_free(&m);
            return 0;
        }
    }
    // A signal from here on lets calibration and the final save finish (seconds), then stops.
    if (m.cfg.bn_stats == BN_STATS_CALIBRATE) {
        phase(live, "calibrating batchnorm", d.split.train.n);
        net_calibrate(&m, &d.split.train);
    }
    double loss[3];
    const Examples *sets[3] = {&d.split.train, &d.split.val, &d.split.test};
    for (int k = 0; k < 3; k++) {
        phase(live, k == 0 ? "evaluating train" : k == 1 ? "evaluating val" : "evaluating test", sets[k]->n);
        loss[k] = net_eval_loss(&m, sets[k]);
    }
    live_clear(live);
    printf("train %.4f\nval %.4f\ntest %.4f\n", loss[0], loss[1], loss[2]);
    stdout_check();
    memcpy(ts.rng, rng.s, sizeof ts.rng);
    if (o.out || stop_signal) {  // stopped without --out: the work goes to the default path
        ts.calibrated = 1;
        save_checkpoint(&saved, &m, &d.vocab, &ts, &log, "");
        printf("saved %s\n", saved.path);
        stdout_check();
    }
    if (stop_signal) {
        say(CMD, "%s after training finished; the model is saved to %s", stop_name(stop_signal),
            saved.path);
        dataset_free(&d);
        net_free(&m);
        return 128 + stop_signal;
    }
    if (o.samples > 0) {
        WordSet train_set, heldout_set;
        int ntr = d.split.n_words[0];
        wordset_build(&train_set, d.words.w, ntr);
        wordset_build(&heldout_set, d.words.w + ntr, d.words.n - ntr);
        Rng srng;
        rng_seed(&srng, ts.seed + 10);
        printf("samples:\n");
        sample_print(stdout, &m, &d.vocab, &srng, o.samples, 1.0f, 0, &train_set, &heldout_set);
        wordset_free(&train_set);
        wordset_free(&heldout_set);
        stdout_check();
    }
    stop_signals_catch(0);
    dataset_free(&d);
    net_free(&m);
    if (stop_signal == SIGPIPE) {
        say(CMD, "stdout is closed (EPIPE) while printing the samples; the model is %s",
            o.out ? "saved" : "not saved (no --out)");
        return 128 + SIGPIPE;
    }
    return 0;
}
