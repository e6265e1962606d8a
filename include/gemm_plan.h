// gemm_plan.h: the planner of the step's GEMMs, in the manner of FFTW's plans.
//
// Each of the six GEMMs of a training step (two forward, dX and dW of each layer's
// backward) is a GemmOp: its shape and the implementation chosen for it. The plan is
// made once per model and batch size, by timing every correct candidate on the machine
// at hand (gemm_plan_auto), or forced (gemm_plan_force), or read back from text
// (gemm_plan_parse: a checkpoint's metadata or a --plan file). Row-major throughout.
// Design and measurements: src/PLANNER.md.
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

// The six GEMMs of the step, in the order they run.
enum { GOP_FWD1, GOP_FWD2, GOP_DX2, GOP_DW2, GOP_DX1, GOP_DW1, GOP_N };
extern const char *const GOP_NAMES[GOP_N];  // "fwd1", "fwd2", "dx2", "dw2", "dx1", "dw1"

typedef struct {
    int transA, transB, M, N, K;
    float beta;       // 0 or 1 (what the step uses)
    GemmKind kind;
    GemmKind fixed;   // the engine's fixed path for this op (the default plan's kind)
    void *xsmm;       // the dispatched kernel (GEMM_XSMM)
    float *scratch;   // transposed copy / pre-scaled operand / transposed product
    size_t scratch_n;
} GemmOp;

typedef struct {
    GemmOp op[GOP_N];
    int B, TE, H, V;  // the sizes the plan was made for
} GemmPlan;

// 1 when the engine was built with libxsmm.
int gemm_xsmm_available(void);

// Shapes of the step at batch B (layer 1: [B,TE] -> [B,H], layer 2: [B,H] -> [B,V]),
// every op GEMM_BLAS except dx2/dw2 GEMM_BLAS_T: the engine's fixed path before the
// planner, bit for bit (the default of model_alloc).
void gemm_plan_init(GemmPlan *p, int B, int TE, int H, int V);
void gemm_plan_free(GemmPlan *p);
// Runs op: C = alpha * op(A) . op(B) + beta * C.
void gemm_op_run(const GemmOp *op, float alpha, const float *A, const float *B, float *C);

// Sets one op's kind (allocating scratch, dispatching a kernel). Returns 0, or -1 when
// the kind is not available here (libxsmm absent, or no kernel for the shape).
int gemm_op_set(GemmOp *op, GemmKind kind);

// Forces every op to `kind` where it is available (xsmm falls back to blas per op).
// kind GEMM_BLAS gives the default plan of gemm_plan_init.
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
// else [GOP_N][GEMM_N_KINDS]. Returns the planning time in seconds.
double gemm_plan_auto(GemmPlan *p, GemmTrial trials[][GEMM_N_KINDS]);

// Checks one op's current kind against cblas_sgemm on random inputs; returns the error
// max |x - ref| / max |ref| (alpha = -0.1, beta as the op's).
double gemm_op_check(const GemmOp *op, unsigned long long seed);

// Text form: "B=32,TE=30,H=200,V=27:fwd1=xsmm,fwd2=blas,dx2=blas_t,dw2=xsmm,dx1=xsmm,dw1=blas".
void gemm_plan_format(const GemmPlan *p, char *buf, size_t len);
// Reads the text form into p (already gemm_plan_init'ed with the run's sizes). Returns
// 0, or -1 with a message in msg: malformed, sizes not the run's, a kind unknown or not
// available in this build.
int gemm_plan_parse(GemmPlan *p, const char *text, char *msg, size_t msg_len);

// One line per op for a run's header: "  fwd1 [32x200x30 NN]: xsmm".
void gemm_plan_describe(const GemmPlan *p, char *buf, size_t len);

#endif
