// bench_wavenet.c: the `wavenet` section: part 5's training step (block 8, embd 24,
// hidden 128, B = 32; docs/ARCHITECTURES.md) through the layer table of net.c, at each
// thread count, beside PyTorch's part-5 loop (bench/torch_wavenet.py) at the same thread
// count, and at 1 thread under the auto GEMM plan beside the default plan, then the step
// taken apart layer by layer.
//
// Checked before timing: every gradient of net_backward against the float64 twin
// (net_ref.c), the fused step (net_backward_sgd) against net_backward then net_sgd, and
// the fused step under the auto plan against the same under the default plan.
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "common.h"
#include "net.h"
#include "net_plan.h"
#include "net_ref.h"

extern char **environ;

enum { WN_MAX_THREADS = 64, WN_POOL = 182625 };  // examples: the size of the training split
#define WN_LR 1e-6f  // a step that changes the model but not the timing

typedef struct {
    Net n;         // the default plan (every GEMM at its fixed kind)
    Net na;        // the same table under the auto plan made at 1 thread
    Net np;        // the same under the default path's plan (net_plan_step at 1 thread:
                   // what `makemore train` keeps in wisdom)
    char auto_plan[GEMM_PLAN_TEXT_MAX], pick_plan[GEMM_PLAN_TEXT_MAX];
    Examples ex;
    Rng rng;
    int l;         // the layer a per-layer phase runs
    int thr[8];    // thread counts of the interleaved step timings
} Wave;

static const char *const KIND_NAMES[] = {"embedding", "flatten (view)", "linear", "batchnorm+tanh",
                                         "linear out + CE"};

// Random examples over the vocabulary, packed as examples_sample_batch reads them.
static void wave_examples(Examples *ex, int T, int V, unsigned long long seed) {
    Rng r;
    rng_seed(&r, seed);
    *ex = (Examples){.n = WN_POOL, .T = T, .rows = xcalloc((size_t)WN_POOL * (T + 1), 1)};
    for (size_t i = 0; i < (size_t)WN_POOL * (T + 1); i++) ex->rows[i] = (uint8_t)rng_below(&r, (uint32_t)V);
}

static void wave_init(Wave *w) {
    NetConfig c = {.arch = ARCH_WAVENET, .V = BENCH_V, .T = 8, .E = 24, .H = 128, .layers = 1,
                   .bessel = 1, .bn_stats = BN_STATS_RUNNING, .momentum = 0.1f};
    Err err;
    if (net_config_check(&c, &err)) die(EXIT_RUNTIME, "bench wavenet: %s", err.msg);
    net_alloc(&w->n, &c, 32);
    rng_seed(&w->rng, 61);
    net_init(&w->n, &w->rng, 1);
    wave_examples(&w->ex, c.T, c.V, 62);
    net_train_step(&w->n, &w->ex, WN_LR, &w->rng);  // every activation filled
}

static void wave_free(Wave *w) {
    net_free(&w->n);
    net_free(&w->na);
    net_free(&w->np);
    free(w->ex.rows);
}

// max over tensors of max|x - ref| / max|ref| (per tensor).
static double worst_rel(const Net *n, const float *x, const double *ref) {
    double worst = 0;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        if (t->is_stat) continue;
        double scale = 0, md = 0;
        for (size_t k = 0; k < t->numel; k++) {
            scale = fmax(scale, fabs(ref[t->off + k]));
            md = fmax(md, fabs(x[t->off + k] - ref[t->off + k]));
        }
        if (scale > 0) worst = fmax(worst, md / scale);
    }
    return worst;
}

// The two checks; returns 0 when both hold. bench_inject_fault perturbs one gradient.
static int wave_verify(Wave *w, FILE *f) {
    Net *n = &w->n;
    net_forward(n, n->Xb, n->Yb, 0);
    net_backward(n);
    if (bench_inject_fault) n->grads[n->num_params / 2] += 1e-3f * fabsf(n->grads[n->num_params / 2]) + 1e-3f;
    double *P = xcalloc(n->num_params, sizeof(double)), *G = xcalloc(n->num_params, sizeof(double));
    for (size_t i = 0; i < n->num_params; i++) P[i] = n->params[i];
    net_ref_loss(n, P, n->Xb, n->Yb, n->B, G);
    double grad_err = worst_rel(n, n->grads, G);
    // fused step against backward + sgd, from the same parameters
    float *keep = xcalloc(n->num_params, sizeof(float));
    memcpy(keep, n->params, n->num_params * sizeof(float));
    net_sgd(n, 0.1f);
    for (size_t i = 0; i < n->num_params; i++) P[i] = n->params[i];
    memcpy(n->params, keep, n->num_params * sizeof(float));
    net_forward(n, n->Xb, n->Yb, 0);
    net_backward_sgd(n, 0.1f);
    double step_err = worst_rel(n, n->params, P);
    memcpy(n->params, keep, n->num_params * sizeof(float));
    free(keep), free(P), free(G);
    const double grad_tol = 1e-4, step_tol = 1e-6;
    fprintf(f, "  check: gradients vs the float64 twin %.1e of scale (<= %.0e), the fused step vs "
               "backward + sgd %.1e (<= %.0e)\n", grad_err, grad_tol, step_err, step_tol);
    if (grad_err <= grad_tol && step_err <= step_tol) return 0;
    fprintf(stderr, "bench: VERIFY FAILED: wavenet step: gradients %.3g, fused update %.3g of scale\n",
            grad_err, step_err);
    return 1;
}

// Net a (n's table under another plan) takes n's parameters and statistics. Checked: one
// fused step (lr 0.1) from the same parameters and batch under each plan leaves the same
// parameters within float rounding (the plans' kernels round differently). Returns 0 when
// it holds.
static int wave_plan_check(Wave *w, Net *a, FILE *f, const char *label) {
    Net *n = &w->n;
    size_t bytes = n->num_params * sizeof(float);
    memcpy(a->params, n->params, bytes);
    memcpy(a->stats, n->stats, n->num_stats * sizeof(float));
    float *keep = xcalloc(n->num_params, sizeof(float));
    memcpy(keep, n->params, bytes);
    net_forward(n, n->Xb, n->Yb, 0);
    net_backward_sgd(n, 0.1f);
    net_forward(a, n->Xb, n->Yb, 0);
    net_backward_sgd(a, 0.1f);
    if (bench_inject_fault) a->params[a->num_params / 2] += 1e-3f * fabsf(a->params[a->num_params / 2]) + 1e-3f;
    double *P = xcalloc(n->num_params, sizeof(double));
    for (size_t i = 0; i < n->num_params; i++) P[i] = n->params[i];
    double err = worst_rel(a, a->params, P);
    memcpy(n->params, keep, bytes);
    memcpy(a->params, keep, bytes);
    free(keep), free(P);
    // The plans' kernels sum in other orders: forced xsmm measured 5.7e-7 here, so 1e-5
    // leaves room for rounding while a wrong kernel (0.1% off) still fails.
    const double tol = 1e-5;
    fprintf(f, "  check: the fused step under the %s plan vs the default plan %.1e of scale "
               "(<= %.0e)\n", label, err, tol);
    if (err <= tol) return 0;
    fprintf(stderr, "bench: VERIFY FAILED: wavenet step under the %s plan: parameters %.3g of "
            "scale from the default plan's\n", label, err);
    return 1;
}

// The auto plan's net (gemm_plan_auto at 1 thread: each op timed alone) and the pick's
// (net_plan_step at 1 thread: the plan `makemore train` makes by default and keeps in
// wisdom), each checked against the default plan's step.
static int wave_plans_init(Wave *w, FILE *f) {
    Net *n = &w->n;
    net_alloc(&w->na, &n->cfg, n->B);
    net_alloc(&w->np, &n->cfg, n->B);
    threads_set(1);
    gemm_plan_auto(&w->na.plan, NULL);
    gemm_plan_format(&w->na.plan, w->auto_plan, sizeof w->auto_plan);
    net_plan_step(&w->np, &w->ex, NULL);
    gemm_plan_format(&w->np.plan, w->pick_plan, sizeof w->pick_plan);
    int wrong = wave_plan_check(w, &w->na, f, "auto");
    return wrong | wave_plan_check(w, &w->np, f, "pick (default path's)");
}

static void ph_step(void *p) {
    Wave *w = p;
    net_train_step(&w->n, &w->ex, WN_LR, &w->rng);
}
// The step at thr[K] threads: the thread counts are timed round-robin (time_interleaved),
// so on a shared machine each meets the same noise and their ratio holds.
#define STEP_AT(K)                                                \
    static void ph_step_##K(void *p) {                            \
        Wave *w = p;                                              \
        threads_set(w->thr[K]);                                   \
        net_train_step(&w->n, &w->ex, WN_LR, &w->rng);            \
    }
STEP_AT(0) STEP_AT(1) STEP_AT(2) STEP_AT(3) STEP_AT(4) STEP_AT(5) STEP_AT(6) STEP_AT(7)
static const BenchFn STEP_FNS[8] = {ph_step_0, ph_step_1, ph_step_2, ph_step_3,
                                    ph_step_4, ph_step_5, ph_step_6, ph_step_7};
// At 1 thread: the step under the auto plan, and under the default plan (timed with the
// thread counts' steps when none of those is 1).
static void ph_step_auto(void *p) {
    Wave *w = p;
    threads_set(1);
    net_train_step(&w->na, &w->ex, WN_LR, &w->rng);
}
static void ph_step_pick(void *p) {
    Wave *w = p;
    threads_set(1);
    net_train_step(&w->np, &w->ex, WN_LR, &w->rng);
}
static void ph_step_default1(void *p) {
    Wave *w = p;
    threads_set(1);
    net_train_step(&w->n, &w->ex, WN_LR, &w->rng);
}

static void ph_batch(void *p) {
    Wave *w = p;
    examples_sample_batch(w->n.Xb, w->n.Yb, &w->ex, w->n.B, &w->rng);
}
static void ph_fwd(void *p) {
    Wave *w = p;
    net_layer_forward(&w->n, w->l, 1);
}
static void ph_bwd(void *p) {
    Wave *w = p;
    net_layer_backward(&w->n, w->l, 1, WN_LR);
}
static void ph_update(void *p) {  // the small tensors, as net_backward_sgd updates them
    Net *n = &((Wave *)p)->n;
    for (int i = 0; i < n->n_tensors; i++) {
        const NetTensor *t = &n->tensor[i];
        if (t->is_stat || t->gemm_updated) continue;
        float *x = n->params + t->off;
        const float *g = n->grads + t->off;
        for (size_t k = 0; k < t->numel; k++) x[k] -= WN_LR * g[k];
    }
}

// PyTorch's part-5 step at `threads` threads: median and min us per step, or -1.
static int torch_wavenet(const char *python, int threads, int quick, double *median, double *min) {
    char script[] = "bench/torch_wavenet.py", th[16], steps[16], path[] = "/tmp/makemore-wn-XXXXXX";
    snprintf(th, sizeof th, "%d", threads);
    snprintf(steps, sizeof steps, "%d", quick ? 200 : 3000);
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd, 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)python, script, "--threads", th, "--steps", steps, NULL};
    pid_t pid;
    int status = -1, got = 0;
    if (posix_spawn(&pid, python, &fa, NULL, argv, environ) == 0) waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fd);
    FILE *r = fopen(path, "r");
    char line[512];
    while (r && fgets(line, sizeof line, r)) {
        const char *m = strstr(line, "median ");
        if (m && sscanf(m, "median %lf us/step, min %lf", median, min) == 2) got = 1;
    }
    if (r) fclose(r);
    unlink(path);
    return got && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int wavenet_section(FILE *f, const int *threads, int n_threads, const TimingPlan *plan,
                    const char *python, int torch, int quick, double sgemm1) {
    if (n_threads > WN_MAX_THREADS) n_threads = WN_MAX_THREADS;
    Wave w;
    wave_init(&w);
    const Net *n = &w.n;
    fprintf(f, "\nwavenet: part 5's training step (block 8, embd 24, hidden 128, B=32, %zu "
               "parameters; batch, forward, fused backward + update, running statistics) "
               "through net.c; median us per step\n", n->num_params);
    int wrong = wave_verify(&w, f);
    wrong |= wave_plans_init(&w, f);
    double step[WN_MAX_THREADS];
    int inter = n_threads < 8 ? n_threads : 8;
    // round-robin: the fixed plan at each thread count, then the auto plan and the pick at 1
    // thread, then the fixed plan at 1 thread when no thread count above is 1
    BenchFn fns[12];
    Timing tm[12];
    int at1 = -1;  // the default plan's 1-thread timing
    for (int k = 0; k < inter; k++) {
        w.thr[k] = threads[k];
        fns[k] = STEP_FNS[k];
        if (threads[k] == 1 && at1 < 0) at1 = k;
    }
    int n_fns = inter, at_auto = n_fns++, at_pick = n_fns++;
    fns[at_auto] = ph_step_auto;
    fns[at_pick] = ph_step_pick;
    if (at1 < 0) {
        at1 = n_fns++;
        fns[at1] = ph_step_default1;
    }
    if (!wrong) time_interleaved(fns, &w, n_fns, plan, tm);
    fprintf(f, "  %-8s %12s %12s %14s %10s   (engine's thread counts timed round-robin)\n",
            "threads", "engine", "PyTorch", "PyTorch/engine", "vs 1 thr");
    double torch1 = -1;  // PyTorch at 1 thread, when one of the rows ran it
    for (int k = 0; k < n_threads; k++) {
        threads_set(threads[k]);
        step[k] = wrong ? NAN : k < inter ? tm[k].median : time_fn(ph_step, &w, plan).median;
        double tm = 0, tmin = 0;
        int have = torch && torch_wavenet(python, threads[k], quick, &tm, &tmin) == 0;
        char tcol[32] = "-", ratio[32] = "-";
        if (have) {
            snprintf(tcol, sizeof tcol, "%.1f", tm);
            snprintf(ratio, sizeof ratio, "%.2fx", tm / (step[k] * 1e6));
            if (threads[k] == 1) torch1 = tm;
        }
        fprintf(f, "  %-8d %12.1f %12s %14s %9.2fx\n", threads[k], step[k] * 1e6, tcol, ratio,
                step[0] / step[k]);
    }
    {  // the auto plan at 1 thread; its last column: the default plan's 1-thread step over it
        double sa = wrong ? NAN : tm[at_auto].median, s1 = wrong ? NAN : tm[at1].median;
        char tcol[32] = "-", ratio[32] = "-";
        if (torch1 > 0) {
            snprintf(tcol, sizeof tcol, "%.1f", torch1);
            snprintf(ratio, sizeof ratio, "%.2fx", torch1 / (sa * 1e6));
        }
        fprintf(f, "  %-8s %12.1f %12s %14s %9.2fx\n", "1 auto", sa * 1e6, tcol, ratio, s1 / sa);
        double sp = wrong ? NAN : tm[at_pick].median;
        snprintf(ratio, sizeof ratio, "-");
        if (torch1 > 0) snprintf(ratio, sizeof ratio, "%.2fx", torch1 / (sp * 1e6));
        fprintf(f, "  %-8s %12.1f %12s %14s %9.2fx\n", "1 pick", sp * 1e6, tcol, ratio, s1 / sp);
        fprintf(f, "  (rows 1..N: the fixed plan, --gemm blas; 1 auto: the step under the auto GEMM "
                   "plan (each op timed alone) made at 1 thread; 1 pick: under the plan makemore "
                   "train makes by default (net_plan_step, kept in wisdom), at 1 thread; all timed "
                   "round-robin; last column: the fixed plan's 1-thread step, %.1f us, over it)\n"
                   "  auto plan: %s\n  pick: %s\n", s1 * 1e6, w.auto_plan, w.pick_plan);
        double flops = 0;
        for (int i = 0; i < w.np.plan.n; i++)
            flops += 2.0 * w.np.plan.op[i].M * w.np.plan.op[i].N * w.np.plan.op[i].K;
        if (sgemm1 > 0)
            fprintf(f, "  GEMM floor: the step's %d GEMMs, %.2f Mflop at this run's 1-thread sgemm "
                       "rate (%.1f GFLOP/s): %.1f us; the pick's step over it %.2fx (the fixed "
                       "plan's %.2fx)\n", w.np.plan.n, flops * 1e-6, sgemm1,
                    flops / (sgemm1 * 1e3), sp / (flops / (sgemm1 * 1e9)),
                    s1 / (flops / (sgemm1 * 1e9)));
    }
    if (!torch) fprintf(f, "  (PyTorch column off: --no-torch, or --quick without --torch)\n");
    fprintf(f, "  by layer (us per call, forward / fused backward), share of the step at %d thread(s):\n",
            threads[0]);
    fprintf(f, "  %-3s %-16s %-11s", "l", "layer", "out/example");
    for (int k = 0; k < n_threads; k++) fprintf(f, "   fwd %2dt   bwd %2dt", threads[k], threads[k]);
    fprintf(f, " %7s\n", "share");
    double t[2][WN_MAX_THREADS], sum = 0;
    for (int l = 0; l < n->n_layers && !wrong; l++) {
        const Layer *L = &n->layer[l];
        if (L->kind == L_FLATTEN) continue;
        w.l = l;
        fprintf(f, "  %-3d %-16s %4dx%-6d", l, KIND_NAMES[L->kind], L->rows, L->cols);
        for (int k = 0; k < n_threads; k++) {
            threads_set(threads[k]);
            t[0][k] = time_fn(ph_fwd, &w, plan).median;
            t[1][k] = time_fn(ph_bwd, &w, plan).median;
            fprintf(f, " %9.2f %9.2f", t[0][k] * 1e6, t[1][k] * 1e6);
        }
        sum += t[0][0] + t[1][0];
        fprintf(f, " %6.1f%%\n", 100 * (t[0][0] + t[1][0]) / step[0]);
    }
    if (!wrong) {
        threads_set(threads[0]);
        double b = time_fn(ph_batch, &w, plan).median, u = time_fn(ph_update, &w, plan).median;
        sum += b + u;
        fprintf(f, "  batch sampling %.2f us, small-tensor update %.2f us; layers + these = %.1f%% "
                   "of the step at %d thread(s)\n", b * 1e6, u * 1e6, 100 * sum / step[0], threads[0]);
    }
    fflush(f);
    wave_free(&w);
    return wrong;
}
