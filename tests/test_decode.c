// test_decode.c: sampling one position at a time (net_decode_step, LayerOps' decode)
// against the whole forward, for each of makemore.py's types:
//   - the decode's logits at every position against net_forward's at the same position,
//     within float rounding (1e-5 of the row's largest logit), on random weights at several
//     sizes and on weights trained briefly on names.txt, restarted at t = 0 on new tokens,
//     the tokens after t unknown to the decode (junk in Xb while t runs);
//   - sample_seq_words through it (SAMPLE_DECODE) against the whole forward
//     (SAMPLE_FULL_FORWARD) with the same seeds. Greedy (top-k 1): every word the same,
//     but where the full forward's two largest logits at the first difference tie within
//     rounding (the decode's logits may differ in their last bits, so a near-tie may fall
//     either way). At temperature 1 a draw flips only where the uniform lands within
//     rounding of a boundary between two symbols' shares, and a flip changes the draws after
//     it in its call (the batch's words take turns with one generator): at most one call of
//     16, each of 64 words from its own seed, may differ;
//   - the contract: non-finite logits give -1, the thread count is restored.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "data.h"
#include "net.h"
#include "rng.h"
#include "sample.h"

static const char *names_path(void) {
    const char *p = getenv("NAMES");
    return p && *p ? p : "data/names.txt";
}

static NetConfig mm_config(NetArch a, int V, int T, int E, int H, int layers, int heads) {
    NetConfig c = {.arch = a, .V = V, .T = T, .E = E, .H = H, .layers = layers, .heads = heads,
                   .bessel = 1, .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f,
                   .optim = OPTIM_ADAMW};
    Err err;
    CHECK(net_config_check(&c, &err) == 0, "%s", err.msg);
    return c;
}

// A random model of cfg: every tensor non-trivial (net_init's perturbation).
static void random_model(Net *n, NetConfig cfg, uint64_t seed) {
    net_alloc(n, &cfg, 4);
    Rng rng;
    rng_seed(&rng, seed);
    net_init(n, &rng, 1);
}

// The largest |decode - forward| over every position of `rounds` batches of m random
// sequences, each against its row's largest |logit|.
static double decode_error(const Net *n, int m, int rounds, uint64_t seed) {
    const int T = n->cfg.T, V = n->cfg.V;
    Net view;
    net_view(&view, n, m);
    CHECK(net_decode_ready(&view), "%s: no decode", net_arch_name(n->cfg.arch));
    Rng rng;
    rng_seed(&rng, seed);
    int *tok = xcalloc((size_t)m * T, sizeof(int));
    float *dec = xcalloc((size_t)m * T * V, sizeof(float));
    double worst = 0;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < m * T; i++) tok[i] = (int)rng_below(&rng, (uint32_t)V);
        for (int b = 0; b < m; b++) tok[b * T] = 0;  // sampling's start token (any token works)
        // decode first (so that no forward has left this round's keys, values or states in
        // the activations it shares), the positions after t junk while t runs
        for (int t = 0; t < T; t++) {
            for (int b = 0; b < m; b++)
                for (int s = 0; s < T; s++)
                    view.Xb[b * T + s] = s <= t ? tok[b * T + s] : (int)rng_below(&rng, (uint32_t)V);
            const float *logits = net_decode_step(&view, t);
            for (int b = 0; b < m; b++)
                memcpy(dec + ((size_t)b * T + t) * V, logits + (size_t)b * V, (size_t)V * sizeof(float));
        }
        memcpy(view.Xb, tok, (size_t)m * T * sizeof(int));
        for (int i = 0; i < m * T; i++) view.Yb[i] = 0;  // every position counted
        net_forward(&view, view.Xb, view.Yb, 0);
        for (int b = 0; b < m; b++)
            for (int t = 0; t < T; t++) {
                const float *full = net_seq_logits(&view, b, t), *d = dec + ((size_t)b * T + t) * V;
                double scale = 1e-30;
                for (int v = 0; v < V; v++) scale = fmax(scale, fabs((double)full[v]));
                for (int v = 0; v < V; v++) {
                    double e = fabs((double)d[v] - full[v]) / scale;
                    if (!(e <= worst)) worst = e;  // NaN propagates as a failure
                }
            }
    }
    xfree(tok);
    xfree(dec);
    view.params = NULL;
    net_free(&view);
    return worst;
}

// makemore.py's sizes on names.txt (V 27, block 16, n_embd = n_embd2 = 64, 4 layers and
// heads), and small odd ones: n_embd2 below n_embd, one head, one layer, a block of 1.
static const struct {
    NetArch a;
    int V, T, E, H, layers, heads;
} CONFIGS[] = {
    {ARCH_BIGRAM, 27, 16, 64, 64, 1, 1},      {ARCH_BIGRAM, 5, 3, 1, 1, 1, 1},
    {ARCH_BENGIO, 27, 16, 64, 64, 1, 1},      {ARCH_BENGIO, 7, 5, 3, 5, 1, 1},
    {ARCH_BOW, 27, 16, 64, 64, 1, 1},         {ARCH_BOW, 7, 5, 6, 3, 1, 1},
    {ARCH_BOW, 7, 1, 6, 3, 1, 1},             {ARCH_RNN, 27, 16, 64, 64, 1, 1},
    {ARCH_RNN, 7, 5, 5, 7, 1, 1},             {ARCH_GRU, 27, 16, 64, 64, 1, 1},
    {ARCH_GRU, 7, 5, 5, 7, 1, 1},             {ARCH_TRANSFORMER, 27, 16, 64, 64, 4, 4},
    {ARCH_TRANSFORMER, 7, 9, 6, 6, 2, 3},     {ARCH_TRANSFORMER, 11, 6, 8, 8, 1, 1},
    {ARCH_TRANSFORMER, 7, 1, 4, 4, 1, 2},
};
enum { N_CONFIGS = sizeof CONFIGS / sizeof CONFIGS[0] };

static void test_decode_ready(void) {
    for (int k = 0; k < N_CONFIGS; k++) {
        Net n, view;
        random_model(&n, mm_config(CONFIGS[k].a, CONFIGS[k].V, CONFIGS[k].T, CONFIGS[k].E,
                                   CONFIGS[k].H, CONFIGS[k].layers, CONFIGS[k].heads), 1);
        net_view(&view, &n, 3);
        CHECK(net_decode_ready(&view), "%s has no decode", net_arch_name(CONFIGS[k].a));
        view.params = NULL;
        net_free(&view);
        net_free(&n);
    }
    // the lecture's family samples one context at a time (sample_word): no decode
    NetConfig c = {.arch = ARCH_MLP, .V = 27, .T = 3, .E = 10, .H = 20, .layers = 1,
                   .bessel = 1, .momentum = 0.1f};
    Err err;
    CHECK(net_config_check(&c, &err) == 0, "%s", err.msg);
    Net n;
    random_model(&n, c, 1);
    CHECK(!net_decode_ready(&n), "the lecture's mlp claims a decode");
    net_free(&n);
}

static void test_decode_matches_forward_random(void) {
    for (int k = 0; k < N_CONFIGS; k++) {
        Net n;
        random_model(&n, mm_config(CONFIGS[k].a, CONFIGS[k].V, CONFIGS[k].T, CONFIGS[k].E,
                                   CONFIGS[k].H, CONFIGS[k].layers, CONFIGS[k].heads), 10 + k);
        const int ms[2] = {1, 7};  // one sequence; several (and a batch odd to the kernels)
        for (int i = 0; i < 2; i++) {
            double e = decode_error(&n, ms[i], 3, 100 + k);
            CHECK(e < 1e-5, "%s V=%d T=%d E=%d H=%d layers=%d heads=%d, %d sequences: decode "
                  "differs by %.3g of the largest logit", net_arch_name(CONFIGS[k].a), CONFIGS[k].V,
                  CONFIGS[k].T, CONFIGS[k].E, CONFIGS[k].H, CONFIGS[k].layers, CONFIGS[k].heads,
                  ms[i], e);
        }
        net_free(&n);
    }
}

// ---- trained weights ------------------------------------------------------------------------

static const NetArch TYPES[] = {ARCH_BIGRAM, ARCH_BENGIO, ARCH_BOW, ARCH_RNN, ARCH_GRU,
                                ARCH_TRANSFORMER};
enum { N_TYPES = sizeof TYPES / sizeof TYPES[0] };
static Net trained[N_TYPES];
static Dataset names;
static int have_names;

// Each type at makemore.py's sizes (the Transformer's narrower: n_embd 32, 2 layers of 4
// heads), 150 AdamW steps of 16 sequences at lr 1e-2 (bigram's table: 3e-2) from PyTorch's
// initialisation: weights with a model's structure (peaked logits, saturated units) rather
// than the initialisation's.
static void train_models(void) {
    Err err;
    if (dataset_load_makemore(&names, names_path(), 0, 3407, NULL, &err) != DATASET_OK) {
        CHECK(0, "%s (run 'make data/names.txt')", err.msg);
        return;
    }
    have_names = 1;
    const int V = names.vocab.V, T = names.split.train.T;
    for (int k = 0; k < N_TYPES; k++) {
        const int tr = TYPES[k] == ARCH_TRANSFORMER;
        NetConfig c = mm_config(TYPES[k], V, T, tr ? 32 : 64, 64, tr ? 2 : 1, tr ? 4 : 1);
        const float lr = TYPES[k] == ARCH_BIGRAM ? 3e-2f : 1e-2f;
        Net *n = &trained[k];
        net_alloc(n, &c, 16);
        Rng rng;
        rng_seed(&rng, 3407 + k);
        net_init(n, &rng, 0);
        float first = 0, last = 0;
        for (int s = 1; s <= 150; s++) {
            last = net_train_step_adamw(n, &names.split.train, lr, 0.01f, s, &rng);
            if (s == 1) first = last;
        }
        printf("  %s: loss %.3f -> %.3f in 150 steps\n", net_arch_name(c.arch), first, last);
        CHECK(last < first - 0.3f, "%s did not train: %.3f -> %.3f", net_arch_name(c.arch), first, last);
    }
}

static void test_decode_matches_forward_trained(void) {
    if (!have_names) train_models();
    for (int k = 0; k < N_TYPES && have_names; k++) {
        double e = decode_error(&trained[k], 64, 2, 200 + k);
        CHECK(e < 1e-5, "trained %s: decode differs by %.3g of the largest logit",
              net_arch_name(TYPES[k]), e);
    }
}

// ---- sampling through the decode --------------------------------------------------------------

// The full forward's logits at position p of the sequence 0, word[0..p) (tokens of v).
static void prefix_logits(const Net *n, const Vocab *v, const char *word, int p, float *logits) {
    const int T = n->cfg.T;
    Net view;
    net_view(&view, n, 1);
    for (int t = 0; t < T; t++) {
        view.Xb[t] = t == 0 || t > p ? 0 : v->stoi[(unsigned char)word[t - 1]];
        view.Yb[t] = t <= p ? 0 : -1;
    }
    net_forward(&view, view.Xb, view.Yb, 0);
    memcpy(logits, net_seq_logits(&view, 0, p), (size_t)n->cfg.V * sizeof(float));
    view.params = NULL;
    net_free(&view);
}

// Greedy draws: the words of the two paths are the same but where the full forward's two
// largest logits at the first difference are within rounding. Returns the words differing.
static int greedy_differences(const Net *n, const Vocab *v, const char *name) {
    enum { COUNT = 200 };
    static char a[COUNT][MAX_WORD_LEN + 1], b[COUNT][MAX_WORD_LEN + 1];
    Rng r1, r2;
    rng_seed(&r1, 5);
    rng_seed(&r2, 5);
    CHECK(sample_seq_words_path(n, SAMPLE_DECODE, v, &r1, COUNT, 1.0f, 1, a) == 0, "%s", name);
    CHECK(sample_seq_words_path(n, SAMPLE_FULL_FORWARD, v, &r2, COUNT, 1.0f, 1, b) == 0, "%s", name);
    int differ = 0;
    for (int i = 0; i < COUNT; i++) {
        if (!strcmp(a[i], b[i])) continue;
        differ++;
        int p = 0;
        while (a[i][p] == b[i][p]) p++;
        float logits[256], top[2] = {-INFINITY, -INFINITY}, scale = 1e-30f;
        prefix_logits(n, v, b[i], p, logits);
        for (int c = 0; c < n->cfg.V; c++) {
            scale = fmaxf(scale, fabsf(logits[c]));
            if (logits[c] > top[0]) top[1] = top[0], top[0] = logits[c];
            else if (logits[c] > top[1]) top[1] = logits[c];
        }
        CHECK(top[0] - top[1] <= 1e-5f * scale, "%s: greedy word %d is '%s' through the decode, "
              "'%s' through the forward, whose top two logits at %d differ by %g",
              name, i, a[i], b[i], p, (double)(top[0] - top[1]));
    }
    return differ;
}

// At temperature 1 (top_k: all, or 5): calls of 64 words from seeds 0..15 through each
// path. Returns the calls whose words differ; *words the words that differ.
static int sampled_differences(const Net *n, const Vocab *v, int top_k, int *words) {
    static char a[64][MAX_WORD_LEN + 1], b[64][MAX_WORD_LEN + 1];
    int calls = 0;
    *words = 0;
    for (int seed = 0; seed < 16; seed++) {
        Rng r1, r2;
        rng_seed(&r1, (uint64_t)seed);
        rng_seed(&r2, (uint64_t)seed);
        CHECK(sample_seq_words_path(n, SAMPLE_DECODE, v, &r1, 64, 1.0f, top_k, a) == 0, "decode");
        CHECK(sample_seq_words_path(n, SAMPLE_FULL_FORWARD, v, &r2, 64, 1.0f, top_k, b) == 0, "full");
        int d = 0;
        for (int i = 0; i < 64; i++) d += strcmp(a[i], b[i]) != 0;
        *words += d;
        calls += d > 0;
    }
    return calls;
}

static void check_sampling(const Net *n, const Vocab *v, const char *name) {
    int g = greedy_differences(n, v, name), w1, w5;
    int c1 = sampled_differences(n, v, 0, &w1), c5 = sampled_differences(n, v, 5, &w5);
    printf("  %s: greedy %d of 200 words differ; temperature 1: %d of 1024 (%d calls), "
           "top-k 5: %d of 1024 (%d calls)\n", name, g, w1, c1, w5, c5);
    CHECK(c1 <= 1 && c5 <= 1, "%s: %d and %d calls of 16 differ", name, c1, c5);
}

static void test_sampling_matches_forward_trained(void) {
    if (!have_names) train_models();
    for (int k = 0; k < N_TYPES && have_names; k++)
        check_sampling(&trained[k], &names.vocab, net_arch_name(TYPES[k]));
}

// A vocabulary of V symbols: '.', then 'a', 'b', ...
static void letters(Vocab *v, int V) {
    memset(v, 0, sizeof *v);
    for (int c = 0; c < 256; c++) v->stoi[c] = -1;
    v->V = V;
    v->itos[0] = '.';
    for (int i = 1; i < V; i++) {
        v->itos[i] = (char)('a' + i - 1);
        v->stoi['a' + i - 1] = i;
    }
}

// The small configurations (makemore.py's sizes are the trained models').
static void test_sampling_matches_forward_random(void) {
    for (int k = 0; k < N_CONFIGS; k++) {
        if (CONFIGS[k].T == 16) continue;
        Net n;
        Vocab v;
        char name[64];
        random_model(&n, mm_config(CONFIGS[k].a, CONFIGS[k].V, CONFIGS[k].T, CONFIGS[k].E,
                                   CONFIGS[k].H, CONFIGS[k].layers, CONFIGS[k].heads), 30 + k);
        letters(&v, CONFIGS[k].V);
        snprintf(name, sizeof name, "random %s V=%d T=%d", net_arch_name(CONFIGS[k].a),
                 CONFIGS[k].V, CONFIGS[k].T);
        check_sampling(&n, &v, name);
        net_free(&n);
    }
}

// Logits that are not finite (the head's weights infinite, so every logit is inf or NaN):
// -1 through either path, and the thread count is what it was.
static void test_nonfinite_refused(void) {
    for (int k = 0; k < N_TYPES; k++) {
        Net n;
        Vocab v;
        random_model(&n, mm_config(TYPES[k], 27, 8, 16, 16, 2, 2), 50 + k);
        letters(&v, 27);
        const char *head = TYPES[k] == ARCH_BIGRAM ? "logits"
                         : TYPES[k] == ARCH_BENGIO ? "mlp.2.weight" : "lm_head.weight";
        int i = net_find(&n, head);
        CHECK(i >= 0, "%s: no %s", net_arch_name(TYPES[k]), head);
        for (size_t j = 0; i >= 0 && j < n.tensor[i].numel; j++)
            net_tensor(&n, i)[j] = j % 2 ? INFINITY : -INFINITY;
        static char out[100][MAX_WORD_LEN + 1];
        const int threads = threads_get();
        for (int path = 0; path < 2; path++) {
            Rng rng;
            rng_seed(&rng, 1);
            int rc = sample_seq_words_path(&n, path ? SAMPLE_FULL_FORWARD : SAMPLE_DECODE, &v,
                                           &rng, 100, 1.0f, 0, out);
            CHECK(rc == -1, "%s, %s: %d", net_arch_name(TYPES[k]), path ? "full" : "decode", rc);
            CHECK(threads_get() == threads, "threads %d after sampling, %d before", threads_get(),
                  threads);
        }
        net_free(&n);
    }
}

TEST_MAIN {
    TEST_SETUP();
    threads_set(2);  // the samplers run on one thread and restore this
    RUN_TEST(test_decode_ready);
    RUN_TEST(test_decode_matches_forward_random);
    RUN_TEST(test_decode_matches_forward_trained);
    RUN_TEST(test_sampling_matches_forward_random);
    RUN_TEST(test_sampling_matches_forward_trained);
    RUN_TEST(test_nonfinite_refused);
    for (int k = 0; k < N_TYPES && have_names; k++) net_free(&trained[k]);
    if (have_names) dataset_free(&names);
    return check_summary();
}
