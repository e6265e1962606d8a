// test_recurrent_models.c: the float64 twins of makemore.py's bigram, mlp, bow, rnn and gru
// (mm_ref.h) -- their parameter lists (state_dict names, order, PyTorch shapes), every
// gradient against central finite differences, the masked loss's edge cases -- and per
// model a float32 forward and backward assembled from recurrent_kernels.h's kernels, the
// engine's embedding kernels (kernels.h) and plain linear layers (linear.h), whose loss and
// gradients must match the twin's within float32 rounding. Batches are makemore.py's
// CharDataset rows: X = [0, word, 0...], Y = [word, 0, -1...].
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "kernels.h"
#include "linear.h"
#include "mm_ref.h"
#include "recurrent_kernels.h"
#include "rng.h"

static Rng rng;

#define MAXT 16

typedef struct {
    MmConfig c;
    int B, n;
    MmTensorInfo ti[MAXT];
    size_t sz[MAXT];
    double *P[MAXT], *G[MAXT];
    int *X, *Y;
} Model;

static int n_tensors(const MmConfig *c, MmTensorInfo *ti, int max) {
    switch (c->type) {
    case MM_BIGRAM: return mm_ref_bigram_tensors(c, ti, max);
    case MM_MLP: return mm_ref_mlp_tensors(c, ti, max);
    case MM_BOW: return mm_ref_bow_tensors(c, ti, max);
    default: return mm_ref_rnn_tensors(c, ti, max);
    }
}
static double twin_loss(const Model *m, double *const *G) {
    const double *const *P = (const double *const *)m->P;
    switch (m->c.type) {
    case MM_BIGRAM: return mm_ref_bigram_loss(&m->c, P, m->X, m->Y, m->B, G);
    case MM_MLP: return mm_ref_mlp_loss(&m->c, P, m->X, m->Y, m->B, G);
    case MM_BOW: return mm_ref_bow_loss(&m->c, P, m->X, m->Y, m->B, G);
    default: return mm_ref_rnn_loss(&m->c, P, m->X, m->Y, m->B, G);
    }
}

// CharDataset rows: a word of 1 .. T-1 letters in 1..V-1 (row 0: one letter, so -1 appears)
static void char_rows(int *X, int *Y, int B, int T, int V) {
    for (int b = 0; b < B; b++) {
        int len = b == 0 ? 1 : 1 + (int)rng_below(&rng, (uint32_t)(T > 1 ? T - 1 : 1));
        if (len > T) len = T;
        int w[64];
        for (int i = 0; i < len; i++) w[i] = 1 + (int)rng_below(&rng, (uint32_t)(V - 1));
        for (int t = 0; t < T; t++) {
            X[b * T + t] = t == 0 ? 0 : t <= len ? w[t - 1] : 0;
            Y[b * T + t] = t < len ? w[t] : t == len ? 0 : -1;
        }
    }
}

// A linear layer's weight: PyTorch's [out, in] in the twin, [in, out] in the engine.
static int is_linear_weight(const MmTensorInfo *t) {
    size_t n = strlen(t->name);
    return t->ndim == 2 && n > 7 && strcmp(t->name + n - 7, ".weight") == 0 &&
           strstr(t->name, "wte") == NULL && strstr(t->name, "wpe") == NULL;
}

static void model_init(Model *m, MmType type, int V, int T, int E, int H, int B, float scale) {
    memset(m, 0, sizeof *m);
    m->c = (MmConfig){.type = type, .V = V, .T = T, .n_embd = E, .n_embd2 = H};
    m->B = B;
    m->n = n_tensors(&m->c, m->ti, MAXT);
    for (int i = 0; i < m->n; i++) {
        m->sz[i] = (size_t)m->ti[i].shape[0] * (m->ti[i].ndim == 2 ? m->ti[i].shape[1] : 1);
        m->P[i] = xcalloc(m->sz[i], sizeof(double));
        m->G[i] = xcalloc(m->sz[i], sizeof(double));
        // a linear layer's weight as PyTorch initialises its scale (1/sqrt(fan_in)): large
        // weights make the recurrences chaotic, and float32 rounding grows step by step
        double sd = is_linear_weight(&m->ti[i]) ? 1 / sqrt((double)m->ti[i].shape[1]) : scale;
        for (size_t k = 0; k < m->sz[i]; k++) m->P[i][k] = rng_normal(&rng) * sd;
    }
    m->X = xcalloc((size_t)B * T, sizeof(int));
    m->Y = xcalloc((size_t)B * T, sizeof(int));
    char_rows(m->X, m->Y, B, T, V);
}
static void model_free(Model *m) {
    for (int i = 0; i < m->n; i++) { xfree(m->P[i]); xfree(m->G[i]); }
    xfree(m->X);
    xfree(m->Y);
}

// ---- the parameter lists -----------------------------------------------------------------

typedef struct {
    const char *name;
    int ndim, s0, s1;
} Expect;

// makemore.py's state_dict at V=7, T=5, n_embd=4, n_embd2=6 (buffers excluded), as
// PyTorch 1.13 lists it for these classes.
static void test_twin_tensor_lists(void) {
    static const Expect bigram[] = {{"logits", 2, 7, 7}};
    static const Expect mlp[] = {{"wte.weight", 2, 8, 4}, {"mlp.0.weight", 2, 6, 20},
                                 {"mlp.0.bias", 1, 6, 0}, {"mlp.2.weight", 2, 7, 6},
                                 {"mlp.2.bias", 1, 7, 0}};
    static const Expect bow[] = {{"wte.weight", 2, 7, 4},
                                 {"wpe.weight", 2, 5, 4},
                                 {"context_block.mlp.c_fc.weight", 2, 6, 4},
                                 {"context_block.mlp.c_fc.bias", 1, 6, 0},
                                 {"context_block.mlp.c_proj.weight", 2, 4, 6},
                                 {"context_block.mlp.c_proj.bias", 1, 4, 0},
                                 {"lm_head.weight", 2, 7, 4},
                                 {"lm_head.bias", 1, 7, 0}};
    static const Expect rnn[] = {{"start", 2, 1, 6},
                                 {"wte.weight", 2, 7, 4},
                                 {"cell.xh_to_h.weight", 2, 6, 10},
                                 {"cell.xh_to_h.bias", 1, 6, 0},
                                 {"lm_head.weight", 2, 7, 6},
                                 {"lm_head.bias", 1, 7, 0}};
    static const Expect gru[] = {{"start", 2, 1, 6},
                                 {"wte.weight", 2, 7, 4},
                                 {"cell.xh_to_z.weight", 2, 6, 10},
                                 {"cell.xh_to_z.bias", 1, 6, 0},
                                 {"cell.xh_to_r.weight", 2, 6, 10},
                                 {"cell.xh_to_r.bias", 1, 6, 0},
                                 {"cell.xh_to_hbar.weight", 2, 6, 10},
                                 {"cell.xh_to_hbar.bias", 1, 6, 0},
                                 {"lm_head.weight", 2, 7, 6},
                                 {"lm_head.bias", 1, 7, 0}};
    const struct {
        MmType type;
        const Expect *e;
        int n;
    } list[] = {{MM_BIGRAM, bigram, 1}, {MM_MLP, mlp, 5}, {MM_BOW, bow, 8},
                {MM_RNN, rnn, 6},       {MM_GRU, gru, 10}};
    for (int k = 0; k < 5; k++) {
        MmConfig c = {.type = list[k].type, .V = 7, .T = 5, .n_embd = 4, .n_embd2 = 6};
        MmTensorInfo ti[MAXT];
        int n = n_tensors(&c, ti, MAXT);
        CHECK(n == list[k].n, "type %d: %d tensors, expected %d", k, n, list[k].n);
        for (int i = 0; i < n && i < list[k].n; i++) {
            const Expect *e = &list[k].e[i];
            CHECK(strcmp(ti[i].name, e->name) == 0 && ti[i].ndim == e->ndim &&
                      ti[i].shape[0] == e->s0 && (e->ndim == 1 || ti[i].shape[1] == e->s1),
                  "type %d tensor %d: %s [%d,%d] (%d-d), expected %s [%d,%d]", k, i, ti[i].name,
                  ti[i].shape[0], ti[i].shape[1], ti[i].ndim, e->name, e->s0, e->s1);
        }
        // a short list: the count is still the whole one, only max are written
        MmTensorInfo one[1] = {{"", 0, {0, 0}}};
        CHECK(n_tensors(&c, one, 1) == n && strcmp(one[0].name, list[k].e[0].name) == 0,
              "type %d with max = 1", k);
    }
}

// ---- the twins against central differences ---------------------------------------------

static void fd_check(MmType type, const char *name) {
    Model m;
    model_init(&m, type, 7, 5, 4, 6, 3, 0.6f);
    double loss = twin_loss(&m, m.G);
    CHECK(isfinite(loss), "%s: loss %g", name, loss);
    CHECK(twin_loss(&m, NULL) == loss, "%s: the loss without gradients differs", name);
    const double h = 1e-5;
    for (int i = 0; i < m.n; i++) {
        size_t probe[6] = {0, m.sz[i] - 1, rng_below(&rng, (uint32_t)m.sz[i]),
                           rng_below(&rng, (uint32_t)m.sz[i]), rng_below(&rng, (uint32_t)m.sz[i]),
                           m.sz[i] / 2};
        if (type == MM_MLP && i == 0)  // a <BLANK> row entry
            probe[5] = (size_t)m.c.V * m.c.n_embd + rng_below(&rng, (uint32_t)m.c.n_embd);
        for (int k = 0; k < 6; k++) {
            double *p = &m.P[i][probe[k]], keep = *p;
            *p = keep + h;
            double up = twin_loss(&m, NULL);
            *p = keep - h;
            double down = twin_loss(&m, NULL);
            *p = keep;
            double fd = (up - down) / (2 * h), g = m.G[i][probe[k]];
            CHECK(fabs(fd - g) <= 1e-8 + 1e-6 * fabs(g), "%s %s[%zu]: analytic %.12g, fd %.12g",
                  name, m.ti[i].name, probe[k], g, fd);
        }
    }
    // no position counts: NaN, and zero gradients
    for (int k = 0; k < m.B * m.c.T; k++) m.Y[k] = -1;
    double none = twin_loss(&m, m.G);
    int zero = 1;
    for (int i = 0; i < m.n; i++)
        for (size_t k = 0; k < m.sz[i]; k++) zero &= m.G[i][k] == 0.0;
    CHECK(isnan(none) && zero, "%s: no counted position: loss %g, zero gradients %d", name, none,
          zero);
    model_free(&m);
}

static void test_twin_bigram_fd(void) { fd_check(MM_BIGRAM, "bigram"); }
static void test_twin_mlp_fd(void) { fd_check(MM_MLP, "mlp"); }
static void test_twin_bow_fd(void) { fd_check(MM_BOW, "bow"); }
static void test_twin_rnn_fd(void) { fd_check(MM_RNN, "rnn"); }
static void test_twin_gru_fd(void) { fd_check(MM_GRU, "gru"); }

// ---- float32 models from the kernels against the twins -----------------------------------

// masked cross-entropy in float: dlogits = (softmax - onehot) / n on rows with Y >= 0, 0 on
// the others; returns the mean loss (in double)
static double ce_masked(float *dlogits, const float *logits, const int *Y, int N, int V) {
    int n = 0;
    for (int i = 0; i < N; i++) n += Y[i] >= 0;
    double loss = 0;
    for (int i = 0; i < N; i++) {
        const float *l = logits + (size_t)i * V;
        float *d = dlogits + (size_t)i * V;
        if (Y[i] < 0) {
            memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
        float mx = l[0], sum = 0;
        for (int v = 1; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        for (int v = 0; v < V; v++) sum += d[v] = expf(l[v] - mx);
        for (int v = 0; v < V; v++) d[v] = d[v] / sum / (float)n;
        d[Y[i]] -= 1.0f / (float)n;
        loss += log(sum) - (l[Y[i]] - mx);
    }
    return loss / n;
}

static void tanh_forward(float *h, size_t n) {
    for (size_t i = 0; i < n; i++) h[i] = tanhf(h[i]);
}
static void tanh_backward(float *dh, const float *h, size_t n) {
    for (size_t i = 0; i < n; i++) dh[i] *= 1.0f - h[i] * h[i];
}

// The engine's forward and backward of m's model in float32: P[i] and G[i] in the engine's
// layouts (m's tensor order). Returns the loss.
static double engine_step(const Model *m, float *const *P, float *const *G) {
    const int V = m->c.V, T = m->c.T, E = m->c.n_embd, H = m->c.n_embd2, B = m->B, N = B * T;
    const int *X = m->X, *Y = m->Y;
    float *logits = xcalloc((size_t)N * V, sizeof(float)), *dl = xcalloc((size_t)N * V, sizeof(float));
    double loss = 0;
    switch (m->c.type) {
    case MM_BIGRAM:
        bigram_forward(logits, P[0], X, N, V);
        loss = ce_masked(dl, logits, Y, N, V);
        bigram_backward(G[0], dl, X, N, V);
        break;
    case MM_MLP: {
        const int D = T * E;
        float *emb = xcalloc((size_t)N * D, sizeof(float)), *demb = xcalloc((size_t)N * D, sizeof(float));
        float *h = xcalloc((size_t)N * H, sizeof(float)), *dh = xcalloc((size_t)N * H, sizeof(float));
        context_forward(emb, P[0], X, B, T, E, V);
        linear_forward(h, emb, P[1], P[2], N, D, H);
        tanh_forward(h, (size_t)N * H);
        linear_forward(logits, h, P[3], P[4], N, H, V);
        loss = ce_masked(dl, logits, Y, N, V);
        linear_backward(dh, G[3], G[4], dl, h, P[3], N, H, V);
        tanh_backward(dh, h, (size_t)N * H);
        linear_backward(demb, G[1], G[2], dh, emb, P[1], N, D, H);
        context_backward(G[0], demb, X, B, T, E, V);
        xfree(emb); xfree(demb); xfree(h); xfree(dh);
        break;
    }
    case MM_BOW: {
        const size_t nC = (size_t)N * E;
        float *x0 = xcalloc(nC, sizeof(float)), *x2 = xcalloc(nC, sizeof(float));
        float *dx0 = xcalloc(nC, sizeof(float)), *dx2 = xcalloc(nC, sizeof(float));
        float *state = xcalloc(bow_state_floats(B, T, E, H), sizeof(float));
        float *scratch = xcalloc(bow_scratch_floats(B, T, E, H), sizeof(float));
        embedding_forward(x0, P[0], X, B, T, E);  // x0 = wte[X] + wpe[t]
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int e = 0; e < E; e++) x0[((size_t)b * T + t) * E + e] += P[1][(size_t)t * E + e];
        bow_block_forward(x2, state, x0, P[2], P[3], P[4], P[5], B, T, E, H);
        linear_forward(logits, x2, P[6], P[7], N, E, V);
        loss = ce_masked(dl, logits, Y, N, V);
        linear_backward(dx2, G[6], G[7], dl, x2, P[6], N, E, V);
        bow_block_backward(dx0, G[2], G[3], G[4], G[5], scratch, dx2, state, P[2], P[4], B, T, E, H);
        embedding_backward(G[0], dx0, X, B, T, E, V);
        memset(G[1], 0, (size_t)T * E * sizeof(float));
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                for (int e = 0; e < E; e++) G[1][(size_t)t * E + e] += dx0[((size_t)b * T + t) * E + e];
        xfree(x0); xfree(x2); xfree(dx0); xfree(dx2); xfree(state); xfree(scratch);
        break;
    }
    default: {  // rnn, gru: start, wte, the cell, lm_head
        const int gru = m->c.type == MM_GRU, lm = gru ? 8 : 4;
        const size_t nx = (size_t)N * E, nh = (size_t)N * H;
        float *x = xcalloc(nx, sizeof(float)), *dx = xcalloc(nx, sizeof(float));
        float *hid = xcalloc(nh, sizeof(float)), *dhid = xcalloc(nh, sizeof(float));
        float *state = xcalloc(gru ? gru_state_floats(B, T, E, H) : rnn_state_floats(B, T, H),
                               sizeof(float));
        float *scratch = xcalloc(gru ? gru_scratch_floats(B, T, E, H) : rnn_scratch_floats(B, T, E, H),
                                 sizeof(float));
        GruWeights w = {P[2], P[3], P[4], P[5], P[6], P[7]};
        GruGrads g = {G[2], G[3], G[4], G[5], G[6], G[7]};
        embedding_forward(x, P[1], X, B, T, E);
        if (gru)
            gru_forward(hid, state, x, &w, P[0], B, T, E, H);
        else
            rnn_forward(hid, state, x, P[2], P[3], P[0], B, T, E, H);
        linear_forward(logits, hid, P[lm], P[lm + 1], N, H, V);
        loss = ce_masked(dl, logits, Y, N, V);
        linear_backward(dhid, G[lm], G[lm + 1], dl, hid, P[lm], N, H, V);
        if (gru)
            gru_backward(dx, &g, G[0], scratch, dhid, state, x, &w, B, T, E, H);
        else
            rnn_backward(dx, G[2], G[3], G[0], scratch, dhid, hid, state, x, P[2], B, T, E, H);
        embedding_backward(G[1], dx, X, B, T, E, V);
        xfree(x); xfree(dx); xfree(hid); xfree(dhid); xfree(state); xfree(scratch);
        break;
    }
    }
    xfree(logits);
    xfree(dl);
    return loss;
}

static void engine_check(MmType type, const char *name, int V, int T, int E, int H, int B) {
    Model m;
    model_init(&m, type, V, T, E, H, B, 0.5f);
    double ref = twin_loss(&m, m.G);
    float *P[MAXT], *G[MAXT];
    for (int i = 0; i < m.n; i++) {
        int tr = is_linear_weight(&m.ti[i]), r = m.ti[i].shape[0], c = m.ti[i].shape[1];
        P[i] = xcalloc(m.sz[i], sizeof(float));
        G[i] = xcalloc(m.sz[i], sizeof(float));
        for (size_t k = 0; k < m.sz[i]; k++) G[i][k] = NAN;  // every gradient is written
        for (size_t k = 0; k < m.sz[i]; k++)  // [out, in] -> [in, out]
            P[i][tr ? (k % c) * r + k / c : k] = (float)m.P[i][k];
    }
    double loss = engine_step(&m, P, G);
    CHECK(fabs(loss - ref) <= 1e-5 * fabs(ref), "%s (V=%d T=%d E=%d H=%d B=%d): loss %.9g, twin %.9g",
          name, V, T, E, H, B, loss, ref);
    for (int i = 0; i < m.n; i++) {
        int tr = is_linear_weight(&m.ti[i]), r = m.ti[i].shape[0], c = m.ti[i].shape[1];
        double scale = 0, err = 0;
        for (size_t k = 0; k < m.sz[i]; k++) {
            double g = G[i][tr ? (k % c) * r + k / c : k], want = m.G[i][k];
            scale = fabs(want) > scale ? fabs(want) : scale;
            if (!(fabs(g - want) <= err)) err = fabs(g - want);
        }
        CHECK(err <= 2e-5 * scale + 1e-9, "%s (V=%d T=%d E=%d H=%d B=%d) %s: max |diff| %.3g, max |grad| %.3g",
              name, V, T, E, H, B, m.ti[i].name, err, scale);
        xfree(P[i]);
        xfree(G[i]);
    }
    model_free(&m);
}

// The small configuration and makemore.py's defaults on names.txt's sizes (V = 27,
// block_size 16, n_embd = n_embd2 = 64, batch 32).
static void engine_checks(MmType type, const char *name) {
    engine_check(type, name, 7, 5, 4, 6, 3);
    engine_check(type, name, 27, 16, 64, 64, 32);
}
static void test_engine_bigram(void) { engine_checks(MM_BIGRAM, "bigram"); }
static void test_engine_mlp(void) { engine_checks(MM_MLP, "mlp"); }
static void test_engine_bow(void) { engine_checks(MM_BOW, "bow"); }
static void test_engine_rnn(void) { engine_checks(MM_RNN, "rnn"); }
static void test_engine_gru(void) { engine_checks(MM_GRU, "gru"); }

TEST_MAIN {
    TEST_SETUP();
    rng_seed(&rng, 7);
    threads_set(1);
    RUN_TEST(test_twin_tensor_lists);
    RUN_TEST(test_twin_bigram_fd);
    RUN_TEST(test_twin_mlp_fd);
    RUN_TEST(test_twin_bow_fd);
    RUN_TEST(test_twin_rnn_fd);
    RUN_TEST(test_twin_gru_fd);
    RUN_TEST(test_engine_bigram);
    RUN_TEST(test_engine_mlp);
    RUN_TEST(test_engine_bow);
    RUN_TEST(test_engine_rnn);
    RUN_TEST(test_engine_gru);
    return check_summary();
}
