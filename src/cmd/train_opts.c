// train_opts.c: `makemore train`'s flags (train_opts.h).
#include "train_opts.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "dist.h"
#include "gemm_plan_train.h"
#include "outfile.h"

#define CMD "train"
#define DEFAULT_INTERRUPT_PATH TRAIN_DEFAULT_INTERRUPT_PATH

static const char *const BN_VAR_CHOICES[] = {"unbiased", "biased", NULL};
static const char *const ARCH_CHOICES[] = {"mlp", "wavenet", NULL};
static const char *const STATS_CHOICES[] = {"calibrate", "running", NULL};

NetConfig train_opts_model(const TrainOpts *o, int V) {
    return (NetConfig){.arch = o->arch, .V = V, .T = o->block, .E = o->embd, .H = o->hidden,
                       .layers = o->layers, .bessel = o->bessel, .bn_stats = o->bn_stats,
                       .momentum = 0.1f};
}

// DIST: which build this is, and how to run it data-parallel (docs/SCALING.md).
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
        "                     docs/ARCHITECTURES.md)\n"
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
void train_opts_parse(TrainOpts *o, int argc, char **argv) {
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
        NetConfig cfg = train_opts_model(o, 2);
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

// A flag given with --resume that the checkpoint contradicts: exit 2 naming both values.
static void resume_conflict(const TrainOpts *o, const char *flag, const char *given,
                            const char *saved) {
    cli_die(CMD, EXIT_USAGE, "%s %s conflicts with --resume %s, which was trained with %s %s (a "
            "resumed run keeps the checkpoint's model and schedule; only --steps may change)",
            flag, given, o->resume, flag, saved);
}

// With --resume, every model/schedule flag given must agree with the checkpoint (checked
// in this order: the first that differs is named).
void train_opts_check_resume(const TrainOpts *o, const NetConfig *c, const TrainState *ts) {
#define SAME(F, FLAG, same, fmt, mine, theirs)                                   \
    if (o->given[F] && !(same)) {                                                \
        char g_[48], s_[48];                                                     \
        snprintf(g_, sizeof g_, fmt, mine);                                      \
        snprintf(s_, sizeof s_, fmt, theirs);                                    \
        resume_conflict(o, FLAG, g_, s_);                                        \
    }
    SAME(F_ARCH, "--arch", o->arch == c->arch, "%s", net_arch_name(o->arch), net_arch_name(c->arch))
    SAME(F_LAYERS, "--layers", o->layers == c->layers, "%d", o->layers, c->layers)
    SAME(F_BNSTATS, "--bn-stats", o->bn_stats == c->bn_stats, "%s", STATS_CHOICES[o->bn_stats], STATS_CHOICES[c->bn_stats])
    SAME(F_BLOCK, "--block", o->block == c->T, "%d", o->block, c->T)
    SAME(F_EMBD, "--embd", o->embd == c->E, "%d", o->embd, c->E)
    SAME(F_HIDDEN, "--hidden", o->hidden == c->H, "%d", o->hidden, c->H)
    SAME(F_BATCH, "--batch", o->batch == ts->batch, "%d", o->batch, ts->batch)
    SAME(F_BNVAR, "--bn-var", o->bessel == c->bessel, "%s", BN_VAR_CHOICES[!o->bessel], BN_VAR_CHOICES[!c->bessel])
    SAME(F_LR, "--lr", o->lr == ts->lr, "%.9g", (double)o->lr, (double)ts->lr)
    SAME(F_LR2, "--lr2", o->lr2 == ts->lr2, "%.9g", (double)o->lr2, (double)ts->lr2)
    SAME(F_DECAY, "--decay-step", o->decay_step == ts->decay_step, "%ld", o->decay_step, ts->decay_step)
    SAME(F_SEED, "--seed", o->seed == ts->seed, "%llu", (unsigned long long)o->seed, (unsigned long long)ts->seed)
    SAME(F_SPLIT_SEED, "--split-seed", o->split_seed == ts->split_seed, "%llu",
         (unsigned long long)o->split_seed, (unsigned long long)ts->split_seed)
#undef SAME
    if (o->given[F_STEPS] && o->steps < ts->step)
        cli_die(CMD, EXIT_USAGE, "--steps %ld: --resume %s is already at step %ld (allowed: --steps >= "
             "%ld)", o->steps, o->resume, ts->step, ts->step);
    if (!o->given[F_STEPS] && ts->step == ts->steps && ts->calibrated)
        cli_die(CMD, EXIT_USAGE, "--resume %s: the run is complete (%ld of %ld steps); give --steps N "
             "with N > %ld to train on", o->resume, ts->step, ts->steps, ts->step);
}

// The command that continues a stopped run: every path shell-quoted (one line whatever
// they hold), and every flag the checkpoint does not record. Caller frees.
char *train_opts_continue_command(const TrainOpts *o, const char *ckpt) {
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
        cli_die(CMD, EXIT_RUNTIME, "out of memory");
    free(qd);
    free(qc);
    free(ql);
    return cmd;
}

// Paths: no output may overwrite an input, every output must be writable, ours to take
// (a log that is not a makemore log is refused) and not written by another run, now.
void train_opts_check_outputs(const TrainOpts *o) {
    if (dist_rank() != 0) return;  // DIST: rank 0 alone writes, so rank 0 alone checks and locks
    if (o->out && outfile_same(o->data, o->out))
        cli_die(CMD, EXIT_USAGE, "--out %s is the words file --data %s", o->out, o->data);
    if (o->log && (outfile_same(o->log, o->data) || (o->out && outfile_same(o->log, o->out)) ||
                   (o->resume && outfile_same(o->log, o->resume))))
        cli_die(CMD, EXIT_USAGE, "--log %s is also the words file, --out or --resume (allowed: a file "
             "of its own)", o->log);
    if (o->out) outfile_probe(CMD, "--out", o->out);
    if (o->log) outfile_probe(CMD, "--log", o->log);
    if (o->out) outfile_lock(CMD, "--out", o->out);
    if (o->log) outfile_lock(CMD, "--log", o->log);
    if (o->log && !o->resume) outfile_check_log(CMD, o->log);
}

