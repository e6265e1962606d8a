// net_train.c: `makemore train` for the MLP family beyond the lecture's model
// (--arch wavenet, --layers N > 1, --bn-stats running). The default mlp/1 model trains
// through train.c and model.c; net_route() (main.c) says which command takes a run.
//
// The same loop as train.c: SGD, lr then lr2 from --decay-step; a loss and small-gradient
// finite check every step, a full one every 100; checkpoints with --save-every, on
// SIGINT/SIGTERM and at the end, atomic and never with non-finite parameters; --resume
// continues bit for bit (same batches, same schedule, same running statistics).
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "dist.h"
#include "log.h"
#include "net.h"
#include "net_cli.h"
#include "net_io.h"
#include "outfile.h"
#include "safetensors.h"
#include "sample.h"
#include "stop.h"
#include "syncbn.h"

#define CMD "train"
#define DEFAULT_INTERRUPT_PATH "makemore-interrupted.safetensors"

enum { G_ARCH, G_LAYERS, G_BNSTATS, G_BLOCK, G_EMBD, G_HIDDEN, G_BATCH, G_BNVAR, G_STEPS, G_LR,
       G_LR2, G_DECAY, G_SEED, G_SPLIT, NUM_G };

typedef struct {
    const char *data, *out, *resume, *log;
    NetConfig cfg;
    TrainState ts;
    int threads, threads_given, samples, print_every;
    long save_every;
    int given[NUM_G];
} NetOpts;

static const char *const ARCH_CHOICES[] = {"mlp", "wavenet", NULL};
static const char *const STATS_CHOICES[] = {"calibrate", "running", NULL};
static const char *const BN_VAR_CHOICES[] = {"unbiased", "biased", NULL};

static void usage(void) {
    printf("usage: makemore train --arch mlp|wavenet [--layers N] [flags]\n"
           "The MLP family (src/ARCHITECTURES.md). With --arch wavenet, --layers N > 1 or\n"
           "--bn-stats running the run goes through the layer table (net.c); the lecture's\n"
           "mlp with one layer trains through model.c (makemore train --help).\n\n"
           "  --arch A           mlp (default) or wavenet (part 5: block 8, embd 24, hidden 128,\n"
           "                     200000 steps, lr 0.1 then 0.01 from 150000, running stats)\n"
           "  --layers N         mlp: hidden Linear-BatchNorm-Tanh blocks (1..16, default 1)\n"
           "  --bn-stats S       calibrate (part 4, mlp's default) or running (momentum 0.1,\n"
           "                     part 5, wavenet's default): batchnorm's inference statistics\n"
           "  --block, --embd, --hidden, --batch, --bn-var, --steps, --lr, --lr2, --decay-step,\n"
           "  --seed, --split-seed, --threads, --print-every, --log, --out, --save-every, --resume,\n"
           "  --samples, --data   as for the lecture's model; --block must be a power of two\n"
           "                     (2..64) for wavenet, whose levels halve it down to 1\n"
           "Under mpirun (make MPI=1) the run is data-parallel, every batchnorm synchronised\n"
           "(src/SCALING.md); --batch must be a multiple of the ranks.\n");
}

static void defaults(NetOpts *o, NetArch arch) {
    int wave = arch == ARCH_WAVENET;
    o->cfg = (NetConfig){.arch = arch, .T = wave ? 8 : 3, .E = wave ? 24 : 10, .H = wave ? 128 : 200,
                         .layers = 1, .bessel = 1,
                         .bn_stats = wave ? BN_STATS_RUNNING : BN_STATS_CALIBRATE, .momentum = 0.1f};
    o->ts = (TrainState){.steps = 200000, .decay_step = wave ? 150000 : 100000, .lr = 0.1f,
                         .lr2 = 0.01f, .batch = 32, .seed = 1, .split_seed = 42};
}

// The architecture first (it sets the defaults), then every flag.
static void parse(NetOpts *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    Cli c;
    cli_init(&c, CMD, argc, argv);
    NetArch arch = ARCH_MLP;
    while (cli_next(&c))
        if (cli_is(&c, "--arch", 1)) arch = cli_choice(&c, ARCH_CHOICES) == 1 ? ARCH_WAVENET : ARCH_MLP;
    defaults(o, arch);
    o->data = "data/names.txt";
    o->threads = omp_get_num_procs();
    o->samples = 20;
    o->print_every = 10000;
    int *g = o->given, layers = 1;
    cli_init(&c, CMD, argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--help", 0) || cli_is(&c, "-h", 0)) { usage(); exit(0); }
        else if (cli_is(&c, "--arch", 1)) g[G_ARCH] = 1;
        else if (cli_is(&c, "--layers", 1)) { layers = (int)cli_long(&c, 1, 16); g[G_LAYERS] = 1; }
        else if (cli_is(&c, "--bn-stats", 1)) { o->cfg.bn_stats = cli_choice(&c, STATS_CHOICES) ? BN_STATS_RUNNING : BN_STATS_CALIBRATE; g[G_BNSTATS] = 1; }
        else if (cli_is(&c, "--data", 1)) o->data = c.value;
        else if (cli_is(&c, "--block", 1)) { o->cfg.T = (int)cli_long(&c, 1, 64); g[G_BLOCK] = 1; }
        else if (cli_is(&c, "--embd", 1)) { o->cfg.E = (int)cli_long(&c, 1, 4096); g[G_EMBD] = 1; }
        else if (cli_is(&c, "--hidden", 1)) { o->cfg.H = (int)cli_long(&c, 1, 16384); g[G_HIDDEN] = 1; }
        else if (cli_is(&c, "--batch", 1)) { o->ts.batch = (int)cli_long(&c, 2, 1 << 20); g[G_BATCH] = 1; }
        else if (cli_is(&c, "--bn-var", 1)) { o->cfg.bessel = cli_choice(&c, BN_VAR_CHOICES) == 0; g[G_BNVAR] = 1; }
        else if (cli_is(&c, "--steps", 1)) { o->ts.steps = cli_long(&c, 1, 1000000000L); g[G_STEPS] = 1; }
        else if (cli_is(&c, "--lr", 1)) { o->ts.lr = (float)cli_positive(&c, 1000.0); g[G_LR] = 1; }
        else if (cli_is(&c, "--lr2", 1)) { o->ts.lr2 = (float)cli_positive(&c, 1000.0); g[G_LR2] = 1; }
        else if (cli_is(&c, "--decay-step", 1)) { o->ts.decay_step = cli_long(&c, 0, 1000000000L); g[G_DECAY] = 1; }
        else if (cli_is(&c, "--seed", 1)) { o->ts.seed = cli_u64(&c); g[G_SEED] = 1; }
        else if (cli_is(&c, "--split-seed", 1)) { o->ts.split_seed = cli_u64(&c); g[G_SPLIT] = 1; }
        else if (cli_is(&c, "--threads", 1)) { o->threads = (int)cli_long(&c, 1, 1024); o->threads_given = 1; }
        else if (cli_is(&c, "--log", 1)) o->log = c.value;
        else if (cli_is(&c, "--print-every", 1)) o->print_every = (int)cli_long(&c, 1, 1000000000L);
        else if (cli_is(&c, "--out", 1)) o->out = c.value;
        else if (cli_is(&c, "--save-every", 1)) o->save_every = cli_long(&c, 1, 1000000000L);
        else if (cli_is(&c, "--resume", 1)) o->resume = c.value;
        else if (cli_is(&c, "--samples", 1)) o->samples = (int)cli_long(&c, 0, 100000);
        else cli_unknown(&c);
    }
    if (arch == ARCH_WAVENET && g[G_LAYERS])
        cli_fail(&c, "--layers %d with --arch wavenet: its depth is log2(--block) (give --block)", layers);
    o->cfg.layers = layers;
    if (o->save_every && !o->out && !o->resume) cli_fail(&c, "--save-every needs --out FILE");
    if (o->resume && !o->out) o->out = o->resume;
    if (!o->resume) {
        Err err;
        o->cfg.V = 2;  // the words file's vocabulary comes later; everything else is checked now
        if (net_config_check(&o->cfg, &err)) cli_fail(&c, "%s", err.msg);
    }
}

// With --resume every model and schedule flag given must agree with the checkpoint.
static void check_resume(const NetOpts *o, const NetConfig *c, const TrainState *ts) {
    char given[64] = "", saved[64] = "";
    const char *flag = NULL;
#define DIFF(G, F, cond, fmt, a, b) \
    if (!flag && o->given[G] && !(cond)) { flag = F; snprintf(given, sizeof given, fmt, a); snprintf(saved, sizeof saved, fmt, b); }
    DIFF(G_ARCH, "--arch", o->cfg.arch == c->arch, "%s", net_arch_name(o->cfg.arch), net_arch_name(c->arch));
    DIFF(G_LAYERS, "--layers", o->cfg.layers == c->layers, "%d", o->cfg.layers, c->layers);
    DIFF(G_BNSTATS, "--bn-stats", o->cfg.bn_stats == c->bn_stats, "%s", STATS_CHOICES[o->cfg.bn_stats], STATS_CHOICES[c->bn_stats]);
    DIFF(G_BLOCK, "--block", o->cfg.T == c->T, "%d", o->cfg.T, c->T);
    DIFF(G_EMBD, "--embd", o->cfg.E == c->E, "%d", o->cfg.E, c->E);
    DIFF(G_HIDDEN, "--hidden", o->cfg.H == c->H, "%d", o->cfg.H, c->H);
    DIFF(G_BNVAR, "--bn-var", o->cfg.bessel == c->bessel, "%s", BN_VAR_CHOICES[!o->cfg.bessel], BN_VAR_CHOICES[!c->bessel]);
    DIFF(G_BATCH, "--batch", o->ts.batch == ts->batch, "%d", o->ts.batch, ts->batch);
    DIFF(G_LR, "--lr", o->ts.lr == ts->lr, "%.9g", (double)o->ts.lr, (double)ts->lr);
    DIFF(G_LR2, "--lr2", o->ts.lr2 == ts->lr2, "%.9g", (double)o->ts.lr2, (double)ts->lr2);
    DIFF(G_DECAY, "--decay-step", o->ts.decay_step == ts->decay_step, "%ld", o->ts.decay_step, ts->decay_step);
    DIFF(G_SEED, "--seed", o->ts.seed == ts->seed, "%llu", (unsigned long long)o->ts.seed, (unsigned long long)ts->seed);
    DIFF(G_SPLIT, "--split-seed", o->ts.split_seed == ts->split_seed, "%llu", (unsigned long long)o->ts.split_seed, (unsigned long long)ts->split_seed);
#undef DIFF
    if (flag)
        cli_die(CMD, EXIT_USAGE, "%s %s conflicts with --resume %s, which is a %s model trained "
                "with %s %s (a resumed run keeps the checkpoint's model and schedule; only "
                "--steps may change)", flag, given, o->resume, net_arch_name(c->arch), flag, saved);
    if (o->given[G_STEPS] && o->ts.steps < ts->step)
        cli_die(CMD, EXIT_USAGE, "--steps %ld: --resume %s is already at step %ld", o->ts.steps,
                o->resume, ts->step);
}

static void load_data(Words *w, Vocab *v, Split *s, const char *path, int T, uint64_t split_seed,
                      const Vocab *fixed) {
    Err err;
    if (words_load(w, path, &err) != 0) cli_die(CMD, EXIT_RUNTIME, "%s", err.msg);
    if (fixed) {
        *v = *fixed;
        if (vocab_check(v, w, path, &err) != 0)
            cli_die(CMD, EXIT_RUNTIME, "%s (resume with the words file the model was trained on)", err.msg);
    } else {
        vocab_build(v, w);
    }
    if (split_build(s, w, v, T, split_seed, &err) != 0) cli_die(CMD, EXIT_RUNTIME, "%s: %s", path, err.msg);
}

// Rank 0 alone writes (DIST); the log on disk covers every step the checkpoint holds.
static void save_or_die(const char *path, const Net *n, const Vocab *v, const TrainState *ts, Log *log) {
    char msg[256];
    if (net_nonfinite(n, 0, msg, sizeof msg))
        cli_die(CMD, EXIT_RUNTIME, "not saving %s after step %ld: %s", path, ts->step, msg);
    if (dist_rank() != 0) return;
    if (log->f) log_sync(log);
    Err err;
    if (net_save(path, n, v, ts, &err) != 0) cli_die(CMD, EXIT_RUNTIME, "%s", err.msg);
}

// One step, alone or as one of P ranks. *stop: in, this process's stop request (a signal,
// or SIGPIPE for rank 0's failed log); out, the stop every rank agreed on.
static float one_step(Net *n, const Examples *train, float lr, Rng *rng, int *stop) {
    if (dist_size() > 1) return net_dp_train_step(n, train, lr, rng, stop);  // DIST
    return net_train_step(n, train, lr, rng);
}

// The loop from ts->step to ts->steps; returns 0, or the signal that stopped it.
static int train_loop(Net *n, const Examples *train, TrainState *ts, Rng *rng, const NetOpts *o,
                      const Vocab *v, const char *out, Log *log) {
    for (; ts->step < ts->steps; ts->step++) {
        long i = ts->step;
        float lr = i < ts->decay_step ? ts->lr : ts->lr2;
        int stop = stop_signal ? stop_signal : log->failed ? SIGPIPE : 0;
        float loss = one_step(n, train, lr, rng, &stop);
        char what[256];
        int bad = !(loss == loss && loss < 1e30f);
        if (bad) snprintf(what, sizeof what, "the loss is %g", (double)loss);
        else bad = net_nonfinite(n, 1, what, sizeof what) ||
                   ((i + 1) % 100 == 0 && net_nonfinite(n, 0, what, sizeof what));
        if (bad) cli_die(CMD, EXIT_RUNTIME, "training diverged at step %ld (lr %g): %s; stopped", i, lr, what);
        if (log->f && !log->failed && fprintf(log->f, "%ld,%.9g\n", i, (double)loss) < 0) log_error(log);
        if (i % o->print_every == 0) {
            printf("%7ld/%7ld: %.4f\n", i, ts->steps, loss);
            fflush(stdout);
        }
        int last = i + 1 == ts->steps;
        if (!last && (stop || (o->save_every && (i + 1) % o->save_every == 0))) {
            TrainState now = *ts;
            now.step = i + 1;
            memcpy(now.rng, rng->s, sizeof now.rng);
            save_or_die(out, n, v, &now, log);
            if (stop) {
                char np[32] = "";
                if (dist_size() > 1) snprintf(np, sizeof np, "mpirun -np %d ", dist_size());
                if (log->failed)
                    say(CMD, "writing the log %s failed (%s) at step %ld; checkpoint written to %s; "
                        "continue with %smakemore train --resume %s", log->path, strerror(log->err),
                        i + 1, out, np, out);
                else
                    say(CMD, "stopped after step %ld of %ld; checkpoint written to %s; continue "
                        "with %smakemore train --resume %s", i + 1, ts->steps, out, np, out);
                return log->failed && dist_size() == 1 ? -1 : stop == SIGPIPE ? SIGTERM : stop;
            }
        }
    }
    return 0;
}

static void print_samples(const Net *n, const Vocab *v, uint64_t seed, int count) {
    Rng r;
    rng_seed(&r, seed + 10);
    printf("samples:\n");
    for (int i = 0; i < count; i++) {
        char word[MAX_WORD_LEN + 1];
        net_sample_word(word, n, v, &r, 1.0f, 0);
        printf("%s\n", word);
    }
}

// Before any work: --out is not an input, is writable the way it will be written, and
// no other run writes it now (the same rules as the lecture's model, src/RELIABILITY.md).
static void check_outputs(const NetOpts *o) {
    if (dist_rank() != 0) return;  // DIST: rank 0 alone writes, so rank 0 alone checks and locks
    if (o->out && outfile_same(o->data, o->out))
        cli_die(CMD, EXIT_USAGE, "--out %s is the words file --data %s", o->out, o->data);
    if (o->log && (outfile_same(o->log, o->data) || (o->out && outfile_same(o->log, o->out))))
        cli_die(CMD, EXIT_USAGE, "--log %s is also the words file or --out (allowed: a file of its own)", o->log);
    if (o->log) {
        outfile_probe(CMD, "--log", o->log);
        outfile_lock(CMD, "--log", o->log);
        if (!o->resume) outfile_check_log(CMD, o->log);
    }
    if (o->out) {
        outfile_probe(CMD, "--out", o->out);
        outfile_lock(CMD, "--out", o->out);
    } else if (!outfile_cwd_writable()) {
        say(CMD, "note: the working directory is not writable, so an interrupted run could "
            "not be checkpointed; give --out FILE to keep one");
    }
}

int net_train_main(int argc, char **argv) {
    dist_init();  // DIST: one of P ranks under mpirun (make MPI=1), else nothing
    const int P = dist_size();
    NetOpts o;
    parse(&o, argc, argv);
    if (P > 1) {  // DIST: P ranks share each batch; each takes its share of the machine's cores
        if (!o.resume && o.ts.batch % P != 0)
            cli_die(CMD, EXIT_USAGE, "--batch %d is not a multiple of the %d MPI ranks (each rank "
                    "takes batch/ranks rows; allowed: a multiple of %d)", o.ts.batch, P, P);
        if (!o.threads_given) o.threads = o.threads / dist_local_size() > 0 ? o.threads / dist_local_size() : 1;
    }
    stop_signals_catch(1);  // before the lock (stop.h)
    check_outputs(&o);
    threads_set(o.threads);
    Net n;
    Vocab v;
    Words w;
    Split s;
    TrainState ts = o.ts;
    Rng rng;
    if (o.resume) {
        Err err;
        int has_ts = 0;
        if (net_load(&n, &v, &ts, &has_ts, o.resume, 1, &err) != 0) cli_die(CMD, EXIT_RUNTIME, "%s", err.msg);
        if (!has_ts) cli_die(CMD, EXIT_RUNTIME, "--resume %s: a model file without a training state cannot be resumed", o.resume);
        check_resume(&o, &n.cfg, &ts);
        int saved_ranks = ts.ranks > 0 ? ts.ranks : 1;
        if (saved_ranks != P) {  // DIST: each count of ranks rounds its sums its own way
            char how[48] = "without mpirun";
            if (saved_ranks > 1) snprintf(how, sizeof how, "with mpirun -np %d", saved_ranks);
            cli_die(CMD, EXIT_USAGE, "--resume %s was trained on %d process%s, this run has %d; "
                    "continue it %s (another count would not give the uninterrupted run's "
                    "results)", o.resume, saved_ranks, saved_ranks == 1 ? "" : "es", P, how);
        }
        if (ts.batch < 2 || ts.batch > 1 << 20) cli_die(CMD, EXIT_RUNTIME, "--resume %s: batch %d (allowed: 2..1048576)", o.resume, ts.batch);
        Net sized;  // activations for the run's batch
        net_alloc(&sized, &n.cfg, ts.batch / P);  // DIST: this rank's rows
        memcpy(sized.params, n.params, n.num_params * sizeof(float));
        memcpy(sized.stats, n.stats, n.num_stats * sizeof(float));
        net_free(&n);
        n = sized;
        memcpy(rng.s, ts.rng, sizeof rng.s);
        if (o.given[G_STEPS]) ts.steps = o.ts.steps;
        if (ts.step < ts.steps) ts.calibrated = 0;
        Vocab fixed = v;
        load_data(&w, &v, &s, o.data, n.cfg.T, ts.split_seed, &fixed);
    } else {
        load_data(&w, &v, &s, o.data, o.cfg.T, ts.split_seed, NULL);
        o.cfg.V = v.V;
        double need = net_memory_bytes(&o.cfg, ts.batch), have = cli_machine_memory();
        if (have > 0 && need > have)
            cli_die(CMD, EXIT_USAGE, "the model and its batch need %.1f GiB, more than this "
                    "machine's %.1f GiB; lower --batch, --hidden or --layers", need / (1 << 30), have / (1 << 30));
        net_alloc(&n, &o.cfg, ts.batch / P);  // DIST: this rank's rows
        ts.ranks = P;
        rng_seed(&rng, ts.seed);
        net_init(&n, &rng, 0);
    }
    if (!checkpoint_words_match(&ts, &w))  // --resume: the words file it was trained on
        cli_die(CMD, EXIT_RUNTIME, "--data %s (%llu bytes, crc32c %08x) is not the words file "
                "--resume %s was trained on (%llu bytes, crc32c %08x); resume with that file",
                o.data, (unsigned long long)w.file_bytes, (unsigned)w.file_crc, o.resume,
                (unsigned long long)ts.data_bytes, (unsigned)ts.data_crc);
    checkpoint_words_record(&ts, &w);
    const char *out = o.out ? o.out : DEFAULT_INTERRUPT_PATH;
    const NetConfig *c = &n.cfg;
    char dist[128];
    dist_describe(dist, sizeof dist);
    printf("makemore train: %s, %d layer%s, block %d, embd %d, hidden %d, batchnorm %s "
           "statistics; %zu parameters; %d thread%s; %s\n", net_arch_name(c->arch), c->layers,
           c->layers == 1 ? "" : "s", c->T, c->E, c->H, STATS_CHOICES[c->bn_stats], n.num_params,
           o.threads, o.threads == 1 ? "" : "s", dist);
    printf("schedule: %ld steps, batch %d, lr %g then %g from step %ld, seed %llu\n", ts.steps,
           ts.batch, ts.lr, ts.lr2, ts.decay_step, (unsigned long long)ts.seed);
    if (o.resume) printf("resuming %s at step %ld of %ld\n", o.resume, ts.step, ts.steps);
    fflush(stdout);
    Log log = {NULL, o.log, 0, 0};
    if (o.log && dist_rank() == 0) {  // DIST: rank 0 alone writes the log
        if (o.resume) log_resume(&log, o.log, ts.step);
        else log_create(&log, o.log);
    }
    long step0 = ts.step;
    double t0 = now_seconds();
    int sig = train_loop(&n, &s.train, &ts, &rng, &o, &v, out, &log);
    int log_failed = log.failed;
    log_close(&log);
    if (sig < 0) return EXIT_RUNTIME;  // the log failed: checkpoint written, the loop said so
    if (!sig && log_failed) {
        say(CMD, "writing the log %s failed (%s) at the end of training; not saving", o.log,
            strerror(log.err));
        return EXIT_RUNTIME;
    }
    if (!sig && P > 1 && !dist_same_everywhere(n.params, n.num_params))
        cli_die(CMD, EXIT_RUNTIME, "the ranks' parameters differ after training (an MPI "
                "reduction that is not the same on every rank); not saving");
    if (!sig) {
        double el = now_seconds() - t0;
        if (ts.step > step0)
            printf("time: %.2f s, %.2f us/step (%.0f steps/s)\n", el, 1e6 * el / (ts.step - step0),
                   (ts.step - step0) / el);
        if (c->bn_stats == BN_STATS_CALIBRATE) net_calibrate(&n, &s.train);
        printf("train %.4f\nval %.4f\ntest %.4f\n", net_eval_loss(&n, &s.train),
               net_eval_loss(&n, &s.val), net_eval_loss(&n, &s.test));
        fflush(stdout);
        memcpy(ts.rng, rng.s, sizeof ts.rng);
        ts.calibrated = 1;
        if (o.out || stop_signal) {
            save_or_die(out, &n, &v, &ts, &log);
            printf("saved %s\n", out);
        }
        if (!stop_signal && o.samples > 0) print_samples(&n, &v, ts.seed, o.samples);
        sig = stop_signal;
    }
    split_free(&s);
    words_free(&w);
    net_free(&n);
    return sig ? 128 + sig : 0;
}
