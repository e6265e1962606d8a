// bench_mmstep.c: makemore.py's six types, their training step taken apart layer by layer
// at makemore.py's defaults (n_layer 4, n_head 4, n_embd 64, n_embd2 64, batch 32, AdamW) on
// names.txt: each layer's forward and backward, the batch (and its packing), AdamW's update,
// the whole step, and the step's GEMM floor: the flops its GEMMs ran (every product counted
// as it ran, at the rows the packed batch gave it: gemm_count_flops) at the same run's 1024^3
// sgemm rate.
// Steps run in a row, as training runs them; the medians are over steps, each layer's mean
// over the same steps. The plan is the one the default makes: planned inside the step
// (net_plan.h) at each thread count.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas.h"
#include "common.h"
#include "net.h"
#include "net_plan.h"
#include "rng.h"

enum { MM_STEPS = 300, MM_WARMUP = 30, MM_MAX_LAYERS = 16 };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double step_med, step_min, batch, adamw, flops;  // seconds (means but the step's), flops
    double fwd[MM_MAX_LAYERS], bwd[MM_MAX_LAYERS];
} MmProfile;

// steps training steps of n on ex, timed phase by phase.
static void mm_profile(MmProfile *p, Net *n, const Examples *ex, int steps, int warmup) {
    double *each = xcalloc((size_t)steps, sizeof(double));
    memset(p, 0, sizeof *p);
    gemm_count_flops(&p->flops);
    Rng rng;
    rng_seed(&rng, 7);
    for (int s = -warmup; s < steps; s++) {
        if (s == 0) p->flops = 0;
        double t0 = now_seconds();
        examples_sample_batch(n->Xb, n->Yb, ex, n->B, &rng);
        n->rows = n->B * n->cfg.T;
        if (n->packed) net_pack(n);
        double t1 = now_seconds(), lf[MM_MAX_LAYERS], lb[MM_MAX_LAYERS];
        for (int l = 0; l < n->n_layers; l++) {
            double a = now_seconds();
            net_layer_forward(n, l, 1);
            lf[l] = now_seconds() - a;
        }
        for (int l = n->n_layers - 1; l >= 0; l--) {
            double a = now_seconds();
            net_layer_backward(n, l, 0, 0.0f);
            lb[l] = now_seconds() - a;
        }
        double t2 = now_seconds();
        net_adamw(n, 5e-4f, 0.01f, s + warmup + 1);
        double t3 = now_seconds();
        if (s < 0) continue;
        each[s] = t3 - t0;
        p->batch += (t1 - t0) / steps;
        p->adamw += (t3 - t2) / steps;
        for (int l = 0; l < n->n_layers; l++) {
            p->fwd[l] += lf[l] / steps;
            p->bwd[l] += lb[l] / steps;
        }
    }
    gemm_count_flops(NULL);
    p->flops /= steps;
    qsort(each, (size_t)steps, sizeof(double), cmp_double);
    p->step_med = each[steps / 2];
    p->step_min = each[0];
    xfree(each);
}

static const NetArch MM_TYPES[] = {ARCH_BIGRAM, ARCH_BENGIO, ARCH_BOW, ARCH_RNN, ARCH_GRU,
                                   ARCH_TRANSFORMER};

// One type at each thread count: the table of phases, the step against its floor.
static int mm_type(FILE *f, NetArch a, const Dataset *d, const int *threads, int n_threads,
                   const double *sgemm, int quick) {
    NetRecipe r;
    net_recipe(a, &r);
    NetConfig c = {.arch = a, .V = d->vocab.V, .T = d->split.train.T, .E = r.E, .H = r.H,
                   .layers = r.layers, .heads = r.heads, .optim = OPTIM_ADAMW, .bessel = 1,
                   .momentum = 0.1f, .bn_stats = r.bn_stats};
    Err err;
    if (net_config_check(&c, &err)) {
        fprintf(f, "  %s: %s\n", net_arch_name(a), err.msg);
        return 1;
    }
    static Net n;
    net_alloc(&n, &c, r.batch);
    Rng rng;
    rng_seed(&rng, 1);
    net_init(&n, &rng, 0);
    if (n.n_layers > MM_MAX_LAYERS) {
        fprintf(f, "  %s: %d layers, more than the profile's %d\n", net_arch_name(a), n.n_layers,
                MM_MAX_LAYERS);
        net_free(&n);
        return 1;
    }
    const int steps = quick ? 30 : MM_STEPS, warmup = quick ? 5 : MM_WARMUP;
    for (int k = 0; k < n_threads; k++) {
        threads_set(threads[k]);
        NetPlanReport rep;
        double planning = net_plan_step(&n, &d->split.train, &rep);
        MmProfile p;
        mm_profile(&p, &n, &d->split.train, steps, warmup);
        fprintf(f, "  %s, %d thread%s (%zu parameters; the %s plan, made in %.0f ms): step median "
                "%.1f us (min %.1f); ", net_arch_name(a), threads[k], threads[k] == 1 ? "" : "s",
                n.num_params, NET_PLAN_NAMES[rep.chosen], planning * 1e3, p.step_med * 1e6,
                p.step_min * 1e6);
        if (p.flops > 0) {
            double floor_s = p.flops / (sgemm[k] * 1e9);
            fprintf(f, "GEMMs %.1f MFLOP a step, floor %.1f us at %.1f GFLOP/s: the step is "
                    "%.2fx its floor\n", p.flops / 1e6, floor_s * 1e6, sgemm[k],
                    p.step_med / floor_s);
        } else {
            fprintf(f, "no GEMM (its layers are lookups)\n");
        }
        fprintf(f, "    %-28s %10.1f us\n", "batch (and packing)", p.batch * 1e6);
        for (int l = 0; l < n.n_layers; l++)
            fprintf(f, "    %-28s fwd %8.1f us  bwd %8.1f us\n", LAYER_KIND_NAMES[n.layer[l].kind],
                    p.fwd[l] * 1e6, p.bwd[l] * 1e6);
        fprintf(f, "    %-28s %10.1f us\n", "AdamW", p.adamw * 1e6);
    }
    net_free(&n);
    return 0;
}

int mmstep_section(FILE *f, const int *threads, int n_threads, const double *sgemm, int quick) {
    static const char path[] = "data/names.txt";
    Dataset d;
    Err err;
    if (dataset_load_makemore(&d, path, 0, 3407, NULL, &err) != DATASET_OK) {
        fprintf(f, "\nmmstep: skipped (%s; make data)\n", err.msg);
        return 0;
    }
    fprintf(f, "\nmmstep: makemore.py's types' training step at its defaults on %s (B=32, AdamW; "
               "packed batches), phase by phase; the floor is the GEMMs' counted flops at the "
               "same run's sgemm rate\n", path);
    int failed = 0;
    for (size_t i = 0; i < sizeof MM_TYPES / sizeof MM_TYPES[0]; i++)
        failed |= mm_type(f, MM_TYPES[i], &d, threads, n_threads, sgemm, quick);
    threads_set(threads[0]);
    dataset_free(&d);
    return failed;
}
