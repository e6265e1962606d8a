// gradcheck_ex.c: `makemore gradcheck` on the lecture's cell -- exercises 1-3 checked as the
// lecture's table, from random parameters or a --ref file.
//
// A chain of references, each holding the next:
//   1. finite differences of the float64 loss hold the float64 graph's 26 gradients;
//   2. the float64 graph (backward_ref.h, the same lines as the float32 one), each line
//      evaluated on the float32 inputs that line was given, holds every float32 line of
//      the atomic backward (backward_atomic.h), and the float64 loss holds the float32 one;
//   3. the atomic float32 chain holds the fused kernels (kernels.h: exercises 2 and 3 and
//      the embedding's scatter-add).
// How far float32 drifts from the float64 graph over the whole pass is reported, not
// judged (allclose's absolute 1e-8 is the size of that drift at the lecture's sizes).
// With --ref FILE the reference is a file of gradients (PyTorch's autograd, for instance).
// "approximate" is torch.allclose's rule, |a - b| <= 1e-8 + 1e-5 |b| with b the reference;
// an entry outside it may pass within float32's rounding bound of its line, and its row
// then says so, marked (*) (see rounding_bounds). docs/GRADCHECK.md explains the choices.
#include "gradcheck.h"
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backward_atomic.h"
#include "backward_ref.h"
#include "common.h"
#include "kernels.h"
#include "model.h"
#include "net.h"
#include "rng.h"
#include "safetensors.h"

#define ATOL 1e-8  // torch.allclose's defaults
#define RTOL 1e-5


#define FD_RANDOM 5      // random entries of each X for finite differences (+ the largest)
#define FD_STEP 1e-2     // largest finite-difference step, relative to the entry's scale
#define FD_SWEEP 7       // steps tried: FD_STEP / 4^j, j < FD_SWEEP
#define FD_FULL_MACS 4e6 // a float64 pass's multiply-adds up to which all entries are tried,
#define FD_MAX_MACS 4e7  // ... then only the largest and one random; beyond, none

// ---- comparison: the lecture's cmp() --------------------------------------------------

typedef struct {
    int exact, approx, nan;
    double maxdiff;
    double extra;  // the largest addition to atol an entry needed (0: plain allclose)
} Cmp;

static Cmp cmp_start(void) { return (Cmp){1, 1, 0, 0.0, 0.0}; }

// a is checked against the reference b by allclose's rule; an entry outside it passes
// when within `extra` more (0 for most rows: see rounding_bounds), which is then recorded.
static void cmp_elem(Cmp *c, double a, double b, double extra) {
    double d = fabs(a - b), tol = ATOL + RTOL * fabs(b);
    if (!(a == b)) c->exact = 0;
    if (!(d <= tol)) {
        if (d <= tol + extra) c->extra = fmax(c->extra, extra);
        else c->approx = 0;
    }
    if (isnan(d)) c->nan = 1;
    else if (d > c->maxdiff) c->maxdiff = d;
}

// extra may be NULL (plain allclose) or hold one addition to atol per entry.
static Cmp cmp_f_d(const float *a, const double *b, long n, const double *extra) {
    Cmp c = cmp_start();
    for (long i = 0; i < n; i++) cmp_elem(&c, a[i], b[i], extra ? extra[i] : 0.0);
    return c;
}

static Cmp cmp_f_f(const float *a, const float *b, long n, const double *extra) {
    Cmp c = cmp_start();
    for (long i = 0; i < n; i++) cmp_elem(&c, a[i], b[i], extra ? extra[i] : 0.0);
    return c;
}

// The same with one addition to atol for every entry; a is float32 (af) or not (ad).
static Cmp cmp_within(const float *af, const double *ad, const double *b, long n, double extra) {
    Cmp c = cmp_start();
    for (long i = 0; i < n; i++) cmp_elem(&c, af ? af[i] : ad[i], b[i], extra);
    return c;
}

// Python's str(float): shortest round-trip digits, "0.0" style for integral values.
static void py_float(char *buf, size_t len, double x) {
    if (isnan(x)) {
        snprintf(buf, len, "nan");
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, x);
        if (strtod(buf, NULL) == x) break;
    }
    if (!strpbrk(buf, ".eni")) strncat(buf, ".0", len - strlen(buf) - 1);
}

// The rows printed so far and the names of those that failed.
typedef struct {
    int rows, failed;
    int marked;           // a row of the current table used a rounding bound (*)
    const char *section;  // the current table, named in the list of failures
    char failed_names[1024];
} Tally;

static void tally_fail(Tally *t, const char *name) {
    t->failed++;
    size_t used = strlen(t->failed_names);
    snprintf(t->failed_names + used, sizeof t->failed_names - used, "%s%s%s%s%s",
             used ? ", " : "", name, t->section ? " [" : "", t->section ? t->section : "",
             t->section ? "]" : "");
}

// Prints a table's title and names the failures in it by `section`.
static void section(Tally *t, const char *tag, const char *title) {
    t->section = tag;
    t->marked = 0;
    printf("\n%s\n", title);
}

// Ends a table: its note, when a row was marked (*).
static void section_end(Tally *t, const char *note) {
    if (t->marked && note) printf("%s\n", note);
    t->marked = 0;
}

// cmp('name', dt, t): `name | exact: True | approximate: True | maxdiff: 0.0`, and the
// raised atol where one was used.
static void row(Tally *t, const char *name, Cmp c) {
    char md[40];
    py_float(md, sizeof md, c.nan ? NAN : c.maxdiff);
    printf("%-23s | exact: %-5s | approximate: %-5s | maxdiff: %s", name,
           c.exact ? "True" : "False", c.approx ? "True" : "False", md);
    if (c.extra > 0) printf(" | atol: %.2g (*)", ATOL + c.extra);
    printf("\n");
    t->marked |= c.extra > 0;
    t->rows++;
    if (!c.approx) tally_fail(t, name);
}

// k of the gradient named `name` ("logprobs" ... "C"): grad_info's order.
static int is_param(const char *name) {
    for (int i = 0; i < NUM_PARAMS; i++)
        if (!strcmp(name, PARAM_NAMES[i])) return 1;
    return 0;
}

static int grad_index(const char *name) {
    static const char *const names[NUM_GRADS] = {
        "logprobs", "probs", "counts_sum_inv", "counts_sum", "counts", "norm_logits",
        "logit_maxes", "logits", "h", "W2", "b2", "hpreact", "bngain", "bnbias", "bnraw",
        "bnvar_inv", "bnvar", "bndiff2", "bndiff", "bnmeani", "hprebn", "embcat", "W1", "b1",
        "emb", "C"};
    for (int k = 0; k < NUM_GRADS; k++)
        if (strcmp(names[k], name) == 0) return k;
    return -1;
}

// ---- the problem: sizes, parameters, batch ---------------------------------------------

void gc_problem_alloc(GcProblem *pr, const Config *cfg, int B) {
    memset(pr, 0, sizeof *pr);
    pr->cfg = *cfg;
    pr->B = B;
    Err err;
    if (model_table(&pr->table, cfg, &err)) cmd_fail("gradcheck", EXIT_RUNTIME, "%s", err.msg);
    pr->pmem = xcalloc(params_total(cfg), sizeof(float));
    params_point(&pr->p, pr->pmem, &pr->table);
    pr->Xb = xcalloc((size_t)B * cfg->T, sizeof(int));
    pr->Yb = xcalloc((size_t)B, sizeof(int));
}

void gc_problem_free(GcProblem *pr) {
    xfree(pr->pmem);
    xfree(pr->Xb);
    xfree(pr->Yb);
    memset(pr, 0, sizeof *pr);
}

// The lecture's gradient-check cell: its initialisation, which is the model's (net_init
// on the layer table: C ~ N(0,1); W1 ~ N(0,1)*(5/3)/sqrt(T*E); b1, W2, b2 ~ 0.1 N(0,1);
// bngain ~ 1 + 0.1 N(0,1); bnbias ~ 0.1 N(0,1), non-zero on purpose: zeros would hide
// backward bugs), drawn in the table's order into the same layout. Xb, Yb uniform over
// the vocabulary.
static void problem_random(GcProblem *pr, Rng *rng) {
    const Config *c = &pr->cfg;
    const int V = c->V, T = c->T;
    pr->table.params = pr->pmem;  // the table's own initialisation, into the cell's buffer
    net_init_params(&pr->table, rng, 0);
    pr->table.params = NULL;
    for (long i = 0; i < (long)pr->B * T; i++) pr->Xb[i] = (int)rng_below(rng, (uint32_t)V);
    for (int i = 0; i < pr->B; i++) pr->Yb[i] = (int)rng_below(rng, (uint32_t)V);
}

// --ties: two columns c1 < c2 of logits made equal, bit for bit, in every row and the
// row's maximum: their W2 columns are zeroed (so logits[:, c] = b2[c] exactly, in any
// precision and summation order) and their b2 set just above every other logit of the
// batch. The max must then route its gradient to c1 only (the first maximum).
static void problem_force_ties(GcProblem *pr, int *c1, int *c2) {
    const int V = pr->cfg.V, H = pr->cfg.H;
    *c1 = V / 3;
    *c2 = V - 1;
    for (int k = 0; k < H; k++) pr->p.W2[(size_t)k * V + *c1] = pr->p.W2[(size_t)k * V + *c2] = 0;
    pr->p.b2[*c1] = pr->p.b2[*c2] = 0;
    AtomicActs a;  // one forward to find the largest other logit
    atomic_alloc(&a, &pr->cfg, pr->B);
    atomic_forward(&a, &pr->p, pr->Xb, pr->Yb);
    float top = -INFINITY;
    for (int i = 0; i < pr->B; i++)
        for (int v = 0; v < V; v++)
            if (v != *c1 && v != *c2 && a.logits[(size_t)i * V + v] > top)
                top = a.logits[(size_t)i * V + v];
    atomic_free(&a);
    pr->p.b2[*c1] = pr->p.b2[*c2] = (V > 2 ? top : 0.0f) + 0.25f;
}

// Rows of logits whose maximum occurs more than once.
static int count_tied_rows(const float *logits, int B, int V) {
    int tied = 0;
    for (int i = 0; i < B; i++) {
        const float *r = logits + (size_t)i * V;
        float m = r[0];
        for (int v = 1; v < V; v++) m = r[v] > m ? r[v] : m;
        int k = 0;
        for (int v = 0; v < V; v++) k += r[v] == m;
        tied += k > 1;
    }
    return tied;
}

// ---- float32's rounding bound for each line ---------------------------------------------

// The longest sum in gradient k's notebook line(s): the K of the bound below.
static int sum_length(int k, const Config *c, int B) {
    static const char *const by_V[] = {"counts_sum_inv", "logit_maxes", "h", NULL};
    static const char *const by_B[] = {"W2", "b2", "bngain", "bnbias", "bnvar_inv", "bnmeani",
                                       "W1", "b1", NULL};
    const char *name = NULL;
    GradInfo info[NUM_GRADS];
    grad_info(info, c, B);
    name = info[k].name;
    for (int i = 0; by_V[i]; i++)
        if (!strcmp(name, by_V[i])) return c->V;
    for (int i = 0; by_B[i]; i++)
        if (!strcmp(name, by_B[i])) return B;
    if (!strcmp(name, "embcat")) return c->H;  // dembcat = dhprebn @ W1.T
    if (!strcmp(name, "C")) return B * c->T;   // a row of dC can gather every position
    return 2;                                  // elementwise, or two lines adding up
}

// (*) A float32 line evaluated on exact inputs is off from its exact value by at most
// about K u S per entry (u = 2^-24): K the longest sum in the line, S the line evaluated on
// the absolute values of its inputs (the sum of |terms|). allclose's fixed atol, 1e-8, is
// below that wherever a sum cancels: always for dlogit_maxes and db1, which are exactly 0
// in exact arithmetic (the softmax is shift-invariant; batchnorm subtracts the batch mean,
// so logit_maxes and b1 cannot change the loss) and are nothing but that rounding; and for
// a few entries of other sums at unusual sizes (two-letter vocabularies, tiny batches).
// Rows marked (*) let such entries pass within
//   (K + 4) 2^-23 S   (twice the bound, plus a few roundings of the elementwise parts)
// and print the largest atol so used. A wrong line (wrong axis, sign, factor, missing
// term) is off by the size of its terms, orders of magnitude outside it.
// bound[k] gets one value per entry of gradient k; free with free_bounds.
static void rounding_bounds(double *bound[NUM_GRADS], const AtomicActs *a, const GcProblem *pr) {
    RefParams p;
    ref_params_from(&p, &pr->p, &pr->cfg);
    RefActs abs_in, s;
    ref_alloc(&abs_in, &pr->cfg, pr->B);
    ref_alloc(&s, &pr->cfg, pr->B);
    ref_widen(&abs_in, a, &p);
    ref_abs(&abs_in, &p, &pr->cfg);
    ref_backward_lines(&s, &abs_in);
    GradInfo info[NUM_GRADS];
    double *sum_abs[NUM_GRADS];
    grad_info(info, &pr->cfg, pr->B);
    ref_grads(sum_abs, &s);
    for (int k = 0; k < NUM_GRADS; k++) {
        double gamma = (sum_length(k, &pr->cfg, pr->B) + 4) * 0x1p-23;
        bound[k] = xcalloc((size_t)info[k].numel, sizeof(double));
        for (long i = 0; i < info[k].numel; i++) bound[k][i] = gamma * fabs(sum_abs[k][i]);
    }
    ref_free(&s);
    ref_free(&abs_in);
    ref_params_free(&p);
}

static void free_bounds(double *bound[NUM_GRADS]) {
    for (int k = 0; k < NUM_GRADS; k++) xfree(bound[k]);
}

// (*) for the fused batchnorm rows: dhprebn is a cancellation of three terms,
//   S = |bngain bnvar_inv| / B (B |d| + sum_b |d| + k |bnraw| sum_b |d bnraw|),
// d = dhpreact, k = B/(B-1) or 1, which the chain (dbndiff + dbnmeani / n) and the closed
// form both carry with float32 rounding of a few B u S each: they may differ by up to
// (B + 8) 2^-23 S. It matters where the terms nearly cancel, as at small B. It does not
// cover B = 2 with the lecture's scales: the result is then eps / (2 d^2 + eps) ~ 1e-5 of
// its terms (two normalised values are +-1/sqrt(2) whatever the inputs), and the two
// forms, reading differently rounded forward values (bnraw, bnvar_inv vs bndiff, bnvar),
// differ by that rounding magnified 1e5 times (docs/GRADCHECK.md).
static double *bn_fused_bound(const AtomicActs *a) {
    const int B = a->B, H = a->cfg.H;
    const double k = a->cfg.bessel ? (double)B / (B - 1) : 1.0;
    double *bound = xcalloc((size_t)B * H, sizeof(double));
    for (int j = 0; j < H; j++) {
        double sum_d = 0, sum_draw = 0;
        for (int i = 0; i < B; i++) {
            double d = a->dhpreact[(size_t)i * H + j];
            sum_d += fabs(d);
            sum_draw += fabs(d * a->bnraw[(size_t)i * H + j]);
        }
        double scale = fabs((double)a->bngain[j] * a->bnvar_inv[j]) / B;
        for (int i = 0; i < B; i++) {
            double S = scale * (B * fabs(a->dhpreact[(size_t)i * H + j]) + sum_d +
                                k * fabs(a->bnraw[(size_t)i * H + j]) * sum_draw);
            bound[(size_t)i * H + j] = (B + 8) * 0x1p-23 * S;
        }
    }
    return bound;
}

// (*) for the fused dlogits against the chain: the chain's dlogits carries its own
// float32 error, which grows with V (its -1/(n probs) is large where a probability is
// small, and dlogit_maxes sums V terms): end to end against float64 it is off by 1.9e-8
// at V = 150 and 4.8e-8 at V = 1024, past allclose's 1e-8, while the fused kernel stays
// near 1e-9. So each entry may differ from the chain by the chain's own error: |chain -
// exact|, exact = (softmax(logits) - onehot) / B in float64 on the same float32 logits.
static double *ce_fused_bound(const AtomicActs *a) {
    const int B = a->B, V = a->cfg.V;
    double *bound = xcalloc((size_t)B * V, sizeof(double));
    for (int i = 0; i < B; i++) {
        const float *l = a->logits + (size_t)i * V;
        double mx = l[0], sum = 0;
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < V; j++) sum += exp(l[j] - mx);
        for (int j = 0; j < V; j++) {
            double exact = (exp(l[j] - mx) / sum - (j == a->Yb[i])) / B;
            bound[(size_t)i * V + j] = fabs(a->dlogits[(size_t)i * V + j] - exact);
        }
    }
    return bound;
}

// The (*) allowance of a fused row computing gradient gi: dbngain, dbnbias and dC are the
// same sums as their notebook lines (in whatever order the kernel adds), so that line's
// bound; dhprebn the closed form's; dlogits the chain's own error (ce_bound; NULL against
// PyTorch: allclose alone).
static const double *fused_extra(int gi, double *const line_bound[NUM_GRADS],
                                 const double *bn_bound, const double *ce_bound) {
    if (gi == grad_index("logits")) return ce_bound;
    if (gi == grad_index("hprebn")) return bn_bound;
    return line_bound[gi];
}

static const char FUSED_NOTE[] =
    "(*) entries outside allclose but within float32's rounding bound of the computation: the "
    "notebook\n    line's for sums, (B + 8) 2^-23 sum|terms| for dhprebn, the chain's own error "
    "against float64\n    for dlogits (docs/GRADCHECK.md)";

static const char BOUND_NOTE[] =
    "(*) entries outside allclose but within float32's rounding bound for the line, "
    "(K + 4) 2^-23 sum|terms|:\n    atol shown is the largest so used (docs/GRADCHECK.md)";

// ---- the end-to-end referee (--ref) -------------------------------------------------------
//
// Two float32 passes of the same graph (a file's and the engine's) drift from the exact
// gradients by rounding accumulated over the whole pass, by an amount set by the problem's
// conditioning (batchnorm at small batches, sums that cancel) and each implementation's
// summation order: no fixed rtol fits every size. So the float64 graph run from the file's
// parameters is the referee, and each float32 side is held to it within float32's own
// error for this very problem, measured: E2E_RUNS float32 passes of the atomic graph, each
// from the parameters moved by at most one unit in the last place (Monte Carlo arithmetic),
// scatter around the float64 gradients; the largest deviation of any entry of gradient k
// over those runs, times E2E_SAFETY, is the allowance for every entry of k. A planted error
// of 1e-3 relative on an entry above that noise is caught (docs/GRADCHECK.md).
#define E2E_RUNS 8
#define E2E_SAFETY 16.0

static const char E2E_NOTE[] =
    "(*) entries outside allclose but within 16 times float32's measured spread for this "
    "problem\n    (float32 passes from parameters moved by one ulp): atol shown is the allowance";

typedef struct {
    RefParams rp;
    RefActs r;
    double *g64[NUM_GRADS];  // the float64 graph's gradients (into r)
    double tol[NUM_GRADS];   // the allowance for every entry of gradient k
} Referee;

// x moved to a neighbouring float32 at random (or left), for each of n values.
static void ulp_jitter(float *out, const float *x, size_t n, Rng *rng) {
    for (size_t i = 0; i < n; i++) {
        uint32_t r = rng_below(rng, 3);
        out[i] = r == 0 ? x[i] : nextafterf(x[i], r == 1 ? INFINITY : -INFINITY);
    }
}

static void referee_make(Referee *rf, const GcProblem *pr) {
    const Config *cfg = &pr->cfg;
    ref_params_from(&rf->rp, &pr->p, cfg);
    ref_alloc(&rf->r, cfg, pr->B);
    ref_forward(&rf->r, &rf->rp, pr->Xb, pr->Yb);
    ref_backward(&rf->r);
    ref_grads(rf->g64, &rf->r);
    GradInfo info[NUM_GRADS];
    grad_info(info, cfg, pr->B);
    GcProblem q;
    gc_problem_alloc(&q, cfg, pr->B);
    memcpy(q.Xb, pr->Xb, (size_t)pr->B * cfg->T * sizeof(int));
    memcpy(q.Yb, pr->Yb, (size_t)pr->B * sizeof(int));
    AtomicActs a;
    atomic_alloc(&a, cfg, pr->B);
    Rng rng;
    rng_seed(&rng, 0x5eedULL);
    for (int k = 0; k < NUM_GRADS; k++) rf->tol[k] = 0.0;
    for (int run = 0; run < E2E_RUNS; run++) {
        ulp_jitter(q.pmem, pr->pmem, params_total(cfg), &rng);
        atomic_forward(&a, &q.p, q.Xb, q.Yb);
        atomic_backward(&a);
        float *g[NUM_GRADS];
        atomic_grads(g, &a);
        for (int k = 0; k < NUM_GRADS; k++)
            for (long i = 0; i < info[k].numel; i++)
                rf->tol[k] = fmax(rf->tol[k], fabs(g[k][i] - rf->g64[k][i]));
    }
    for (int k = 0; k < NUM_GRADS; k++) rf->tol[k] *= E2E_SAFETY;
    atomic_free(&a);
    gc_problem_free(&q);
}

static void referee_free(Referee *rf) {
    ref_free(&rf->r);
    ref_params_free(&rf->rp);
}

// One table: the file's gradients and the engine's own float32 pass (own), each against
// the float64 graph within the referee's allowance.
static void referee_rows(Tally *t, const Referee *rf, double *const file[NUM_GRADS],
                         float *const own[NUM_GRADS], const GradInfo info[NUM_GRADS]) {
    section(t, "end to end", "end to end: the file's gradients and the engine's own float32 "
            "pass, each vs the float64 graph\nfrom the file's parameters, within float32's "
            "measured spread for this problem (x16; docs/GRADCHECK.md):");
    for (int k = 0; k < NUM_GRADS; k++) {
        if (!file[k]) continue;
        char name[48];
        snprintf(name, sizeof name, "%s (file)", info[k].name);
        row(t, name, cmp_within(NULL, file[k], rf->g64[k], info[k].numel, rf->tol[k]));
        snprintf(name, sizeof name, "%s (engine)", info[k].name);
        row(t, name, cmp_within(own[k], NULL, rf->g64[k], info[k].numel, rf->tol[k]));
    }
    section_end(t, E2E_NOTE);
}

// ---- the fused kernels -----------------------------------------------------------------

typedef struct {
    float loss;                                   // ce_forward_backward_fused
    float *dlogits;                               // ce_backward_fused        [B,V]
    float *dhprebn, *dbngain, *dbnbias;           // bn_backward_fused        [B,H] [H] [H]
    float *t_dhprebn, *t_dbngain, *t_dbnbias;     // bn_tanh_backward_fused   [B,H] [H] [H]
    float *dC;                                    // embedding_backward       [V,E]
    float *scratch;                               // [B,V]
} Fused;

// Each fused kernel fed the atomic path's float32 inputs.
static void fused_run(Fused *f, const AtomicActs *a) {
    const int B = a->B, V = a->cfg.V, H = a->cfg.H, T = a->cfg.T, E = a->cfg.E;
    const int bessel = a->cfg.bessel;
    f->dlogits = xcalloc((size_t)B * V, sizeof(float));
    f->scratch = xcalloc((size_t)B * V, sizeof(float));
    f->dhprebn = xcalloc((size_t)B * H, sizeof(float));
    f->t_dhprebn = xcalloc((size_t)B * H, sizeof(float));
    f->dbngain = xcalloc((size_t)H, sizeof(float));
    f->dbnbias = xcalloc((size_t)H, sizeof(float));
    f->t_dbngain = xcalloc((size_t)H, sizeof(float));
    f->t_dbnbias = xcalloc((size_t)H, sizeof(float));
    f->dC = xcalloc(param_numel(&a->cfg, P_C), sizeof(float));
    ce_backward_fused(f->dlogits, a->logits, a->Yb, B, V);
    f->loss = ce_forward_backward_fused(f->scratch, a->logits, a->Yb, B, V);
    bn_backward_fused(f->dhprebn, f->dbngain, f->dbnbias, a->dhpreact, a->bnraw, a->bnvar_inv,
                      a->bngain, B, H, bessel);
    bn_tanh_backward_fused(f->t_dhprebn, f->t_dbngain, f->t_dbnbias, a->dh, a->h, a->bnraw,
                           a->bnvar_inv, a->bngain, B, H, bessel);
    embedding_backward(f->dC, a->dembcat, a->Xb, B, T, E, V);
}

static void fused_free(Fused *f) {
    float *all[] = {f->dlogits, f->scratch, f->dhprebn, f->t_dhprebn, f->dbngain,
                    f->dbnbias, f->t_dbngain, f->t_dbnbias, f->dC};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++) xfree(all[k]);
    memset(f, 0, sizeof *f);
}

// The fused rows: each fused output against its reference (a float32 or float64 array,
// picked by the callback), in the order of the chain they replace.
typedef struct {
    const char *row;     // printed name
    const char *grad;    // the lecture's name of the gradient it computes
    const float *value;
} FusedRow;

static int fused_rows(FusedRow out[8], const Fused *f) {
    const FusedRow rows[] = {
        {"logits (fused)", "logits", f->dlogits},  {"hprebn (fused)", "hprebn", f->dhprebn},
        {"bngain (fused)", "bngain", f->dbngain},  {"bnbias (fused)", "bnbias", f->dbnbias},
        {"hprebn (bn+tanh)", "hprebn", f->t_dhprebn}, {"bngain (bn+tanh)", "bngain", f->t_dbngain},
        {"bnbias (bn+tanh)", "bnbias", f->t_dbnbias}, {"C (scatter-add)", "C", f->dC},
    };
    memcpy(out, rows, sizeof rows);
    return (int)(sizeof rows / sizeof *rows);
}


// ---- the two tables every mode prints -----------------------------------------------------

// Exercise 1's rows: each notebook line's float32 result (got) against its reference (want,
// NULL rows skipped), within float32's rounding bound for the line where allclose fails.
static void line_table(Tally *t, float *const got[NUM_GRADS], double *const want[NUM_GRADS],
                       double *const bound[NUM_GRADS], const GradInfo info[NUM_GRADS]) {
    for (int k = 0; k < NUM_GRADS; k++)
        if (want[k]) row(t, info[k].name, cmp_f_d(got[k], want[k], info[k].numel, bound[k]));
    section_end(t, BOUND_NOTE);
}

// The fused rows: each fused output against the gradient it replaces, float32 (want32) or
// not (want64); the allowances of fused_extra (ce_bound may be NULL).
static void fused_table(Tally *t, const FusedRow *fr, int nf, float *const want32[NUM_GRADS],
                        double *const want64[NUM_GRADS], double *const bound[NUM_GRADS],
                        const double *bn_bound, const double *ce_bound,
                        const GradInfo info[NUM_GRADS]) {
    for (int k = 0; k < nf; k++) {
        int gi = grad_index(fr[k].grad);
        const double *extra = fused_extra(gi, bound, bn_bound, ce_bound);
        if (want32) row(t, fr[k].row, cmp_f_f(fr[k].value, want32[gi], info[gi].numel, extra));
        else if (want64[gi]) row(t, fr[k].row, cmp_f_d(fr[k].value, want64[gi], info[gi].numel, extra));
    }
    section_end(t, FUSED_NOTE);
}

// ---- finite differences ----------------------------------------------------------------

// The loss with x[i] set to v, recomputing only the forward lines after X's.
static double loss_at(RefActs *fd, int k, double *x, long i, double v) {
    double x0 = x[i];
    x[i] = v;
    double l = ref_forward_after(fd, k);
    x[i] = x0;
    return l;
}

// The five-point central difference of the loss in x[i] with step h (error O(h^4)):
//   dL/dx ~ (8 (L(x+h) - L(x-h)) - (L(x+2h) - L(x-2h))) / 12h
static double five_point(RefActs *fd, int k, double *x, long i, double h) {
    double x0 = x[i];
    h = (x0 + h) - x0;  // a step x0 +- h represents exactly
    double d1 = loss_at(fd, k, x, i, x0 + h) - loss_at(fd, k, x, i, x0 - h);
    double d2 = loss_at(fd, k, x, i, x0 + 2 * h) - loss_at(fd, k, x, i, x0 - 2 * h);
    return (8 * d1 - d2) / (12 * h);
}

// dL/dx[i] by five-point differences over a sweep of steps h0, h0/4, h0/16, ...: the
// estimate where two successive steps agree best, counting the loss's rounding (about
// |L| 2^-52 / h in the estimate) against the small steps. The sweep matters where the loss
// bends sharply, as at B = 2, where a column's batchnorm is a near-degenerate function of
// two values.
static double numerical_grad(RefActs *fd, int k, double *x, long i, double scale) {
    const double noise = 8 * fabs(fd->loss) * 0x1p-52;
    double h = FD_STEP * scale, prev = five_point(fd, k, x, i, h), best = prev,
           best_gap = INFINITY;
    for (int j = 1; j < FD_SWEEP; j++) {
        h /= 4;
        double cur = five_point(fd, k, x, i, h);
        double gap = fabs(cur - prev) + noise / h;
        if (gap < best_gap) best_gap = gap, best = cur;
        prev = cur;
    }
    ref_forward_after(fd, k);  // downstream back to the unperturbed values
    return best;
}

// Finite differences for every one of the 26 gradients, at X's entry of largest |dX| and
// FD_RANDOM random entries, each perturbed with only the forward lines after X's
// recomputed. The float64 graph's gradient is held to the numerical one by allclose's rule.
static void finite_differences(Tally *t, const GcProblem *pr, const RefActs *r, Rng *rng) {
    // About 28 forward passes per entry: fewer entries as a pass gets dearer, none past
    // FD_MAX_MACS (the float64 graph is the same code at every size; check a smaller one).
    const Config *c = &pr->cfg;
    double macs = (double)pr->B * c->H * (c->T * c->E + c->V);
    int n_random = macs <= FD_FULL_MACS ? FD_RANDOM : 1;
    if (macs > FD_MAX_MACS) {
        printf("\nfinite differences skipped: at B=%d H=%d a float64 pass costs %.2g multiply-adds "
               "(limit %.2g);\nthe float64 graph is the same code at every size: check it at a "
               "smaller one\n", pr->B, c->H, macs, FD_MAX_MACS);
        return;
    }
    RefParams rp;
    ref_params_from(&rp, &pr->p, &pr->cfg);
    RefActs fd;
    ref_alloc(&fd, &pr->cfg, pr->B);
    ref_forward(&fd, &rp, pr->Xb, pr->Yb);
    GradInfo info[NUM_GRADS];
    double *grad[NUM_GRADS];
    grad_info(info, &pr->cfg, pr->B);
    ref_grads(grad, r);
    char title[256];
    snprintf(title, sizeof title, "the float64 graph vs finite differences of its loss, at X's "
             "largest-gradient entry and %d random\nentries (five-point, steps %g (|x| + "
             "rms(X)/1000) / 4^j, j < %d):", n_random, FD_STEP, FD_SWEEP);
    section(t, "finite differences", title);
    for (int k = 0; k < NUM_GRADS; k++) {
        long n = info[k].numel;
        double *x = ref_value(&fd, &rp, k);
        double ss = 0;
        for (long i = 0; i < n; i++) ss += x[i] * x[i];
        double rms = sqrt(ss / (double)n);
        long idx[FD_RANDOM + 1];
        long big = 0;
        for (long i = 1; i < n; i++)
            if (fabs(grad[k][i]) > fabs(grad[k][big])) big = i;
        int m = 0;
        idx[m++] = big;
        for (int s = 0; s < n_random && s < n - 1; s++)
            idx[m++] = (long)rng_below(rng, (uint32_t)n);
        Cmp c = cmp_start();
        for (int s = 0; s < m; s++) {
            long i = idx[s];
            double scale = fabs(x[i]) + rms / 1000;  // a tensor all 0 (B = 2, equal rows):
            if (scale == 0) scale = 1e-3;            // a step below eps's 1e-5 still
            cmp_elem(&c, grad[k][i], numerical_grad(&fd, k, x, i, scale), 0.0);
        }
        row(t, info[k].name, c);
    }
    ref_free(&fd);
    ref_params_free(&rp);
}

// ---- --dump ----------------------------------------------------------------------------

// Parameters, batch, loss, the 19 forward intermediates and the 26 gradients (d + name),
// float32 in PyTorch's shapes; Xb, Yb int64 (what PyTorch 1.13 indexes with).
static int dump_file(const char *path, const GcProblem *pr, const AtomicActs *a, Err *err) {
    const Config *c = &pr->cfg;
    const int B = pr->B;
    StTensor t[3 + 2 * NUM_GRADS];
    int n = 0;
    int64_t *X64 = xcalloc((size_t)B * c->T + B, sizeof(int64_t)), *Y64 = X64 + (size_t)B * c->T;
    for (long i = 0; i < (long)B * c->T; i++) X64[i] = pr->Xb[i];
    for (int i = 0; i < B; i++) Y64[i] = pr->Yb[i];
    t[n++] = (StTensor){"Xb", ST_I64, 2, {B, c->T, 0, 0}, X64};
    t[n++] = (StTensor){"Yb", ST_I64, 1, {B, 0, 0, 0}, Y64};
    t[n++] = (StTensor){"loss", ST_F32, 0, {0, 0, 0, 0}, &a->loss};
    GradInfo info[NUM_GRADS];
    float *g[NUM_GRADS], *x[NUM_GRADS];
    grad_info(info, c, B);
    atomic_grads(g, a);
    atomic_values(x, a);
    char names[NUM_GRADS][24];
    for (int k = 0; k < NUM_GRADS; k++) {  // X: the parameters and the forward's intermediates
        t[n] = (StTensor){info[k].name, ST_F32, info[k].ndim, {0}, x[k]};
        for (int d = 0; d < info[k].ndim; d++) t[n].shape[d] = info[k].shape[d];
        n++;
    }
    for (int k = 0; k < NUM_GRADS; k++) {  // dX
        snprintf(names[k], sizeof names[k], "d%s", info[k].name);
        t[n] = (StTensor){names[k], ST_F32, info[k].ndim, {0}, g[k]};
        for (int d = 0; d < info[k].ndim; d++) t[n].shape[d] = info[k].shape[d];
        n++;
    }
    const StMeta meta[] = {
        {"format", "makemore-gradcheck-1"},
        {"source", "makemore gradcheck: the atomic float32 forward and backward (exercise 1)"},
        {"bn_var", c->bessel ? "unbiased" : "biased"},
        {"eps", "1e-05"},
    };
    int rc = st_save(path, t, n, meta, (int)(sizeof meta / sizeof *meta), err);
    xfree(X64);
    return rc;
}

// ---- the two modes ---------------------------------------------------------------------

static void print_header(const GcProblem *pr, const char *what) {
    const Config *c = &pr->cfg;
    printf("gradcheck %s: B=%d T=%d E=%d H=%d V=%d, batchnorm variance %s, eps 1e-05\n", what,
           pr->B, c->T, c->E, c->H, c->V,
           c->bessel ? "unbiased (1/(n-1), the lecture's)" : "biased (1/n, nn.BatchNorm1d's)");
}

static int finish(const Tally *t, int B) {
    if (t->failed) {
        printf("\n%d of %d rows NOT approximately equal: %s\n", t->failed, t->rows,
               t->failed_names);
        if (B < 4)
            printf("note: at B = %d batchnorm's input gradient is ill-conditioned (the batch "
                   "statistics all but fix\nthe normalised values: at B = 2 they are "
                   "+-1/sqrt(2) whatever the inputs, only eps leaves a gradient),\nso float32 "
                   "computations of it by different formulas disagree beyond allclose: "
                   "docs/GRADCHECK.md\n", B);
        say("gradcheck", "mismatch in %s", t->failed_names);
        return EXIT_RUNTIME;
    }
    printf("\nall %d rows approximately equal (|a - b| <= 1e-8 + 1e-5 |b|; atol raised where "
           "marked (*))\n", t->rows);
    return 0;
}

// The end-to-end report: float32 against the float64 graph run from the same parameters,
// rounding accumulated over the whole pass -- atomic chain and fused kernels side by side.
static void drift_report(float *const g32[NUM_GRADS], double *const g64[NUM_GRADS],
                         const GradInfo info[NUM_GRADS], const FusedRow *fr, int nf) {
    printf("\nfloat32 vs the float64 graph end to end: rounding accumulated over the whole pass\n"
           "(a report, not a check: docs/GRADCHECK.md says why allclose cannot judge it)\n");
    printf("%-17s | %-14s | %-14s | %s\n", "gradient", "atomic maxdiff", "fused maxdiff",
           "largest |dX|");
    for (int k = 0; k < NUM_GRADS; k++) {
        Cmp c = cmp_f_d(g32[k], g64[k], info[k].numel, NULL);
        double big = 0;
        for (long i = 0; i < info[k].numel; i++) big = fmax(big, fabs(g64[k][i]));
        char fused[32] = "";
        for (int j = 0; j < nf; j++)  // the first fused kernel computing this gradient
            if (grad_index(fr[j].grad) == k && !fused[0])
                snprintf(fused, sizeof fused, "%.3g",
                         cmp_f_d(fr[j].value, g64[k], info[k].numel, NULL).maxdiff);
        printf("%-17s | %-14.3g | %-14s | %.3g\n", info[k].name, c.maxdiff, fused, big);
    }
}

int gc_exercises(const Config *cfg, int B, uint64_t seed, int ties, const char *dump) {
    GcProblem pr;
    gc_problem_alloc(&pr, cfg, B);
    Rng rng;
    rng_seed(&rng, seed);
    problem_random(&pr, &rng);
    int c1 = -1, c2 = -1;
    if (ties) problem_force_ties(&pr, &c1, &c2);

    AtomicActs a;  // exercise 1 in float32
    atomic_alloc(&a, cfg, B);
    atomic_forward(&a, &pr.p, pr.Xb, pr.Yb);
    atomic_backward(&a);
    RefParams rp;  // the same graph in float64, from the same (widened) parameters
    ref_params_from(&rp, &pr.p, cfg);
    RefActs r;
    ref_alloc(&r, cfg, B);
    ref_forward(&r, &rp, pr.Xb, pr.Yb);
    ref_backward(&r);
    RefActs wide, local;  // every float64 line on the float32 inputs that line was given
    ref_alloc(&wide, cfg, B);
    ref_alloc(&local, cfg, B);
    ref_widen(&wide, &a, &rp);
    ref_backward_lines(&local, &wide);
    Fused f;  // exercises 2, 3 and the scatter-add, fed the atomic pass's float32 inputs
    fused_run(&f, &a);

    char seedbuf[64];
    snprintf(seedbuf, sizeof seedbuf, "(seed %llu)", (unsigned long long)seed);
    print_header(&pr, seedbuf);
    char l32[40], l64[40];
    py_float(l32, sizeof l32, a.loss);
    py_float(l64, sizeof l64, r.loss);
    printf("loss: float32 %s, float64 %s\n", l32, l64);
    if (ties)
        printf("ties: %d of %d rows have a tied maximum (logits columns %d and %d, equal bit for "
               "bit); the max routes to column %d\n", count_tied_rows(a.logits, B, cfg->V), B,
               c1, c2, c1);

    Tally t = {0};
    GradInfo info[NUM_GRADS];
    float *g32[NUM_GRADS];
    double *g64[NUM_GRADS], *gl[NUM_GRADS];
    grad_info(info, cfg, B);
    atomic_grads(g32, &a);
    ref_grads(g64, &r);
    ref_grads(gl, &local);

    section(&t, "exercise 1", "exercise 1: the atomic float32 backward vs float64, line by line "
            "(each notebook line\nevaluated in float64 on the float32 inputs it was given):");
    double *bound[NUM_GRADS];
    rounding_bounds(bound, &a, &pr);
    line_table(&t, g32, gl, bound, info);

    FusedRow fr[8];
    int nf = fused_rows(fr, &f);
    section(&t, "fused", "exercises 2, 3 and the scatter-add: the fused float32 kernels vs the "
            "atomic float32 chain:");
    double *bn_bound = bn_fused_bound(&a), *ce_bound = ce_fused_bound(&a);
    fused_table(&t, fr, nf, g32, NULL, bound, bn_bound, ce_bound, info);
    xfree(bn_bound);
    xfree(ce_bound);
    free_bounds(bound);

    section(&t, "forward", "the forward: the float32 loss vs the float64 graph's:");
    row(&t, "loss", cmp_f_d(&a.loss, &r.loss, 1, NULL));
    row(&t, "loss (fused)", cmp_f_d(&f.loss, &r.loss, 1, NULL));

    finite_differences(&t, &pr, &r, &rng);
    drift_report(g32, g64, info, fr, nf);

    int rc = finish(&t, B);
    if (dump) {
        Err err;
        if (dump_file(dump, &pr, &a, &err)) {
            say("gradcheck", "%s", err.msg);
            rc = EXIT_RUNTIME;
        } else {
            printf("wrote %s (parameters, Xb, Yb, loss and the 26 gradients of the atomic "
                   "float32 backward)\n", dump);
        }
    }
    fused_free(&f);
    ref_free(&local);
    ref_free(&wide);
    ref_free(&r);
    ref_params_free(&rp);
    atomic_free(&a);
    gc_problem_free(&pr);
    return rc;
}

// The file's float32 values of every X (intermediates; parameters are loaded already)
// into a, whose forward ran from the file's parameters: 1 when all 19 are there.
static int load_values(AtomicActs *a, const StFile *f, const char *path, const GradInfo *info) {
    float *x[NUM_GRADS];
    atomic_values(x, a);
    Err err;
    for (int pass = 0; pass < 2; pass++)  // check all first, then copy
        for (int k = 0; k < NUM_GRADS; k++) {
            if (grad_index(info[k].name) < 0 || is_param(info[k].name)) continue;
            const StTensor *t = gc_ref_float(f, path, info[k].name, info[k].shape, info[k].ndim, &err);
            if (!t) return 0;
            if (pass == 1)
                for (long i = 0; i < info[k].numel; i++) x[k][i] = (float)gc_elem_f(t, (size_t)i);
        }
    return 1;
}

// The file's gradients, widened, into ref (NULL where missing or misshapen, each such one
// named on stdout and counted as a failed row).
static void load_ref_grads(double *ref[NUM_GRADS], Tally *t, const StFile *f, const char *path,
                           const GradInfo info[NUM_GRADS]) {
    int missing = 0;
    for (int k = 0; k < NUM_GRADS; k++) {
        char name[40];
        Err err;
        snprintf(name, sizeof name, "d%s", info[k].name);
        const StTensor *rt = gc_ref_float(f, path, name, info[k].shape, info[k].ndim, &err);
        ref[k] = NULL;
        if (!rt) {
            printf("%s\n", err.msg);
            missing++;
            t->rows++;
            tally_fail(t, info[k].name);
            continue;
        }
        ref[k] = xcalloc((size_t)info[k].numel, sizeof(double));
        for (long i = 0; i < info[k].numel; i++) ref[k][i] = gc_elem_f(rt, (size_t)i);
    }
    if (missing) printf("%d gradient(s) missing or misshapen in the file (above)\n", missing);
}

// The lecture's cmp() on a file with forward values: every notebook line in float32 on the
// file's values and upstream gradients, then the fused kernels fed the same values.
static void ref_line_tables(Tally *t, const GcProblem *pr, AtomicActs *file,
                            double *const ref[NUM_GRADS], const GradInfo info[NUM_GRADS]) {
    float *fg[NUM_GRADS], *line_g[NUM_GRADS];
    atomic_grads(fg, file);  // the file's gradients as the lines' upstream inputs
    for (int k = 0; k < NUM_GRADS; k++)
        if (ref[k])
            for (long i = 0; i < info[k].numel; i++) fg[k][i] = (float)ref[k][i];
    AtomicActs lines;
    atomic_alloc(&lines, &pr->cfg, pr->B);
    atomic_backward_lines(&lines, file);
    atomic_grads(line_g, &lines);
    section(t, "exercise 1", "exercise 1: every notebook line in float32 on the file's "
            "forward values and upstream\ngradients vs the file's gradient (the lecture's "
            "cmp):");
    double *bound[NUM_GRADS];
    rounding_bounds(bound, file, pr);
    line_table(t, line_g, ref, bound, info);
    Fused fu;
    fused_run(&fu, file);
    FusedRow fr[8];
    int nf = fused_rows(fr, &fu);
    section(t, "fused", "the fused float32 kernels on the file's forward values vs the "
            "file's gradients:");
    double *bn_bound = bn_fused_bound(file);
    fused_table(t, fr, nf, NULL, ref, bound, bn_bound, NULL, info);
    xfree(bn_bound);
    free_bounds(bound);
    fused_free(&fu);
    atomic_free(&lines);
}

// The end-to-end tables: the file's gradients, the engine's own float32 pass from the file's
// parameters (own) and its fused kernels, each against the float64 referee.
static void ref_pass_tables(Tally *t, const GcProblem *pr, const AtomicActs *own,
                            double *const ref[NUM_GRADS], const GradInfo info[NUM_GRADS]) {
    Referee rf;
    referee_make(&rf, pr);
    float *own_g[NUM_GRADS];
    atomic_grads(own_g, own);
    referee_rows(t, &rf, ref, own_g, info);
    Fused fu;
    fused_run(&fu, own);
    FusedRow fr[8];
    int nf = fused_rows(fr, &fu);
    section(t, "fused end to end", "the fused float32 kernels in the engine's own pass vs the "
            "float64 graph, within the same allowance:");
    for (int k = 0; k < nf; k++) {
        int gi = grad_index(fr[k].grad);
        row(t, fr[k].row, cmp_within(fr[k].value, NULL, rf.g64[gi], info[gi].numel, rf.tol[gi]));
    }
    section_end(t, E2E_NOTE);
    fused_free(&fu);
    referee_free(&rf);
}

int gc_ref(const char *path) {
    Err err;
    StFile f;
    if (st_load(&f, path, &err)) {
        say("gradcheck", "%s", err.msg);
        return EXIT_RUNTIME;
    }
    GcProblem pr;
    if (gc_ref_problem(&pr, &f, path, &err)) {
        say("gradcheck", "%s", err.msg);
        gc_problem_free(&pr);
        st_free(&f);
        return EXIT_RUNTIME;
    }
    GradInfo info[NUM_GRADS];
    grad_info(info, &pr.cfg, pr.B);
    char what[600];
    snprintf(what, sizeof what, "--ref %s", path);
    print_header(&pr, what);
    if (!st_meta_get(&f, "bn_var")) printf("(no bn_var in the file's metadata: unbiased assumed)\n");
    const char *src = st_meta_get(&f, "source");
    if (src) printf("reference: %s\n", src);
    Tally t = {0};
    double *ref[NUM_GRADS];
    load_ref_grads(ref, &t, &f, path, info);

    AtomicActs own;  // the engine's own pass from the file's parameters and batch
    atomic_alloc(&own, &pr.cfg, pr.B);
    atomic_forward(&own, &pr.p, pr.Xb, pr.Yb);
    atomic_backward(&own);
    const StTensor *loss_t = st_find(&f, "loss");
    section(&t, "forward", "the forward: the engine's float32 loss from the file's parameters "
            "vs the file's:");
    if (loss_t && (loss_t->dtype == ST_F32 || loss_t->dtype == ST_F64) && st_numel(loss_t) == 1) {
        double l = gc_elem_f(loss_t, 0);
        row(&t, "loss", cmp_f_d(&own.loss, &l, 1, NULL));
    } else {
        printf("(no scalar \"loss\" in the file)\n");
    }
    AtomicActs file;  // the file's forward values, when it has them
    atomic_alloc(&file, &pr.cfg, pr.B);
    atomic_forward(&file, &pr.p, pr.Xb, pr.Yb);
    if (load_values(&file, &f, path, info))
        ref_line_tables(&t, &pr, &file, ref, info);
    else
        printf("\n(no forward values in the file: the notebook lines cannot be given the file's "
               "inputs; the gradients are judged end to end)\n");
    ref_pass_tables(&t, &pr, &own, ref, info);
    int rc = finish(&t, pr.B);
    for (int k = 0; k < NUM_GRADS; k++) xfree(ref[k]);
    atomic_free(&file);
    atomic_free(&own);
    gc_problem_free(&pr);
    st_free(&f);
    return rc;
}

