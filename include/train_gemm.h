// train_gemm.h: how a training run chooses its GEMM plan (--gemm, --plan, --resume, wisdom).
#ifndef MAKEMORE_GEMM_PLAN_TRAIN_H
#define MAKEMORE_GEMM_PLAN_TRAIN_H

#include <stddef.h>

#include "data.h"
#include "net.h"

// --gemm's choices, in cli_choice order.
enum { GEMM_MODE_WISDOM, GEMM_MODE_AUTO, GEMM_MODE_BLAS, GEMM_MODE_XSMM };
extern const char *const GEMM_MODE_CHOICES[];  // "wisdom", "auto", "blas", "xsmm", NULL

// The plan of n's training step, chosen in this order:
//   --plan FILE that exists: read from it (it must fit the run);
//   a resumed run's plan (stored, from the checkpoint) unless --gemm is given;
//   --gemm blas (the fixed path), xsmm (libxsmm's kernels), auto (planned now, inside the
//   step: net_plan.h), or wisdom, the default: the plan kept for this machine, these shapes
//   and this thread count (wisdom.h), or, when there is none, one planned now and kept;
//   a data-parallel run (several ranks) without --plan keeps the fixed path;
//   and when --plan FILE does not exist yet, the plan made is written there (atomically).
// The planner steps a scratch copy of n on batches of ex. Prints one "gemm: ..." line (a
// note on stderr for unusable wisdom); leaves the plan's text in stored[len] (for the
// checkpoint). A bad plan, file or flag ends the run with a one-line message.
void train_gemm_setup(Net *n, const Examples *ex, int mode, const char *plan_file, int resumed,
                      char *stored, size_t len);
// The wisdom key of n's plan at the current thread count (what the plan's speed depends on).
void train_gemm_key(const Net *n, char *key, size_t len);

#endif
