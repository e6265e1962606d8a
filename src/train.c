// train.c: `makemore train`: the lecture's exercise-4 loop (SGD, lr step decay), its
// progress report, checkpoints (periodic, on SIGINT/SIGTERM, final) and resume;
// then batchnorm calibration, split losses and samples.
#include "train.h"

#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blas_core.h"
#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "data.h"
#include "model.h"
#include "sample.h"

typedef struct {
    const char *data, *out, *log, *resume;
    int embd, hidden, block, batch, bessel, threads, samples, print_every;
    long steps, decay_step, save_every;
    float lr, lr2;
    uint64_t seed, split_seed;
    int schedule_flags;  // how many model/schedule flags were given (conflict with --resume)
} TrainOpts;

static const char *const BN_VAR_CHOICES[] = {"unbiased", "biased", NULL};

static void train_usage(void) {
    printf(
        "usage: makemore train [flags]\n"
        "Trains the lecture's MLP (embedding -> linear -> batchnorm -> tanh -> linear ->\n"
        "cross-entropy) with the fused hand-written backward, then calibrates batchnorm,\n"
        "prints train/val/test loss and samples.\n\n"
        "  --data FILE        words, one per line (default data/names.txt)\n"
        "  --block T          context length (default 3; 1..64)\n"
        "  --embd E           embedding width (default 10)\n"
        "  --hidden H         hidden width (default 200)\n"
        "  --batch B          batch size (default 32; >= 2 with --bn-var unbiased)\n"
        "  --bn-var MODE      unbiased (B-1, the lecture) or biased (B, nn.BatchNorm1d)\n"
        "  --steps N          training steps (default 200000)\n"
        "  --lr X             learning rate (default 0.1)\n"
        "  --lr2 X            learning rate from --decay-step on (default 0.01)\n"
        "  --decay-step N     step of the decay (default 100000)\n"
        "  --seed S           initialisation and batch sampling (default 2147483647)\n"
        "  --split-seed S     Python random.seed of the 80/10/10 split (default 42)\n"
        "  --threads N        threads for BLAS and kernels (default: all cores)\n"
        "  --print-every N    loss line every N steps (default 10000)\n"
        "  --log FILE         write step,loss CSV (every step)\n"
        "  --out FILE         save the trained model (safetensors) there\n"
        "  --save-every N     also checkpoint to --out every N steps\n"
        "  --resume FILE      continue a checkpointed run (same batches, same schedule)\n"
        "  --samples N        names to sample at the end (default 20)\n"
        "On SIGINT/SIGTERM the current step finishes, a checkpoint is written (to --out, or\n"
        "makemore-interrupted.safetensors) and the run can be resumed with --resume.\n");
}

static void train_parse(TrainOpts *o, int argc, char **argv) {
    *o = (TrainOpts){.data = "data/names.txt", .embd = 10, .hidden = 200, .block = 3,
                     .batch = 32, .bessel = 1, .threads = omp_get_num_procs(), .samples = 20,
                     .print_every = 10000, .steps = 200000, .decay_step = 100000,
                     .lr = 0.1f, .lr2 = 0.01f, .seed = 2147483647u, .split_seed = 42};
    Cli c;
    cli_init(&c, "train", argc, argv);
    int sched = 0;
    while (cli_next(&c)) {
        if (cli_is(&c, "--help", 0) || cli_is(&c, "-h", 0)) { train_usage(); exit(0); }
        else if (cli_is(&c, "--data", 1)) o->data = c.value;
        else if (cli_is(&c, "--block", 1)) { o->block = (int)cli_long(&c, 1, 64); sched++; }
        else if (cli_is(&c, "--embd", 1)) { o->embd = (int)cli_long(&c, 1, 4096); sched++; }
        else if (cli_is(&c, "--hidden", 1)) { o->hidden = (int)cli_long(&c, 1, 16384); sched++; }
        else if (cli_is(&c, "--batch", 1)) { o->batch = (int)cli_long(&c, 1, 1 << 20); sched++; }
        else if (cli_is(&c, "--bn-var", 1)) { o->bessel = cli_choice(&c, BN_VAR_CHOICES) == 0; sched++; }
        else if (cli_is(&c, "--steps", 1)) { o->steps = cli_long(&c, 0, 1000000000L); sched++; }
        else if (cli_is(&c, "--lr", 1)) { o->lr = (float)cli_double(&c, 0.0, 1e6); sched++; }
        else if (cli_is(&c, "--lr2", 1)) { o->lr2 = (float)cli_double(&c, 0.0, 1e6); sched++; }
        else if (cli_is(&c, "--decay-step", 1)) { o->decay_step = cli_long(&c, 0, 1000000000L); sched++; }
        else if (cli_is(&c, "--seed", 1)) { o->seed = cli_u64(&c); sched++; }
        else if (cli_is(&c, "--split-seed", 1)) { o->split_seed = cli_u64(&c); sched++; }
        else if (cli_is(&c, "--threads", 1)) o->threads = (int)cli_long(&c, 1, 1024);
        else if (cli_is(&c, "--print-every", 1)) o->print_every = (int)cli_long(&c, 1, 1000000000L);
        else if (cli_is(&c, "--log", 1)) o->log = c.value;
        else if (cli_is(&c, "--out", 1)) o->out = c.value;
        else if (cli_is(&c, "--save-every", 1)) o->save_every = cli_long(&c, 1, 1000000000L);
        else if (cli_is(&c, "--resume", 1)) o->resume = c.value;
        else if (cli_is(&c, "--samples", 1)) o->samples = (int)cli_long(&c, 0, 100000);
        else cli_unknown(&c);
    }
    o->schedule_flags = sched;
    if (o->resume && sched)
        cli_fail(&c, "--resume takes the model and schedule from the checkpoint; drop the "
                     "model/schedule flags (--block --embd --hidden --batch --bn-var --steps "
                     "--lr --lr2 --decay-step --seed --split-seed)");
    if (o->bessel && o->batch < 2)
        cli_fail(&c, "--batch: %d is too small for --bn-var unbiased (divides by B-1; allowed: "
                     ">= 2, or use --bn-var biased)", o->batch);
    if (o->save_every && !o->out) cli_fail(&c, "--save-every needs --out FILE");
    if ((long)o->block * o->embd > 1 << 20)
        cli_fail(&c, "--block x --embd = %ld is too large (allowed: <= 1048576)", (long)o->block * o->embd);
}

// ---- signals -------------------------------------------------------------------------

static volatile sig_atomic_t stop_signal = 0;
static void on_signal(int sig) { stop_signal = sig; }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

// ---- progress ------------------------------------------------------------------------

static void live_line(long step, long steps, float loss, double t0, long step0) {
    double el = now_seconds() - t0;
    double rate = el > 0 ? (double)(step - step0) / el : 0;
    double eta = rate > 0 ? (double)(steps - step) / rate : 0;
    fprintf(stderr, "\r  step %ld/%ld  loss %.4f  %.0f steps/s  ETA %.0f s   ", step, steps,
            loss, rate, eta);
}

static void save_or_die(const char *path, const Model *m, const Vocab *v, const TrainState *ts) {
    Err err;
    for (size_t i = 0; i < m->num_params; i++)
        if (!isfinite(m->params_memory[i]))
            die(EXIT_RUNTIME, "not saving %s: parameter %zu is not finite", path, i);
    if (checkpoint_save(path, m, v, ts, &err) != 0) die(EXIT_RUNTIME, "%s", err.msg);
}

// ---- the run -------------------------------------------------------------------------

typedef struct {
    Words words;
    Vocab vocab;
    Split split;
} Dataset;

static void dataset_load(Dataset *d, const char *path, int T, uint64_t split_seed,
                         const Vocab *fixed_vocab) {
    Err err;
    if (words_load(&d->words, path, &err) != 0) die(EXIT_RUNTIME, "%s", err.msg);
    if (fixed_vocab) {
        d->vocab = *fixed_vocab;
        if (vocab_check(&d->vocab, &d->words, path, &err) != 0) die(EXIT_RUNTIME, "%s", err.msg);
    } else {
        vocab_build(&d->vocab, &d->words);
    }
    if (split_build(&d->split, &d->words, &d->vocab, T, split_seed, &err) != 0)
        die(EXIT_RUNTIME, "%s", err.msg);
}

static void dataset_free(Dataset *d) {
    split_free(&d->split);
    words_free(&d->words);
}

static void print_header(const char *path, const Dataset *d, const Model *m, const TrainState *ts,
                         int threads) {
    char blas[160];
    blas_describe(blas, sizeof blas);
    const Config *c = &m->cfg;
    const Split *s = &d->split;
    printf("makemore train: %s; %d thread%s\n", blas, threads, threads == 1 ? "" : "s");
    printf("data: %s: %d words, vocabulary %d; split (seed %llu): %d/%d/%d words, "
           "%d/%d/%d examples\n", path, d->words.n, d->vocab.V, (unsigned long long)ts->split_seed,
           s->n_words[0], s->n_words[1], s->n_words[2], s->train.n, s->val.n, s->test.n);
    printf("model: block %d, embd %d, hidden %d, batchnorm variance %s; %zu parameters\n",
           c->T, c->E, c->H, c->bessel ? "unbiased (B-1)" : "biased (B)", m->num_params);
    printf("schedule: %ld steps, batch %d, lr %g then %g from step %ld, seed %llu\n", ts->steps,
           ts->batch, ts->lr, ts->lr2, ts->decay_step, (unsigned long long)ts->seed);
    fflush(stdout);
}

int train_main(int argc, char **argv) {
    TrainOpts o;
    train_parse(&o, argc, argv);
    threads_set(o.threads);

    Model m;
    Vocab ckpt_vocab;
    TrainState ts;
    Rng rng;
    Dataset d;
    if (o.resume) {
        Err err;
        int has_ts = 0;
        Model loaded;
        if (checkpoint_load(&loaded, &ckpt_vocab, &ts, &has_ts, o.resume, 1, &err) != 0)
            die(EXIT_RUNTIME, "%s", err.msg);
        if (!has_ts)
            die(EXIT_USAGE, "%s is a model file without a training state; it cannot be resumed",
                o.resume);
        model_alloc(&m, &loaded.cfg, ts.batch);  // activations for the run's batch size
        memcpy(m.params_memory, loaded.params_memory, m.num_params * sizeof(float));
        memcpy(m.bnmean, loaded.bnmean, (size_t)m.cfg.H * sizeof(float));
        memcpy(m.bnvar, loaded.bnvar, (size_t)m.cfg.H * sizeof(float));
        model_free(&loaded);
        memcpy(rng.s, ts.rng, sizeof rng.s);
        dataset_load(&d, o.data, m.cfg.T, ts.split_seed, &ckpt_vocab);
        printf("resuming %s at step %ld of %ld\n", o.resume, ts.step, ts.steps);
    } else {
        ts = (TrainState){.step = 0, .steps = o.steps, .decay_step = o.decay_step, .lr = o.lr,
                          .lr2 = o.lr2, .batch = o.batch, .seed = o.seed,
                          .split_seed = o.split_seed};
        dataset_load(&d, o.data, o.block, o.split_seed, NULL);
        Config cfg = {.V = d.vocab.V, .T = o.block, .E = o.embd, .H = o.hidden, .bessel = o.bessel};
        model_alloc(&m, &cfg, o.batch);
        rng_seed(&rng, o.seed);
        model_init_weights(&m, &rng);
    }
    print_header(o.data, &d, &m, &ts, o.threads);

    FILE *log = NULL;
    if (o.log) {
        log = fopen(o.log, o.resume ? "a" : "w");
        if (!log) die(EXIT_RUNTIME, "cannot write the log %s: %m", o.log);
        if (!o.resume) fprintf(log, "step,loss\n");
    }
    install_signals();
    const int live = isatty(STDERR_FILENO);
    const char *ckpt_path = o.out ? o.out : "makemore-interrupted.safetensors";

    long step0 = ts.step;
    double t0 = now_seconds(), last_live = t0;
    for (; ts.step < ts.steps; ts.step++) {
        long i = ts.step;
        float lr = i < ts.decay_step ? ts.lr : ts.lr2;
        float loss = model_train_step(&m, &d.split.train, lr, &rng);
        if (!isfinite(loss)) {
            if (live) fputc('\n', stderr);
            die(EXIT_RUNTIME, "training diverged at step %ld: the loss is %f (lr %g); %s", i,
                loss, lr, o.save_every ? "the last periodic checkpoint stays as it was" : "nothing saved");
        }
        if (log) fprintf(log, "%ld,%.6f\n", i, loss);
        if (i % o.print_every == 0) {
            if (live) fputs("\r\033[K", stderr);
            printf("%7ld/%7ld: %.4f\n", i, ts.steps, loss);
            fflush(stdout);
        }
        if (live && (i & 63) == 0 && now_seconds() - last_live > 0.25) {
            last_live = now_seconds();
            live_line(i + 1, ts.steps, loss, t0, step0);
        }
        int last = i + 1 == ts.steps;
        if (stop_signal || (o.save_every && (i + 1) % o.save_every == 0 && !last)) {
            TrainState now = ts;
            now.step = i + 1;
            memcpy(now.rng, rng.s, sizeof now.rng);
            save_or_die(ckpt_path, &m, &d.vocab, &now);
            if (stop_signal) {
                if (live) fputs("\r\033[K", stderr);
                fprintf(stderr, "makemore: %s after step %ld; checkpoint written to %s; continue "
                        "with: makemore train --data %s --resume %s\n",
                        stop_signal == SIGINT ? "interrupted" : "terminated", i + 1, ckpt_path,
                        o.data, ckpt_path);
                if (log) fclose(log);
                return 128 + stop_signal;
            }
        }
    }
    double elapsed = now_seconds() - t0;
    if (live) fputs("\r\033[K", stderr);
    if (log && fclose(log) != 0) die(EXIT_RUNTIME, "writing the log %s failed", o.log);
    long done = ts.step - step0;
    if (done > 0)
        printf("time: %.2f s, %.2f us/step (%.0f steps/s)\n", elapsed, 1e6 * elapsed / done,
               done / elapsed);

    model_calibrate(&m, &d.split.train);
    printf("train %.4f\nval %.4f\ntest %.4f\n", model_eval_loss(&m, &d.split.train),
           model_eval_loss(&m, &d.split.val), model_eval_loss(&m, &d.split.test));
    if (o.out) {
        memcpy(ts.rng, rng.s, sizeof ts.rng);
        ts.calibrated = 1;
        save_or_die(o.out, &m, &d.vocab, &ts);
        printf("saved %s\n", o.out);
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
    }
    dataset_free(&d);
    model_free(&m);
    return 0;
}
