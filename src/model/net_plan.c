// net_plan.c: the planner of a model's GEMMs inside its real step (net_plan.h).
#include "net_plan.h"

#include <stdlib.h>
#include <string.h>

#include "gemm_plan.h"

const char *const NET_PLAN_NAMES[NET_PLAN_N] = {"fixed", "xsmm", "alone", "in-step"};

enum { ROUNDS_PER_KIND = 5, WHOLE_ROUNDS = 5, WHOLE_STEPS = 3, WARM_STEPS = 3 };
#define WHOLE_MARGIN 0.02  // a plan must beat the fixed path's median step by 2% to replace it

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? v[n / 2] : 0.0;
}

// One training step of the scratch model (a tiny learning rate: the same code path, the
// parameters barely move).
static void scratch_step(Net *s, const Examples *ex, Rng *r) {
    if (s->cfg.optim == OPTIM_ADAMW) net_train_step_adamw(s, ex, 1e-6f, 0.0f, 1, r);
    else net_train_step(s, ex, 1e-6f, r);
}

static void set_kinds(GemmPlan *p, const GemmKind *kinds) {
    for (int i = 0; i < p->n; i++)
        if (p->op[i].kind != kinds[i] && gemm_op_set(&p->op[i], kinds[i]) != 0)
            gemm_op_set(&p->op[i], GEMM_BLAS);
}

double net_plan_step(Net *n, const Examples *ex, NetPlanReport *rep) {
    double t0 = now_seconds();
    GemmPlan *p = &n->plan;
    const int nops = p->n;
    NetPlanReport local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    // 1. candidates: every correct kind of every op; the op-alone plan
    GemmTrial (*trials)[GEMM_N_KINDS] = xcalloc((size_t)nops + 1, sizeof *trials);
    gemm_plan_auto(p, trials);
    GemmKind *plans = xcalloc((size_t)NET_PLAN_N * (nops + 1), sizeof(GemmKind));
    GemmKind *fixed = plans, *xsmm = plans + nops, *alone = plans + 2 * nops, *step = plans + 3 * nops;
    int *cand = xcalloc((size_t)nops * GEMM_N_KINDS + 1, sizeof(int)), *ncand = xcalloc((size_t)nops + 1, sizeof(int));
    int maxc = 1;
    for (int i = 0; i < nops; i++) {
        fixed[i] = p->op[i].fixed;
        alone[i] = p->op[i].kind;
        xsmm[i] = trials[i][GEMM_XSMM].correct ? GEMM_XSMM : GEMM_BLAS;
        for (int k = 0; k < GEMM_N_KINDS; k++)
            if (trials[i][k].correct) cand[i * GEMM_N_KINDS + ncand[i]++] = k;
        if (!ncand[i]) cand[i * GEMM_N_KINDS + ncand[i]++] = GEMM_BLAS;
        maxc = ncand[i] > maxc ? ncand[i] : maxc;
    }
    // 2. a scratch copy of the model, stepping on batches of its own
    static Net sim;
    net_alloc(&sim, &n->cfg, n->B);
    memcpy(sim.params, n->params, n->num_params * sizeof(float));
    memcpy(sim.stats, n->stats, (n->num_stats ? n->num_stats : 1) * sizeof(float));
    sim.bn_forward = n->bn_forward;
    sim.bn_backward = n->bn_backward;
    Rng r;
    rng_seed(&r, 0x706c616eULL);
    set_kinds(&sim.plan, alone);
    for (int w = 0; w < WARM_STEPS; w++) scratch_step(&sim, ex, &r);
    rep->steps += WARM_STEPS;
    // inside the step: the candidates of every op take turns, each op timed by its tally
    const int rounds = ROUNDS_PER_KIND * maxc;
    double *tally = xcalloc((size_t)nops, sizeof(double));
    double *samples = xcalloc((size_t)nops * GEMM_N_KINDS * rounds + 1, sizeof(double));
    int *nsamp = xcalloc((size_t)nops * GEMM_N_KINDS + 1, sizeof(int));
    GemmKind *turn = xcalloc((size_t)nops + 1, sizeof(GemmKind));
    for (int i = 0; i < nops; i++) sim.plan.op[i].tally = &tally[i];
    for (int round = 0; round < rounds; round++) {
        for (int i = 0; i < nops; i++) turn[i] = (GemmKind)cand[i * GEMM_N_KINDS + (round + i) % ncand[i]];
        set_kinds(&sim.plan, turn);
        memset(tally, 0, (size_t)nops * sizeof(double));
        scratch_step(&sim, ex, &r);
        for (int i = 0; i < nops; i++) {
            int k = sim.plan.op[i].kind, at = (i * GEMM_N_KINDS + k);
            samples[(size_t)at * rounds + nsamp[at]++] = tally[i];
        }
    }
    rep->steps += rounds;
    for (int i = 0; i < nops; i++) {
        sim.plan.op[i].tally = NULL;
        double best = -1.0, at_fixed = -1.0;
        step[i] = alone[i];
        for (int c = 0; c < ncand[i]; c++) {
            int k = cand[i * GEMM_N_KINDS + c], at = i * GEMM_N_KINDS + k;
            if (!nsamp[at]) continue;
            double m = median(samples + (size_t)at * rounds, nsamp[at]);
            if (k == (int)fixed[i]) at_fixed = m;
            if (best < 0 || m < best) {
                best = m;
                step[i] = (GemmKind)k;
            }
        }
        if (at_fixed >= 0 && best > (1.0 - WHOLE_MARGIN) * at_fixed) step[i] = fixed[i];
    }
    // 3. whole steps, round-robin: the fastest median wins
    double whole[NET_PLAN_N][WHOLE_ROUNDS];
    int tried[NET_PLAN_N] = {1, gemm_xsmm_available(), 1, 1};
    for (int q = 0; q < WHOLE_ROUNDS; q++)
        for (int c = 0; c < NET_PLAN_N; c++) {
            if (!tried[c]) continue;
            set_kinds(&sim.plan, plans + (size_t)c * nops);
            scratch_step(&sim, ex, &r);  // the first step after a switch: not timed
            double s0 = now_seconds();
            for (int k = 0; k < WHOLE_STEPS; k++) scratch_step(&sim, ex, &r);
            whole[c][q] = (now_seconds() - s0) / WHOLE_STEPS;
            rep->steps += WHOLE_STEPS + 1;
        }
    rep->chosen = NET_PLAN_FIXED;
    for (int c = 0; c < NET_PLAN_N; c++)
        if (tried[c]) rep->step_s[c] = median(whole[c], WHOLE_ROUNDS);
    double best = rep->step_s[NET_PLAN_FIXED] * (1.0 - WHOLE_MARGIN);
    for (int c = 1; c < NET_PLAN_N; c++)
        if (tried[c] && rep->step_s[c] < best) {
            best = rep->step_s[c];
            rep->chosen = c;
        }
    set_kinds(p, plans + (size_t)rep->chosen * nops);
    net_free(&sim);
    void *all[] = {trials, plans, cand, ncand, tally, samples, nsamp, turn};
    for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) xfree(all[k]);
    return now_seconds() - t0;
}
