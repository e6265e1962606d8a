// test_backward_atomic.c: exercise 1's atomic backward (float32, sgemm) against the same
// graph in float64, the float64 graph against finite differences, and the fused kernels
// (exercises 2, 3, the scatter-add) against the atomic chain -- at awkward sizes (B = 2, 33;
// H = 1, 37), both batchnorm variance modes, and tied row maxima.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backward_atomic.h"
#include "backward_ref.h"
#include "check.h"
#include "common.h"
#include "kernels.h"
#include "model.h"
#include "net.h"
#include "rng.h"

// ---- a problem: the lecture's initialisation, a random batch ---------------------------

typedef struct {
    Config cfg;
    int B;
    float *mem;
    Params p;
    int *Xb, *Yb;
    AtomicActs a;       // float32: forward + atomic backward
    RefParams rp;
    RefActs r;          // float64: the same graph end to end
} Problem;

// w1_scale < 1 shrinks the batch variance towards eps (see test_fused_matches_chain).
static void problem_make(Problem *pr, int B, int H, int V, int bessel, uint64_t seed,
                         float w1_scale) {
    memset(pr, 0, sizeof *pr);
    pr->cfg = (Config){.V = V, .T = 3, .E = 10, .H = H, .bessel = bessel};
    pr->B = B;
    const Config *c = &pr->cfg;
    pr->mem = xcalloc(params_total(c), sizeof(float));
    static Net table;
    Err err;
    if (model_table(&table, c, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    params_point(&pr->p, pr->mem, &table);
    Rng rng;
    rng_seed(&rng, seed);
    const int TE = c->T * c->E;
    for (int i = 0; i < V * c->E; i++) pr->p.C[i] = rng_normal(&rng);
    for (int i = 0; i < TE * H; i++) pr->p.W1[i] = rng_normal(&rng) * (5.0f / 3) / sqrtf((float)TE) * w1_scale;
    for (int i = 0; i < H; i++) pr->p.b1[i] = rng_normal(&rng) * 0.1f;
    for (int i = 0; i < H * V; i++) pr->p.W2[i] = rng_normal(&rng) * 0.1f;
    for (int i = 0; i < V; i++) pr->p.b2[i] = rng_normal(&rng) * 0.1f;
    for (int i = 0; i < H; i++) pr->p.bngain[i] = 1.0f + rng_normal(&rng) * 0.1f;
    for (int i = 0; i < H; i++) pr->p.bnbias[i] = rng_normal(&rng) * 0.1f;
    pr->Xb = xcalloc((size_t)B * c->T, sizeof(int));
    pr->Yb = xcalloc((size_t)B, sizeof(int));
    for (int i = 0; i < B * c->T; i++) pr->Xb[i] = (int)rng_below(&rng, (uint32_t)V);
    for (int i = 0; i < B; i++) pr->Yb[i] = (int)rng_below(&rng, (uint32_t)V);
    atomic_alloc(&pr->a, c, B);
    ref_alloc(&pr->r, c, B);
}

// Columns c1 < c2 of logits tie bit for bit at every row's maximum (as gradcheck --ties).
static void problem_tie(Problem *pr, int c1, int c2) {
    const int V = pr->cfg.V, H = pr->cfg.H;
    for (int k = 0; k < H; k++) pr->p.W2[k * V + c1] = pr->p.W2[k * V + c2] = 0;
    pr->p.b2[c1] = pr->p.b2[c2] = 0;
    atomic_forward(&pr->a, &pr->p, pr->Xb, pr->Yb);
    float top = -INFINITY;
    for (int i = 0; i < pr->B * V; i++)
        if (i % V != c1 && i % V != c2 && pr->a.logits[i] > top) top = pr->a.logits[i];
    pr->p.b2[c1] = pr->p.b2[c2] = top + 0.25f;
}

static void problem_run(Problem *pr) {
    atomic_forward(&pr->a, &pr->p, pr->Xb, pr->Yb);
    atomic_backward(&pr->a);
    ref_params_from(&pr->rp, &pr->p, &pr->cfg);
    ref_forward(&pr->r, &pr->rp, pr->Xb, pr->Yb);
    ref_backward(&pr->r);
}

static void problem_free(Problem *pr) {
    atomic_free(&pr->a);
    ref_free(&pr->r);
    ref_params_free(&pr->rp);
    xfree(pr->mem);
    xfree(pr->Xb);
    xfree(pr->Yb);
}

// ---- line by line: each float32 line vs that line in float64 on the same inputs ------

// The longest sum in gradient k's line(s) (as gradcheck.c).
static int sum_length(const char *name, const Config *c, int B) {
    const char *by_V[] = {"counts_sum_inv", "logit_maxes", "h"};
    const char *by_B[] = {"W2", "b2", "bngain", "bnbias", "bnvar_inv", "bnmeani", "W1", "b1"};
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(name, by_V[i])) return c->V;
    for (size_t i = 0; i < 8; i++)
        if (!strcmp(name, by_B[i])) return B;
    if (!strcmp(name, "embcat")) return c->H;
    if (!strcmp(name, "C")) return B * c->T;
    return 2;
}

// Every entry of every float32 gradient within float32's rounding bound of its line,
// (K + 4) 2^-23 sum|terms| (or allclose): the line evaluated in float64 on the float32
// inputs it was given, the sum of |terms| that same line on their absolute values.
// corrupt >= 0 scales gradient `corrupt` by (1 + 1e-4) first (a negative control).
// Returns the number of gradients that fail.
static int lines_within_bounds(Problem *pr, int corrupt, int verbose) {
    const Config *c = &pr->cfg;
    RefActs wide, local, abs_in, sum_abs;
    RefParams pa;
    ref_alloc(&wide, c, pr->B);
    ref_alloc(&local, c, pr->B);
    ref_alloc(&abs_in, c, pr->B);
    ref_alloc(&sum_abs, c, pr->B);
    ref_params_from(&pa, &pr->p, c);
    ref_widen(&wide, &pr->a, &pr->rp);
    ref_backward_lines(&local, &wide);
    ref_widen(&abs_in, &pr->a, &pa);
    ref_abs(&abs_in, &pa, c);
    ref_backward_lines(&sum_abs, &abs_in);
    GradInfo info[NUM_GRADS];
    float *g[NUM_GRADS];
    double *gl[NUM_GRADS], *s[NUM_GRADS];
    grad_info(info, c, pr->B);
    atomic_grads(g, &pr->a);
    ref_grads(gl, &local);
    ref_grads(s, &sum_abs);
    int failed = 0;
    for (int k = 0; k < NUM_GRADS; k++) {
        double gamma = (sum_length(info[k].name, c, pr->B) + 4) * 0x1p-23, worst = 0;
        long bad = -1;
        for (long i = 0; i < info[k].numel; i++) {
            double a = g[k][i] * (k == corrupt ? 1 + 1e-4 : 1), b = gl[k][i];
            double d = fabs(a - b), tol = 1e-8 + 1e-5 * fabs(b) + gamma * fabs(s[k][i]);
            if (!(d <= tol) && (bad < 0 || d / tol > worst)) bad = i, worst = d / tol;
        }
        if (bad >= 0) {
            failed++;
            if (verbose)
                fprintf(stderr, "  d%s[%ld]: float32 %.9g, float64 line %.17g (%.3g x the bound)\n",
                        info[k].name, bad, g[k][bad], gl[k][bad], worst);
        }
    }
    ref_free(&wide);
    ref_free(&local);
    ref_free(&abs_in);
    ref_free(&sum_abs);
    ref_params_free(&pa);
    return failed;
}

static void check_lines(int B, int H, int bessel, int ties, uint64_t seed) {
    Problem pr;
    problem_make(&pr, B, H, 27, bessel, seed, 1.0f);
    if (ties) problem_tie(&pr, 9, 26);
    problem_run(&pr);
    int failed = lines_within_bounds(&pr, -1, 1);
    CHECK(failed == 0, "B=%d H=%d bessel=%d ties=%d: %d gradients outside the bound", B, H,
          bessel, ties, failed);
    problem_free(&pr);
}

static void test_lines_match_float64(void) {
    const int sizes[][2] = {{2, 37}, {2, 1}, {33, 1}, {33, 37}, {32, 64}};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
        for (int bessel = 0; bessel <= 1; bessel++)
            for (int ties = 0; ties <= 1; ties++)
                check_lines(sizes[s][0], sizes[s][1], bessel, ties, 100 + s);
}

// The same check must catch a gradient off by 1e-4 relative, in any of the 26 (save the
// two that are exactly 0 in exact arithmetic and dlogprobs' zeros: a relative error of a
// value that is all rounding is still rounding).
static void test_lines_check_catches_a_wrong_gradient(void) {
    Problem pr;
    problem_make(&pr, 33, 37, 27, 1, 7, 1.0f);
    problem_run(&pr);
    GradInfo info[NUM_GRADS];
    grad_info(info, &pr.cfg, pr.B);
    for (int k = 0; k < NUM_GRADS; k++) {
        if (!strcmp(info[k].name, "logit_maxes") || !strcmp(info[k].name, "b1")) continue;
        CHECK(lines_within_bounds(&pr, k, 0) == 1, "d%s scaled by 1 + 1e-4 went unnoticed",
              info[k].name);
    }
    problem_free(&pr);
}

// ---- the float64 graph vs finite differences --------------------------------------------

// Five-point central difference of the float64 loss in x[i], only the forward lines after
// X's recomputed; steps h0/4^j, taking the estimate where successive steps agree best.
static double numerical(RefActs *r, int k, double *x, long i) {
    double x0 = x[i], best = NAN, best_gap = INFINITY, prev = NAN;
    double h = 1e-2 * (fabs(x0) + 1e-3);
    for (int j = 0; j < 7; j++, h /= 4) {
        double hh = (x0 + h) - x0, L[4], off[4] = {hh, -hh, 2 * hh, -2 * hh};
        for (int q = 0; q < 4; q++) {
            x[i] = x0 + off[q];
            L[q] = ref_forward_after(r, k);
        }
        x[i] = x0;
        double est = (8 * (L[0] - L[1]) - (L[2] - L[3])) / (12 * hh);
        double gap = fabs(est - prev) + 8 * fabs(r->loss) * 0x1p-52 / hh;
        if (j > 0 && gap < best_gap) best_gap = gap, best = est;
        prev = est;
    }
    ref_forward_after(r, k);
    return best;
}

static void check_fd(int B, int H, int bessel, int ties, uint64_t seed) {
    Problem pr;
    problem_make(&pr, B, H, 27, bessel, seed, 1.0f);
    if (ties) problem_tie(&pr, 9, 26);
    problem_run(&pr);
    RefActs fd;  // a second float64 pass to perturb
    ref_alloc(&fd, &pr.cfg, B);
    ref_forward(&fd, &pr.rp, pr.Xb, pr.Yb);
    GradInfo info[NUM_GRADS];
    double *grad[NUM_GRADS];
    grad_info(info, &pr.cfg, B);
    ref_grads(grad, &pr.r);
    Rng rng;
    rng_seed(&rng, seed + 1);
    for (int k = 0; k < NUM_GRADS; k++) {
        double *x = ref_value(&fd, &pr.rp, k);
        for (int s = 0; s < 3; s++) {
            long i = (long)rng_below(&rng, (uint32_t)info[k].numel);
            double num = numerical(&fd, k, x, i), an = grad[k][i];
            CHECK(fabs(an - num) <= 1e-8 + 1e-5 * fabs(num),
                  "B=%d H=%d bessel=%d ties=%d d%s[%ld]: analytic %.12g, numerical %.12g", B, H,
                  bessel, ties, info[k].name, i, an, num);
        }
    }
    ref_free(&fd);
    problem_free(&pr);
}

static void test_float64_matches_finite_differences(void) {
    check_fd(2, 37, 1, 0, 11);
    check_fd(33, 1, 1, 0, 12);
    check_fd(33, 37, 0, 0, 13);
    check_fd(7, 5, 1, 1, 14);
}

// ---- the float32 pass end to end ------------------------------------------------------

// A float32-only mistake (a gemm transposed, a wrong leading dimension) is off by the
// gradient's own size; float32's accumulated rounding is ~1e-7 of it. Norm-wise, loosely.
static void test_float32_pass_tracks_float64(void) {
    const int sizes[][2] = {{33, 37}, {32, 64}, {5, 3}};
    for (size_t s = 0; s < 3; s++) {
        Problem pr;
        problem_make(&pr, sizes[s][0], sizes[s][1], 27, 1, 21 + s, 1.0f);
        problem_run(&pr);
        CHECK(fabs(pr.a.loss - pr.r.loss) <= 1e-5 * fabs(pr.r.loss), "loss %.9g vs %.12g",
              pr.a.loss, pr.r.loss);
        GradInfo info[NUM_GRADS];
        float *g[NUM_GRADS];
        double *r[NUM_GRADS];
        grad_info(info, &pr.cfg, pr.B);
        atomic_grads(g, &pr.a);
        ref_grads(r, &pr.r);
        for (int k = 0; k < NUM_GRADS; k++) {
            if (!strcmp(info[k].name, "logit_maxes") || !strcmp(info[k].name, "b1")) continue;
            double big = 0;
            for (long i = 0; i < info[k].numel; i++) big = fmax(big, fabs(r[k][i]));
            double md = max_abs_diff(g[k], r[k], info[k].numel);
            CHECK(md <= 1e-4 * big, "B=%d H=%d d%s: max diff %.3g, largest %.3g", pr.B,
                  pr.cfg.H, info[k].name, md, big);
        }
        problem_free(&pr);
    }
}

// ---- fused kernels vs the atomic chain --------------------------------------------------

// Exercises 2 and 3 fed the atomic pass's inputs, against the chains they replace. At
// B = 2 with the lecture's W1, batchnorm's input gradient is ill-conditioned (two
// normalised values are +-1/sqrt(2) whatever the inputs; only eps leaves a gradient) and
// no two float32 formulas agree to allclose; with W1 scaled down so that the batch
// variance is of the order of eps the gradient is well-conditioned and they must.
static void check_fused(int B, int H, int bessel, float w1_scale, uint64_t seed) {
    Problem pr;
    problem_make(&pr, B, H, 27, bessel, seed, w1_scale);
    problem_run(&pr);
    const AtomicActs *a = &pr.a;
    const int V = pr.cfg.V, E = pr.cfg.E, T = pr.cfg.T;
    float *dlogits = xcalloc((size_t)B * V, sizeof(float));
    float *dhprebn = xcalloc((size_t)B * H, sizeof(float));
    float *dbngain = xcalloc((size_t)H, sizeof(float)), *dbnbias = xcalloc((size_t)H, sizeof(float));
    float *dC = xcalloc((size_t)V * E, sizeof(float));
    double *ref = xcalloc((size_t)(B * (V > H ? V : H) + V * E), sizeof(double));
    ce_backward_fused(dlogits, a->logits, a->Yb, B, V);
    for (long i = 0; i < (long)B * V; i++) ref[i] = a->dlogits[i];
    CHECK(allclose(dlogits, ref, (long)B * V, 1e-5, 1e-8), "B=%d dlogits fused vs chain: %.3g",
          B, max_abs_diff(dlogits, ref, (long)B * V));
    for (int tanh_fused = 0; tanh_fused <= 1; tanh_fused++) {
        if (tanh_fused)
            bn_tanh_backward_fused(dhprebn, dbngain, dbnbias, a->dh, a->h, a->bnraw,
                                   a->bnvar_inv, a->bngain, B, H, bessel);
        else
            bn_backward_fused(dhprebn, dbngain, dbnbias, a->dhpreact, a->bnraw, a->bnvar_inv,
                              a->bngain, B, H, bessel);
        for (long i = 0; i < (long)B * H; i++) ref[i] = a->dhprebn[i];
        CHECK(allclose(dhprebn, ref, (long)B * H, 1e-5, 1e-8),
              "B=%d H=%d bessel=%d tanh=%d dhprebn fused vs chain: %.3g", B, H, bessel,
              tanh_fused, max_abs_diff(dhprebn, ref, (long)B * H));
        for (int j = 0; j < H; j++) ref[j] = a->dbngain[j];
        CHECK(allclose(dbngain, ref, H, 1e-5, 1e-8), "dbngain fused vs chain");
        for (int j = 0; j < H; j++) ref[j] = a->dbnbias[j];
        CHECK(allclose(dbnbias, ref, H, 1e-5, 1e-8), "dbnbias fused vs chain");
    }
    // The scatter-add sums each row of dC in (b,t) order, as the notebook's loop: bit-exact.
    embedding_backward(dC, a->dembcat, a->Xb, B, T, E, V);
    CHECK(memcmp(dC, a->dC, (size_t)V * E * sizeof(float)) == 0, "dC scatter-add vs loop");
    xfree(dlogits);
    xfree(dhprebn);
    xfree(dbngain);
    xfree(dbnbias);
    xfree(dC);
    xfree(ref);
    problem_free(&pr);
}

static void test_fused_matches_chain(void) {
    for (int bessel = 0; bessel <= 1; bessel++) {
        check_fused(33, 37, bessel, 1.0f, 31);
        check_fused(33, 1, bessel, 1.0f, 32);
        check_fused(32, 64, bessel, 1.0f, 33);
        check_fused(2, 37, bessel, 1e-3f, 34);  // batch variance ~ eps: well-conditioned
    }
}

// Negative control: the closed form with the other variance mode must not pass.
static void test_fused_bessel_mode_matters(void) {
    Problem pr;
    problem_make(&pr, 8, 16, 27, 1, 41, 1.0f);
    problem_run(&pr);
    float *dhprebn = xcalloc(8 * 16, sizeof(float)), g[16], b[16];
    double ref[8 * 16];
    for (int i = 0; i < 8 * 16; i++) ref[i] = pr.a.dhprebn[i];
    bn_backward_fused(dhprebn, g, b, pr.a.dhpreact, pr.a.bnraw, pr.a.bnvar_inv, pr.a.bngain, 8,
                      16, 0);
    CHECK(!allclose(dhprebn, ref, 8 * 16, 1e-5, 1e-8), "bessel=0 closed form matched the B-1 chain");
    xfree(dhprebn);
    problem_free(&pr);
}

// ---- single lines -----------------------------------------------------------------------

// dlogprobs[range(n), Yb] = -1.0/n: exactly, the rest exactly 0.
static void test_dlogprobs_exact(void) {
    Problem pr;
    problem_make(&pr, 33, 5, 27, 1, 51, 1.0f);
    problem_run(&pr);
    int ok = 1;
    for (int i = 0; i < 33; i++)
        for (int v = 0; v < 27; v++)
            ok &= pr.a.dlogprobs[i * 27 + v] == (v == pr.Yb[i] ? (float)(-1.0 / 33) : 0.0f);
    CHECK(ok, "dlogprobs is not -1/n at Yb and 0 elsewhere");
    problem_free(&pr);
}

// The max routes its gradient to one index per row: the first maximum.
static void test_max_routes_to_first_maximum(void) {
    const float logits[2 * 4] = {0, 3, 1, 3, /* */ 5, 5, 5, -1};
    const float dmax[2] = {0.5f, -0.25f};
    float d[8] = {0};
    atomic_dlogits_add_max(d, logits, dmax, 2, 4);
    const float want[8] = {0, 0.5f, 0, 0, -0.25f, 0, 0, 0};
    CHECK(memcmp(d, want, sizeof d) == 0, "routed to %g %g %g %g | %g %g %g %g", d[0], d[1],
          d[2], d[3], d[4], d[5], d[6], d[7]);
}

// Ties through the whole pass: columns 9 and 26 tie at every row's maximum; dlogits gets
// dlogit_maxes at column 9 only (bit for bit dnorm_logits + dlogit_maxes there, and
// dnorm_logits untouched at 26).
static void test_ties_through_the_pass(void) {
    Problem pr;
    problem_make(&pr, 32, 64, 27, 1, 61, 1.0f);
    problem_tie(&pr, 9, 26);
    problem_run(&pr);
    const AtomicActs *a = &pr.a;
    int ties = 0, ok = 1;
    for (int i = 0; i < 32; i++) {
        const float *l = a->logits + i * 27;
        ties += l[9] == l[26] && l[9] == a->logit_maxes[i];
        ok &= a->dlogits[i * 27 + 9] == a->dnorm_logits[i * 27 + 9] + a->dlogit_maxes[i];
        ok &= a->dlogits[i * 27 + 26] == a->dnorm_logits[i * 27 + 26];
    }
    CHECK(ties == 32, "only %d of 32 rows tied", ties);
    CHECK(ok, "dlogit_maxes not routed to the first tied column only");
    problem_free(&pr);
}

// The atomic backward's OpenMP loops own their outputs and sum in index order: one thread
// or two, the same bits (at a size where the loops do fork).
static void test_threads_do_not_change_bits(void) {
    Problem one, two;
    problem_make(&one, 512, 128, 27, 1, 71, 1.0f);
    problem_make(&two, 512, 128, 27, 1, 71, 1.0f);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    atomic_forward(&one.a, &one.p, one.Xb, one.Yb);
    atomic_backward(&one.a);
    omp_set_num_threads(2);
    atomic_forward(&two.a, &two.p, two.Xb, two.Yb);
    atomic_backward(&two.a);
    omp_set_num_threads(saved);
    float *g1[NUM_GRADS], *g2[NUM_GRADS];
    GradInfo info[NUM_GRADS];
    grad_info(info, &one.cfg, 512);
    atomic_grads(g1, &one.a);
    atomic_grads(g2, &two.a);
    for (int k = 0; k < NUM_GRADS; k++)
        CHECK(memcmp(g1[k], g2[k], (size_t)info[k].numel * sizeof(float)) == 0,
              "d%s differs between 1 and 2 threads", info[k].name);
    problem_free(&one);
    problem_free(&two);
}

TEST_MAIN {
    TEST_SETUP();
    RUN_TEST(test_lines_match_float64);
    RUN_TEST(test_lines_check_catches_a_wrong_gradient);
    RUN_TEST(test_float64_matches_finite_differences);
    RUN_TEST(test_float32_pass_tracks_float64);
    RUN_TEST(test_fused_matches_chain);
    RUN_TEST(test_fused_bessel_mode_matters);
    RUN_TEST(test_dlogprobs_exact);
    RUN_TEST(test_max_routes_to_first_maximum);
    RUN_TEST(test_ties_through_the_pass);
    RUN_TEST(test_threads_do_not_change_bits);
    return check_summary();
}
