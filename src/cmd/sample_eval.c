// cmd_sample.c: `makemore sample` and `makemore eval`, both from a saved model (any
// architecture of the family: net_io.h).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "data.h"
#include "net.h"
#include "net_io.h"
#include "sample.h"
#include "train.h"

// Failures are one line, "makemore <cmd>: <file>: <what> ...", exit 1 (file or data) or
// 2 (command line).
// Loads the model at path; *split_seed becomes the one it was trained with unless the
// user gave --split-seed. Returns 1 when the file is an unfinished training checkpoint
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
        cli_die(cmd, EXIT_RUNTIME, "%s", err.msg);
    if (!has_ts) ts->has_data_fp = 0;
    if (has_ts && !split_seed_given) *split_seed = ts->split_seed;
    return has_ts && !ts->calibrated && m->cfg.bn_stats == BN_STATS_CALIBRATE;
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
                              int T, uint64_t split_seed, const char *model) {
    Err err;
    const int live = isatty(STDERR_FILENO);  // a long phase named on a terminal
    if (live) fputs("  loading and splitting the words file...", stderr);
    switch (dataset_load(d, path, T, split_seed, v, &err)) {
    case DATASET_OK: break;
    case DATASET_WORDS:
        cli_die(cmd, EXIT_RUNTIME, "%s%s", err.msg,
                strcmp(cmd, "sample") == 0 ? " (give --data FILE, or --data - for no marks)" : "");
    case DATASET_VOCAB:
        cli_die(cmd, EXIT_RUNTIME, "%s: the vocabulary of --model %s does not cover this words "
                "file (give the words file the model was trained on)", err.msg, model);
    default: cli_die(cmd, EXIT_RUNTIME, "%s", err.msg);
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

static void sample_usage(void) {
    printf("usage: makemore sample --model FILE [flags]\n"
           "Samples words from a trained model, one a line, marked as in the training words,\n"
           "a held-out word, or new (from the words file; --data - for no marks).\n\n"
           "  --model FILE       a model saved by 'makemore train --out'\n"
           "  -n, --num N        how many words (default 20)\n"
           "  --seed S           sampling seed (default 11)\n"
           "  --temperature X    divide the logits by X (default 1; 0.01..100)\n"
           "  --top-k K          draw only among the K most likely symbols (default: all)\n"
           "  --data FILE        words file for the marks (default data/names.txt; '-' for none)\n"
           "  --split-seed S     its split (default: the one the model was trained with, or 42)\n"
           "  --accept-unchecked load a model file without a checksum (an older file)\n");
}

int sample_main(int argc, char **argv) {
    const char *model_path = NULL, *data = "data/names.txt";
    long n = 20, top_k = 0;
    uint64_t seed = 11, split_seed = 42;
    int split_seed_given = 0, unchecked = 0;
    double temperature = 1.0;
    Cli c;
    cli_init(&c, "sample", argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--help", 0) || cli_is(&c, "-h", 0)) { sample_usage(); return 0; }
        else if (cli_is(&c, "--model", 1)) model_path = c.value;
        else if (cli_is(&c, "-n", 1) || cli_is(&c, "--num", 1)) n = cli_long(&c, 0, 1000000);
        else if (cli_is(&c, "--seed", 1)) seed = cli_u64(&c);
        else if (cli_is(&c, "--temperature", 1)) temperature = cli_double(&c, 0.01, 100.0);
        else if (cli_is(&c, "--top-k", 1)) top_k = cli_long(&c, 1, 256);
        else if (cli_is(&c, "--data", 1)) data = c.value;
        else if (cli_is(&c, "--split-seed", 1)) { split_seed = cli_u64(&c); split_seed_given = 1; }
        else if (cli_is(&c, "--accept-unchecked", 0)) unchecked = 1;
        else cli_unknown(&c);
    }
    if (!model_path) cli_fail(&c, "--model FILE is required");
    Net m;
    Vocab v;
    TrainState ts;
    int uncalibrated = load_model_or_die("sample", &m, &v, &ts, model_path, &split_seed,
                                         split_seed_given, unchecked);

    Dataset d = {0};
    WordSet train_set = {0}, heldout_set = {0};
    int marks = strcmp(data, "-") != 0;
    if (marks) {
        load_split_or_die("sample", &d, data, &v, m.cfg.T, split_seed, model_path);
        note_fingerprint("sample", &ts, &d.words, data, model_path);
        wordset_build(&train_set, d.words.w, d.split.n_words[0]);
        wordset_build(&heldout_set, d.words.w + d.split.n_words[0], d.words.n - d.split.n_words[0]);
    }
    calibrate_if_needed("sample", &m, uncalibrated, marks ? &d.split : NULL, model_path);
    Rng rng;
    rng_seed(&rng, seed);
    sample_print(stdout, &m, &v, &rng, (int)n, (float)temperature, (int)top_k,
                 marks ? &train_set : NULL, marks ? &heldout_set : NULL);
    if (marks) {
        wordset_free(&train_set);
        wordset_free(&heldout_set);
        dataset_free(&d);
    }
    net_free(&m);
    return 0;
}

static void eval_usage(void) {
    printf("usage: makemore eval --model FILE [--data FILE] [--split-seed S]\n"
           "Prints the model's mean cross-entropy (inference mode: calibrated batchnorm) on the\n"
           "train / val / test split of the words file.\n\n"
           "  --model FILE       a model saved by 'makemore train --out'\n"
           "  --data FILE        words file (default data/names.txt)\n"
           "  --split-seed S     its split (default: the one the model was trained with, or 42)\n"
           "  --accept-unchecked load a model file without a checksum (an older file)\n");
}

int eval_main(int argc, char **argv) {
    const char *model_path = NULL, *data = "data/names.txt";
    uint64_t split_seed = 42;
    int split_seed_given = 0, unchecked = 0;
    Cli c;
    cli_init(&c, "eval", argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--help", 0) || cli_is(&c, "-h", 0)) { eval_usage(); return 0; }
        else if (cli_is(&c, "--model", 1)) model_path = c.value;
        else if (cli_is(&c, "--data", 1)) data = c.value;
        else if (cli_is(&c, "--split-seed", 1)) { split_seed = cli_u64(&c); split_seed_given = 1; }
        else if (cli_is(&c, "--accept-unchecked", 0)) unchecked = 1;
        else cli_unknown(&c);
    }
    if (!model_path) cli_fail(&c, "--model FILE is required");
    Net m;
    Vocab v;
    TrainState ts;
    int uncalibrated = load_model_or_die("eval", &m, &v, &ts, model_path, &split_seed,
                                         split_seed_given, unchecked);
    Dataset d;
    load_split_or_die("eval", &d, data, &v, m.cfg.T, split_seed, model_path);
    note_fingerprint("eval", &ts, &d.words, data, model_path);
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
            cli_die("eval", EXIT_RUNTIME, "%s: the %s loss is %g: the model's forward overflows "
                    "(a corrupt or diverged model)", model_path, names[k], loss[k]);
    }
    printf("train %.4f\nval %.4f\ntest %.4f\n", loss[0], loss[1], loss[2]);
    dataset_free(&d);
    net_free(&m);
    return 0;
}
