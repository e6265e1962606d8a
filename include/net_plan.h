// net_plan.h: the planner of a model's GEMMs by what they cost inside its real step.
//
// Timing each GEMM alone, with warm caches, does not predict the step (an op that wins alone
// can lose in the sequence, where its operands come from the layer before). So the plan is
// made on a scratch copy of the model, stepping on real batches:
//   1. every kind of every op is checked against cblas_sgemm, and timed alone (the
//      planner's candidates and a first plan, gemm_plan_auto);
//   2. inside the step: each op's candidates take turns, every op timed by its own tally
//      in each step, a median per op and kind; each op gets its fastest kind;
//   3. whole steps: that plan, the op-alone plan, the fixed path and all-xsmm, timed
//      round-robin; the fastest median wins (the fixed path unless another is 2% faster).
// The model's own parameters, statistics and generator are not touched.
#ifndef MAKEMORE_NET_PLAN_H
#define MAKEMORE_NET_PLAN_H

#include "data.h"
#include "net.h"

enum { NET_PLAN_FIXED, NET_PLAN_XSMM, NET_PLAN_ALONE, NET_PLAN_STEP, NET_PLAN_N };
extern const char *const NET_PLAN_NAMES[NET_PLAN_N];  // "fixed", "xsmm", "alone", "in-step"

typedef struct {
    double step_s[NET_PLAN_N];  // each candidate plan's median whole step (0: not tried)
    int chosen;                 // NET_PLAN_*
    int steps;                  // scratch steps run
} NetPlanReport;

// Plans n->plan for training on ex (batches drawn from a generator of its own). Returns the
// seconds spent; rep (may be NULL) says what was measured.
double net_plan_step(Net *n, const Examples *ex, NetPlanReport *rep);

#endif
