// test_checkpoint.c: model file save -> load round trips (net_io.h: parameters,
// statistics, vocabulary and TrainState bit-identical), and the loader's refusals: every
// mutation of a valid file (tensor shape, dtype, NaN/inf, missing or extra tensor, each
// metadata key) must fail with a message naming the file and the culprit; a file in the
// format written before the layer table (makemore-mlp-1) loads as the lecture's model.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"
#include "net.h"
#include "net_io.h"
#include "safetensors.h"

static char tmpdir[64];
static char base_path[128];  // a valid checkpoint with a training state

static void make_vocab(Vocab *v, const char *text) {
    Words w;
    Err err;
    if (words_parse(&w, text, strlen(text), "vocab", &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    vocab_build(v, &w);
    words_free(&w);
}

// A small lecture model with random parameters and statistics (bnvar positive).
static void make_model(Net *m, const Vocab *v, int bessel, uint64_t seed) {
    NetConfig c = {.arch = ARCH_MLP, .V = v->V, .T = 3, .E = 4, .H = 6, .layers = 1,
                   .bessel = bessel, .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f};
    net_alloc(m, &c, 4);
    Rng rng;
    rng_seed(&rng, seed);
    net_init(m, &rng, 1);
    for (size_t j = 0; j < m->num_stats; j++)  // bnmean then bnvar
        m->stats[j] = j < 6 ? rng_normal(&rng) : 0.5f + rng_uniform(&rng);
}

static TrainState sample_state(void) {
    TrainState ts = {.step = 123457, .steps = 200000, .decay_step = 100000,
                     .lr = 0.1f, .lr2 = 0.0100000007f,  // a float %.6g would not round-trip
                     .batch = 32, .seed = UINT64_MAX, .split_seed = 42,
                     .rng = {0x0123456789abcdefULL, 0xfedcba9876543210ULL, 1, 0x8000000000000000ULL},
                     .calibrated = 1};
    return ts;
}

static int same_floats(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static void test_round_trip_with_state(void) {
    Vocab v, v2;
    make_vocab(&v, "emma\nolivia\nava\nlou\n");  // . a e i l m o u v
    Net m, m2;
    make_model(&m, &v, 1, 7);
    TrainState ts = sample_state(), ts2;
    memset(&ts2, 0, sizeof ts2);
    Err err = {{0}};
    CHECK(net_save(base_path, &m, &v, &ts, &err) == 0, "save: %s", err.msg);
    int has = -1;
    if (net_load(&m2, &v2, &ts2, &has, base_path, 2, &err)) {
        CHECK(0, "load: %s", err.msg);
        net_free(&m);
        return;
    }
    CHECK(has == 1, "has_train_state = %d", has);
    CHECK(memcmp(&m.cfg, &m2.cfg, sizeof m.cfg) == 0, "config differs: V %d T %d E %d H %d b %d",
          m2.cfg.V, m2.cfg.T, m2.cfg.E, m2.cfg.H, m2.cfg.bessel);
    CHECK(m2.num_params == m.num_params && same_floats(m.params, m2.params, m.num_params),
          "parameters differ");
    CHECK(m2.num_stats == 12 && same_floats(m.stats, m2.stats, 12), "statistics differ");
    CHECK(m2.B == 2, "activations for B = %d", m2.B);
    CHECK(v2.V == v.V && memcmp(v.itos, v2.itos, (size_t)v.V) == 0 &&
              memcmp(v.stoi, v2.stoi, sizeof v.stoi) == 0, "vocabulary differs");
    CHECK(ts2.step == ts.step && ts2.steps == ts.steps && ts2.decay_step == ts.decay_step,
          "steps %ld %ld %ld", ts2.step, ts2.steps, ts2.decay_step);
    CHECK(memcmp(&ts2.lr, &ts.lr, sizeof ts.lr) == 0 && memcmp(&ts2.lr2, &ts.lr2, sizeof ts.lr2) == 0,
          "lr %.9g lr2 %.9g", ts2.lr, ts2.lr2);
    CHECK(ts2.batch == 32 && ts2.seed == UINT64_MAX && ts2.split_seed == 42 && ts2.calibrated == 1,
          "batch %d seed %llu", ts2.batch, (unsigned long long)ts2.seed);
    CHECK(memcmp(ts2.rng, ts.rng, sizeof ts.rng) == 0, "rng state differs");
    net_free(&m2);

    // The metadata as another reader sees it.
    StFile f;
    CHECK(st_load(&f, base_path, &err) == 0, "%s", err.msg);
    const char *want[][2] = {{"format", "makemore-net-1"}, {"arch", "mlp"}, {"layers", "1"},
                             {"bn_stats", "calibrate"}, {"momentum", "0.100000001"},
                             {"vocab_size", "9"}, {"block", "3"},
                             {"embd", "4"}, {"hidden", "6"}, {"bn_var", "unbiased"},
                             {"itos", ".aeilmouv"}, {"lr", "0.100000001"}, {"lr2", "0.0100000007"},
                             {"rng", "0123456789abcdef,fedcba9876543210,0000000000000001,8000000000000000"},
                             {"seed", "18446744073709551615"}, {"calibrated", "1"}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *got = st_meta_get(&f, want[i][0]);
        CHECK(got && strcmp(got, want[i][1]) == 0, "%s = %s", want[i][0], got ? got : "NULL");
    }
    const StTensor *g = st_find(&f, "bngain"), *bm = st_find(&f, "bnmean"), *b1 = st_find(&f, "b1");
    CHECK(g && g->ndim == 2 && g->shape[0] == 1 && g->shape[1] == 6, "bngain shape");
    CHECK(bm && bm->ndim == 2 && bm->shape[0] == 1 && bm->shape[1] == 6, "bnmean shape");
    CHECK(b1 && b1->ndim == 1 && b1->shape[0] == 6, "b1 shape");
    st_free(&f);
    net_free(&m);
}

static void test_round_trip_plain_biased_utf8(void) {
    Vocab v, v2;
    make_vocab(&v, "zo\xc3\xab\nrene\xcc\x81\nx y\n");  // bytes 0x81 0xab 0xc3 0xcc and a space
    Net m, m2;
    make_model(&m, &v, 0, 8);
    char path[160];
    snprintf(path, sizeof path, "%s/plain.safetensors", tmpdir);
    Err err = {{0}};
    CHECK(net_save(path, &m, &v, NULL, &err) == 0, "save: %s", err.msg);
    TrainState ts;
    memset(&ts, 0x5a, sizeof ts);
    TrainState untouched = ts;
    int has = -1;
    if (net_load(&m2, &v2, &ts, &has, path, 1, &err)) {
        CHECK(0, "load: %s", err.msg);
        net_free(&m);
        return;
    }
    CHECK(has == 0, "has_train_state = %d", has);
    CHECK(memcmp(&ts, &untouched, sizeof ts) == 0, "ts written without a training state");
    CHECK(m2.cfg.bessel == 0, "bn_var biased not kept");
    CHECK(v2.V == v.V && memcmp(v.itos, v2.itos, (size_t)v.V) == 0, "UTF-8 vocabulary differs");
    CHECK(same_floats(m.params, m2.params, m.num_params), "parameters differ");
    net_free(&m2);
    // itos in the file: each byte as the code point of its value (Python: b.decode("latin-1")).
    StFile f;
    CHECK(st_load(&f, path, &err) == 0, "%s", err.msg);
    const char *itos = st_meta_get(&f, "itos");
    CHECK(itos && strcmp(itos, ". enorxyz\xc2\x81\xc2\xab\xc3\x83\xc3\x8c") == 0, "itos = %s",
          itos ? itos : "NULL");
    CHECK(st_meta_get(&f, "step") == NULL, "a plain model file has no step");
    st_free(&f);
    CHECK(net_load(&m2, &v2, NULL, NULL, path, 1, &err) == 0, "NULL ts/has: %s", err.msg);
    net_free(&m2);
    unlink(path);
    net_free(&m);
}

static void test_save_refuses_vocab_mismatch(void) {
    Vocab v, other;
    make_vocab(&v, "ab\n");
    make_vocab(&other, "abc\n");
    Net m;
    make_model(&m, &v, 1, 9);
    char path[160];
    snprintf(path, sizeof path, "%s/mismatch.safetensors", tmpdir);
    Err err = {{0}};
    CHECK(net_save(path, &m, &other, NULL, &err) == -1, "saved with another vocabulary");
    CHECK(strstr(err.msg, path) != NULL, "message: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "a file was written");
    net_free(&m);
}

// ---- mutations of the valid file ---------------------------------------------------

typedef struct {
    const char *tensor;      // tensor to replace / add / drop (NULL: none)
    int drop_tensor;
    StDtype dtype;
    int ndim;
    int64_t shape[2];
    int poison_index;        // element set to poison (-1: none)
    float poison;
    const char *key;         // metadata to set / drop (NULL: none)
    const char *value;       // NULL: drop the key
    const char *fragment;    // expected in the error (NULL: must load)
} Mutation;

static const float NAN_F = __builtin_nanf(""), INF_F = __builtin_inff();

// Writes base with one mutation applied to path.
static void write_mutation(const char *path, const StFile *base, const Mutation *mu) {
    StTensor t[16];
    StMeta meta[32];
    int nt = 0, nm = 0;
    static float data[4096];
    int replaced = 0;
    for (int i = 0; i < base->n_tensors; i++) {
        const StTensor *b = &base->tensors[i];
        if (mu->tensor && strcmp(b->name, mu->tensor) == 0) {
            replaced = 1;
            if (mu->drop_tensor) continue;
        } else {
            t[nt++] = *b;
        }
    }
    if (mu->tensor && !mu->drop_tensor) {
        // The replacement: the original values (as many as fit), reshaped.
        StTensor r = {mu->tensor, mu->dtype, mu->ndim, {mu->shape[0], mu->shape[1]}, data};
        size_t bytes = st_numel(&r) * st_dtype_size(r.dtype);
        const StTensor *orig = replaced ? st_find(base, mu->tensor) : NULL;
        memset(data, 0, sizeof data);
        for (size_t k = 0; k < bytes / 4; k++) data[k] = 0.25f * (float)(k % 7);
        if (orig) {
            size_t ob = st_numel(orig) * st_dtype_size(orig->dtype);
            memcpy(data, orig->data, ob < bytes ? ob : bytes);
        }
        if (mu->poison_index >= 0) data[mu->poison_index] = mu->poison;
        t[nt++] = r;
    }
    int key_seen = 0;
    for (int i = 0; i < base->n_meta; i++) {
        if (strncmp(base->meta[i].key, "crc32c_", 7) == 0) continue;  // st_save writes its own
        if (mu->key && strcmp(base->meta[i].key, mu->key) == 0) {
            key_seen = 1;
            if (mu->value) meta[nm++] = (StMeta){mu->key, mu->value};
        } else {
            meta[nm++] = base->meta[i];
        }
    }
    if (mu->key && mu->value && !key_seen) meta[nm++] = (StMeta){mu->key, mu->value};
    Err err;
    if (st_save(path, t, nt, meta, nm, &err)) fprintf(stderr, "write_mutation: %s\n", err.msg);
}

#define T_SHAPE(name, dt, nd, s0, s1) .tensor = name, .dtype = dt, .ndim = nd, .shape = {s0, s1}, .poison_index = -1
#define POISON(name, nd, s0, s1, idx, val) .tensor = name, .dtype = ST_F32, .ndim = nd, .shape = {s0, s1}, .poison_index = idx, .poison = val
#define META(k, v) .key = k, .value = v, .poison_index = -1

static void test_mutations(void) {
    // The base model: V = 9, T = 3, E = 4, H = 6 (test_round_trip_with_state wrote it).
    const Mutation cases[] = {
        // accepted variants
        {T_SHAPE("bngain", ST_F32, 1, 6, 0), .fragment = NULL},
        {T_SHAPE("bnvar", ST_F32, 1, 6, 0), .fragment = NULL},
        {META("lr", "1e-1"), .fragment = NULL},
        {META("bn_stats", "running"), .fragment = NULL},
        {META("momentum", "0.5"), .fragment = NULL},
        {META("format", "makemore-mlp-1"), .fragment = NULL},  // written before the layer table
        // tensors
        {T_SHAPE("W1", ST_F32, 2, 13, 6), .fragment = "tensor \"W1\": shape [13, 6], expected [12, 6]"},
        {T_SHAPE("W1", ST_F32, 2, 6, 12), .fragment = "tensor \"W1\": shape [6, 12], expected [12, 6]"},
        {T_SHAPE("b1", ST_F32, 2, 1, 6), .fragment = "tensor \"b1\": shape [1, 6], expected [6]"},
        {T_SHAPE("C", ST_F32, 1, 36, 0), .fragment = "tensor \"C\": shape [36], expected [9, 4]"},
        {T_SHAPE("bnbias", ST_F32, 1, 7, 0), .fragment = "tensor \"bnbias\": shape [7], expected [1, 6]"},
        {T_SHAPE("C", ST_F64, 2, 9, 4), .fragment = "tensor \"C\": dtype is not F32"},
        {T_SHAPE("b2", ST_I32, 1, 9, 0), .fragment = "tensor \"b2\": dtype is not F32"},
        {POISON("b2", 1, 9, 0, 4, NAN_F), .fragment = "tensor \"b2\": element 4 is nan"},
        {POISON("C", 2, 9, 4, 35, INF_F), .fragment = "tensor \"C\": element 35 is inf"},
        {POISON("W2", 2, 6, 9, 0, -INF_F), .fragment = "tensor \"W2\": element 0 is -inf"},
        {POISON("bnmean", 2, 1, 6, 5, NAN_F), .fragment = "tensor \"bnmean\": element 5"},
        {POISON("bnvar", 2, 1, 6, 2, -0.5f), .fragment = "tensor \"bnvar\": element 2 is -0.5, expected a finite non-negative"},
        {.tensor = "bnvar", .drop_tensor = 1, .poison_index = -1, .fragment = "tensor \"bnvar\" is missing"},
        {.tensor = "C", .drop_tensor = 1, .poison_index = -1, .fragment = "tensor \"C\" is missing"},
        {T_SHAPE("extra", ST_F32, 1, 2, 0), .fragment = "unexpected tensor \"extra\""},
        // configuration
        {META("format", "makemore-mlp-2"), .fragment = "metadata \"format\" = \"makemore-mlp-2\": expected \"makemore-net-1\" or \"makemore-mlp-1\""},
        {META("arch", "cnn"), .fragment = "metadata \"arch\" = \"cnn\": not an architecture of this makemore"},
        {META("arch", "wavenet"), .fragment = "metadata: --block 3 with --arch wavenet"},
        {META("arch", NULL), .fragment = "metadata \"arch\" is missing"},
        {META("layers", "2"), .fragment = "tensor \"W2\": shape [6, 9], expected [6, 6]"},
        {META("layers", "17"), .fragment = "--layers 17 (allowed: 1..16 hidden blocks)"},
        {META("bn_stats", "both"), .fragment = "metadata \"bn_stats\""},
        {META("momentum", "0"), .fragment = "metadata \"momentum\""},
        {META("momentum", "nan"), .fragment = "metadata \"momentum\""},
        {META("format", NULL), .fragment = "metadata \"format\" is missing"},
        {META("vocab_size", "9x"), .fragment = "metadata \"vocab_size\" = \"9x\": expected an integer in 2..256"},
        {META("vocab_size", " 9"), .fragment = "metadata \"vocab_size\""},
        {META("vocab_size", ""), .fragment = "metadata \"vocab_size\""},
        {META("vocab_size", "300"), .fragment = "2..256"},
        {META("vocab_size", "99999999999999999999999"), .fragment = "metadata \"vocab_size\""},
        {META("vocab_size", "10"), .fragment = "metadata \"itos\": expected 10 characters"},
        {META("block", "0"), .fragment = "metadata \"block\" = \"0\": expected an integer in 1..1024"},
        {META("block", "4"), .fragment = "tensor \"W1\": shape [12, 6], expected [16, 6]"},
        {META("embd", "-4"), .fragment = "metadata \"embd\""},
        {META("hidden", "16385"), .fragment = "1..16384"},
        {META("hidden", NULL), .fragment = "metadata \"hidden\" is missing"},
        {META("bn_var", "maybe"), .fragment = "metadata \"bn_var\" = \"maybe\": expected \"unbiased\" or \"biased\""},
        {META("itos", ".aeilmou"), .fragment = "metadata \"itos\": expected 9 characters"},
        {META("itos", "aaeilmouv"), .fragment = "metadata \"itos\""},          // no '.' first
        {META("itos", ".aeilmovu"), .fragment = "metadata \"itos\""},          // not sorted
        {META("itos", ".aaeilmou"), .fragment = "metadata \"itos\""},          // duplicate
        {META("itos", ".aeilm.ou"), .fragment = "metadata \"itos\""},          // '.' again
        {META("itos", ".\taeilmou"), .fragment = "metadata \"itos\""},         // control byte
        {META("itos", ".aeilmou\xc4\x80"), .fragment = "metadata \"itos\""},   // U+0100
        {META("itos", NULL), .fragment = "metadata \"itos\" is missing"},
        // training state
        {META("lr", NULL), .fragment = "partial training state: metadata \"lr\" is missing"},
        {META("lr", "nan"), .fragment = "metadata \"lr\" = \"nan\": expected a finite number"},
        {META("lr2", "0.01 "), .fragment = "metadata \"lr2\""},
        {META("step", "200001"), .fragment = "metadata \"step\" = \"200001\": expected an integer in 0..200000"},
        {META("steps", "-1"), .fragment = "metadata \"steps\""},
        {META("batch", "0"), .fragment = "metadata \"batch\""},
        {META("seed", "-1"), .fragment = "metadata \"seed\" = \"-1\": expected an unsigned 64-bit"},
        {META("seed", "18446744073709551616"), .fragment = "metadata \"seed\""},
        {META("split_seed", "4 2"), .fragment = "metadata \"split_seed\""},
        {META("rng", "0123456789abcdef,fedcba9876543210,0000000000000001"), .fragment = "metadata \"rng\""},
        {META("rng", "0123456789abcdeg,fedcba9876543210,0000000000000001,8000000000000000"), .fragment = "metadata \"rng\""},
        {META("rng", "0000000000000000,0000000000000000,0000000000000000,0000000000000000"), .fragment = "not all zero"},
        {META("calibrated", "2"), .fragment = "metadata \"calibrated\" = \"2\": expected an integer in 0..1"},
    };
    StFile base;
    Err err = {{0}};
    if (st_load(&base, base_path, &err)) {
        CHECK(0, "base file: %s", err.msg);
        return;
    }
    char path[160];
    snprintf(path, sizeof path, "%s/mutant.safetensors", tmpdir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_mutation(path, &base, &cases[i]);
        Net m;
        Vocab v;
        TrainState ts;
        int has;
        memset(&err, 0, sizeof err);
        int rc = net_load(&m, &v, &ts, &has, path, 1, &err);
        if (rc == 0 && !strcmp(cases[i].key ? cases[i].key : "", "format"))  // the old format
            CHECK(m.cfg.arch == ARCH_MLP && m.cfg.layers == 1 && m.cfg.bn_stats == BN_STATS_CALIBRATE,
                  "a makemore-mlp-1 file loaded as %s/%d", net_arch_name(m.cfg.arch), m.cfg.layers);
        if (!cases[i].fragment) {
            CHECK(rc == 0, "case %zu rejected: %s", i, err.msg);
            if (rc == 0) net_free(&m);
            continue;
        }
        CHECK(rc == -1, "case %zu accepted (want \"%s\")", i, cases[i].fragment);
        if (rc == 0) net_free(&m);
        CHECK(strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, cases[i].fragment),
              "case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].fragment);
        CHECK(m.params == NULL, "case %zu: a failed load allocated the model", i);
    }
    unlink(path);
    st_free(&base);
}

static void test_load_errors(void) {
    Net m;
    Vocab v;
    Err err = {{0}};
    char path[160];
    snprintf(path, sizeof path, "%s/absent.safetensors", tmpdir);
    CHECK(net_load(&m, &v, NULL, NULL, path, 1, &err) == -1, "missing file loaded");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "No such file"), "message: %s", err.msg);
    CHECK(net_load(&m, &v, NULL, NULL, base_path, 0, &err) == -1, "B = 0 accepted");
    CHECK(strstr(err.msg, "batch size 0"), "message: %s", err.msg);
    // A safetensors file that is not a checkpoint.
    const float x[2] = {1, 2};
    StTensor t = {"weight", ST_F32, 1, {2}, x};
    CHECK(st_save(path, &t, 1, NULL, 0, &err) == 0, "%s", err.msg);
    CHECK(net_load(&m, &v, NULL, NULL, path, 1, &err) == -1, "foreign file loaded");
    CHECK(strstr(err.msg, "metadata \"format\" is missing"), "message: %s", err.msg);
    unlink(path);
}

TEST_MAIN {
    TEST_SETUP();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_ckpt_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(base_path, sizeof base_path, "%s/base.safetensors", tmpdir);
    RUN_TEST(test_round_trip_with_state);
    RUN_TEST(test_round_trip_plain_biased_utf8);
    RUN_TEST(test_save_refuses_vocab_mismatch);
    RUN_TEST(test_mutations);
    RUN_TEST(test_load_errors);
    unlink(base_path);
    rmdir(tmpdir);
    return check_summary();
}
