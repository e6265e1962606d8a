// gradcheck.h: `makemore gradcheck`, one command (cmd/gradcheck.c: its flag table) with its
// checkers behind it:
//
//   makemore gradcheck [sizes] [--ties] [--dump FILE]     the lecture's cell, exercises 1-3
//   makemore gradcheck --ref FILE                          the same against a file's gradients
//   makemore gradcheck --arch A [sizes] [--dump FILE]      every layer of the layer table
//
// The exercise cell (gradcheck_ex.c): random parameters and batch (the lecture's
// initialisation), the atomic float32 backward (backward_atomic.h) against the same graph
// in float64 (backward_ref.h), the float64 graph against central finite differences, and the
// fused kernels (kernels.h) against the atomic chain and float64. --dump FILE writes
// parameters, batch and the 26 gradients as safetensors (PyTorch shapes). --ref FILE
// (gradcheck_ref.c reads it) holds the atomic and fused backward against its gradients.
// The layer table (gradcheck_net.c): every parameter gradient of the fused float32 backward
// against the float64 twin (net_ref.h), the twin against central differences.
// One row per gradient: `name | exact: True/False | approximate: True/False | maxdiff: X`,
// approximate being torch.allclose's rule |a - b| <= 1e-8 + 1e-5 |b| (docs/GRADCHECK.md).
// Exit status: 0 when every row is approximately equal, 1 on a mismatch (named on stderr)
// or an unreadable file, 2 on a bad flag.
#ifndef MAKEMORE_GRADCHECK_H
#define MAKEMORE_GRADCHECK_H

#include <stdint.h>

#include "common.h"
#include "model.h"
#include "net.h"
#include "safetensors.h"

int gradcheck_main(int argc, char **argv);  // argv[0] is "gradcheck"

// ---- the checkers: each prints its table and returns the exit status ----
int gc_exercises(const Config *cfg, int B, uint64_t seed, int ties, const char *dump);
int gc_ref(const char *path);
int gc_net(const NetConfig *cfg, int B, uint64_t seed, const char *dump);
int gc_seq(const NetConfig *cfg, int B, uint64_t seed, const char *dump);  // makemore.py's types

// ---- the exercise cell ----
// Sizes accepted (flags and --ref files): each tensor at most 2^22 elements keeps the
// float32 + float64 graphs within a few hundred MB.
enum { GC_MAX_BATCH = 4096, GC_MAX_HIDDEN = 4096, GC_MAX_EMBD = 1024, GC_MAX_BLOCK = 64,
       GC_MAX_VOCAB = 1024 };
#define GC_MAX_NUMEL (1L << 22)
int gc_sizes_ok(Config *c, int B, const char *what, Err *err);

// The lecture's parameters in the layout of its layer table (built once: model_table),
// and a batch.
typedef struct {
    Config cfg;
    int B;
    Net table;    // the table alone (no buffers)
    float *pmem;  // params_total floats
    Params p;
    int *Xb, *Yb;
} GcProblem;
void gc_problem_alloc(GcProblem *pr, const Config *cfg, int B);
void gc_problem_free(GcProblem *pr);

// ---- a --ref file (gradcheck_ref.c) ----
// Its parameters and batch into pr (sizes from the shapes, bn_var and eps from the
// metadata), all checked. 0, or -1 with err.
int gc_ref_problem(GcProblem *pr, const StFile *f, const char *path, Err *err);
// Tensor `name`, float, of the given shape (size-1 dims aside); NULL with err when absent,
// of another dtype or misshapen.
const StTensor *gc_ref_float(const StFile *f, const char *path, const char *name,
                             const int64_t *shape, int nd, Err *err);
double gc_elem_f(const StTensor *t, size_t i);

#endif
