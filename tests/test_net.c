// test_net.c: the layer table (counts, names, views), every layer's backward against the
// float64 twin and central differences, mlp/1 against model.c, running statistics and
// calibration, and a short WaveNet training run.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "model.h"
#include "checkpoint.h"
#include "net.h"
#include "net_io.h"
#include "net_ref.h"

static NetConfig config(NetArch arch, int V, int T, int E, int H, int layers) {
    NetConfig c = {.arch = arch, .V = V, .T = T, .E = E, .H = H, .layers = layers, .bessel = 1,
                   .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f};
    Err err;
    if (net_config_check(&c, &err) != 0) fprintf(stderr, "config: %s\n", err.msg);
    return c;
}

// Random examples (no packed rows: examples_sample_batch reads X and Y).
static Examples random_examples(int n, int T, int V, uint64_t seed) {
    Examples ex = {.n = n, .T = T, .rows = NULL};
    ex.X = malloc((size_t)n * T * sizeof(int));
    ex.Y = malloc((size_t)n * sizeof(int));
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < T; t++) ex.X[(size_t)i * T + t] = (int)rng_below(&r, (uint32_t)V);
        ex.Y[i] = (ex.X[(size_t)i * T + T - 1] * 7 + 3) % V;  // learnable
    }
    return ex;
}

static void test_parameter_counts(void) {
    NetConfig w = config(ARCH_WAVENET, 27, 8, 24, 128, 0), m = config(ARCH_MLP, 27, 3, 10, 200, 1);
    Net n;
    net_build(&n, &w, 32);
    CHECK(n.num_params == 76579, "wavenet: %zu parameters, part 5 has 76579", n.num_params);
    CHECK(w.layers == 3, "wavenet block 8: %d levels", w.layers);
    const char *wave_names[] = {"C", "W1", "W2", "W3", "W4", "b4", "bngain1", "bnbias1",
                                "bngain2", "bnbias2", "bngain3", "bnbias3", "bnmean1", "bnvar1",
                                "bnmean2", "bnvar2", "bnmean3", "bnvar3"};
    CHECK(n.n_tensors == 18, "wavenet: %d tensors", n.n_tensors);
    for (int i = 0; i < 18 && i < n.n_tensors; i++)
        CHECK(!strcmp(n.tensor[i].name, wave_names[i]), "tensor %d: %s", i, n.tensor[i].name);
    net_build(&n, &m, 32);
    CHECK(n.num_params == 12297, "mlp/1: %zu parameters, the lecture has 12297", n.num_params);
    Config mc = {.V = 27, .T = 3, .E = 10, .H = 200, .bessel = 1};
    CHECK(n.num_params == params_total(&mc), "mlp/1 %zu vs model.c %zu", n.num_params, params_total(&mc));
    for (int i = 0; i < NUM_PARAMS; i++) {  // model.c's names, order and offsets
        CHECK(!strcmp(n.tensor[i].name, PARAM_NAMES[i]), "tensor %d: %s vs %s", i,
              n.tensor[i].name, PARAM_NAMES[i]);
        CHECK(n.tensor[i].numel == param_numel(&mc, i), "%s numel", PARAM_NAMES[i]);
    }
    CHECK(!strcmp(n.tensor[7].name, "bnmean") && !strcmp(n.tensor[8].name, "bnvar"), "buffers");
    NetConfig m3 = config(ARCH_MLP, 27, 3, 10, 200, 3);
    net_build(&n, &m3, 32);
    CHECK(n.num_params == 270 + 30 * 200 + 200 + 2 * (200 * 200 + 200) + 200 * 27 + 27 + 3 * 400,
          "mlp/3: %zu", n.num_params);
    CHECK(net_find(&n, "bngain3") >= 0 && net_find(&n, "W4") >= 0 && net_find(&n, "b4") >= 0,
          "mlp/3 names");
    NetConfig bad = {.arch = ARCH_WAVENET, .V = 27, .T = 6, .E = 4, .H = 4, .momentum = 0.1f};
    Err err;
    CHECK(net_config_check(&bad, &err) != 0 && strstr(err.msg, "power of two"), "block 6");
}

// Flatten is a view: its output and gradient are its input's floats.
static void test_flatten_is_view(void) {
    NetConfig w = config(ARCH_WAVENET, 27, 8, 24, 128, 0);
    Net n;
    net_build(&n, &w, 4);
    int flat = 0;
    for (int l = 1; l < n.n_layers; l++)
        if (n.layer[l].kind == L_FLATTEN) {
            flat++;
            CHECK(n.layer[l].out == n.layer[l - 1].out && n.layer[l].dout == n.layer[l - 1].dout,
                  "layer %d copies", l);
            CHECK(n.layer[l].rows * n.layer[l].cols == n.layer[l - 1].rows * n.layer[l - 1].cols,
                  "layer %d changes the size", l);
            CHECK(n.layer[l].rows * 2 == n.layer[l - 1].rows, "layer %d: rows", l);
        }
    CHECK(flat == 3, "%d flatten layers", flat);
}

// Every parameter gradient of the float32 backward against the float64 twin, and the
// twin against central differences of the float64 loss (every element), at small sizes.
static void check_gradients(NetConfig c, int B, uint64_t seed) {
    Net n;
    net_alloc(&n, &c, B);
    Rng r;
    rng_seed(&r, seed);
    net_init(&n, &r, 1);
    Examples ex = random_examples(64, c.T, c.V, seed + 1);
    examples_sample_batch(n.Xb, n.Yb, &ex, B, &r);
    net_forward(&n, n.Xb, n.Yb, 0);
    net_backward(&n);
    double *P = malloc(n.num_params * sizeof(double)), *G = malloc(n.num_params * sizeof(double));
    for (size_t i = 0; i < n.num_params; i++) P[i] = n.params[i];
    double loss = net_ref_loss(&n, P, n.Xb, n.Yb, B, G);
    CHECK(fabs(loss - n.loss) < 1e-5, "%s: loss %g vs %g", net_arch_name(c.arch), (double)n.loss, loss);
    for (int t = 0; t < n.n_tensors; t++) {
        const NetTensor *T = &n.tensor[t];
        if (T->is_stat) continue;
        double scale = 0, worst_f = 0, worst_fd = 0;
        for (size_t k = 0; k < T->numel; k++) scale = fmax(scale, fabs(G[T->off + k]));
        for (size_t k = 0; k < T->numel; k++) {
            size_t i = T->off + k;
            worst_f = fmax(worst_f, fabs(n.grads[i] - G[i]));
            double h = 1e-5, keep = P[i];
            P[i] = keep + h;
            double up = net_ref_loss(&n, P, n.Xb, n.Yb, B, NULL);
            P[i] = keep - h;
            double dn = net_ref_loss(&n, P, n.Xb, n.Yb, B, NULL);
            P[i] = keep;
            worst_fd = fmax(worst_fd, fabs((up - dn) / (2 * h) - G[i]));
        }
        CHECK(worst_f <= 1e-5 * scale + 1e-7, "%s %s: float32 vs float64 maxdiff %g (scale %g)",
              net_arch_name(c.arch), T->name, worst_f, scale);
        CHECK(worst_fd <= 1e-6 * scale + 1e-8, "%s %s: float64 vs differences maxdiff %g (scale %g)",
              net_arch_name(c.arch), T->name, worst_fd, scale);
        CHECK(scale > 0, "%s %s: gradient all zero (checks nothing)", net_arch_name(c.arch), T->name);
    }
    // The fused step (weights updated in their GEMMs) against backward + sgd.
    float *after = malloc(n.num_params * sizeof(float));
    float *before = malloc(n.num_params * sizeof(float));
    memcpy(before, n.params, n.num_params * sizeof(float));
    net_sgd(&n, 0.1f);
    memcpy(after, n.params, n.num_params * sizeof(float));
    memcpy(n.params, before, n.num_params * sizeof(float));
    net_forward(&n, n.Xb, n.Yb, 0);
    net_backward_sgd(&n, 0.1f);
    double d = 0;
    for (size_t i = 0; i < n.num_params; i++) d = fmax(d, fabs(after[i] - n.params[i]));
    CHECK(d < 1e-6, "%s: fused step vs backward + sgd: %g", net_arch_name(c.arch), d);
    free(after);
    free(before);
    free(P);
    free(G);
    free(ex.X);
    free(ex.Y);
    net_free(&n);
}

static void test_gradients_wavenet(void) {
    check_gradients(config(ARCH_WAVENET, 7, 8, 3, 5, 0), 6, 1);
    check_gradients(config(ARCH_WAVENET, 5, 2, 4, 3, 0), 3, 2);  // one level
    NetConfig biased = config(ARCH_WAVENET, 6, 4, 3, 4, 0);
    biased.bessel = 0;
    check_gradients(biased, 4, 3);
}

static void test_gradients_mlp(void) {
    check_gradients(config(ARCH_MLP, 7, 3, 3, 5, 3), 6, 4);
    check_gradients(config(ARCH_MLP, 6, 2, 2, 4, 1), 5, 5);
}

// net mlp/1 against model.c: the same initialisation bit for bit, and the same losses
// and parameters over a run of steps within float32 rounding.
static void test_mlp1_matches_model(void) {
    NetConfig c = config(ARCH_MLP, 27, 3, 10, 200, 1);
    Config mc = {.V = 27, .T = 3, .E = 10, .H = 200, .bessel = 1};
    const int B = 32, steps = 50;
    Net n;
    Model m;
    net_alloc(&n, &c, B);
    model_alloc(&m, &mc, B);
    Rng rn, rm;
    rng_seed(&rn, 7);
    rng_seed(&rm, 7);
    net_init(&n, &rn, 0);
    model_init_weights(&m, &rm);
    CHECK(!memcmp(n.params, m.params_memory, n.num_params * sizeof(float)), "initialisation differs");
    Examples ex = random_examples(5000, 3, 27, 8);
    double worst_loss = 0;
    int identical = 1;
    for (int s = 0; s < steps; s++) {
        float lr = s < steps / 2 ? 0.1f : 0.01f;
        float a = net_train_step(&n, &ex, lr, &rn), b = model_train_step(&m, &ex, lr, &rm);
        worst_loss = fmax(worst_loss, fabs(a - b) / fabs(b));
        identical &= a == b;
    }
    double worst_p = 0;
    for (size_t i = 0; i < n.num_params; i++)
        worst_p = fmax(worst_p, fabs(n.params[i] - m.params_memory[i]));
    identical &= !memcmp(n.params, m.params_memory, n.num_params * sizeof(float));
    CHECK(worst_loss < 1e-5, "losses differ by %g (relative)", worst_loss);
    CHECK(worst_p < 1e-4, "parameters differ by %g", worst_p);
    printf("  mlp/1 net vs model.c over %d steps: %s (max relative loss difference %g)\n", steps,
           identical ? "bit-identical" : "within rounding", worst_loss);
    // Calibration and evaluation: the same algorithm, so the same statistics.
    Examples cal = random_examples(9000, 3, 27, 9);
    net_calibrate(&n, &cal);
    memcpy(m.params_memory, n.params, n.num_params * sizeof(float));
    model_calibrate(&m, &cal);
    CHECK(!memcmp(net_tensor(&n, 7), m.bnmean, 200 * sizeof(float)), "bnmean differs");
    CHECK(!memcmp(net_tensor(&n, 8), m.bnvar, 200 * sizeof(float)), "bnvar differs");
    double ln = net_eval_loss(&n, &cal), lm = model_eval_loss(&m, &cal);
    CHECK(ln == lm, "eval loss %.9g vs %.9g", ln, lm);
    free(cal.X);
    free(cal.Y);
    free(ex.X);
    free(ex.Y);
    net_free(&n);
    model_free(&m);
}

// Running statistics: one step from (0, 1) moves them to 0.1 * the batch's statistics
// (+ 0.9 for the variance); calibration over a split equal to the batch gives the batch's.
static void test_running_stats(void) {
    NetConfig c = config(ARCH_WAVENET, 7, 4, 3, 5, 0);
    c.bn_stats = BN_STATS_RUNNING;
    const int B = 8;
    Net n;
    net_alloc(&n, &c, B);
    Rng r;
    rng_seed(&r, 3);
    net_init(&n, &r, 1);
    Examples ex = random_examples(B, 4, 7, 4);
    net_forward(&n, ex.X, ex.Y, 1);
    double worst = 0;
    for (int l = 0; l < n.n_layers; l++) {
        const Layer *L = &n.layer[l];
        if (L->kind != L_BN_TANH) continue;
        for (int j = 0; j < L->cols; j++) {
            worst = fmax(worst, fabs(net_tensor(&n, L->mean)[j] - 0.1f * n.acts[L->bmean + j]));
            worst = fmax(worst, fabs(net_tensor(&n, L->var)[j] - (0.9f + 0.1f * n.acts[L->bvar + j])));
        }
    }
    CHECK(worst < 1e-6, "running update off by %g", worst);
    // Calibrated on exactly the batch, the first layer's statistics are the batch's.
    net_calibrate(&n, &ex);
    const Layer *L = &n.layer[3];
    CHECK(L->kind == L_BN_TANH, "layer 3 is %d", L->kind);
    for (int j = 0; j < L->cols; j++) {
        CHECK(fabs(net_tensor(&n, L->mean)[j] - n.acts[L->bmean + j]) < 1e-5, "mean %d", j);
        CHECK(fabs(net_tensor(&n, L->var)[j] - n.acts[L->bvar + j]) < 1e-4 * (1 + n.acts[L->bvar + j]),
              "var %d", j);
    }
    free(ex.X);
    free(ex.Y);
    net_free(&n);
}

// A short WaveNet run on the names: the loss goes down, evaluation is finite.
static void test_wavenet_trains(void) {
    Words w;
    Vocab v;
    Split s;
    Err err;
    if (words_load(&w, "data/names.txt", &err) != 0) {
        CHECK(0, "%s", err.msg);
        return;
    }
    vocab_build(&v, &w);
    CHECK(split_build(&s, &w, &v, 8, 42, &err) == 0, "%s", err.msg);
    NetConfig c = config(ARCH_WAVENET, v.V, 8, 10, 32, 0);
    c.bn_stats = BN_STATS_RUNNING;
    Net n;
    net_alloc(&n, &c, 32);
    Rng r;
    rng_seed(&r, 1);
    net_init(&n, &r, 0);
    double first = 0, last = 0;
    const int steps = 600;
    for (int i = 0; i < steps; i++) {
        float loss = net_train_step(&n, &s.train, 0.1f, &r);
        if (i < 50) first += loss / 50;
        if (i >= steps - 50) last += loss / 50;
    }
    double val = net_eval_loss(&n, &s.val);
    printf("  wavenet E=10 H=32, %d steps: mean loss %.3f -> %.3f, val %.3f\n", steps, first, last, val);
    CHECK(first > 2.8 && last < first - 0.4, "loss %.3f -> %.3f", first, last);
    CHECK(val < 2.9 && isfinite(val), "val %.3f", val);
    net_free(&n);
    split_free(&s);
    words_free(&w);
}

// A model.c checkpoint loads as mlp/1 (same tensors); a Net file round-trips exactly,
// and a file whose metadata contradicts its tensors is refused.
static void test_checkpoints(void) {
    char path[] = "/tmp/test_net_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    Config mc = {.V = 27, .T = 3, .E = 10, .H = 20, .bessel = 1};
    Model m;
    model_alloc(&m, &mc, 4);
    Rng r;
    rng_seed(&r, 5);
    model_init_weights(&m, &r);
    for (int j = 0; j < 20; j++) m.bnmean[j] = 0.01f * j;
    Vocab v = {.V = 27};
    v.itos[0] = '.';
    for (int i = 1; i < 27; i++) v.itos[i] = (char)('a' + i - 1);
    Err err;
    CHECK(checkpoint_save(path, &m, &v, NULL, &err) == 0, "%s", err.msg);
    Net n;
    Vocab v2;
    int has_ts = 1;
    CHECK(net_load(&n, &v2, NULL, &has_ts, path, 4, &err) == 0, "%s", err.msg);
    CHECK(n.cfg.arch == ARCH_MLP && n.cfg.layers == 1 && !has_ts, "config");
    CHECK(!memcmp(n.params, m.params_memory, n.num_params * sizeof(float)), "parameters");
    CHECK(!memcmp(net_tensor(&n, net_find(&n, "bnmean")), m.bnmean, 20 * sizeof(float)), "bnmean");
    net_free(&n);
    model_free(&m);
    NetConfig c = config(ARCH_WAVENET, 27, 4, 5, 6, 0);
    c.bn_stats = BN_STATS_RUNNING;
    net_alloc(&n, &c, 4);
    net_init(&n, &r, 1);
    TrainState ts = {.step = 3, .steps = 9, .lr = 0.1f, .lr2 = 0.01f, .batch = 4, .seed = 1,
                     .split_seed = 42, .rng = {1, 2, 3, 4}};
    CHECK(net_save(path, &n, &v, &ts, &err) == 0, "%s", err.msg);
    Net back;
    TrainState ts2;
    CHECK(net_load(&back, &v2, &ts2, &has_ts, path, 4, &err) == 0, "%s", err.msg);
    CHECK(has_ts && ts2.step == 3 && ts2.rng[3] == 4, "training state");
    CHECK(back.cfg.arch == ARCH_WAVENET && back.cfg.layers == 2 && back.cfg.bn_stats == BN_STATS_RUNNING,
          "config");
    CHECK(!memcmp(back.params, n.params, n.num_params * sizeof(float)) &&
          !memcmp(back.stats, n.stats, n.num_stats * sizeof(float)), "tensors");
    net_free(&back);
    n.cfg.arch = ARCH_MLP;  // metadata that contradicts the tensors
    n.cfg.layers = 2;
    CHECK(net_save(path, &n, &v, NULL, &err) == 0, "%s", err.msg);
    CHECK(net_load(&back, &v2, NULL, NULL, path, 4, &err) != 0 && strstr(err.msg, "tensor"),
          "contradicting metadata loaded: %s", err.msg);
    net_free(&n);
    unlink(path);
}

TEST_MAIN {
    TEST_SETUP();
    RUN_TEST(test_parameter_counts);
    RUN_TEST(test_flatten_is_view);
    RUN_TEST(test_gradients_wavenet);
    RUN_TEST(test_gradients_mlp);
    RUN_TEST(test_mlp1_matches_model);
    RUN_TEST(test_running_stats);
    RUN_TEST(test_checkpoints);
    RUN_TEST(test_wavenet_trains);
    return check_summary();
}
