// test_sample.c: the sampler's one-row forward (net_logits with one context: its linear
// layers as matrix-vector products) against the same contexts' rows of a batched
// inference forward (GEMMs), on random models of the family and contexts of several
// sizes, in inference mode with non-trivial batchnorm statistics; and sample_word's
// determinism. Non-finite logits are an error (sample_draw, sample_print), and through the
// binary: a checksummed model whose forward overflows is refused by `sample` as by `eval`.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "data.h"
#include "net.h"
#include "net_io.h"
#include "rng.h"
#include "sample.h"

// A random model of cfg in inference mode: every parameter and statistic non-trivial.
static void random_model(Net *n, NetConfig cfg, uint64_t seed) {
    Err err;
    CHECK(net_config_check(&cfg, &err) == 0, "%s", err.msg);
    net_alloc(n, &cfg, 4);
    Rng rng;
    rng_seed(&rng, seed);
    net_init(n, &rng, 1);
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        float *x = net_tensor(n, i);
        for (size_t k = 0; t->is_stat && k < t->numel; k++)
            x[k] = !strncmp(t->name, "bnvar", 5) ? (float)(0.5 + rng_uniform(&rng))
                                                 : (float)(rng_uniform(&rng) - 0.5);
    }
}

static void test_logits_one_matches_batched_logits(void) {
    const NetConfig cfgs[] = {
        {.arch = ARCH_MLP, .V = 27, .T = 3, .E = 10, .H = 200, .layers = 1, .bessel = 1, .momentum = 0.1f},
        {.arch = ARCH_MLP, .V = 5, .T = 1, .E = 2, .H = 3, .layers = 1, .bessel = 0, .momentum = 0.1f},
        {.arch = ARCH_MLP, .V = 130, .T = 8, .E = 24, .H = 77, .layers = 3, .bessel = 1, .momentum = 0.1f},
        {.arch = ARCH_WAVENET, .V = 27, .T = 8, .E = 24, .H = 128, .bessel = 1, .momentum = 0.1f}};
    enum { M = 7 };  // contexts per batched forward
    for (size_t k = 0; k < sizeof cfgs / sizeof *cfgs; k++) {
        Net n;
        random_model(&n, cfgs[k], 7 + k);
        const NetConfig *c = &n.cfg;
        Rng rng;
        rng_seed(&rng, 70 + k);
        float *one = calloc((size_t)c->V, sizeof *one), *all = calloc((size_t)M * c->V, sizeof *all);
        float *s1 = calloc(net_scratch_floats(&n, 1), sizeof *s1);
        float *sM = calloc(net_scratch_floats(&n, M), sizeof *sM);
        int ctx[M * 64];
        double worst = 0;
        for (int trial = 0; trial < 20; trial++) {
            for (int t = 0; t < M * c->T; t++) ctx[t] = (int)(rng_uniform(&rng) * c->V);
            net_logits(&n, all, ctx, M, sM);
            for (int r = 0; r < M; r++) {
                net_logits(&n, one, ctx + r * c->T, 1, s1);
                // against the row's scale: a logit near 0 is a sum that cancels
                const float *b = all + (size_t)r * c->V;
                double scale = 1e-30;
                for (int v = 0; v < c->V; v++) scale = fmax(scale, fabs((double)b[v]));
                for (int v = 0; v < c->V; v++) worst = fmax(worst, fabs((double)one[v] - b[v]) / scale);
            }
        }
        CHECK(worst < 1e-5, "config %zu (%s): difference %g of the largest logit", k,
              net_arch_name(c->arch), worst);
        free(one);
        free(all);
        free(s1);
        free(sM);
        net_free(&n);
    }
}

static void test_sample_word_deterministic(void) {
    NetConfig cfg = {.arch = ARCH_MLP, .V = 27, .T = 3, .E = 10, .H = 64, .layers = 1, .bessel = 1,
                     .momentum = 0.1f};
    Net n;
    random_model(&n, cfg, 3);
    Vocab v = {.V = 27};
    v.itos[0] = '.';
    for (int i = 1; i < 27; i++) v.itos[i] = (char)('a' + i - 1);
    Rng r1, r2;
    rng_seed(&r1, 11);
    rng_seed(&r2, 11);
    char w1[MAX_WORD_LEN + 1], w2[MAX_WORD_LEN + 1];
    int same = 1, nonempty = 0;
    for (int i = 0; i < 200; i++) {
        sample_word(w1, &n, &v, &r1, 1.0f, 0);
        sample_word(w2, &n, &v, &r2, 1.0f, 0);
        same &= strcmp(w1, w2) == 0;
        nonempty += w1[0] != '\0';
    }
    CHECK(same, "the same seed gave different words");
    CHECK(nonempty > 0, "only empty words");
    net_free(&n);
}

// A logit that is NaN or infinite (either sign) is refused: -1, never an index.
static void test_sample_draw_refuses_nonfinite(void) {
    const float bad[] = {NAN, INFINITY, -INFINITY};
    Rng rng;
    rng_seed(&rng, 5);
    for (int k = 0; k < 3; k++)
        for (int at = 0; at < 4; at++) {
            float logits[4] = {0.5f, -1.0f, 2.0f, 0.0f};
            logits[at] = bad[k];
            CHECK(sample_draw(logits, 4, 1.0f, 0, &rng) == -1, "logit %d = %g drawn from", at, (double)bad[k]);
            CHECK(sample_draw(logits, 4, 1.0f, 2, &rng) == -1, "top-k: logit %d = %g drawn from", at, (double)bad[k]);
        }
    float big[4] = {FLT_MAX, FLT_MAX, -FLT_MAX, 0.0f};  // finite, however large: drawn
    int ix = sample_draw(big, 4, 1.0f, 0, &rng);
    CHECK(ix == 0 || ix == 1, "drew %d from two FLT_MAX logits", ix);
}

// The lecture's model on '.ab' (T 1, E 2, H 2) whose output layer overflows: every hidden
// unit tanh(1) (bngain 0, bnbias 1), W2 all 3.4e38, so each logit is 2 x 0.76 x 3.4e38 =
// inf. Its parameters are finite, so it loads.
static void overflowing_model(Net *n, Vocab *v) {
    Words w;
    Err err;
    static const char words[] = "ab\nba\nabba\nb\na\naab\nbab\naa\n";
    CHECK(words_parse(&w, words, sizeof words - 1, "tiny", &err) == 0, "%s", err.msg);
    vocab_build(v, &w);
    words_free(&w);
    NetConfig cfg = {.arch = ARCH_MLP, .V = v->V, .T = 1, .E = 2, .H = 2, .layers = 1, .bessel = 1,
                     .momentum = 0.1f};
    CHECK(net_config_check(&cfg, &err) == 0, "%s", err.msg);
    net_alloc(n, &cfg, 4);
    Rng rng;
    rng_seed(&rng, 1);
    net_init(n, &rng, 1);
    static const struct { const char *name; float value; } SET[] = {
        {"W2", 3.4e38f}, {"b2", 0.0f}, {"bngain", 0.0f}, {"bnbias", 1.0f}, {"bnmean", 0.0f},
        {"bnvar", 1.0f}};
    for (int i = 0; i < n->n_tensors; i++)
        for (size_t s = 0; s < sizeof SET / sizeof SET[0]; s++)
            if (!strcmp(n->tensor[i].name, SET[s].name))
                for (size_t k = 0; k < n->tensor[i].numel; k++) net_tensor(n, i)[k] = SET[s].value;
}

static void test_sample_print_refuses_an_overflowing_model(void) {
    Net n;
    Vocab v;
    overflowing_model(&n, &v);
    Rng rng;
    rng_seed(&rng, 11);
    FILE *f = tmpfile();
    CHECK(f != NULL, "tmpfile");
    if (!f) return;
    CHECK(sample_print(f, &n, &v, &rng, 5, 1.0f, 0, NULL, NULL) == -1, "sample_print accepted it");
    CHECK(ftell(f) == 0, "%ld bytes printed before the refusal", ftell(f));
    fclose(f);
    net_free(&n);
}

// The same model sealed (checksums) in a file: `makemore sample` fails on one line, exit 1,
// nothing on stdout; `makemore eval` too. MAKEMORE names the binary (tests/run_tests.sh).
static int run(const char *cmd, const char *dir, char *err_line, size_t len, long *out_bytes,
               int *err_lines) {
    char line[2048];
    snprintf(line, sizeof line, "%s >%s/out 2>%s/err", cmd, dir, dir);
    int st = system(line);
    snprintf(line, sizeof line, "%s/out", dir);
    FILE *f = fopen(line, "r");
    *out_bytes = -1;
    if (f) {
        fseek(f, 0, SEEK_END);
        *out_bytes = ftell(f);
        fclose(f);
    }
    snprintf(line, sizeof line, "%s/err", dir);
    f = fopen(line, "r");
    *err_lines = 0;
    err_line[0] = '\0';
    if (f) {
        int c;
        while ((c = fgetc(f)) != EOF) *err_lines += c == '\n';
        rewind(f);
        if (!fgets(err_line, (int)len, f)) err_line[0] = '\0';
        fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_commands_refuse_an_overflowing_model(void) {
    const char *bin = getenv("MAKEMORE") ? getenv("MAKEMORE") : "build/makemore";
    char dir[] = "/tmp/test_sample_XXXXXX", path[256], cmd[1024], err_line[1024];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    Net n;
    Vocab v;
    Err err;
    overflowing_model(&n, &v);
    snprintf(path, sizeof path, "%s/overflow.st", dir);
    CHECK(net_save(path, &n, &v, NULL, &err) == 0, "%s", err.msg);
    net_free(&n);
    snprintf(cmd, sizeof cmd, "printf 'ab\\nba\\nabba\\nb\\na\\naab\\nbab\\naa\\n' >%s/w.txt", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    long out;
    int lines;
    snprintf(cmd, sizeof cmd, "%s sample --model %s --data - -n 5", bin, path);
    int rc = run(cmd, dir, err_line, sizeof err_line, &out, &lines);
    CHECK(rc == 1 && lines == 1 && out == 0 && strstr(err_line, "overflow.st: the model's logits are not finite"),
          "sample: exit %d, %d stderr lines, %ld bytes on stdout: %s", rc, lines, out, err_line);
    snprintf(cmd, sizeof cmd, "%s sample --model %s --data %s/w.txt -n 5 --top-k 2", bin, path, dir);
    rc = run(cmd, dir, err_line, sizeof err_line, &out, &lines);
    CHECK(rc == 1 && lines == 1 && out == 0 && strstr(err_line, "logits are not finite"),
          "sample --top-k: exit %d, %d lines, %ld bytes: %s", rc, lines, out, err_line);
    snprintf(cmd, sizeof cmd, "%s eval --model %s --data %s/w.txt", bin, path, dir);
    rc = run(cmd, dir, err_line, sizeof err_line, &out, &lines);
    CHECK(rc == 1 && lines == 1 && out == 0 && strstr(err_line, "the model's forward overflows"),
          "eval: exit %d, %d lines, %ld bytes: %s", rc, lines, out, err_line);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "%s", cmd);
}

TEST_MAIN {
    TEST_SETUP();
    RUN_TEST(test_logits_one_matches_batched_logits);
    RUN_TEST(test_sample_word_deterministic);
    RUN_TEST(test_sample_draw_refuses_nonfinite);
    RUN_TEST(test_sample_print_refuses_an_overflowing_model);
    RUN_TEST(test_commands_refuse_an_overflowing_model);
    return check_summary();
}
