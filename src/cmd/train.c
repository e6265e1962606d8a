// train.c: `makemore train`: the lecture's exercise-4 loop (SGD, lr step decay) for every
// model of the family (the layer table, net.c: the lecture's MLP by default), its
// progress report, checkpoints (periodic, on a stop request, final) and resume; then
// batchnorm calibration, split losses and samples. The flags are train_opts.c, the log
// log.c, the output paths and locks outfile.c, the model file and its resume checks
// net_io.c, the words file data.c (Dataset).
//
// Reliability rules (docs/RELIABILITY.md has the table of guarantees and their tests):
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
//  - checkpoints are written atomically (net_save: temp file, fsync, rename), and
//    never with non-finite parameters; no exit path but kill -9 leaves the temp file;
//  - every message is one escaped line (say(), common.c).
#include "train.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
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
#include "train_gemm.h"
#include "log.h"
#include "dist.h"
#include "net.h"
#include "net_io.h"
#include "outfile.h"
#include "safetensors.h"
#include "sample.h"
#include "stop.h"
#include "dp_step.h"
#include "train_diag.h"
#include "train_opts.h"

// Messages read "makemore train: ...", or "makemore: ..." under makemore.py's command line.
static const char *CMD = "train";
#define DEFAULT_INTERRUPT_PATH TRAIN_DEFAULT_INTERRUPT_PATH
// A finite-check of all parameters every this many steps (the loss and the small
// gradients are checked every step; see guard_step).
#define GUARD_FULL_EVERY 100

#define fail(status, ...) cmd_fail(CMD, status, __VA_ARGS__)

// Where a run without --out writes the checkpoint of a stop: the default name, or, when
// another run holds it or an earlier run's checkpoint is there, one with this pid.
static char interrupt_buf[64];
static const char *interrupt_path(void) { return interrupt_buf; }

// ---- sizes ---------------------------------------------------------------------------

// The model at batch B fits (net_check_sizes), or the run fails with exit 2; a note when
// it needs most of the memory that is free now.
static int check_run_sizes(const NetConfig *c, int B, char *msg, size_t len) {
    if (net_check_sizes(c, B, msg, len) != 0) return -1;
    double need = net_memory_bytes(c, B);
    long avail = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (avail > 0 && page > 0 && need > 0.8 * (double)avail * (double)page)
        say(CMD, "note: the model and its batch need %.1f GiB; %.1f GiB of memory is free now",
            need / (1 << 30), (double)avail * page / (1 << 30));
    return 0;
}

// ---- signals -------------------------------------------------------------------------

static int stdout_errno = EPIPE;  // why stdout failed (a stop request as SIGPIPE)

// "stdout is closed (EPIPE)", or "writing to stdout failed (No space left on device)".
static const char *stdout_what(void) {
    static char what[160];
    if (stdout_errno == EPIPE) return "stdout is closed (EPIPE)";
    snprintf(what, sizeof what, "writing to stdout failed (%s)", strerror(stdout_errno));
    return what;
}

static const char *stop_name(int sig) {
    static char stopped[200];
    snprintf(stopped, sizeof stopped, "stopped: %s", stdout_what());
    return sig == SIGINT ? "interrupted" : sig == SIGTERM ? "terminated"
           : sig == SIGHUP ? "hung up (SIGHUP)" : stopped;
}

// A stop's exit status: 128 + the signal; a write to stdout that failed otherwise than
// on a closed pipe (ENOSPC, EIO) is a failed write, 1, as the log's.
static int stop_status(int sig) { return sig == SIGPIPE && stdout_errno != EPIPE ? EXIT_RUNTIME : 128 + sig; }

// After a line to stdout: a failed write (a closed pipe, a full disk) asks the run to
// stop as a signal would, as SIGPIPE, the errno kept for the message.
static void stdout_check(void) {
    int e = cmd_stdout_errno();
    if (e && !stop_signal) stdout_errno = e, stop_signal = SIGPIPE;
}

// ---- the numerical guard -------------------------------------------------------------

static int float_finite(float x) {  // on the bits: immune to -ffinite-math-only
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x7f800000u) != 0x7f800000u;
}

// The guard is net_nonfinite. The small set is what every step checks (every gradient
// the fused step keeps: C, the biases, the batchnorms' gains and shifts); the weights are
// updated inside their GEMMs, so their gradients are never materialised: a non-finite one
// shows in the next step's loss, in the small gradients behind it, or in the full check of
// the parameters every GUARD_FULL_EVERY steps and before each save.

// ---- the run -------------------------------------------------------------------------

// The words file (a resumed run's with the checkpoint's vocabulary), or the run fails
// naming what is wrong with it.
static void load_dataset(Dataset *d, const char *path, int T, uint64_t split_seed,
                         const Vocab *fixed_vocab, const char *ckpt, int seq) {
    Err err;
    switch (seq ? dataset_load_makemore(d, path, T, split_seed, fixed_vocab, &err)
                : dataset_load(d, path, T, split_seed, fixed_vocab, &err)) {
    case DATASET_OK: return;
    case DATASET_VOCAB:
        fail(EXIT_RUNTIME, "%s (the vocabulary of %s; resume with the words file it was trained "
             "on)", err.msg, ckpt ? ckpt : "the checkpoint");
    case DATASET_TOO_LARGE:
        fail(EXIT_USAGE, "%s; lower --block or use fewer words", err.msg);
    default: fail(EXIT_RUNTIME, "%s", err.msg);
    }
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
    if (n->seq) {
        printf("data: %s: %d words, vocabulary %d, block %d; makemore.py's split (seed %llu): "
               "%d train / %d test words\n", path, d->words.n, d->vocab.V, c->T,
               (unsigned long long)ts->split_seed, s->n_words[0], s->n_words[2]);
        printf("model: %s (makemore.py's %s): n_layer %d, n_head %d, n_embd %d, n_embd2 %d; "
               "%zu parameters\n", net_arch_name(c->arch), net_arch_makemore_name(c->arch),
               c->layers, c->heads, c->E, c->H, n->num_params);
    } else {
        printf("data: %s: %d words, vocabulary %d; split (seed %llu): %d/%d/%d words, "
               "%d/%d/%d examples\n", path, d->words.n, d->vocab.V, (unsigned long long)ts->split_seed,
               s->n_words[0], s->n_words[1], s->n_words[2], s->train.n, s->val.n, s->test.n);
        printf("model: %s, %d layer%s, block %d, embd %d, hidden %d, batchnorm variance %s, %s "
               "statistics; %zu parameters\n", net_arch_name(c->arch), c->layers,
               c->layers == 1 ? "" : "s", c->T, c->E, c->H, c->bessel ? "unbiased (B-1)" : "biased (B)",
               c->bn_stats == BN_STATS_RUNNING ? "running" : "calibrated", n->num_params);
    }
    char lr[96];
    if (ts->lr2 == ts->lr || ts->decay_step == 0 || ts->decay_step >= ts->steps)
        snprintf(lr, sizeof lr, "lr %g", ts->lr);
    else snprintf(lr, sizeof lr, "lr %g then %g from step %ld", ts->lr, ts->lr2, ts->decay_step);
    if (c->optim == OPTIM_ADAMW)
        printf("schedule: %ld steps, batch %d, AdamW %s, weight decay %g, betas (%g, %g), eps %g, "
               "seed %llu\n", ts->steps, ts->batch, lr, ts->weight_decay, NET_ADAM_BETA1,
               NET_ADAM_BETA2, NET_ADAM_EPS, (unsigned long long)ts->seed);
    else
        printf("schedule: %ld steps, batch %d, %s, seed %llu\n", ts->steps, ts->batch, lr,
               (unsigned long long)ts->seed);
    fflush(stdout);
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
    if (train_opts_check_resume(o, c, ts, &err)) fail(EXIT_USAGE, "%s", err.msg);
    char msg[512];
    if (check_run_sizes(c, ts->batch, msg, sizeof msg) != 0)
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
    if (n->adam_m && loaded.adam_m) {  // AdamW's moments go on
        memcpy(n->adam_m, loaded.adam_m, n->num_params * sizeof(float));
        memcpy(n->adam_v, loaded.adam_v, n->num_params * sizeof(float));
    }
    net_free(&loaded);
    memcpy(rng->s, ts->rng, sizeof rng->s);
    if (train_opts_given(o, "--steps")) ts->steps = o->steps;
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

// The files a run appends to: --log and --diag's.
typedef struct {
    Log log;
    TrainDiag diag;
} Outs;

// The file whose write failed, or NULL.
static const Log *outs_failed(const Outs *out) {
    return out->log.failed ? &out->log : train_diag_failed(&out->diag);
}
static void outs_sync(Outs *out) {
    log_sync(&out->log);
    train_diag_sync(&out->diag);
}
static void outs_close(Outs *out) {
    log_close(&out->log);
    train_diag_close(&out->diag);
}

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
static void save_checkpoint(Saved *s, const char *path, const Net *n, const Vocab *v,
                            const TrainState *ts, Outs *out, const char *why) {
    char msg[256], k[1024];
    kept(k, sizeof k, s);
    if (net_nonfinite(n, 0, msg, sizeof msg)) {
        outs_close(out);
        fail(EXIT_RUNTIME, "%snot saving %s after step %ld: %s; %s", why, path, ts->step, msg, k);
    }
    if (dist_rank() != 0) return;  // DIST: rank 0 writes
    outs_sync(out);  // the logs on disk cover every step the checkpoint holds
    Err err;
    if (net_save(path, n, v, ts, &err) != 0) {
        outs_close(out);
        fail(EXIT_RUNTIME, "%s%s after step %ld; %s", why, err.msg, ts->step, k);
    }
    s->last_path = path;
    s->last_step = ts->step;
}

// The training failed numerically at step i: says where and what, and which checkpoint stays.
__attribute__((noreturn)) static void diverged(long i, float lr, const char *what,
                                               const Saved *s, Outs *out, int live) {
    if (live) fputs("\r\033[K", stderr);
    outs_close(out);
    if (s->last_step >= 0)
        fail(EXIT_RUNTIME, "training diverged at step %ld (lr %g): %s; stopped; the last "
             "good checkpoint, %s (step %ld), is kept", i, lr, what, s->last_path, s->last_step);
    fail(EXIT_RUNTIME, "training diverged at step %ld (lr %g): %s; stopped; no checkpoint "
         "was written (--save-every N keeps one)", i, lr, what);
}

// "1h02m03s", "2m03s", "3s".
static void hms(char *buf, size_t len, double seconds) {
    long s = seconds > 0 && seconds < 1e9 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600) snprintf(buf, len, "%ldh%02ldm%02lds", s / 3600, s / 60 % 60, s % 60);
    else if (s >= 60) snprintf(buf, len, "%ldm%02lds", s / 60, s % 60);
    else snprintf(buf, len, "%lds", s);
}

// The live progress line (a TTY's stderr): steps per second and the time left at that rate.
static void live_line(long step, long steps, float loss, double t0, long step0) {
    double el = now_seconds() - t0;
    double rate = el > 0 ? (double)(step - step0) / el : 0;
    char left[32];
    hms(left, sizeof left, rate > 0 ? (double)(steps - step) / rate : 0);
    fprintf(stderr, "\r\033[K  step %ld/%ld  loss %.4f  %.0f steps/s  %s left", step, steps,
            loss, rate, left);
}

// On a TTY, names a long phase on stderr until the next live_clear.
static void phase(int live, const char *what, int n) {
    if (live) fprintf(stderr, "\r\033[K  %s (%d examples)...", what, n);
}
static void live_clear(int live) {
    if (live) fputs("\r\033[K", stderr);
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
                    const TrainState *now, Outs *out, int live, int sig) {
    live_clear(live);
    char why[512] = "";
    const Log *failed = outs_failed(out);
    int log_failed = failed != NULL;
    if (log_failed)
        snprintf(why, sizeof why, "writing %s%s failed (%s) after step %ld of %ld; ",
                 failed == &out->log ? "the log " : "", failed->path, strerror(failed->err),
                 now->step, now->steps);
    save_checkpoint(saved, saved->path, n, &d->vocab, now, out, why);
    outs_close(out);
    char *cmd = o->resume_cmd ? strdup(o->resume_cmd) : train_opts_continue_command(o, saved->path);
    if (!cmd) cmd = strdup("(out of memory)");
    if (log_failed)
        say(CMD, "%scheckpoint written to %s; continue with: %s", why, saved->path, cmd);
    else
        say(CMD, "%s after step %ld of %ld; checkpoint written to %s; continue with: %s",
            stop_name(sig), now->step, now->steps, saved->path, cmd);
    free(cmd);
    return log_failed || !sig ? EXIT_RUNTIME : stop_status(sig);
}

// ---- makemore.py's behaviours (its command line, makemore_cli.c) ---------------------------

// A generator for step i's evaluation or samples, from the run's seed and the step alone:
// the training batches never depend on it, and a resumed run draws the same.
static Rng side_rng(const TrainState *ts, long i, uint64_t salt) {
    Rng r;
    rng_seed(&r, ts->seed ^ (salt * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)i * 0xd1b54a32d192ed03ULL));
    return r;
}

// makemore.py every eval_every steps: train and test loss as its evaluate() (batches of 100,
// 11 of them), and the best model by test loss saved to `best`.
static void makemore_eval(const TrainOpts *o, const Net *n, const Dataset *d, TrainState *ts,
                          long i, int live) {
    Rng er = side_rng(ts, i, 1);
    phase(live, "evaluating", 2200);
    double train = net_eval_makemore(n, &d->split.train, 100, 10, &er);
    double test = net_eval_makemore(n, &d->split.test, 100, 10, &er);
    live_clear(live);
    printf("step %ld train loss: %.17g test loss: %.17g\n", i, train, test);
    if (o->best && (ts->best_loss < 0 || test < ts->best_loss)) {
        printf("test loss %.17g is the best so far, saving model to %s\n", test, o->best);
        ts->best_loss = test;
        Err err;
        if (net_save_model(o->best, n, &d->vocab, ts->split_seed, &err) != 0)
            fail(EXIT_RUNTIME, "%s", err.msg);
    }
    stdout_check();
}

// ---- train --eval-every ----------------------------------------------------------------

// train --eval-every (makemore.py's command line has its own evaluation: makemore_eval).
static int eval_mode(const TrainOpts *o) { return o->eval_every && !o->makemore_lines; }

// Examples of the training split a mid-run evaluation calibrates batchnorm on (the first
// ones: the split is shuffled by words); the run's end calibrates on all of them. The
// calibration runs the layers below each batchnorm again (net_calibrate), so its cost grows
// with the depth's square: at 8192 examples a 4-layer mlp's evaluation costs about as much
// as 350 of its steps, and the statistics' standard error is 1% of each unit's spread.
#define EVAL_CALIBRATE 8192

// The held-out split: val, or makemore.py's test (its split has no val).
static const Examples *held_out(const Net *n, const Dataset *d) {
    return n->seq ? &d->split.test : &d->split.val;
}

// The held-out loss after step i on the inference path (net_infer.c): batchnorm's
// calibrated statistics first calibrated on EVAL_CALIBRATE training examples (the
// training forward never reads them: the steps' bits do not change); one line.
static double held_out_loss(Net *n, const Dataset *d, const TrainState *ts, long i, int live) {
    if (!n->seq && n->cfg.bn_stats == BN_STATS_CALIBRATE && n->cfg.norm == NORM_BATCHNORM) {
        Examples sub = d->split.train;
        sub.n = sub.n < EVAL_CALIBRATE ? sub.n : EVAL_CALIBRATE;
        phase(live, "calibrating batchnorm", sub.n);
        net_calibrate(n, &sub);
    }
    const Examples *ex = held_out(n, d);
    phase(live, n->seq ? "evaluating test" : "evaluating val", ex->n);
    double loss = net_eval_loss(n, ex);
    live_clear(live);
    printf("%7ld/%7ld: %s %.4f%s\n", i, ts->steps, n->seq ? "test" : "val", loss,
           ts->best_loss < 0 || loss < ts->best_loss ? " (the best so far)" : "");
    stdout_check();
    return loss;
}

// After step i's log line: a held-out loss below the best so far becomes the best, and the
// run's state goes to --out (resumable from there), as makemore.py keeps its best model.
static void keep_best(const TrainOpts *o, const Net *n, const Dataset *d, TrainState *ts,
                      const Rng *rng, long i, double loss, Saved *saved, Outs *out) {
    if (ts->best_loss >= 0 && !(loss < ts->best_loss)) return;
    ts->best_loss = loss;
    if (!o->best) return;
    TrainState now = *ts;
    now.step = i + 1;
    now.calibrated = 1;  // what the evaluation used (the end calibrates on all examples)
    memcpy(now.rng, rng->s, sizeof now.rng);
    save_checkpoint(saved, o->best, n, &d->vocab, &now, out, "");
}

// makemore.py's print_samples: num words, sorted as in train, in test or new.
static void makemore_sample_print(const Net *n, const Dataset *d, Rng *r, int num, int top_k) {
    static char words[256][MAX_WORD_LEN + 1];
    if (num > 256) num = 256;
    if (sample_seq_words(n, &d->vocab, r, num, 1.0f, top_k, words) != 0)
        fail(EXIT_RUNTIME, "sampling: a logit is not finite (the model's forward overflows)");
    WordSet tr, te;  // the words are in the split's order: train, then test
    int ntr = d->split.n_words[0];
    wordset_build(&tr, d->words.w, ntr);
    wordset_build(&te, d->words.w + ntr, d->words.n - ntr);
    int kind[256];
    for (int k = 0; k < num; k++) kind[k] = wordset_has(&tr, words[k]) ? 0 : wordset_has(&te, words[k]) ? 1 : 2;
    static const char *const DESC[3] = {"in train", "in test", "new"};
    printf("--------------------------------------------------------------------------------\n");
    for (int g = 0; g < 3; g++) {
        int count = 0;
        for (int k = 0; k < num; k++) count += kind[k] == g;
        printf("%d samples that are %s:\n", count, DESC[g]);
        for (int k = 0; k < num; k++)
            if (kind[k] == g) printf("%s\n", words[k]);
    }
    printf("--------------------------------------------------------------------------------\n");
    wordset_free(&tr);
    wordset_free(&te);
    stdout_check();
}

static void makemore_samples(const Net *n, const Dataset *d, const TrainState *ts, long i, int num,
                             int top_k) {
    Rng r = side_rng(ts, i, 2);
    makemore_sample_print(n, d, &r, num, top_k);  // makemore.py's top-k, as its print_samples
}

// Step i's line of --log: "step,loss", and with --eval-every ",val" (empty between
// evaluations).
static void log_line(const TrainOpts *o, Log *log, long i, float loss, double val) {
    if (!log->f || log->failed) return;
    int w = !eval_mode(o) ? fprintf(log->f, "%ld,%.9g\n", i, (double)loss)
            : isnan(val) ? fprintf(log->f, "%ld,%.9g,\n", i, (double)loss)
                         : fprintf(log->f, "%ld,%.9g,%.9g\n", i, (double)loss, val);
    if (w < 0) log_error(log);
}

static void train_loop(const TrainOpts *o, Net *n, Dataset *d, TrainState *ts, Rng *rng,
                       Saved *saved, Outs *out, int live, int *stopped) {
    long step0 = ts->step;
    double t0 = now_seconds(), last_live = t0;
    char what[256];
    TrainDiag *diag = &out->diag;
    for (; ts->step < ts->steps; ts->step++) {
        long i = ts->step;
        float lr = ts->decay_step == 0 || i < ts->decay_step ? ts->lr : ts->lr2;  // 0: no decay
        float loss;
        int stop, due = train_diag_due(diag, i);
        if (due) train_diag_before(diag, n);
        double ts0 = now_seconds();
        if (dist_size() > 1) {  // DIST: stop on the signal every rank agreed on (one caught
            // after this step's allreduce waits for the next step); rank 0's failed log
            // counts as a stop request, so that no rank is left waiting in an allreduce
            stop = stop_signal ? stop_signal : out->log.failed ? SIGPIPE : 0;
            loss = net_dp_train_step(n, &d->split.train, lr, ts->weight_decay, i + 1, rng, &stop);
        } else {
            loss = n->cfg.optim == OPTIM_ADAMW
                       ? net_train_step_adamw(n, &d->split.train, lr, ts->weight_decay, i + 1, rng)
                       : net_train_step(n, &d->split.train, lr, rng);
            stop = stop_signal;
        }
        double step_ms = 1e3 * (now_seconds() - ts0);
        if (!float_finite(loss)) {
            snprintf(what, sizeof what, "the loss is %g", (double)loss);
            diverged(i, lr, what, saved, out, live);
        }
        if (net_nonfinite(n, 1, what, sizeof what) ||
            ((i + 1) % GUARD_FULL_EVERY == 0 && net_nonfinite(n, 0, what, sizeof what)))
            diverged(i, lr, what, saved, out, live);
        if (diag->dir) train_diag_after(diag, n, i, loss, lr, due);
        if (o->makemore_lines ? i % 10 == 0 : i % o->print_every == 0) {
            if (live) fputs("\r\033[K", stderr);
            if (o->makemore_lines)  // makemore.py's line
                printf("step %ld | loss %.4f | step time %.2fms\n", i, loss, step_ms);
            else
                printf("%7ld/%7ld: %.4f\n", i, ts->steps, loss);
            stdout_check();
        }
        double val = NAN;
        int eval = o->eval_every && i > 0 && i % o->eval_every == 0;
        if (eval && eval_mode(o)) {
            val = held_out_loss(n, d, ts, i, live);
            if (diag->dir) train_diag_val(diag, i, val);
        } else if (eval) {
            makemore_eval(o, n, d, ts, i, live);
        }
        log_line(o, &out->log, i, loss, val);
        if (!isnan(val)) keep_best(o, n, d, ts, rng, i, val, saved, out);
        if (o->sample_every && i > 0 && i % o->sample_every == 0) makemore_samples(n, d, ts, i, 10, o->top_k);
        if (live && (i & 63) == 0 && now_seconds() - last_live > 0.25) {
            last_live = now_seconds();
            live_line(i + 1, ts->steps, loss, t0, step0);
        }
        int last = i + 1 == ts->steps, failed = outs_failed(out) != NULL;
        if (!last && (stop || failed || (o->save_every && (i + 1) % o->save_every == 0))) {
            TrainState now = *ts;
            now.step = i + 1;
            memcpy(now.rng, rng->s, sizeof now.rng);
            if (stop || failed) {
                if (diag->dir) train_diag_end(diag, i);
                *stopped = stop_run(o, saved, n, d, &now, out, live, failed ? 0 : stop);
                return;
            }
            save_checkpoint(saved, saved->path, n, &d->vocab, &now, out, "");
        }
    }
    if (diag->dir && ts->step > step0) train_diag_end(diag, ts->step - 1);
    double elapsed = now_seconds() - t0;
    live_clear(live);
    long done = ts->step - step0;
    if (done > 0)
        printf("time: %.2f s, %.2f us/step (%.0f steps/s)\n", elapsed, 1e6 * elapsed / done,
               done / elapsed);
}

// Everything a run needs before its first step: the model (new, or the resumed
// checkpoint's, with activations for this rank's rows), its words file, the rng, the
// header, the GEMM plan and the log.
typedef struct {
    Net n;
    Dataset d;
    TrainState ts;
    Rng rng;
    Saved saved;
    Outs out;
} Run;

static void run_setup(Run *r, const TrainOpts *o, int live) {
    if (live) fputs("  loading and splitting the words file...", stderr);
    if (o->resume) {
        Vocab ckpt_vocab;
        resume_load(o, &r->n, &ckpt_vocab, &r->ts, &r->rng);
        load_dataset(&r->d, o->data, r->n.cfg.T, r->ts.split_seed, &ckpt_vocab, o->resume, r->n.seq);
    } else {
        r->ts = (TrainState){.step = 0, .steps = o->steps, .decay_step = o->decay_step,
                             .lr = o->lr, .lr2 = o->lr2, .weight_decay = o->weight_decay,
                             .batch = o->batch, .seed = o->seed, .split_seed = o->split_seed,
                             .ranks = dist_size(), .best_loss = -1};
        const int seq = net_arch_is_seq((NetArch)o->arch);
        load_dataset(&r->d, o->data, o->block, o->split_seed, NULL, NULL, seq);
        NetConfig cfg = train_opts_model(o, r->d.vocab.V);
        if (seq) cfg.T = r->d.split.train.T;  // makemore.py's block: the longest word + 1
        Err err;
        if (net_config_check(&cfg, &err)) fail(EXIT_USAGE, "%s", err.msg);
        char msg[512];
        if (check_run_sizes(&cfg, o->batch, msg, sizeof msg) != 0) fail(EXIT_USAGE, "%s", msg);
        net_alloc(&r->n, &cfg, o->batch / dist_size());  // DIST: this rank's rows
        rng_seed(&r->rng, o->seed);
        net_init(&r->n, &r->rng, 0);
    }
    live_clear(live);
    check_fingerprint(o, &r->d.words, &r->ts);
    // --eval-every: --out is the best model's; a stop's checkpoint goes to the default path
    const char *ckpt = o->out && !eval_mode(o) ? o->out : interrupt_path();
    r->saved = (Saved){ckpt, o->resume, o->resume ? r->ts.step : -1};
    print_header(o->data, &r->d, &r->n, &r->ts, o->threads);
    train_gemm_setup(&r->n, &r->d.split.train, o->gemm, o->plan, o->resume != NULL, r->ts.gemm_plan,
                     sizeof r->ts.gemm_plan);
    if (o->resume) printf("resuming %s at step %ld of %ld\n", o->resume, r->ts.step, r->ts.steps);
    stdout_check();
    r->out.log = (Log){NULL, o->log, 0, 0};
    Err err;
    char note[512] = "";
    const char *header = eval_mode(o) ? LOG_HEADER_VAL : LOG_HEADER;
    if (o->log && (o->resume ? log_resume(&r->out.log, "--log", o->log, header, r->ts.step, note,
                                          sizeof note, &err)
                             : log_create(&r->out.log, "--log", o->log, header, &err)))
        fail(EXIT_RUNTIME, "%s", err.msg);
    if (note[0]) say(CMD, "%s", note);
    if (o->diag && train_diag_open(&r->out.diag, o->diag, o->diag_every, &r->n,
                                   o->resume ? r->ts.step : 0, &err))
        fail(EXIT_RUNTIME, "%s", err.msg);
}

static void run_free(Run *r) {
    train_diag_free(&r->out.diag);
    dataset_free(&r->d);
    net_free(&r->n);
}

static void print_samples(const Run *r, int count) {
    WordSet train_set, heldout_set;
    int ntr = r->d.split.n_words[0];
    wordset_build(&train_set, r->d.words.w, ntr);
    wordset_build(&heldout_set, r->d.words.w + ntr, r->d.words.n - ntr);
    Rng srng;
    rng_seed(&srng, r->ts.seed + 10);
    printf("samples:\n");
    sample_print(stdout, &r->n, &r->d.vocab, &srng, count, 1.0f, 0, &train_set, &heldout_set);
    wordset_free(&train_set);
    wordset_free(&heldout_set);
    stdout_check();
}

// After the last step: batchnorm calibrated (when the model keeps calibrated statistics),
// the three losses, the final checkpoint, samples. A signal from here on lets calibration
// and the final save finish (seconds), then stops. Returns the exit status.
static int run_finish(Run *r, const TrainOpts *o, int live) {
    Net *n = &r->n;
    const Split *s = &r->d.split;
    if (!n->seq && n->cfg.bn_stats == BN_STATS_CALIBRATE) {
        phase(live, "calibrating batchnorm", s->train.n);
        net_calibrate(n, &s->train);
    }
    double loss[3];
    const Examples *sets[3] = {&s->train, &s->val, &s->test};
    for (int k = 0; k < 3; k++) {
        if (n->seq && k == 1) continue;  // makemore.py's split has no val
        phase(live, k == 0 ? "evaluating train" : k == 1 ? "evaluating val" : "evaluating test", sets[k]->n);
        loss[k] = net_eval_loss(n, sets[k]);
    }
    live_clear(live);
    if (n->seq) printf("train %.4f\ntest %.4f\n", loss[0], loss[2]);
    else printf("train %.4f\nval %.4f\ntest %.4f\n", loss[0], loss[1], loss[2]);
    stdout_check();
    memcpy(r->ts.rng, r->rng.s, sizeof r->ts.rng);
    r->ts.calibrated = 1;
    const double held = n->seq ? loss[2] : loss[1];
    if (eval_mode(o) && o->out && !stop_signal) {  // --out keeps the best by held-out loss
        if (r->ts.best_loss >= 0 && !(held < r->ts.best_loss)) {
            printf("kept %s: the best model, %s loss %.4f (the final one's: %.4f)\n", o->out,
                   n->seq ? "test" : "val", r->ts.best_loss, held);
        } else {
            r->ts.best_loss = held;
            save_checkpoint(&r->saved, o->out, n, &r->d.vocab, &r->ts, &r->out, "");
            printf("saved %s (the best %s loss)\n", o->out, n->seq ? "test" : "val");
        }
        stdout_check();
    } else if (o->out || stop_signal) {  // stopped without --out: the work goes to the default path
        save_checkpoint(&r->saved, r->saved.path, n, &r->d.vocab, &r->ts, &r->out, "");
        printf("saved %s\n", r->saved.path);
        stdout_check();
    }
    if (stop_signal) {
        say(CMD, "%s after training finished; the model is saved to %s", stop_name(stop_signal),
            r->saved.path);
        return stop_status(stop_signal);
    }
    if (o->samples > 0 && o->makemore_lines) {
        Rng sr = side_rng(&r->ts, r->ts.step, 3);
        makemore_sample_print(n, &r->d, &sr, o->samples, o->top_k);
    } else if (o->samples > 0) {
        print_samples(r, o->samples);
    }
    stop_signals_catch(0);
    if (stop_signal == SIGPIPE) {
        say(CMD, "%s while printing the samples; the model is %s", stdout_what(),
            o->out ? "saved" : "not saved (no --out)");
        return stop_status(SIGPIPE);
    }
    return 0;
}

// DIST: what P ranks change in the flags: each takes batch/P rows of every batch, threads
// default to the cores of this machine over its ranks, and rank 0 alone writes the log.
static void dist_adjust(TrainOpts *o) {
    if (dist_size() == 1) return;
    if (!o->resume && o->batch % dist_size() != 0)
        fail(EXIT_USAGE, "--batch %d is not a multiple of the %d MPI ranks (each rank takes "
             "batch/ranks rows; allowed: a multiple of %d)", o->batch, dist_size(), dist_size());
    if (!train_opts_given(o, "--threads"))
        o->threads = o->threads / dist_local_size() > 0 ? o->threads / dist_local_size() : 1;
    if (dist_rank() != 0) o->log = NULL;
    if (o->diag)
        fail(EXIT_USAGE, "--diag with %d MPI ranks: its statistics would be one rank's share of "
             "the batch; run --diag in one process (without mpirun)", dist_size());
}

// Before any work: no output is an input, and every output is claimed (outfile.h: new, or
// provably ours; locked against a second run). Rank 0 alone writes, so it alone claims.
static void claim_outputs(const TrainOpts *o) {
    if (dist_rank() != 0) return;
    Err err;
    if (o->out && outfile_same(o->data, o->out))
        fail(EXIT_USAGE, "--out %s is the words file --data %s", o->out, o->data);
    if (o->log && (outfile_same(o->log, o->data) || (o->out && outfile_same(o->log, o->out)) ||
                   (o->resume && outfile_same(o->log, o->resume))))
        fail(EXIT_USAGE, "--log %s is also the words file, --out or --resume (allowed: a file "
             "of its own)", o->log);
    if (o->plan && (outfile_same(o->plan, o->data) || (o->out && outfile_same(o->plan, o->out)) ||
                    (o->log && outfile_same(o->plan, o->log))))
        fail(EXIT_USAGE, "--plan %s is also the words file, --out or --log (allowed: a file of "
             "its own)", o->plan);
    if (o->diag && (outfile_same(o->diag, o->data) || (o->out && outfile_same(o->diag, o->out)) ||
                    (o->log && outfile_same(o->diag, o->log))))
        fail(EXIT_USAGE, "--diag %s is also the words file, --out or --log (allowed: a directory "
             "of its own)", o->diag);
    if ((o->out && outfile_claim("--out", o->out, OUT_MODEL, &err)) ||
        (o->best && outfile_claim(NULL, o->best, OUT_MODEL, &err)) ||
        (o->log && outfile_claim("--log", o->log, OUT_LOG, &err)) ||
        (o->plan && outfile_claim("--plan", o->plan, OUT_PLAN, &err)) ||
        (o->diag && train_diag_claim(o->diag, &err)))
        fail(EXIT_RUNTIME, "%s", err.msg);
    if (o->out && !eval_mode(o)) return;  // --eval-every: a stop's checkpoint is not --out's
    snprintf(interrupt_buf, sizeof interrupt_buf, "%s", DEFAULT_INTERRUPT_PATH);
    struct stat st;
    if (lstat(interrupt_buf, &st) == 0 || outfile_lock(NULL, interrupt_buf, &err) != 0) {
        snprintf(interrupt_buf, sizeof interrupt_buf, "makemore-interrupted-%ld.safetensors",
                 (long)getpid());
        if (outfile_claim(NULL, interrupt_buf, OUT_MODEL, &err) != 0) {
            say(CMD, "note: an interrupted run could not be checkpointed here (%s); give --out "
                "FILE to keep one", err.msg);
            interrupt_buf[0] = '\0';
        }
    }
}

int train_main(int argc, char **argv) {
    stop_signals_catch(1);  // first: no signal may leave a lock or a temp file behind
    static TrainOpts o;
    Err err;
    int parsed = train_opts_parse(&o, argc, argv, &err);  // DIST: before MPI (dist.h)
    if (parsed != FLAGS_OK && dist_launch_rank() > 0) return parsed == FLAGS_HELP ? 0 : EXIT_USAGE;
    if (parsed == FLAGS_HELP) {
        train_usage();
        return cmd_stdout_done(CMD, 0);
    }
    if (parsed != FLAGS_OK) fail(EXIT_USAGE, "%s", err.msg);
    return train_run(&o);
}

int train_run(TrainOpts *opts) {
    TrainOpts o = *opts;
    if (o.resume_cmd) CMD = NULL;  // makemore.py's form
    if (eval_mode(&o)) o.best = o.out;  // the best model by held-out loss (makemore.py's model.pt)
    stop_signals_catch(1);
    dist_init();  // DIST: one of P ranks under mpirun, else nothing
    dist_adjust(&o);
    claim_outputs(&o);
    threads_set(o.threads);
    const int live = isatty(STDERR_FILENO);
    static Run r;  // a Net is large: not on the stack
    run_setup(&r, &o, live);
    if (stop_signal && stop_signal != SIGPIPE) {  // caught while loading: nothing was trained
        live_clear(live);
        say(CMD, "%s before training started; nothing was written", stop_name(stop_signal));
        run_free(&r);
        return 128 + stop_signal;
    }
    int stopped = -1;
    train_loop(&o, &r.n, &r.d, &r.ts, &r.rng, &r.saved, &r.out, live, &stopped);
    if (stopped >= 0) {
        run_free(&r);
        return stopped;
    }
    outs_close(&r.out);
    const Log *failed = outs_failed(&r.out);
    if (failed) {  // the last lines or the final flush failed
        char k[1024];
        kept(k, sizeof k, &r.saved);
        fail(EXIT_RUNTIME, "writing %s%s failed (%s) at the end of training; %s",
             failed == &r.out.log ? "the log " : "", failed->path, strerror(failed->err), k);
    }
    if (dist_size() > 1) {  // DIST: rank 0 calibrates, evaluates, saves and samples alone
        if (!dist_same_everywhere(r.n.params, r.n.num_params))
            fail(EXIT_RUNTIME, "the ranks' parameters differ after training (an MPI reduction "
                 "that is not the same on every rank); not saving");
        if (dist_rank() != 0) {
            run_free(&r);
            return 0;
        }
    }
    int status = run_finish(&r, &o, live);
    run_free(&r);
    return status;
}
