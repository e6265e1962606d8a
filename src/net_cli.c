// net_cli.c: the router, and `makemore eval` / `makemore sample` for Net files.
#include "net_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "common.h"
#include "net_io.h"
#include "sample.h"

// The value of --name in argv ("--name V" or "--name=V"), or NULL.
static const char *flag_value(int argc, char **argv, const char *name) {
    size_t len = strlen(name);
    const char *v = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], name) && i + 1 < argc) v = argv[++i];
        else if (!strncmp(argv[i], name, len) && argv[i][len] == '=') v = argv[i] + len + 1;
    }
    return v;
}

int net_route(const char *cmd, int argc, char **argv) {
    if (!strcmp(cmd, "gradcheck")) return flag_value(argc, argv, "--arch") != NULL;
    if (!strcmp(cmd, "eval") || !strcmp(cmd, "sample")) {
        const char *m = flag_value(argc, argv, "--model");
        return m && net_file_kind(m, NULL) == 1;
    }
    if (strcmp(cmd, "train")) return 0;
    const char *arch = flag_value(argc, argv, "--arch"), *layers = flag_value(argc, argv, "--layers");
    const char *stats = flag_value(argc, argv, "--bn-stats"), *resume = flag_value(argc, argv, "--resume");
    if (resume && net_file_kind(resume, NULL) == 1) return 1;
    if (resume && (arch || layers || stats)) {  // a model.c checkpoint: flags must agree
        if ((arch && strcmp(arch, "mlp")) || (layers && strcmp(layers, "1")) ||
            (stats && strcmp(stats, "calibrate")))
            cli_die("train", EXIT_USAGE, "--resume %s is a model of arch mlp with 1 layer and "
                    "calibrated batchnorm statistics; --arch %s --layers %s --bn-stats %s "
                    "contradict it (a resumed run keeps the checkpoint's model)", resume,
                    arch ? arch : "mlp", layers ? layers : "1", stats ? stats : "calibrate");
        return 0;
    }
    return (arch && strcmp(arch, "mlp")) || (layers && strcmp(layers, "1")) ||
           (stats && strcmp(stats, "calibrate"));
}

static void net_logits_one(const void *n, const int *context, float *logits, float *scratch) {
    net_logits(n, logits, context, 1, scratch);
}

void net_sample_word(char *out, const Net *n, const Vocab *v, Rng *rng, float temperature,
                     int top_k) {
    float *scratch = xcalloc(net_scratch_floats(n, 1), sizeof(float));
    sample_word_with(out, net_logits_one, n, scratch, n->cfg.T, n->cfg.V, v, rng, temperature, top_k);
    xfree(scratch);
}

// The model and the words file's split (with the model's vocabulary); an unfinished
// checkpoint of calibrated statistics is calibrated on the training split first.
static void load_or_die(const char *cmd, Net *n, Vocab *v, Words *w, Split *s, const char *model,
                        const char *data, uint64_t split_seed, int split_given) {
    Err err;
    TrainState ts;
    int has_ts = 0;
    if (net_load(n, v, &ts, &has_ts, model, 1, &err)) cli_die(cmd, EXIT_RUNTIME, "%s", err.msg);
    if (has_ts && !split_given) split_seed = ts.split_seed;
    if (!data) return;
    if (words_load(w, data, &err)) cli_die(cmd, EXIT_RUNTIME, "%s", err.msg);
    if (vocab_check(v, w, data, &err))
        cli_die(cmd, EXIT_RUNTIME, "%s: the vocabulary of --model %s does not cover this words file", err.msg, model);
    if (split_build(s, w, v, n->cfg.T, split_seed, &err)) cli_die(cmd, EXIT_RUNTIME, "%s: %s", data, err.msg);
    if (has_ts && !ts.calibrated && n->cfg.bn_stats == BN_STATS_CALIBRATE) {
        net_calibrate(n, &s->train);
        fprintf(stderr, "makemore %s: note: %s is an unfinished training checkpoint; batchnorm "
                "calibrated on the training split first\n", cmd, model);
    }
}

int net_eval_main(int argc, char **argv) {
    const char *model = NULL, *data = "data/names.txt";
    uint64_t split_seed = 42;
    int split_given = 0;
    Cli c;
    cli_init(&c, "eval", argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--model", 1)) model = c.value;
        else if (cli_is(&c, "--data", 1)) data = c.value;
        else if (cli_is(&c, "--split-seed", 1)) { split_seed = cli_u64(&c); split_given = 1; }
        else cli_unknown(&c);
    }
    if (!model) cli_fail(&c, "--model FILE is required");
    Net n;
    Vocab v;
    Words w;
    Split s;
    load_or_die("eval", &n, &v, &w, &s, model, data, split_seed, split_given);
    printf("train %.4f\nval %.4f\ntest %.4f\n", net_eval_loss(&n, &s.train),
           net_eval_loss(&n, &s.val), net_eval_loss(&n, &s.test));
    split_free(&s);
    words_free(&w);
    net_free(&n);
    return 0;
}

int net_sample_main(int argc, char **argv) {
    const char *model = NULL, *data = "data/names.txt";
    long count = 20, top_k = 0;
    uint64_t seed = 11, split_seed = 42;
    int split_given = 0;
    double temperature = 1.0;
    Cli c;
    cli_init(&c, "sample", argc, argv);
    while (cli_next(&c)) {
        if (cli_is(&c, "--model", 1)) model = c.value;
        else if (cli_is(&c, "-n", 1) || cli_is(&c, "--num", 1)) count = cli_long(&c, 0, 1000000);
        else if (cli_is(&c, "--seed", 1)) seed = cli_u64(&c);
        else if (cli_is(&c, "--temperature", 1)) temperature = cli_double(&c, 0.01, 100.0);
        else if (cli_is(&c, "--top-k", 1)) top_k = cli_long(&c, 1, 256);
        else if (cli_is(&c, "--data", 1)) data = c.value;
        else if (cli_is(&c, "--split-seed", 1)) { split_seed = cli_u64(&c); split_given = 1; }
        else cli_unknown(&c);
    }
    if (!model) cli_fail(&c, "--model FILE is required");
    int marks = strcmp(data, "-") != 0;
    Net n;
    Vocab v;
    Words w = {0};
    Split s = {0};
    load_or_die("sample", &n, &v, &w, &s, model, marks ? data : NULL, split_seed, split_given);
    WordSet tr = {0}, ho = {0};
    if (marks) {
        wordset_build(&tr, w.w, s.n_words[0]);
        wordset_build(&ho, w.w + s.n_words[0], w.n - s.n_words[0]);
    }
    Rng rng;
    rng_seed(&rng, seed);
    for (long i = 0; i < count; i++) {
        char word[MAX_WORD_LEN + 1];
        net_sample_word(word, &n, &v, &rng, (float)temperature, (int)top_k);
        const char *mark = !marks ? "" : wordset_has(&tr, word) ? "  (in training words)"
                                   : wordset_has(&ho, word)     ? "  (held-out word)" : "  (new)";
        printf("%s%s\n", word, mark);
    }
    if (marks) {
        wordset_free(&tr);
        wordset_free(&ho);
        split_free(&s);
        words_free(&w);
    }
    net_free(&n);
    return 0;
}
