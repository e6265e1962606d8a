// test_net.c: the layer table (counts, names, the lecture's parameter layout, views), every
// layer's backward against the float64 twin and central differences, the fused step against
// backward + SGD, the lecture's model (mlp/1) stepping as its float64 twin, determinism and
// thread-count independence, calibration and evaluation against a double reference, packed
// batch sampling, running statistics, checkpoints (a makemore-mlp-1 file loads as mlp/1), and
// short training runs on names.txt (the lecture's recipe, a WaveNet).
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "checkpoint.h"
#include "net.h"
#include "net_io.h"
#include "net_ref.h"
#include "safetensors.h"

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
    ex.X = xcalloc((size_t)n * T, sizeof(int));
    ex.Y = xcalloc((size_t)n, sizeof(int));
    Rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        for (int t = 0; t < T; t++) ex.X[(size_t)i * T + t] = (int)rng_below(&r, (uint32_t)V);
        ex.Y[i] = (ex.X[(size_t)i * T + T - 1] * 7 + 3) % V;  // learnable
    }
    return ex;
}

static const char *names_path(void) {
    const char *p = getenv("NAMES");
    return p && *p ? p : "data/names.txt";
}

// Every tensor's offset follows the one before it (parameters and statistics apart), and
// the parameters fill num_params, the statistics num_stats.
static void check_contiguous(const Net *n, const char *what) {
    size_t at[2] = {0, 0};
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        CHECK(t->off == at[t->is_stat], "%s: tensor %s at %zu, expected %zu", what, t->name,
              t->off, at[t->is_stat]);
        size_t numel = (size_t)t->shape[0] * (size_t)(t->ndim == 2 ? t->shape[1] : 1);
        CHECK(t->numel == numel, "%s: %s numel %zu vs its shape's %zu", what, t->name, t->numel, numel);
        at[t->is_stat] += t->numel;
    }
    CHECK(at[0] == n->num_params && at[1] == n->num_stats, "%s: %zu + %zu floats vs %zu + %zu",
          what, at[0], at[1], n->num_params, n->num_stats);
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
    check_contiguous(&n, "wavenet");
    net_build(&n, &m, 32);
    CHECK(n.num_params == 12297, "mlp/1: %zu parameters, the lecture has 12297", n.num_params);
    NetConfig m3 = config(ARCH_MLP, 27, 3, 10, 200, 3);
    net_build(&n, &m3, 32);
    CHECK(n.num_params == 270 + 30 * 200 + 200 + 2 * (200 * 200 + 200) + 200 * 27 + 27 + 3 * 400,
          "mlp/3: %zu", n.num_params);
    CHECK(net_find(&n, "bngain3") >= 0 && net_find(&n, "W4") >= 0 && net_find(&n, "b4") >= 0,
          "mlp/3 names");
    check_contiguous(&n, "mlp/3");
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

// The lecture's model (V=27, T=3, E=10, H=200): its nine tensors in the notebook's order,
// names, shapes and offsets written out here (12297 parameters, then bnmean and bnvar).
static void test_mlp1_layout(void) {
    NetConfig c = config(ARCH_MLP, 27, 3, 10, 200, 1);
    Net n;
    net_alloc(&n, &c, 32);
    static const struct {
        const char *name;
        int ndim, rows, cols, is_stat;
        size_t off;
    } want[] = {{"C", 2, 27, 10, 0, 0},        {"W1", 2, 30, 200, 0, 270},
                {"b1", 1, 200, 0, 0, 6270},    {"W2", 2, 200, 27, 0, 6470},
                {"b2", 1, 27, 0, 0, 11870},    {"bngain", 2, 1, 200, 0, 11897},
                {"bnbias", 2, 1, 200, 0, 12097}, {"bnmean", 2, 1, 200, 1, 0},
                {"bnvar", 2, 1, 200, 1, 200}};
    CHECK(n.n_tensors == 9, "%d tensors", n.n_tensors);
    for (int i = 0; i < 9 && i < n.n_tensors; i++) {
        const NetTensor *t = &n.tensor[i];
        CHECK(!strcmp(t->name, want[i].name), "tensor %d: %s, the lecture's is %s", i, t->name,
              want[i].name);
        CHECK(t->ndim == want[i].ndim && t->shape[0] == want[i].rows &&
                  (t->ndim == 1 || t->shape[1] == want[i].cols),
              "%s: shape [%d, %d]", t->name, t->shape[0], t->shape[1]);
        CHECK(t->is_stat == want[i].is_stat && t->off == want[i].off, "%s: at %zu (stat %d)",
              t->name, t->off, t->is_stat);
        CHECK(net_find(&n, want[i].name) == i, "net_find(%s)", want[i].name);
        CHECK(net_tensor(&n, i) == (t->is_stat ? n.stats : n.params) + want[i].off, "%s: data",
              t->name);
    }
    CHECK(n.num_params == 12297 && n.num_stats == 400, "%zu parameters, %zu statistics",
          n.num_params, n.num_stats);
    CHECK(net_find(&n, "W3") < 0 && net_find(&n, "bngain1") < 0, "names of other models");
    // statistics start at mean 0, variance 1 (before any calibration)
    int fresh = 1;
    for (int j = 0; j < 200; j++) fresh &= net_tensor(&n, 7)[j] == 0.0f && net_tensor(&n, 8)[j] == 1.0f;
    CHECK(fresh, "bnmean / bnvar do not start at 0 / 1");
    net_free(&n);
}

// The fused step (weights updated inside their GEMMs) against net_backward + net_sgd at the
// lecture's sizes and an odd batch, the biased variance, and a WaveNet: the same loss, the
// same non-GEMM gradients bit for bit, the same parameters within float rounding.
static void test_fused_step_matches_backward_plus_sgd(void) {
    const int B = 33;
    NetConfig cfgs[] = {config(ARCH_MLP, 27, 3, 10, 200, 1), config(ARCH_MLP, 27, 4, 3, 37, 1),
                        config(ARCH_WAVENET, 27, 8, 10, 24, 0)};
    cfgs[1].bessel = 0;
    for (int k = 0; k < 3; k++) {
        Net a, b;
        Rng rng;
        rng_seed(&rng, 7);
        net_alloc(&a, &cfgs[k], B);
        net_alloc(&b, &cfgs[k], B);
        net_init(&a, &rng, 0);
        memcpy(b.params, a.params, a.num_params * sizeof(float));
        float *init = xcalloc(a.num_params, sizeof(float));
        memcpy(init, a.params, a.num_params * sizeof(float));
        Examples ex = random_examples(500, cfgs[k].T, 27, 100 + k);
        examples_sample_batch(a.Xb, a.Yb, &ex, B, &rng);
        float la = net_forward(&a, a.Xb, a.Yb, 1);
        net_backward(&a);
        net_sgd(&a, 0.1f);
        float lb = net_forward(&b, a.Xb, a.Yb, 1);
        net_backward_sgd(&b, 0.1f);
        CHECK(la == lb, "config %d: same forward, different loss", k);
        double maxd = 0, moved = 0;
        for (size_t i = 0; i < a.num_params; i++) {
            maxd = fmax(maxd, fabs(a.params[i] - b.params[i]));
            moved = fmax(moved, fabs(b.params[i] - init[i]));
        }
        CHECK(maxd < 1e-6, "config %d: fused step differs from backward+sgd by %g", k, maxd);
        CHECK(moved > 1e-4, "config %d: the step moved no parameter (by %g)", k, moved);
        for (int i = 0; i < a.n_tensors; i++) {
            const NetTensor *t = &a.tensor[i];
            if (t->is_stat || t->gemm_updated) continue;
            CHECK(!memcmp(a.grads + t->off, b.grads + t->off, t->numel * sizeof(float)),
                  "config %d: d%s differs", k, t->name);
        }
        xfree(init);
        examples_free(&ex);
        net_free(&a);
        net_free(&b);
    }
}

// steps training steps of c at batch B from seed on ex; losses into out, and the final
// parameters and statistics into params (num_params + num_stats floats) when not NULL.
static void run_steps(float *out, float *params, int steps, int threads, NetConfig c, int B,
                      const Examples *ex, int calibrate) {
    threads_set(threads);
    Net n;
    Rng rng;
    rng_seed(&rng, 2147483647u);
    net_alloc(&n, &c, B);
    net_init(&n, &rng, 0);
    for (int i = 0; i < steps; i++) out[i] = net_train_step(&n, ex, 0.1f, &rng);
    if (calibrate) net_calibrate(&n, ex);
    if (params) {
        memcpy(params, n.params, n.num_params * sizeof(float));
        memcpy(params + n.num_params, n.stats, n.num_stats * sizeof(float));
    }
    net_free(&n);
}

// The same seed gives the same losses bit for bit; at the lecture's batch no kernel forks,
// so 1 and 2 threads give the same bits too. And the loss goes down.
static void test_determinism(void) {
    const int threads = threads_get();
    NetConfig cfgs[] = {config(ARCH_MLP, 27, 3, 10, 200, 1), config(ARCH_WAVENET, 27, 8, 10, 32, 0)};
    for (int k = 0; k < 2; k++) {
        Examples ex = random_examples(2000, cfgs[k].T, 27, 3);
        enum { N = 300 };
        float a[N], b[N], c[N];
        run_steps(a, NULL, N, 1, cfgs[k], 32, &ex, 0);
        run_steps(b, NULL, N, 1, cfgs[k], 32, &ex, 0);
        run_steps(c, NULL, N, 2, cfgs[k], 32, &ex, 0);
        const char *arch = net_arch_name(cfgs[k].arch);
        CHECK(memcmp(a, b, sizeof a) == 0, "%s: same seed, same threads: losses differ", arch);
        CHECK(memcmp(a, c, sizeof a) == 0, "%s: 1 vs 2 threads at B=32: losses differ", arch);
        double first = 0, last = 0;
        for (int i = 0; i < 20; i++) first += a[i] / 20, last += a[N - 1 - i] / 20;
        CHECK(last < first - 0.5, "%s: loss did not go down (%g -> %g)", arch, first, last);
        examples_free(&ex);
    }
    threads_set(threads);
}

// Above the fork thresholds (batchnorm and cross-entropy cut into parts, GEMMs into tiles)
// the results still do not depend on the thread count: every reduction's order is fixed by
// the sizes alone. 1, 2 and 3 threads: losses, parameters and calibrated statistics.
static void test_thread_count_independent_at_large_batch(void) {
    const int threads = threads_get();
    struct {
        NetConfig c;
        int B;
    } runs[] = {{config(ARCH_MLP, 27, 3, 10, 256, 1), 512}, {config(ARCH_WAVENET, 27, 8, 10, 64, 0), 512}};
    for (int k = 0; k < 2; k++) {
        const NetConfig *c = &runs[k].c;
        const int B = runs[k].B;
        const char *arch = net_arch_name(c->arch);
        // the narrowest batchnorm (the last: B rows of H) is at the threshold or above
        CHECK(par_worth((long)B * c->H), "%s: B*H below the fork threshold: tests nothing", arch);
        Net shape;
        net_build(&shape, c, B);
        size_t n = shape.num_params + shape.num_stats;
        Examples ex = random_examples(4000, c->T, 27, 5);
        enum { N = 5 };
        float loss[3][N], *params[3];
        for (int t = 0; t < 3; t++) {
            params[t] = xcalloc(n, sizeof(float));
            run_steps(loss[t], params[t], N, t + 1, *c, B, &ex, 1);
        }
        for (int t = 1; t < 3; t++) {
            CHECK(memcmp(loss[0], loss[t], sizeof loss[0]) == 0, "%s: losses: 1 vs %d threads differ",
                  arch, t + 1);
            CHECK(memcmp(params[0], params[t], n * sizeof(float)) == 0,
                  "%s: parameters or calibrated statistics: 1 vs %d threads differ", arch, t + 1);
        }
        for (int t = 0; t < 3; t++) xfree(params[t]);
        examples_free(&ex);
    }
    threads_set(threads);
}

// The inference forward in double, written from the architecture (part 4's MLP, part 5's
// WaveNet), not from the layer table: embedding, flatten (T, or 2 per level), linear,
// batchnorm on the net's statistics + tanh, output. For each batchnorm it also takes the
// mean and unbiased variance of its input over all its rows (the lecture's calibration)
// into mean / var [layers * H]. logits [n, V]; returns the mean cross-entropy.
static double ref_infer(const Net *n, const Examples *ex, double *mean, double *var, double *logits) {
    const NetConfig *c = &n->cfg;
    const int wave = c->arch == ARCH_WAVENET, numbered = wave || c->layers > 1, H = c->H;
    char name[16];
    long rows = (long)ex->n * c->T;
    int cols = c->E;
    double *x = xcalloc((size_t)rows * cols, sizeof(double));
    const float *C = net_tensor(n, net_find(n, "C"));
    for (long r = 0; r < rows; r++)
        for (int e = 0; e < cols; e++) x[r * cols + e] = C[ex->X[r] * c->E + e];
    for (int k = 1; k <= c->layers; k++) {
        int f = wave ? 2 : (k == 1 ? c->T : 1);  // flatten: a view, only the shape changes
        rows /= f;
        cols *= f;
        snprintf(name, sizeof name, "W%d", k);
        const float *W = net_tensor(n, net_find(n, name));
        snprintf(name, sizeof name, "b%d", k);
        const float *b = net_find(n, name) >= 0 ? net_tensor(n, net_find(n, name)) : NULL;
        CHECK(wave == (b == NULL), "layer %d: a bias where none is due, or none where one is", k);
        double *y = xcalloc((size_t)rows * H, sizeof(double));
        for (long r = 0; r < rows; r++)
            for (int j = 0; j < H; j++) {
                double acc = b ? b[j] : 0.0;
                for (int i = 0; i < cols; i++) acc += x[r * cols + i] * W[(size_t)i * H + j];
                y[r * H + j] = acc;
            }
        double *m = mean + (size_t)(k - 1) * H, *v = var + (size_t)(k - 1) * H;
        for (int j = 0; j < H; j++) m[j] = v[j] = 0;
        for (long r = 0; r < rows; r++)
            for (int j = 0; j < H; j++) m[j] += y[r * H + j];
        for (int j = 0; j < H; j++) m[j] /= rows;
        for (long r = 0; r < rows; r++)
            for (int j = 0; j < H; j++) v[j] += (y[r * H + j] - m[j]) * (y[r * H + j] - m[j]);
        for (int j = 0; j < H; j++) v[j] /= rows - 1;
        const char *base[4] = {"bngain", "bnbias", "bnmean", "bnvar"};
        const float *p[4];
        for (int q = 0; q < 4; q++) {
            if (numbered) snprintf(name, sizeof name, "%s%d", base[q], k);
            else snprintf(name, sizeof name, "%s", base[q]);
            p[q] = net_tensor(n, net_find(n, name));
        }
        for (long r = 0; r < rows; r++)
            for (int j = 0; j < H; j++)
                y[r * H + j] = tanh(p[0][j] * (y[r * H + j] - p[2][j]) / sqrt(p[3][j] + 1e-5) + p[1][j]);
        xfree(x);
        x = y;
        cols = H;
    }
    CHECK(rows == ex->n && cols == H, "reference: %ld rows of %d at the output", rows, cols);
    snprintf(name, sizeof name, "W%d", c->layers + 1);
    const float *W = net_tensor(n, net_find(n, name));
    snprintf(name, sizeof name, "b%d", c->layers + 1);
    const float *b = net_tensor(n, net_find(n, name));
    double loss = 0;
    for (int i = 0; i < ex->n; i++) {
        double *l = logits + (size_t)i * c->V, mx = -INFINITY, s = 0;
        for (int o = 0; o < c->V; o++) {
            l[o] = b[o];
            for (int j = 0; j < H; j++) l[o] += x[(size_t)i * H + j] * W[(size_t)j * c->V + o];
            mx = fmax(mx, l[o]);
        }
        for (int o = 0; o < c->V; o++) s += exp(l[o] - mx);
        loss += log(s) + mx - l[ex->Y[i]];
    }
    xfree(x);
    return loss / ex->n;
}

// net_calibrate, net_eval_loss and net_logits against ref_infer, on 5000 examples (more
// than one 4096 chunk), for the lecture's model (H = 37), a 2-layer MLP and a WaveNet,
// after a few training steps so that no tensor is at its initial value.
static void test_calibrate_and_eval(void) {
    NetConfig cfgs[] = {config(ARCH_MLP, 27, 3, 10, 37, 1), config(ARCH_MLP, 27, 3, 6, 20, 2),
                        config(ARCH_WAVENET, 27, 8, 4, 16, 0)};
    for (int k = 0; k < 3; k++) {
        const NetConfig *c = &cfgs[k];
        Net n;
        Rng rng;
        rng_seed(&rng, 11);
        net_alloc(&n, c, 32);
        net_init(&n, &rng, 0);
        Examples ex = random_examples(5000, c->T, 27, 12 + k);
        for (int s = 0; s < 20; s++) net_train_step(&n, &ex, 0.1f, &rng);
        net_calibrate(&n, &ex);
        size_t LH = (size_t)c->layers * c->H;
        double *mean = xcalloc(LH, sizeof(double)), *var = xcalloc(LH, sizeof(double));
        double *logits = xcalloc((size_t)ex.n * 27, sizeof(double));
        double loss = ref_infer(&n, &ex, mean, var, logits);
        int ok = 1;
        for (int l = 0; l < c->layers; l++) {
            char m[16], v[16];
            snprintf(m, sizeof m, c->arch == ARCH_MLP && c->layers == 1 ? "bnmean" : "bnmean%d", l + 1);
            snprintf(v, sizeof v, c->arch == ARCH_MLP && c->layers == 1 ? "bnvar" : "bnvar%d", l + 1);
            ok &= allclose(net_tensor(&n, net_find(&n, m)), mean + (size_t)l * c->H, c->H, 1e-4, 1e-5);
            ok &= allclose(net_tensor(&n, net_find(&n, v)), var + (size_t)l * c->H, c->H, 1e-4, 1e-5);
        }
        const char *arch = net_arch_name(c->arch);
        CHECK(ok, "%s/%d: calibrated statistics differ from the double reference", arch, c->layers);
        double got = net_eval_loss(&n, &ex);
        CHECK(fabs(got - loss) < 1e-5 * loss, "%s/%d: eval loss %.7f vs reference %.7f", arch,
              c->layers, got, loss);
        float *lg = xcalloc((size_t)ex.n * 27, sizeof(float));
        float *scratch = xcalloc(net_scratch_floats(&n, ex.n), sizeof(float));
        net_logits(&n, lg, ex.X, ex.n, scratch);
        CHECK(allclose(lg, logits, (long)ex.n * 27, 1e-4, 1e-5), "%s/%d: logits differ by %g", arch,
              c->layers, max_abs_diff(lg, logits, (long)ex.n * 27));
        void *all[] = {mean, var, logits, lg, scratch};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
        examples_free(&ex);
        net_free(&n);
    }
}

// The packed rows (examples_pack) must give exactly the batches X and Y give, draw the
// same numbers, and so train a Net to the same bits.
static void test_packed_sampling(void) {
    Examples ex = random_examples(3000, 4, 27, 5);
    enum { B = 64 };
    int X1[B * 4], Y1[B], X2[B * 4], Y2[B];
    Rng r1, r2;
    rng_seed(&r1, 9);
    rng_seed(&r2, 9);
    examples_sample_batch(X1, Y1, &ex, B, &r1);  // rows == NULL: reads X and Y
    Examples packed = {.n = ex.n, .T = ex.T};
    packed.X = xcalloc((size_t)ex.n * ex.T, sizeof(int));
    packed.Y = xcalloc((size_t)ex.n, sizeof(int));
    memcpy(packed.X, ex.X, (size_t)ex.n * ex.T * sizeof(int));
    memcpy(packed.Y, ex.Y, (size_t)ex.n * sizeof(int));
    examples_pack(&packed);
    examples_sample_batch(X2, Y2, &packed, B, &r2);
    CHECK(packed.rows && memcmp(X1, X2, sizeof X1) == 0 && memcmp(Y1, Y2, sizeof Y1) == 0,
          "packed rows give other batches");
    CHECK(memcmp(r1.s, r2.s, sizeof r1.s) == 0, "packed sampling drew a different number of values");
    // a batch is B rows of the examples, row for row (so the sampler cannot be trivially
    // right by giving both paths the same wrong rows)
    int rows_ok = 1;
    for (int b = 0; b < B; b++) {
        int found = 0;
        for (int i = 0; i < ex.n && !found; i++)
            found = ex.Y[i] == Y1[b] && !memcmp(ex.X + (size_t)i * 4, X1 + b * 4, 4 * sizeof(int));
        rows_ok &= found;
    }
    CHECK(rows_ok, "a sampled row is not an example");
    NetConfig c = config(ARCH_MLP, 27, 4, 5, 16, 1);
    Net shape;
    net_build(&shape, &c, 32);
    size_t n = shape.num_params + shape.num_stats;
    float la[20], lb[20], *pa = xcalloc(n, sizeof(float)), *pb = xcalloc(n, sizeof(float));
    run_steps(la, pa, 20, threads_get(), c, 32, &ex, 0);
    run_steps(lb, pb, 20, threads_get(), c, 32, &packed, 0);
    CHECK(!memcmp(la, lb, sizeof la) && !memcmp(pa, pb, n * sizeof(float)),
          "training on packed examples differs");
    xfree(pa);
    xfree(pb);
    examples_free(&packed);
    examples_free(&ex);
}

// The lecture's model pinned by independent references: net_init(perturb 0) is the notebook's
// initialisation, drawn here by hand in its order (C, W1 * (5/3)/sqrt(T*E), b1 * 0.1,
// W2 * 0.1, b2 * 0.1, bngain = 1 + 0.1 N, bnbias * 0.1; bnmean 0, bnvar 1); then steps of
// the fused float32 engine against the float64 twin (net_ref.h) on the same batches, with
// SGD in double: the losses and the parameters within float rounding. A WaveNet as well.
static void steps_against_twin(NetConfig c, int B, int steps, uint64_t seed, double *worst_loss,
                               double *worst_param) {
    Net n;
    net_alloc(&n, &c, B);
    Rng r;
    rng_seed(&r, seed);
    net_init(&n, &r, 0);
    Examples ex = random_examples(5000, c.T, c.V, seed + 1);
    double *P = xcalloc(n.num_params, sizeof(double)), *G = xcalloc(n.num_params, sizeof(double));
    for (size_t i = 0; i < n.num_params; i++) P[i] = n.params[i];
    *worst_loss = 0;
    for (int s = 0; s < steps; s++) {
        float lr = s < steps / 2 ? 0.1f : 0.01f;
        examples_sample_batch(n.Xb, n.Yb, &ex, B, &r);
        double ref = net_ref_loss(&n, P, n.Xb, n.Yb, B, G);
        float got = net_forward(&n, n.Xb, n.Yb, 1);
        net_backward_sgd(&n, lr);
        for (size_t i = 0; i < n.num_params; i++) P[i] -= (double)lr * G[i];
        *worst_loss = fmax(*worst_loss, fabs(got - ref) / ref);
    }
    *worst_param = max_abs_diff(n.params, P, (long)n.num_params);
    xfree(P);
    xfree(G);
    examples_free(&ex);
    net_free(&n);
}

static void test_mlp1_against_float64_twin(void) {
    NetConfig c = config(ARCH_MLP, 27, 3, 10, 200, 1);
    Net n;
    net_alloc(&n, &c, 32);
    Rng rn, rh;
    rng_seed(&rn, 7);
    rng_seed(&rh, 7);
    net_init(&n, &rn, 0);
    float *want = xcalloc(n.num_params, sizeof(float)), *w = want;
    const float w1 = (5.0f / 3.0f) / sqrtf(30.0f);
    for (int i = 0; i < 27 * 10; i++) *w++ = rng_normal(&rh);             // C
    for (int i = 0; i < 30 * 200; i++) *w++ = rng_normal(&rh) * w1;       // W1
    for (int i = 0; i < 200; i++) *w++ = rng_normal(&rh) * 0.1f;          // b1
    for (int i = 0; i < 200 * 27; i++) *w++ = rng_normal(&rh) * 0.1f;     // W2
    for (int i = 0; i < 27; i++) *w++ = rng_normal(&rh) * 0.1f;           // b2
    for (int i = 0; i < 200; i++) *w++ = rng_normal(&rh) * 0.1f + 1.0f;   // bngain
    for (int i = 0; i < 200; i++) *w++ = rng_normal(&rh) * 0.1f;          // bnbias
    CHECK(w == want + n.num_params, "%zu parameters drawn", (size_t)(w - want));
    CHECK(!memcmp(n.params, want, n.num_params * sizeof(float)),
          "net_init differs from the lecture's initialisation");
    CHECK(!memcmp(rn.s, rh.s, sizeof rn.s), "net_init drew a different number of values");
    int stats = 1;
    for (int j = 0; j < 200; j++) stats &= net_tensor(&n, 7)[j] == 0.0f && net_tensor(&n, 8)[j] == 1.0f;
    CHECK(stats, "bnmean / bnvar not 0 / 1 after net_init");
    xfree(want);
    net_free(&n);
    double wl, wp;
    steps_against_twin(c, 32, 50, 7, &wl, &wp);
    printf("  mlp/1 against float64 over 50 steps: loss %.2g (relative), parameters %.2g\n", wl, wp);
    CHECK(wl < 2e-6, "mlp/1: losses differ from float64 by %g (relative)", wl);
    CHECK(wp < 1e-5, "mlp/1: parameters differ from float64 by %g", wp);
    steps_against_twin(config(ARCH_WAVENET, 27, 8, 10, 32, 0), 32, 30, 8, &wl, &wp);
    printf("  wavenet against float64 over 30 steps: loss %.2g (relative), parameters %.2g\n", wl, wp);
    CHECK(wl < 2e-6, "wavenet: losses differ from float64 by %g (relative)", wl);
    CHECK(wp < 1e-5, "wavenet: parameters differ from float64 by %g", wp);
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

// The lecture's recipe for 2000 steps on names.txt (B = 32, lr 0.1, seed 2147483647):
// the loss starts above 3, and the calibrated val loss ends below 2.45.
static void test_short_training_run(void) {
    Words w;
    Err err;
    if (words_load(&w, names_path(), &err) != 0) {
        CHECK(0, "%s (run 'make data/names.txt')", err.msg);
        return;
    }
    Vocab v;
    vocab_build(&v, &w);
    Split s;
    CHECK(split_build(&s, &w, &v, 3, 42, &err) == 0, "%s", err.msg);
    const int threads = threads_get();
    threads_set(2);
    NetConfig c = config(ARCH_MLP, v.V, 3, 10, 200, 1);
    Net n;
    Rng rng;
    rng_seed(&rng, 2147483647u);
    net_alloc(&n, &c, 32);
    net_init(&n, &rng, 0);
    float first = 0, last = 0;
    for (int i = 0; i < 2000; i++) {
        last = net_train_step(&n, &s.train, 0.1f, &rng);
        if (i == 0) first = last;
    }
    net_calibrate(&n, &s.train);
    double val = net_eval_loss(&n, &s.val);
    printf("  2000 steps: first loss %.4f, last %.4f, calibrated val %.4f\n", first, last, val);
    CHECK(first > 3.0f, "initial loss %.4f; the lecture's init starts above 3 (-log(1/27) = 3.30 plus noise)", first);
    CHECK(val < 2.45, "val loss after 2000 steps: %.4f (expected < 2.45)", val);
    threads_set(threads);
    net_free(&n);
    split_free(&s);
    words_free(&w);
}

// A short WaveNet run on the names: the loss goes down, evaluation is finite.
static void test_wavenet_trains(void) {
    Words w;
    Vocab v;
    Split s;
    Err err;
    if (words_load(&w, names_path(), &err) != 0) {
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

// A makemore-mlp-1 checkpoint (the format before the layer table) loads as mlp/1 (same tensors); a Net file round-trips exactly,
// and a file whose metadata contradicts its tensors is refused.
static void test_checkpoints(void) {
    char path[] = "/tmp/test_net_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0) return;
    close(fd);
    // A makemore-mlp-1 file (before it had arch/layers keys), written here
    // tensor by tensor: the lecture's names, [1,H] batchnorm tensors.
    const int H = 20;
    float data[27 * 10 + 30 * 20 + 20 + 20 * 27 + 27 + 4 * 20];
    Rng r;
    rng_seed(&r, 5);
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++) data[i] = rng_normal(&r);
    const char *names[] = {"C", "W1", "b1", "W2", "b2", "bngain", "bnbias", "bnmean", "bnvar"};
    const int shapes[9][2] = {{27, 10}, {30, H}, {H, 0}, {H, 27}, {27, 0},
                              {1, H},   {1, H},  {1, H}, {1, H}};
    StTensor st[9];
    size_t at = 0;
    for (int i = 0; i < 9; i++) {
        st[i] = (StTensor){.name = names[i], .dtype = ST_F32, .data = data + at,
                           .ndim = shapes[i][1] ? 2 : 1, .shape = {shapes[i][0], shapes[i][1]}};
        at += (size_t)shapes[i][0] * (shapes[i][1] ? shapes[i][1] : 1);
    }
    for (int j = 0; j < H; j++) data[at - H + j] = fabsf(data[at - H + j]);  // a variance
    Vocab v = {.V = 27};
    v.itos[0] = '.';
    for (int i = 1; i < 27; i++) v.itos[i] = (char)('a' + i - 1);
    StMeta meta[16] = {{"format", "makemore-mlp-1"}, {"vocab_size", "27"}, {"block", "3"},
                       {"embd", "10"}, {"hidden", "20"}, {"bn_var", "unbiased"}};
    char text[10][80], itos[2 * 256 + 1];
    int k = checkpoint_meta_common(meta + 6, text, 10, &v, NULL, itos);
    Err err;
    CHECK(k > 0 && st_save(path, st, 9, meta, 6 + k, &err) == 0, "%s", err.msg);
    Net n;
    Vocab v2;
    int has_ts = 1;
    CHECK(net_load(&n, &v2, NULL, &has_ts, path, 4, &err) == 0, "%s", err.msg);
    CHECK(n.cfg.arch == ARCH_MLP && n.cfg.layers == 1 && n.cfg.H == H && n.cfg.bessel && !has_ts &&
              n.cfg.bn_stats == BN_STATS_CALIBRATE, "config");
    CHECK(v2.V == 27 && !memcmp(v2.itos, v.itos, 27), "vocabulary");
    CHECK(n.num_params + n.num_stats == at, "%zu + %zu floats, the file has %zu", n.num_params,
          n.num_stats, at);
    CHECK(!memcmp(n.params, data, n.num_params * sizeof(float)), "parameters");
    CHECK(!memcmp(n.stats, data + n.num_params, n.num_stats * sizeof(float)), "bnmean, bnvar");
    net_free(&n);
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
    RUN_TEST(test_mlp1_layout);
    RUN_TEST(test_flatten_is_view);
    RUN_TEST(test_gradients_wavenet);
    RUN_TEST(test_gradients_mlp);
    RUN_TEST(test_fused_step_matches_backward_plus_sgd);
    RUN_TEST(test_mlp1_against_float64_twin);
    RUN_TEST(test_determinism);
    RUN_TEST(test_thread_count_independent_at_large_batch);
    RUN_TEST(test_calibrate_and_eval);
    RUN_TEST(test_packed_sampling);
    RUN_TEST(test_running_stats);
    RUN_TEST(test_checkpoints);
    RUN_TEST(test_short_training_run);
    RUN_TEST(test_wavenet_trains);
    return check_summary();
}
