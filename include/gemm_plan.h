// gemm_plan.h: the planner of the step's GEMMs, in the manner of FFTW's plans.
//
// Each GEMM of a training step (per linear layer of the net's table: its forward, then in
// the backward its dX and its dW with the SGD update folded in) is a GemmOp: its shape
// and the implementation chosen for it. net.c builds the plan's op list from the layer
// table (net_alloc). The plan is made once per model and batch size, by timing every correct candidate on the machine
// at hand (gemm_plan_auto), or forced (gemm_plan_force), or read back from text
// (gemm_plan_parse: a checkpoint's metadata or a --plan file). Row-major throughout.
// Design and measurements: docs/PLANNER.md.
#ifndef MAKEMORE_GEMM_PLAN_H
#define MAKEMORE_GEMM_PLAN_H

#include <stddef.h>

// Implementations of one GEMM C[M,N] = alpha * op(A)[M,K] . op(B)[K,N] + beta * C.
typedef enum {
    GEMM_BLAS,    // cblas_sgemm as the shape is
    GEMM_BLAS_T,  // cblas_sgemm on a transposed copy: NT via B^T copied (then NN);
                  // TN as S = (A^T B)^T = B^T A into scratch, then C = beta C + alpha S^T
    GEMM_XSMM,    // a libxsmm JIT kernel (NT through a B^T copy; alpha != 1 pre-scales
                  // the smaller operand)
    GEMM_OWN,     // the engine's own AVX2 kernels (gemm_own.h): no copies
    GEMM_N_KINDS
} GemmKind;

extern const char *const GEMM_KIND_NAMES[GEMM_N_KINDS];  // "blas", "blas_t", "xsmm", "own"

// At most 3 ops per linear layer, 17 linear layers (--layers 16 and the output layer).
#define GEMM_PLAN_MAX_OPS 512

typedef struct {
    int transA, transB, M, N, K;
    float beta;       // 0 or 1 (what the step uses)
    GemmKind kind;
    GemmKind fixed;   // the engine's fixed path for this op (the default plan's kind)
    void *xsmm;       // the dispatched kernel (GEMM_XSMM)
    float *scratch;   // transposed copy / pre-scaled operand / transposed product
    size_t scratch_n;
    double *tally;    // when set, every run of the op adds its seconds here (the planner's
                      // timing inside the step; atomic: tasks may run it from several threads)
} GemmOp;

// The ops in the order they run: for the lecture's model fwd1, fwd2, dx2, dw2, dx1, dw1.
typedef struct {
    int n;
    GemmOp op[GEMM_PLAN_MAX_OPS];
    char name[GEMM_PLAN_MAX_OPS][16];  // "fwd1", "dx2", "dw2", "att_qk", ... (15 bytes at most)
    char sizes[96];  // what the plan was made for, the head of its text form:
                     // "B=32,TE=30,H=200,V=27" (the model and batch; net_plan_sizes)
} GemmPlan;

// 1 when the engine was built with libxsmm.
int gemm_xsmm_available(void);

// An empty plan for `sizes`; then gemm_plan_add for each op, in the order they run, with
// its fixed kind (the engine's path without a planner, bit for bit). Every op starts at
// its fixed kind. gemm_plan_add returns the op's index, or -1 when the plan is full
// (GEMM_PLAN_MAX_OPS: a model's config check keeps its plan within).
void gemm_plan_begin(GemmPlan *p, const char *sizes);
int gemm_plan_add(GemmPlan *p, const char *name, int transA, int transB, int M, int N, int K,
                  float beta, GemmKind fixed);
void gemm_plan_free(GemmPlan *p);
// Runs op: C = alpha * op(A) . op(B) + beta * C.
void gemm_op_run(const GemmOp *op, float alpha, const float *A, const float *B, float *C);

// The same on `rows` rows of the batch (at most the op's): the op's M for an op whose A is
// not transposed (a forward or a dX: [rows, K] . op(B)), its K for one whose A is (a dW:
// A^T [in, rows] . B [rows, out]). The kind stays the plan's (libxsmm's kernel for the
// shape from its cache).
void gemm_op_run_rows(const GemmOp *op, int rows, float alpha, const float *A, const float *B,
                      float *C);

// Sets one op's kind (allocating scratch, dispatching a kernel). Returns 0, or -1 when
// the kind is not available here (libxsmm absent, or no kernel for the shape).
int gemm_op_set(GemmOp *op, GemmKind kind);

// Forces every op to `kind` where it is available (xsmm falls back to blas per op).
// kind GEMM_BLAS gives the default plan: every op at its fixed kind.
void gemm_plan_force(GemmPlan *p, GemmKind kind);

// Per candidate of one op, what the planner found.
typedef struct {
    int tried;        // 0: not available or not tried (too large for xsmm)
    int correct;      // 1: matched cblas_sgemm within tolerance
    double err;       // max |x - ref| / max |ref|
    double seconds;   // median per call
} GemmTrial;

// Times every available, correct candidate of every op (each checked against
// cblas_sgemm first, on random inputs) and keeps the fastest; the op's fixed kind stays
// unless another beats it by more than 3% (the noise of one planning). trials may be NULL,
// else [p->n][GEMM_N_KINDS]. Returns the planning time in seconds.
double gemm_plan_auto(GemmPlan *p, GemmTrial trials[][GEMM_N_KINDS]);

// Checks one op's current kind against cblas_sgemm on random inputs; returns the error
// max |x - ref| / max |ref| (alpha = -0.1, beta as the op's).
double gemm_op_check(const GemmOp *op, unsigned long long seed);

// Text form: the sizes, then op=kind in order:
// "B=32,TE=30,H=200,V=27:fwd1=xsmm,fwd2=blas,dx2=blas_t,dw2=xsmm,dx1=xsmm,dw1=blas".
#define GEMM_PLAN_TEXT_MAX 4096
void gemm_plan_format(const GemmPlan *p, char *buf, size_t len);
// Reads the text form into p (already built with the run's ops and sizes). Returns
// 0, or -1 with a message in msg: malformed, sizes not the run's, a kind unknown or not
// available in this build.
int gemm_plan_parse(GemmPlan *p, const char *text, char *msg, size_t msg_len);

// The plan for a run's header: each op ("fwd1 32x200x30 NN: xsmm, ..."), or for a plan of
// more than 16 ops their count by kind ("57 ops: blas 55 blas_t 2").
void gemm_plan_describe(const GemmPlan *p, char *buf, size_t len);

#endif
