// gemm_plan.c: the step's GEMMs, each run by the implementation its plan chose.
// Candidates: cblas_sgemm as is, cblas_sgemm on a transposed copy, a libxsmm JIT kernel
// (when built with MAKEMORE_XSMM). The planner checks each against cblas_sgemm, times
// the correct ones round-robin on the machine at hand, and keeps the fastest.
#include "gemm_plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "common.h"
#include "gemm_own.h"
#include "rng.h"

const char *const GEMM_KIND_NAMES[GEMM_N_KINDS] = {"blas", "blas_t", "xsmm", "own"};

// xsmm and own kernels are not tried above this many multiply-adds: they are
// single-threaded and unblocked, and each such call costs milliseconds (planning time)
// where BLAS wins.
#define SMALL_MAX_MNK (1L << 25)
#define CHECK_TOL 1e-4  // max |x - ref| / max |ref| against cblas_sgemm

int gemm_xsmm_available(void) { return xsmm_available(); }

static void op_shape(GemmOp *op, int tA, int tB, int M, int N, int K, float beta) {
    memset(op, 0, sizeof *op);
    *op = (GemmOp){.transA = tA, .transB = tB, .M = M, .N = N, .K = K, .beta = beta};
}

void gemm_plan_begin(GemmPlan *p, const char *sizes) {
    memset(p, 0, sizeof *p);
    snprintf(p->sizes, sizeof p->sizes, "%s", sizes);
}

int gemm_plan_add(GemmPlan *p, const char *name, int tA, int tB, int M, int N, int K, float beta,
                  GemmKind fixed) {
    if (p->n >= GEMM_PLAN_MAX_OPS) return -1;  // the model's checks keep every plan within
    GemmOp *op = &p->op[p->n];
    op_shape(op, tA, tB, M, N, K, beta);
    op->fixed = fixed;
    if (gemm_op_set(op, fixed) != 0) gemm_op_set(op, GEMM_BLAS);
    snprintf(p->name[p->n], sizeof p->name[p->n], "%s", name);
    return p->n++;
}

void gemm_plan_free(GemmPlan *p) {
    for (int i = 0; i < p->n; i++) xfree(p->op[i].scratch);
    memset(p, 0, sizeof *p);
}

// The own kernels' NT form sums dot products along K; with K under 64 the lane sums
// cost more than copying B^T (K x N) and running the NN kernel.
static int own_nt_copies(const GemmOp *op) { return op->transB && op->K < 64; }

static size_t kind_scratch(const GemmOp *op, GemmKind kind) {
    size_t MK = (size_t)op->M * op->K, KN = (size_t)op->K * op->N, MN = (size_t)op->M * op->N;
    if (op->transA && op->transB) return (size_t)-1;  // the step has no TT GEMM
    switch (kind) {
    case GEMM_BLAS: return 0;
    case GEMM_OWN:  // NT with a short K: B^T copied, then the NN kernel (own_nt_copies)
        return !gemm_own_available() ? (size_t)-1 : own_nt_copies(op) ? KN : 0;
    case GEMM_BLAS_T: return op->transB ? KN : op->transA ? MN : (size_t)-1;
    default: return op->transB ? KN : (MK < KN ? MK : KN);  // B^T copy, or pre-scaled operand
    }
}

// libxsmm 1.17 has no transposed first operand: NT runs as NN on a B^T copy
// (xsmm_kernel(0, ...)), TN as op(A) = A^T.
static void *xsmm_dispatch(const GemmOp *op) {
    return xsmm_kernel(op->transA, op->M, op->N, op->K, op->beta);
}

int gemm_op_set(GemmOp *op, GemmKind kind) {
    size_t need = kind_scratch(op, kind);
    if (need == (size_t)-1) return -1;
    void *fn = NULL;
    if (kind == GEMM_OWN && (double)op->M * op->N * op->K > (double)SMALL_MAX_MNK) return -1;
    if (kind == GEMM_XSMM) {
        if (!xsmm_available() || (double)op->M * op->N * op->K > (double)SMALL_MAX_MNK) return -1;
        if (!(fn = xsmm_dispatch(op))) return -1;
    }
    if (need > op->scratch_n) {
        xfree(op->scratch);
        op->scratch = xcalloc(need, sizeof(float));
        op->scratch_n = need;
    }
    op->kind = kind;
    op->xsmm = fn;
    return 0;
}

void gemm_plan_force(GemmPlan *p, GemmKind kind) {
    for (int i = 0; i < p->n; i++) {
        GemmKind k = kind;
        if (kind == GEMM_BLAS) k = p->op[i].fixed;
        if (gemm_op_set(&p->op[i], k) != 0) gemm_op_set(&p->op[i], GEMM_BLAS);
    }
}

// ---- running an op -----------------------------------------------------------------

// cblas_sgemm through blas.h's gemm(): one plain call at the step's small shapes, the
// engine's fixed tiles over the thread pool at large ones (OpenBLAS itself runs one thread).
static void blas(int tA, int tB, int M, int N, int K, float alpha, const float *A,
                 const float *B, float beta, float *C) {
    gemm(tA, tB, M, N, K, alpha, A, B, beta, C);
}

// dst[c, r] = s * src[r, c]   src [rows, cols]
// (dst written in order, src read strided: 2x faster than the other order at 200x27)
static void transpose_scaled(float *dst, const float *src, int rows, int cols, float s) {
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) dst[(size_t)c * rows + r] = s * src[(size_t)r * cols + c];
}

static void transpose_plain(float *dst, const float *src, int rows, int cols) {
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

// C[M,N] = beta C + alpha S^T, S [N,M]
static void add_transposed(float *C, const float *S, int M, int N, float alpha, float beta) {
    for (int m = 0; m < M; m++) {
        float *row = C + (size_t)m * N;
        if (beta == 0.0f)
            for (int n = 0; n < N; n++) row[n] = alpha * S[(size_t)n * M + m];
        else
            for (int n = 0; n < N; n++) row[n] += alpha * S[(size_t)n * M + m];
    }
}

static void run_blas_t(const GemmOp *op, float alpha, const float *A, const float *B, float *C) {
    if (op->transB) {  // C = A . (B^T copied)
        transpose_plain(op->scratch, B, op->N, op->K);
        blas(0, 0, op->M, op->N, op->K, alpha, A, op->scratch, op->beta, C);
    } else {           // S = B^T A = (A^T B)^T, then C = beta C + alpha S^T
        blas(1, 0, op->N, op->M, op->K, 1.0f, B, A, 0.0f, op->scratch);
        add_transposed(C, op->scratch, op->M, op->N, alpha, op->beta);
    }
}

static void run_xsmm(const GemmOp *op, float alpha, const float *A, const float *B, float *C) {
    if (op->transB) {  // alpha folds into the B^T copy
        transpose_scaled(op->scratch, B, op->N, op->K, alpha);
        gemm_flops_add(op->M, op->N, op->K);
        xsmm_run(op->xsmm, A, op->scratch, C);
        return;
    }
    if (alpha != 1.0f) {  // pre-scale the smaller operand (the kernel's alpha is 1)
        size_t MK = (size_t)op->M * op->K, KN = (size_t)op->K * op->N;
        const float *src = MK < KN ? A : B;
        size_t n = MK < KN ? MK : KN;
        #pragma omp simd
        for (size_t i = 0; i < n; i++) op->scratch[i] = alpha * src[i];
        if (MK < KN) A = op->scratch;
        else B = op->scratch;
    }
    gemm_flops_add(op->M, op->N, op->K);
    xsmm_run(op->xsmm, A, B, C);
}

static void op_run(const GemmOp *op, float alpha, const float *A, const float *B, float *C);

void gemm_op_run(const GemmOp *op, float alpha, const float *A, const float *B, float *C) {
    if (!op->tally) {
        op_run(op, alpha, A, B, C);
        return;
    }
    double t0 = now_seconds();
    op_run(op, alpha, A, B, C);
    double dt = now_seconds() - t0;
    #pragma omp atomic
    *op->tally += dt;
}

static void op_run(const GemmOp *op, float alpha, const float *A, const float *B, float *C) {
    switch (op->kind) {
    case GEMM_BLAS_T: run_blas_t(op, alpha, A, B, C); return;
    case GEMM_OWN:
        if (own_nt_copies(op)) {  // alpha folds into the copy
            transpose_scaled(op->scratch, B, op->N, op->K, alpha);
            gemm_own(0, 0, op->M, op->N, op->K, 1.0f, A, op->scratch, op->beta, C);
        } else {
            gemm_own(op->transA, op->transB, op->M, op->N, op->K, alpha, A, B, op->beta, C);
        }
        return;
    case GEMM_XSMM: run_xsmm(op, alpha, A, B, C); return;
    default: blas(op->transA, op->transB, op->M, op->N, op->K, alpha, A, B, op->beta, C); return;
    }
}

void gemm_op_run_rows(const GemmOp *op, int rows, float alpha, const float *A, const float *B,
                      float *C) {
    if (rows == (op->transA ? op->K : op->M)) {
        gemm_op_run(op, alpha, A, B, C);
        return;
    }
    GemmOp t = *op;  // the same op on fewer rows: its scratch fits (it was sized for all)
    if (t.transA) t.K = rows;
    else t.M = rows;
    if (t.kind == GEMM_XSMM && !(t.xsmm = xsmm_dispatch(&t))) t.kind = GEMM_BLAS;  // libxsmm caches
    if (t.kind == GEMM_OWN && (t.transA && t.transB)) t.kind = GEMM_BLAS;
    gemm_op_run(&t, alpha, A, B, C);
}

// ---- checking and timing -------------------------------------------------------------

// Random operands for one op (A, B as stored; C0 the initial C), in one allocation.
typedef struct {
    float *A, *B, *C0, *C, *ref, *mem;
    size_t nA, nB, nC;
} Operands;

static void operands_make(Operands *o, const GemmOp *op, unsigned long long seed) {
    o->nA = (size_t)op->M * op->K;
    o->nB = (size_t)op->K * op->N;
    o->nC = (size_t)op->M * op->N;
    o->mem = xcalloc(o->nA + o->nB + 3 * o->nC, sizeof(float));
    o->A = o->mem;
    o->B = o->A + o->nA;
    o->C0 = o->B + o->nB;
    o->C = o->C0 + o->nC;
    o->ref = o->C + o->nC;
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < o->nA + o->nB + o->nC; i++) o->mem[i] = 2.0f * rng_uniform(&r) - 1.0f;
}

// alpha as the step uses it: 1 for the forward and dX GEMMs, -lr for the updates.
static float op_alpha(const GemmOp *op) { return op->transA ? -0.1f : 1.0f; }

static double op_error(const GemmOp *op, Operands *o) {
    float alpha = op_alpha(op);
    memcpy(o->ref, o->C0, o->nC * sizeof(float));
    blas(op->transA, op->transB, op->M, op->N, op->K, alpha, o->A, o->B, op->beta, o->ref);
    for (size_t i = 0; i < o->nC; i++) o->C[i] = op->beta == 0.0f ? NAN : o->C0[i];
    gemm_op_run(op, alpha, o->A, o->B, o->C);
    double worst = 0.0, scale = 0.0;
    for (size_t i = 0; i < o->nC; i++) {
        double d = fabs((double)o->C[i] - o->ref[i]);
        if (!(d <= worst)) worst = isnan(d) ? INFINITY : d;
        if (fabs(o->ref[i]) > scale) scale = fabs(o->ref[i]);
    }
    return scale > 0 ? worst / scale : worst;
}

double gemm_op_check(const GemmOp *op, unsigned long long seed) {
    Operands o;
    operands_make(&o, op, seed);
    double err = op_error(op, &o);
    xfree(o.mem);
    return err;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

enum { PLAN_SAMPLES = 7 };
#define PLAN_MARGIN 0.03  // a kind must beat the fixed path's median by 3% to replace it
#define PLAN_SAMPLE_S 2e-4  // one sample repeats the call for about this long

// Median seconds per call of each candidate op in ops[0..n), sampled round-robin so all
// meet the same noise. C is scribbled over (beta = 1 keeps adding to it: harmless).
static void time_round_robin(GemmOp *const *ops, int n, Operands *o, double *out) {
    int reps[GEMM_N_KINDS];
    double samples[GEMM_N_KINDS][PLAN_SAMPLES];
    for (int c = 0; c < n; c++) {  // warm-up, then calls per sample from its time
        float alpha = op_alpha(ops[c]);
        gemm_op_run(ops[c], alpha, o->A, o->B, o->C);
        double t0 = now_seconds();
        gemm_op_run(ops[c], alpha, o->A, o->B, o->C);
        double one = now_seconds() - t0;
        reps[c] = one >= PLAN_SAMPLE_S ? 1 : (int)(PLAN_SAMPLE_S / (one > 1e-8 ? one : 1e-8));
        if (reps[c] > 10000) reps[c] = 10000;
    }
    int n_samples = reps[0] == 1 ? 3 : PLAN_SAMPLES;  // large shapes: fewer, long samples
    for (int s = 0; s < n_samples; s++)
        for (int c = 0; c < n; c++) {
            float alpha = op_alpha(ops[c]);
            double t0 = now_seconds();
            for (int r = 0; r < reps[c]; r++) gemm_op_run(ops[c], alpha, o->A, o->B, o->C);
            samples[c][s] = (now_seconds() - t0) / reps[c];
        }
    for (int c = 0; c < n; c++) {
        qsort(samples[c], (size_t)n_samples, sizeof(double), cmp_double);
        out[c] = samples[c][n_samples / 2];
    }
}

// Plans one op: every available candidate checked, the correct ones timed (a lone
// candidate only when time_all: nothing to choose).
static void plan_op(GemmOp *op, GemmTrial *trials, int time_all, unsigned long long seed) {
    GemmOp cand[GEMM_N_KINDS];
    GemmOp *timed[GEMM_N_KINDS];
    int kind_of[GEMM_N_KINDS], n = 0;
    Operands o;
    operands_make(&o, op, seed);
    for (int k = 0; k < GEMM_N_KINDS; k++) {
        trials[k] = (GemmTrial){0};
        cand[k] = *op;
        cand[k].tally = NULL;
        cand[k].scratch = NULL;
        cand[k].scratch_n = 0;
        if (gemm_op_set(&cand[k], (GemmKind)k) != 0) continue;
        trials[k].tried = 1;
        trials[k].err = op_error(&cand[k], &o);
        trials[k].correct = trials[k].err <= CHECK_TOL;
        if (trials[k].correct) {
            kind_of[n] = k;
            timed[n++] = &cand[k];
        }
    }
    double secs[GEMM_N_KINDS];
    if (n > 1 || (n == 1 && time_all)) time_round_robin(timed, n, &o, secs);
    else secs[0] = 0.0;
    int best = 0, fixed = -1;
    for (int c = 0; c < n; c++) {
        trials[kind_of[c]].seconds = secs[c];
        if (secs[c] < secs[best]) best = c;
        if (kind_of[c] == (int)op->fixed) fixed = c;
    }
    // The fixed path stays unless another kind beats it by more than the noise of one
    // planning (PLAN_MARGIN): fewer plans that differ from run to run for nothing.
    if (fixed >= 0 && secs[best] > (1.0 - PLAN_MARGIN) * secs[fixed]) best = fixed;
    // cblas_sgemm (GEMM_BLAS) is always available and is its own reference.
    gemm_op_set(op, n ? (GemmKind)kind_of[best] : GEMM_BLAS);
    for (int k = 0; k < GEMM_N_KINDS; k++) xfree(cand[k].scratch);
    xfree(o.mem);
}

double gemm_plan_auto(GemmPlan *p, GemmTrial trials[][GEMM_N_KINDS]) {
    double t0 = now_seconds();
    GemmTrial local[GEMM_N_KINDS];
    for (int i = 0; i < p->n; i++)
        plan_op(&p->op[i], trials ? trials[i] : local, trials != NULL, 1000 + (unsigned long long)i);
    return now_seconds() - t0;
}

// ---- text form -----------------------------------------------------------------------

void gemm_plan_format(const GemmPlan *p, char *buf, size_t len) {
    int n = snprintf(buf, len, "%s:", p->sizes);
    for (int i = 0; i < p->n && n >= 0 && (size_t)n < len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%s%s=%s", i ? "," : "", p->name[i],
                      GEMM_KIND_NAMES[p->op[i].kind]);
}

static int find_name(const char *const *names, int n, const char *s, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && strncmp(names[i], s, len) == 0) return i;
    return -1;
}

static int find_op(const GemmPlan *p, const char *s, size_t len) {
    for (int i = 0; i < p->n; i++)
        if (strlen(p->name[i]) == len && strncmp(p->name[i], s, len) == 0) return i;
    return -1;
}

int gemm_plan_parse(GemmPlan *p, const char *text, char *msg, size_t msg_len) {
    const char *colon = strchr(text, ':');
    if (!colon || colon == text || strncmp(text, "B=", 2) != 0) {
        snprintf(msg, msg_len, "plan \"%.80s\": expected \"%s:%s=KIND,...\"", text, p->sizes,
                 p->name[0]);
        return -1;
    }
    size_t head = (size_t)(colon - text);
    if (head != strlen(p->sizes) || strncmp(text, p->sizes, head) != 0) {
        snprintf(msg, msg_len, "plan for %.*s does not fit this run's %s (plan again: --gemm "
                 "auto)", (int)(head < 200 ? head : 200), text, p->sizes);
        return -1;
    }
    GemmKind kinds[GEMM_PLAN_MAX_OPS];
    int seen[GEMM_PLAN_MAX_OPS] = {0};
    const char *s = colon + 1;
    for (int n = 0; n < p->n; n++) {
        const char *eq = strchr(s, '='), *end = eq ? eq + strcspn(eq, ",\n") : NULL;
        int i = eq ? find_op(p, s, (size_t)(eq - s)) : -1;
        int k = i >= 0 ? find_name(GEMM_KIND_NAMES, GEMM_N_KINDS, eq + 1, (size_t)(end - eq - 1)) : -1;
        if (i < 0 || k < 0 || seen[i]) {
            snprintf(msg, msg_len, "plan \"%.80s\": entry %d is not op=kind with op one of "
                     "this run's %d ops (%s ... %s, each once) and kind blas, blas_t, xsmm or "
                     "own", text, n + 1, p->n, p->name[0], p->name[p->n - 1]);
            return -1;
        }
        seen[i] = 1;
        kinds[i] = (GemmKind)k;
        s = *end == ',' ? end + 1 : end;
    }
    if (*s && *s != '\n') {
        snprintf(msg, msg_len, "plan \"%.80s\": trailing text after the %d ops", text, p->n);
        return -1;
    }
    for (int i = 0; i < p->n; i++)
        if (gemm_op_set(&p->op[i], kinds[i]) != 0) {
            snprintf(msg, msg_len, "plan asks %s for %s, which this build cannot run%s",
                     GEMM_KIND_NAMES[kinds[i]], p->name[i],
                     kinds[i] == GEMM_XSMM && !xsmm_available() ? " (built without libxsmm)" : "");
            return -1;
        }
    return 0;
}

void gemm_plan_describe(const GemmPlan *p, char *buf, size_t len) {
    int n = 0;
    buf[0] = '\0';
    if (p->n > 16) {  // a long plan: its ops counted by kind (the plan file lists each)
        int count[GEMM_N_KINDS] = {0};
        for (int i = 0; i < p->n; i++) count[p->op[i].kind]++;
        n = snprintf(buf, len, "%d ops:", p->n);
        for (int k = 0; k < GEMM_N_KINDS && n >= 0 && (size_t)n < len; k++)
            if (count[k]) n += snprintf(buf + n, len - (size_t)n, " %s %d", GEMM_KIND_NAMES[k], count[k]);
        return;
    }
    for (int i = 0; i < p->n && n >= 0 && (size_t)n < len; i++) {
        const GemmOp *op = &p->op[i];
        n += snprintf(buf + n, len - (size_t)n, "%s%s %dx%dx%d %s: %s", i ? ", " : "",
                      p->name[i], op->M, op->N, op->K, op->transA ? "TN" : op->transB ? "NT" : "NN",
                      GEMM_KIND_NAMES[op->kind]);
    }
}
