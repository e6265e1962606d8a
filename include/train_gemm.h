// train_gemm.h: how `makemore train` chooses its GEMM plan (--gemm, --plan, --resume).
#ifndef MAKEMORE_GEMM_PLAN_TRAIN_H
#define MAKEMORE_GEMM_PLAN_TRAIN_H

#include <stddef.h>

#include "gemm_plan.h"

// --gemm's choices, in cli_choice order.
enum { GEMM_MODE_AUTO, GEMM_MODE_BLAS, GEMM_MODE_XSMM };
extern const char *const GEMM_MODE_CHOICES[];  // "auto", "blas", "xsmm", NULL

// The plan p of the training step, chosen in this order:
//   --plan FILE that exists: read from it (it must fit the run);
//   a resumed run's plan (stored, from the checkpoint) unless --gemm is given;
//   --gemm mode (mode < 0: not given, the default blas); and when --plan FILE does not
//   exist yet, the plan made is written there (atomically).
// Prints one "gemm: ..." line; leaves the plan's text in stored[len] (for the checkpoint).
// A bad plan, file or flag ends the run with a one-line message (exit 2 usage, 1 runtime).
void train_gemm_setup(GemmPlan *p, int mode, const char *plan_file, int resumed, char *stored,
                      size_t len);

#endif
