// bench_plan.c: the default path's step against the fixed plans and the floors.
//
// `plan:` for the lecture's model at each size, part 5's WaveNet and makemore.py's
// Transformer: the GEMM plan `makemore train` makes by default (net_plan_step: what it keeps
// in wisdom) against the fixed path (`--gemm blas`) and every GEMM a libxsmm kernel
// (`--gemm xsmm`), whole training steps timed round-robin, each on its own copy of the
// model; the step's GEMM floor (its GEMMs' flops at the same run's sgemm rate) and the
// planner's pick over it. Checked first: one step from the same parameters and batch
// under each plan applies the same gradient (within float rounding: the plans' kernels
// sum in other orders).
//
// `phases:` the step's phases that are not GEMMs (batch gather, embedding gather and
// scatter-add, batchnorm+tanh forward and backward, cross-entropy, the update of the small
// tensors) for the lecture's model and the WaveNet at 1 thread, each against its floor:
// its minimal traffic at the triad rate of its footprint, or its transcendentals (one tanh
// per batchnorm value, one exp per logit and a log per row) at libmvec's vector rate,
// whichever is longer, all measured in the same run. Each phase is timed alone, over and
// over (its data in cache, as the step profile times it; the triad at that footprint is
// in cache too).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "common.h"
#include "kernels.h"
#include "net.h"
#include "net_plan.h"

enum { PLAN_POOL = 182625 };  // examples: the size of the lecture's training split
enum { P_PICK, P_BLAS, P_XSMM, P_N };
static const double NOISE_OK = 0.05;
#define TIMING_LR 1e-6f   // steps that change the model but not the timing
#define CHECK_LR 1e4f     // the check's SGD step: (before - after) / lr reads the gradient back

typedef struct {
    char name[48];
    NetConfig cfg;
    int B, adamw;
    Examples ex;
    Net n[P_N];
    Rng rng[P_N];
    float *p0, *s0;     // parameters and statistics at the start
    NetPlanReport rep;  // what the planner measured making the pick
    double planning_s;
} PlanCase;

// ---- models and their data ---------------------------------------------------------------

// Rows of T + 1 symbols drawn uniformly (the lecture's layout: T context, one target).
static void window_examples(Examples *ex, int T, int V, unsigned long long seed) {
    Rng r;
    rng_seed(&r, seed);
    *ex = (Examples){.n = PLAN_POOL, .T = T, .ty = 1,
                     .rows = xcalloc((size_t)PLAN_POOL * (T + 1), 1)};
    for (size_t i = 0; i < (size_t)PLAN_POOL * (T + 1); i++)
        ex->rows[i] = (uint8_t)rng_below(&r, (uint32_t)V);
}

// makemore.py's sequences: a word of 2..T-1 random letters, x = [0, w..., 0 ...] and
// y = [w..., 0, -1 ...] (sequences_build's layout).
static void word_examples(Examples *ex, int T, int V, unsigned long long seed) {
    const int n = 32033;  // names.txt's words
    Rng r;
    rng_seed(&r, seed);
    *ex = (Examples){.n = n, .T = T, .ty = T, .X = xcalloc((size_t)n * T, sizeof(int)),
                     .Y = xcalloc((size_t)n * T, sizeof(int))};
    for (int i = 0; i < n; i++) {
        int len = 2 + (int)rng_below(&r, (uint32_t)(T - 2)), w[64];
        for (int t = 0; t < len; t++) w[t] = 1 + (int)rng_below(&r, (uint32_t)(V - 1));
        for (int t = 0; t < T; t++) {
            ex->X[(size_t)i * T + t] = t == 0 || t > len ? 0 : w[t - 1];
            ex->Y[(size_t)i * T + t] = t < len ? w[t] : t == len ? 0 : -1;
        }
    }
    examples_pack(ex);
}

static void case_config(PlanCase *c, int model, BenchSize sz) {
    memset(c, 0, sizeof *c);
    if (model == 0) {
        c->cfg = (NetConfig){.arch = ARCH_MLP, .V = BENCH_V, .T = BENCH_T, .E = BENCH_E, .H = sz.H,
                             .layers = 1, .bessel = 1, .bn_stats = BN_STATS_CALIBRATE,
                             .momentum = 0.1f};
        c->B = sz.B;
        snprintf(c->name, sizeof c->name, "lecture %dx%d", sz.B, sz.H);
    } else if (model == 1) {
        c->cfg = (NetConfig){.arch = ARCH_WAVENET, .V = BENCH_V, .T = 8, .E = 24, .H = 128,
                             .layers = 1, .bessel = 1, .bn_stats = BN_STATS_RUNNING,
                             .momentum = 0.1f};
        c->B = 32;
        snprintf(c->name, sizeof c->name, "wavenet B=32");
    } else {
        c->cfg = (NetConfig){.arch = ARCH_TRANSFORMER, .V = SEQ_V, .T = SEQ_T, .E = 64, .H = 64,
                             .layers = SEQ_LAYERS, .heads = SEQ_NH, .optim = OPTIM_ADAMW};
        c->B = 32;
        c->adamw = 1;
        snprintf(c->name, sizeof c->name, "transformer 32x16x64");
    }
    Err err;
    if (net_config_check(&c->cfg, &err)) die(EXIT_RUNTIME, "bench plan: %s", err.msg);
}

static void case_restart(PlanCase *c) {
    for (int k = 0; k < P_N; k++) {
        Net *n = &c->n[k];
        memcpy(n->params, c->p0, n->num_params * sizeof(float));
        if (n->num_stats) memcpy(n->stats, c->s0, n->num_stats * sizeof(float));
        if (n->adam_m) memset(n->adam_m, 0, n->num_params * sizeof(float));
        if (n->adam_v) memset(n->adam_v, 0, n->num_params * sizeof(float));
        rng_seed(&c->rng[k], 71);
    }
}

// The nets (the fixed path's plan at alloc; xsmm forced; the pick planned by net_plan_step
// at the current thread count) from one initialisation.
static void case_build(PlanCase *c, int model, BenchSize sz) {
    case_config(c, model, sz);
    if (c->cfg.arch == ARCH_TRANSFORMER) word_examples(&c->ex, c->cfg.T, c->cfg.V, 72);
    else window_examples(&c->ex, c->cfg.T, c->cfg.V, 72);
    for (int k = 0; k < P_N; k++) net_alloc(&c->n[k], &c->cfg, c->B);
    Rng init;
    rng_seed(&init, 73);
    net_init(&c->n[0], &init, 1);  // perturbed: no tensor starts at zero, every gradient counts
    Net *n = &c->n[0];
    c->p0 = xcalloc(n->num_params, sizeof(float));
    c->s0 = xcalloc(n->num_stats + 1, sizeof(float));
    memcpy(c->p0, n->params, n->num_params * sizeof(float));
    if (n->num_stats) memcpy(c->s0, n->stats, n->num_stats * sizeof(float));
    case_restart(c);
    gemm_plan_force(&c->n[P_XSMM].plan, GEMM_XSMM);
    c->planning_s = net_plan_step(&c->n[P_PICK], &c->ex, &c->rep);
}

static void case_free(PlanCase *c) {
    for (int k = 0; k < P_N; k++) net_free(&c->n[k]);
    examples_free(&c->ex);
    xfree(c->p0);
    xfree(c->s0);
}

static void one_step(PlanCase *c, int k, float lr) {
    if (c->adamw) net_train_step_adamw(&c->n[k], &c->ex, lr, 0.0f, 1, &c->rng[k]);
    else net_train_step(&c->n[k], &c->ex, lr, &c->rng[k]);
}
static void step_pick(void *p) { one_step(p, P_PICK, TIMING_LR); }
static void step_blas(void *p) { one_step(p, P_BLAS, TIMING_LR); }
static void step_xsmm(void *p) { one_step(p, P_XSMM, TIMING_LR); }

// The gradient one step applies under plan k, from the start: SGD's read back from the
// update (lr 1e4, so the update dominates), AdamW's from net_backward (its gradients
// come from the plan's ops; its update would hide them).
static void applied_gradient(PlanCase *c, int k, double *g) {
    Net *n = &c->n[k];
    case_restart(c);
    if (c->adamw) {
        examples_sample_batch(n->Xb, n->Yb, &c->ex, n->B, &c->rng[k]);
        net_forward(n, n->Xb, n->Yb, 1);
        net_backward(n);
        for (size_t i = 0; i < n->num_params; i++) g[i] = n->grads[i];
    } else {
        net_train_step(n, &c->ex, CHECK_LR, &c->rng[k]);
        for (size_t i = 0; i < n->num_params; i++) g[i] = ((double)c->p0[i] - n->params[i]) / CHECK_LR;
    }
}

// Worst |x - ref| over each tensor's scale (at least a tenth of the largest tensor's: a
// bias whose gradient is rounding noise around 0 is held to the others' scale).
static double worst_scaled(const Net *n, const double *x, const double *ref) {
    double global = 0, worst = 0;
    for (size_t i = 0; i < n->num_params; i++) global = fmax(global, fabs(ref[i]));
    for (int t = 0; t < n->n_tensors; t++) {
        const NetTensor *T = &n->tensor[t];
        if (T->is_stat) continue;
        double scale = 0, md = 0;
        for (size_t i = T->off; i < T->off + T->numel; i++) {
            scale = fmax(scale, fabs(ref[i]));
            double d = fabs(x[i] - ref[i]);
            md = isnan(d) ? INFINITY : fmax(md, d);
        }
        scale = fmax(scale, 0.1 * global);
        if (scale > 0) worst = fmax(worst, md / scale);
    }
    return worst;
}

// The pick's and xsmm's applied gradients against the fixed path's. 0 when within tol.
static int plan_verify(PlanCase *c, double *err) {
    const Net *n = &c->n[0];
    double *g[P_N];
    for (int k = 0; k < P_N; k++) {
        g[k] = xcalloc(n->num_params, sizeof(double));
        applied_gradient(c, k, g[k]);
    }
    if (bench_inject_fault) g[P_PICK][n->num_params / 2] += 1e-3 * fabs(g[P_PICK][n->num_params / 2]) + 1e-3;
    *err = fmax(worst_scaled(n, g[P_PICK], g[P_BLAS]), worst_scaled(n, g[P_XSMM], g[P_BLAS]));
    for (int k = 0; k < P_N; k++) xfree(g[k]);
    case_restart(c);
    return *err <= 1e-4 ? 0 : -1;
}

// The step's GEMM flops: 2 M N K for every op of the plan, on all its rows.
static double plan_flops(const GemmPlan *p) {
    double f = 0;
    for (int i = 0; i < p->n; i++) f += 2.0 * p->op[i].M * p->op[i].N * p->op[i].K;
    return f;
}

// Round-robin timing of the three plans' steps; retried up to `retries` times while other
// processes take more than NOISE_OK of the machine, the quietest attempt kept.
static double time_plans(PlanCase *c, const TimingPlan *plan, int retries, Timing *out) {
    const BenchFn fns[P_N] = {step_pick, step_blas, step_xsmm};
    double best = 2.0;
    for (int a = 0; a <= retries; a++) {
        Timing t[P_N];
        CpuSnap start;
        cpu_snapshot(&start);
        time_interleaved(fns, c, P_N, plan, t);
        double share = cpu_others_share(&start, NULL);
        if (a == 0 || (share >= 0 && share < best)) {
            best = share;
            memcpy(out, t, sizeof t);
        }
        if (best <= NOISE_OK) break;
    }
    return best;
}

// Slower beyond noise: the pick's median and its best sample both more than 3% (the
// planner's own margin plus a sample's spread) behind the other plan's.
static const char *verdict(const Timing *t) {
    for (int k = P_BLAS; k < P_N; k++)
        if (t[P_PICK].median > 1.03 * t[k].median && t[P_PICK].min > 1.03 * t[k].min)
            return k == P_BLAS ? "SLOWER than blas" : "SLOWER than xsmm";
    return "ok";
}

// The targets for the default step against its GEMM floor (acceptance, issue 20).
static double floor_target(const PlanCase *c) {
    if (c->cfg.arch == ARCH_MLP && c->B == 32 && c->cfg.H == 200) return 1.5;
    if (c->cfg.arch == ARCH_WAVENET) return 1.25;
    return 0;
}

int plan_section(FILE *f, const BenchSize *sizes, int n_sizes, const int *threads, int n_threads,
                 const double *sgemm_gflops, const TimingPlan *plan, int retries, int quick) {
    if (quick) n_threads = 1;  // the smoke: every model planned, checked and timed once
    int wrong = 0, n_goals = 0;
    char goals[16][256];
    fprintf(f, "\nplan: the default GEMM plan (net_plan_step, what `makemore train` keeps in "
               "wisdom: `pick`) against the fixed path (`--gemm blas`) and all-xsmm (`--gemm "
               "xsmm`): whole training steps, the three timed round-robin on copies of one "
               "model; median (min) us per step; GEMM floor: the step's GEMM flops at this "
               "run's sgemm rate at the same thread count\n");
    fprintf(f, "  %-22s %3s %16s %16s %16s %9s %9s %9s %9s %6s  %s\n", "model", "thr", "pick",
            "blas", "xsmm", "pick/blas", "pick/xsmm", "floor", "pick/flr", "noise", "verdict");
    for (int model = 0; model < 3; model++)
        for (int s = 0; s < (model == 0 ? n_sizes : 1); s++)
            for (int k = 0; k < n_threads; k++) {
                threads_set(threads[k]);
                PlanCase *c = xcalloc(1, sizeof *c);
                case_build(c, model, model == 0 ? sizes[s] : (BenchSize){32, 0});
                double err;
                if (plan_verify(c, &err)) {
                    fprintf(stderr, "bench: VERIFY FAILED: %s, %d thread(s): a plan's step applies "
                            "a gradient %.3g of scale from the fixed path's\n", c->name,
                            threads[k], err);
                    fprintf(f, "  %-22s %3d   (the check failed: %.2g of scale)\n", c->name,
                            threads[k], err);
                    wrong++;
                    case_free(c);
                    xfree(c);
                    continue;
                }
                Timing t[P_N];
                double noise = time_plans(c, plan, retries, t);
                double floor_s = plan_flops(&c->n[P_PICK].plan) / (sgemm_gflops[k] * 1e9);
                char cell[P_N][32], nz[16];
                for (int p = 0; p < P_N; p++)
                    snprintf(cell[p], sizeof cell[p], "%.1f (%.1f)", t[p].median * 1e6, t[p].min * 1e6);
                if (noise >= 0) snprintf(nz, sizeof nz, "%.0f%%", 100 * noise);
                else snprintf(nz, sizeof nz, "-");
                fprintf(f, "  %-22s %3d %16s %16s %16s %8.3fx %8.3fx %9.1f %8.2fx %6s  %s\n",
                        c->name, threads[k], cell[P_PICK], cell[P_BLAS], cell[P_XSMM],
                        t[P_PICK].median / t[P_BLAS].median, t[P_PICK].median / t[P_XSMM].median,
                        floor_s * 1e6, t[P_PICK].median / floor_s, nz, verdict(t));
                double target = floor_target(c), ratio = t[P_PICK].median / floor_s;
                if (target > 0 && n_goals < 16)
                    snprintf(goals[n_goals++], sizeof goals[0], "  [%s] %s step, default plan, %d "
                             "thread(s): %.2fx its GEMM floor (median %.1f against %.1f us; target "
                             "<= %.2fx; the fastest sample %.2fx)%s",
                             ratio <= target ? "MET" : "NOT MET", c->name, threads[k], ratio,
                             t[P_PICK].median * 1e6, floor_s * 1e6, target,
                             t[P_PICK].min / floor_s, noise > NOISE_OK ? " (under noise)" : "");
                char desc[1024];
                gemm_plan_describe(&c->n[P_PICK].plan, desc, sizeof desc);
                fprintf(f, "      pick: the %s plan (planner's steps: fixed %.1f, xsmm %.1f, alone "
                           "%.1f, in-step %.1f us; planned in %.0f ms, %d steps): %s%s\n",
                        NET_PLAN_NAMES[c->rep.chosen], c->rep.step_s[NET_PLAN_FIXED] * 1e6,
                        c->rep.step_s[NET_PLAN_XSMM] * 1e6, c->rep.step_s[NET_PLAN_ALONE] * 1e6,
                        c->rep.step_s[NET_PLAN_STEP] * 1e6, c->planning_s * 1e3, c->rep.steps,
                        desc, c->cfg.arch == ARCH_TRANSFORMER
                                  ? " (floor: every op on all B*T rows; the packed step runs fewer)"
                                  : "");
                fflush(f);
                case_free(c);
                xfree(c);
            }
    fprintf(f, "  verdict: `SLOWER` when the pick's median and min are both more than 3%% behind "
               "another plan's (the planner's own margin and a sample's spread)\n");
    if (n_goals) fprintf(f, "  goals (issue 20):\n");
    for (int g = 0; g < n_goals; g++) fprintf(f, "%s\n", goals[g]);
    return wrong;
}

// ---- the phases that are not GEMMs -------------------------------------------------------

typedef struct {
    PlanCase *c;
    Net *n;
    int l;  // the layer a phase runs
} PhaseState;

static void ph_batch(void *p) {
    PhaseState *s = p;
    examples_sample_batch(s->n->Xb, s->n->Yb, &s->c->ex, s->n->B, &s->c->rng[0]);
}
static void ph_fwd(void *p) {
    PhaseState *s = p;
    net_layer_forward(s->n, s->l, 1);
}
static void ph_bwd(void *p) {
    PhaseState *s = p;
    net_layer_backward(s->n, s->l, 1, TIMING_LR);
}
static void ph_ce(void *p) {  // the output layer's loss and dlogits (its GEMM apart)
    PhaseState *s = p;
    Net *n = s->n;
    const Layer *L = &n->layer[s->l];
    n->loss = ce_forward_backward_fused(n->acts + L->dout, n->acts + L->out, n->Yb, n->B, L->cols);
}
static void ph_update(void *p) { net_sgd_small(((PhaseState *)p)->n, TIMING_LR); }

typedef struct {
    char name[48];
    BenchFn run;
    int l;
    double bytes, tanh, exp;  // minimal traffic; transcendentals (exp counts logs too)
    double footprint;         // for the triad
    double flops;             // the other arithmetic, as the kernel's definition counts it
} Phase;

// The phases of an mlp-family net (embedding, linear, batchnorm+tanh, linear output).
static int phases_of(const PlanCase *c, Phase *ph, int max) {
    const Net *n = &c->n[0];
    const double B = n->B, T = n->cfg.T, V = n->cfg.V, E = n->cfg.E;
    int np = 0;
    double rowb = (double)c->ex.T + (c->ex.ty > 0 ? c->ex.ty : 1);
    ph[np++] = (Phase){"batch gather", ph_batch, 0, B * rowb + 4 * B * rowb, 0, 0,
                       (double)c->ex.n * rowb + 4 * B * rowb, 0};
    for (int l = 0; l < n->n_layers && np + 2 <= max; l++) {
        const Layer *L = &n->layer[l];
        double R = B * L->rows, H = L->cols;
        if (L->kind == L_EMBED) {
            double b = 4 * (B * T + V * E + B * T * E);
            ph[np++] = (Phase){"embedding gather", ph_fwd, l, b, 0, 0, b, 0};
            ph[np++] = (Phase){"embedding scatter-add", ph_bwd, l, b, 0, 0, b, B * T * E};
        } else if (L->kind == L_BN_TANH) {
            double bf = 4 * (3 * R * H + 8 * H), bb = 4 * (4 * R * H + 5 * H);
            // forward per value: the mean's 2, the variance's 4, the normalising 5 (bias added
            // in each pass); backward: the sums' 6, the rows' 8 (dhpreact formed in each)
            ph[np] = (Phase){"", ph_fwd, l, bf, R * H, 0, bf, 11 * R * H};
            snprintf(ph[np++].name, sizeof ph[0].name, "bn+tanh fwd %.0fx%.0f", R, H);
            ph[np] = (Phase){"", ph_bwd, l, bb, 0, 0, bb, 14 * R * H};
            snprintf(ph[np++].name, sizeof ph[0].name, "bn+tanh bwd %.0fx%.0f", R, H);
        } else if (L->kind == L_LINEAR_OUT) {
            double b = 4 * (2 * B * V + B);
            ph[np++] = (Phase){"cross-entropy", ph_ce, l, b, 0, B * V + B, b, 4 * B * V};
        }
    }
    double small = 0;
    for (int i = 0; i < n->n_tensors; i++)
        if (!n->tensor[i].is_stat && !n->tensor[i].gemm_updated) small += (double)n->tensor[i].numel;
    if (np < max)
        ph[np++] = (Phase){"sgd update, small tensors", ph_update, 0, 12 * small, 0, 0, 12 * small,
                           2 * small};
    return np;
}

// One phase timed, again up to `retries` times while other processes take more than
// NOISE_OK of the machine; the quietest attempt kept, its noise share in *noise.
static Timing time_phase(BenchFn fn, void *state, const TimingPlan *plan, int retries,
                         double *noise) {
    Timing best = {0};
    *noise = 2.0;
    for (int a = 0; a <= retries; a++) {
        CpuSnap start;
        cpu_snapshot(&start);
        Timing t = time_fn(fn, state, plan);
        double share = cpu_others_share(&start, NULL);
        if (a == 0 || (share >= 0 && share < *noise)) {
            *noise = share;
            best = t;
        }
        if (*noise <= NOISE_OK) break;
    }
    return best;
}

void phases_section(FILE *f, const BenchSize *sizes, int n_sizes, double tanhf_ns, double expf_ns,
                    const TimingPlan *plan, int retries) {
    threads_set(1);
    fprintf(f, "\nphases: the step's phases that are not GEMMs, 1 thread, each timed alone (median "
               "us per call, its data in cache); floor = max(minimal bytes / the triad GB/s at "
               "the phase's footprint, tanh x %.3f ns + exp x %.3f ns (libmvec's vector rates, "
               "this run; a row's log counted as an exp))\n", tanhf_ns, expf_ns);
    fprintf(f, "  %-22s %-26s %8s %8s %9s %8s %7s %7s %10s %9s %9s %8s %6s\n", "model", "phase",
            "us", "min us", "bytes", "flops", "tanh", "exp", "triad GB/s", "mem floor",
            "fn floor", "x floor", "noise");
    for (int model = 0; model < 2; model++)
        for (int s = 0; s < (model == 0 ? n_sizes : 1); s++) {
            PlanCase *c = xcalloc(1, sizeof *c);
            case_config(c, model, model == 0 ? sizes[s] : (BenchSize){32, 0});
            window_examples(&c->ex, c->cfg.T, c->cfg.V, 72);
            net_alloc(&c->n[0], &c->cfg, c->B);
            Rng init;
            rng_seed(&init, 73);
            net_init(&c->n[0], &init, 0);
            rng_seed(&c->rng[0], 74);
            net_train_step(&c->n[0], &c->ex, TIMING_LR, &c->rng[0]);  // every activation filled
            Phase ph[32];
            int np = phases_of(c, ph, 32);
            PhaseState st = {c, &c->n[0], 0};
            double sum = 0, sum_floor = 0;
            for (int i = 0; i < np; i++) {
                st.l = ph[i].l;
                double noise;
                Timing tm = time_phase(ph[i].run, &st, plan, retries, &noise);
                double t = tm.median;
                double gbps = triad_gbps_at(ph[i].footprint, plan);
                double mem = ph[i].bytes / (gbps * 1e9);
                double fn = (ph[i].tanh * tanhf_ns + ph[i].exp * expf_ns) * 1e-9;
                double fl = fmax(mem, fn);
                sum += t;
                sum_floor += fl;
                char nz[16] = "-";
                if (noise >= 0) snprintf(nz, sizeof nz, "%.0f%%", 100 * noise);
                fprintf(f, "  %-22s %-26s %8.3f %8.3f %9.0f %8.0f %7.0f %7.0f %10.1f %9.3f %9.3f "
                           "%7.2fx %6s\n", c->name, ph[i].name, t * 1e6, tm.min * 1e6, ph[i].bytes,
                        ph[i].flops, ph[i].tanh, ph[i].exp, gbps, mem * 1e6, fn * 1e6, t / fl, nz);
            }
            fprintf(f, "  %-22s %-26s %8.3f %8s %9s %8s %7s %7s %10s %9s %9.3f %7.2fx\n", c->name,
                    "all of these", sum * 1e6, "", "", "", "", "", "", "", sum_floor * 1e6,
                    sum / sum_floor);
            fflush(f);
            net_free(&c->n[0]);
            examples_free(&c->ex);
            xfree(c);
        }
}
