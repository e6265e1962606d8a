// sample_eval.c: `makemore sample` and `makemore eval`, both from a saved model (any
// architecture of the family: net_io.h).
#include "train.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "flags.h"
#include "data.h"
#include "net.h"
#include "net_io.h"
#include "sample.h"

// Failures are one line, "makemore <cmd>: <file>: <what> ...", exit 1 (file or data) or
// 2 (command line).
// Loads the model at path; *split_seed becomes the one it was trained with (a checkpoint's,
// or a plain model file's words_split_seed) unless the user gave --split-seed. Returns 1 when the file is an unfinished training checkpoint
// whose batchnorm statistics are to be calibrated (not calibrated yet, and the model
// keeps calibrated statistics), else 0.
// *ts gets the file's training state (ts->has_data_fp = 0 when it has none).
static int load_model_or_die(const char *cmd, Net *m, Vocab *v, TrainState *ts,
                             const char *path, uint64_t *split_seed, int split_seed_given,
                             int accept_unchecked) {
    Err err;
    int has_ts = 0;
    memset(ts, 0, sizeof *ts);
    if (net_load_flags(m, v, ts, &has_ts, path, 1, accept_unchecked ? NET_ACCEPT_UNCHECKED : 0,
                       &err) != 0)
        cmd_fail(cmd, EXIT_RUNTIME, "%s", err.msg);
    if (!has_ts) ts->has_data_fp = 0;
    if (ts->has_split_seed && !split_seed_given) *split_seed = ts->split_seed;
    return has_ts && !ts->calibrated && !m->seq && m->cfg.bn_stats == BN_STATS_CALIBRATE;
}

// Evaluating or marking with other words than the model's can be intended: a note, not
// an error, when the words file's fingerprint differs from the one recorded in training.
static void note_fingerprint(const char *cmd, const TrainState *ts, const Words *w,
                             const char *data, const char *model) {
    if (!checkpoint_words_match(ts, w))
        say(cmd, "note: --data %s (%llu bytes, crc32c %08x) is not the words file %s was "
            "trained on (%llu bytes, crc32c %08x)", data, (unsigned long long)w->file_bytes,
            (unsigned)w->file_crc, model, (unsigned long long)ts->data_bytes,
            (unsigned)ts->data_crc);
}

// Words of path split as in training (split_seed), encoded with the model's vocabulary.
static void load_split_or_die(const char *cmd, Dataset *d, const char *path, const Vocab *v,
                              int T, uint64_t split_seed, const char *model, int seq) {
    Err err;
    const int live = isatty(STDERR_FILENO);  // a long phase named on a terminal
    if (live) fputs("  loading and splitting the words file...", stderr);
    switch (seq ? dataset_load_makemore(d, path, T, split_seed, v, &err)
                : dataset_load(d, path, T, split_seed, v, &err)) {
    case DATASET_OK: break;
    case DATASET_WORDS:
        cmd_fail(cmd, EXIT_RUNTIME, "%s%s", err.msg,
                strcmp(cmd, "sample") == 0 ? " (give --data FILE, or --data - for no marks)" : "");
    case DATASET_VOCAB:
        cmd_fail(cmd, EXIT_RUNTIME, "%s: the vocabulary of --model %s does not cover this words "
                "file (give the words file the model was trained on)", err.msg, model);
    default: cmd_fail(cmd, EXIT_RUNTIME, "%s", err.msg);
    }
    if (live) fputs("\r\033[K", stderr);
}

// A checkpoint written during training (interrupted or periodic) holds batchnorm's
// initial statistics: calibrate them on the training split, as train does at the end.
static void calibrate_if_needed(const char *cmd, Net *m, int needed, const Split *s,
                                const char *model) {
    if (!needed) return;
    if (s) {
        const int live = isatty(STDERR_FILENO);
        if (live) fprintf(stderr, "  calibrating batchnorm (%d examples)...", s->train.n);
        net_calibrate(m, &s->train);
        if (live) fputs("\r\033[K", stderr);
        say(cmd, "note: %s is an unfinished training checkpoint; batchnorm calibrated on the "
            "training split first", model);
    } else {
        say(cmd, "note: %s is an unfinished training checkpoint and no words file was given "
            "(--data -): batchnorm is not calibrated", model);
    }
}

typedef struct {
    const char *model, *data;
    int n, top_k, accept_unchecked;
    uint64_t seed, split_seed;
    double temperature;
} SampleOpts;

#define O(field) offsetof(SampleOpts, field)
static const Flag SAMPLE_FLAGS[] = {
    {"--model", NULL, FT_STRING, O(model), 0, 0, NULL, "FILE", "a model saved by 'makemore train --out'", FL_PATH},
    {"--num", "-n", FT_INT, O(n), 0, 1000000, NULL, "N", "how many words", 0},
    {"--seed", NULL, FT_U64, O(seed), 0, 0, NULL, "S", "sampling seed", 0},
    {"--temperature", NULL, FT_DOUBLE, O(temperature), 0.01, 100, NULL, "X", "divide the logits by X", 0},
    {"--top-k", NULL, FT_INT, O(top_k), 1, 256, NULL, "K",
     "draw only among the K most likely symbols (default: all)", 0},
    {"--data", NULL, FT_STRING, O(data), 0, 0, NULL, "FILE", "words file for the marks ('-' for none)", FL_PATH},
    {"--split-seed", NULL, FT_U64, O(split_seed), 0, 0, NULL, "S",
     "its split (default: the one the model was trained with, or 42)", FL_META},
    {"--accept-unchecked", NULL, FT_SWITCH, O(accept_unchecked), 0, 0, NULL, NULL,
     "load a model file without a checksum (an older file)", 0},
};
#undef O
static const SampleOpts SAMPLE_DEFAULTS = {.data = "data/names.txt", .n = 20, .seed = 11,
                                           .split_seed = 42, .temperature = 1.0};
static const FlagDefaults SAMPLE_D[] = {{NULL, &SAMPLE_DEFAULTS, NULL}};
static const FlagTable SAMPLE_TABLE = {"sample", SAMPLE_FLAGS, sizeof SAMPLE_FLAGS / sizeof SAMPLE_FLAGS[0],
                                       SAMPLE_D, 1};
static const char *const MODEL_SKIP[] = {"--model", NULL};

static void sample_usage(void) {
    printf("usage:\n");
    flags_synopsis(stdout, &SAMPLE_TABLE, "makemore sample", 17, "--model FILE", MODEL_SKIP);
    printf("\nSamples words from a trained model, one a line, marked as in the training words,\n"
           "a held-out word, or new (from the words file; --data - for no marks).\n\n");
    flags_help(stdout, &SAMPLE_TABLE);
}

int sample_main(int argc, char **argv) {
    SampleOpts o = SAMPLE_DEFAULTS;
    unsigned char given[FLAGS_MAX];
    Err err;
    int parsed = flags_parse(&SAMPLE_TABLE, &o, given, argc, argv, &err);
    if (parsed == FLAGS_HELP) {
        sample_usage();
        return cmd_stdout_done("sample", 0);
    }
    if (parsed != FLAGS_OK) cmd_fail("sample", EXIT_USAGE, "%s", err.msg);
    if (!o.model) cmd_fail("sample", EXIT_USAGE, "--model FILE is required");
    const char *model_path = o.model, *data = o.data;
    uint64_t split_seed = o.split_seed;
    Net m;
    Vocab v;
    TrainState ts;
    int uncalibrated = load_model_or_die("sample", &m, &v, &ts, model_path, &split_seed,
                                         given[flags_find(&SAMPLE_TABLE, "--split-seed")],
                                         o.accept_unchecked);

    Dataset d = {0};
    WordSet train_set = {0}, heldout_set = {0};
    int marks = strcmp(data, "-") != 0;
    if (marks) {
        load_split_or_die("sample", &d, data, &v, m.cfg.T, split_seed, model_path, m.seq);
        note_fingerprint("sample", &ts, &d.words, data, model_path);
        wordset_build(&train_set, d.words.w, d.split.n_words[0]);
        wordset_build(&heldout_set, d.words.w + d.split.n_words[0], d.words.n - d.split.n_words[0]);
    }
    calibrate_if_needed("sample", &m, uncalibrated, marks ? &d.split : NULL, model_path);
    Rng rng;
    rng_seed(&rng, o.seed);
    if (sample_print(stdout, &m, &v, &rng, o.n, (float)o.temperature, o.top_k,
                     marks ? &train_set : NULL, marks ? &heldout_set : NULL) != 0)
        cmd_fail("sample", EXIT_RUNTIME, "%s: the model's logits are not finite (its forward "
                 "overflows: a corrupt or diverged model; eval refuses it too)", model_path);
    if (marks) {
        wordset_free(&train_set);
        wordset_free(&heldout_set);
        dataset_free(&d);
    }
    net_free(&m);
    return cmd_stdout_done("sample", 0);
}

typedef struct {
    const char *model, *data;
    uint64_t split_seed;
    int accept_unchecked;
    int words;  // --words: index in SPLIT_NAMES, -1 not given
} EvalOpts;

static const char *const SPLIT_NAMES[] = {"train", "val", "test", NULL};

#define O(field) offsetof(EvalOpts, field)
static const Flag EVAL_FLAGS[] = {
    {"--model", NULL, FT_STRING, O(model), 0, 0, NULL, "FILE", "a model saved by 'makemore train --out'", FL_PATH},
    {"--data", NULL, FT_STRING, O(data), 0, 0, NULL, "FILE", "words file", FL_PATH},
    {"--split-seed", NULL, FT_U64, O(split_seed), 0, 0, NULL, "S",
     "its split (default: the one the model was trained with, or 42)", FL_META},
    {"--accept-unchecked", NULL, FT_SWITCH, O(accept_unchecked), 0, 0, NULL, NULL,
     "load a model file without a checksum (an older file)", 0},
    {"--words", NULL, FT_CHOICE, O(words), 0, 0, SPLIT_NAMES, "SPLIT",
     "print that part of the split, one word per line, instead of the losses (the words a\n"
     "model was tested on, for another program to evaluate)", 0},
};
#undef O
static const EvalOpts EVAL_DEFAULTS = {.data = "data/names.txt", .split_seed = 42, .words = -1};
static const FlagDefaults EVAL_D[] = {{NULL, &EVAL_DEFAULTS, NULL}};
static const FlagTable EVAL_TABLE = {"eval", EVAL_FLAGS, sizeof EVAL_FLAGS / sizeof EVAL_FLAGS[0],
                                     EVAL_D, 1};

static void eval_usage(void) {
    printf("usage:\n");
    flags_synopsis(stdout, &EVAL_TABLE, "makemore eval", 17, "--model FILE", MODEL_SKIP);
    printf("\nPrints the model's mean cross-entropy (inference mode: calibrated batchnorm) on the\n"
           "train / val / test split of the words file.\n\n");
    flags_help(stdout, &EVAL_TABLE);
}

// Part k of d's split (its words are in split order: train, val, test), one per line.
static void words_print(const Dataset *d, int k) {
    if (k == 1 && d->split.kind == SPLIT_MAKEMORE)
        cmd_fail("eval", EXIT_USAGE, "--words val: makemore.py's split has no val part (allowed: train, test)");
    int first = 0;
    for (int j = 0; j < k; j++) first += d->split.n_words[j];
    for (int i = first; i < first + d->split.n_words[k]; i++) printf("%s\n", d->words.w[i]);
    cmd_stdout_done("eval", 0);
}

int eval_main(int argc, char **argv) {
    EvalOpts o = EVAL_DEFAULTS;
    unsigned char given[FLAGS_MAX];
    Err err;
    int parsed = flags_parse(&EVAL_TABLE, &o, given, argc, argv, &err);
    if (parsed == FLAGS_HELP) {
        eval_usage();
        return cmd_stdout_done("eval", 0);
    }
    if (parsed != FLAGS_OK) cmd_fail("eval", EXIT_USAGE, "%s", err.msg);
    if (!o.model) cmd_fail("eval", EXIT_USAGE, "--model FILE is required");
    const char *model_path = o.model, *data = o.data;
    uint64_t split_seed = o.split_seed;
    Net m;
    Vocab v;
    TrainState ts;
    int uncalibrated = load_model_or_die("eval", &m, &v, &ts, model_path, &split_seed,
                                         given[flags_find(&EVAL_TABLE, "--split-seed")],
                                         o.accept_unchecked);
    Dataset d;
    load_split_or_die("eval", &d, data, &v, m.cfg.T, split_seed, model_path, m.seq);
    note_fingerprint("eval", &ts, &d.words, data, model_path);
    if (o.words >= 0) {
        words_print(&d, o.words);
        dataset_free(&d);
        net_free(&m);
        return 0;
    }
    calibrate_if_needed("eval", &m, uncalibrated, &d.split, model_path);
    const Examples *sets[3] = {&d.split.train, &d.split.val, &d.split.test};
    static const char *const names[3] = {"train", "val", "test"};
    double loss[3];
    const int live = isatty(STDERR_FILENO);  // long phases named on a terminal
    for (int k = 0; k < 3; k++) {
        if (live) fprintf(stderr, "\r\033[K  evaluating %s (%d examples)...", names[k], sets[k]->n);
        loss[k] = net_eval_loss(&m, sets[k]);
        if (live) fputs("\r\033[K", stderr);
        if (!isfinite(loss[k]))  // finite parameters can still overflow in the forward
            cmd_fail("eval", EXIT_RUNTIME, "%s: the %s loss is %g: the model's forward overflows "
                    "(a corrupt or diverged model)", model_path, names[k], loss[k]);
    }
    if (m.seq) printf("train %.4f\ntest %.4f\n", loss[0], loss[2]);  // makemore.py's split
    else printf("train %.4f\nval %.4f\ntest %.4f\n", loss[0], loss[1], loss[2]);
    dataset_free(&d);
    net_free(&m);
    return cmd_stdout_done("eval", 0);
}
