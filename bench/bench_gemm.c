// bench_gemm.c: the `gemm` table: every GEMM of the step at each size, every candidate
// implementation checked against cblas_sgemm and timed by the planner (gemm_plan_auto),
// the planner's pick marked, each against the floor: its flops at the same run's best
// sgemm rate (the 1024^3 reference at the same thread count).
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "common.h"
#include "gemm_plan.h"
#include "blas.h"
#include "linear.h"

int gemm_table(FILE *f, BenchSize sz, const int *threads, int n_threads, const double *sgemm_gflops) {
    int wrong = 0;
    for (int k = 0; k < n_threads; k++) {
        threads_set(threads[k]);
        Net n;  // the lecture's model: its plan holds the step's six GEMMs
        lecture_net_alloc(&n, sz.H, sz.B);
        GemmPlan *p = &n.plan;
        GemmTrial t[GEMM_PLAN_MAX_OPS][GEMM_N_KINDS];
        double planning = gemm_plan_auto(p, t);
        double rate = sgemm_gflops[k];
        fprintf(f, "\ngemm: the step's GEMMs at B=%d H=%d, %d thread(s): median us per call "
                   "(planner's timing, each checked against cblas_sgemm first); * = the plan's "
                   "pick; floor = flops at the sgemm reference's %.1f GFLOP/s; planned in %.0f ms\n",
                sz.B, sz.H, threads[k], rate, planning * 1e3);
        fprintf(f, "  %-5s %-15s %6s", "op", "MxNxK form", "floor");
        for (int c = 0; c < GEMM_N_KINDS; c++) fprintf(f, " %12s", GEMM_KIND_NAMES[c]);
        fprintf(f, " %9s %8s\n", "pick/floor", "max err");
        double sum_pick = 0, sum_floor = 0, sum_blas = 0;
        for (int i = 0; i < p->n; i++) {
            const GemmOp *op = &p->op[i];
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%d %s", op->M, op->N, op->K,
                     op->transA ? "TN" : op->transB ? "NT" : "NN");
            double floor_us = 2.0 * op->M * op->N * op->K / (rate * 1e3);
            fprintf(f, "  %-5s %-15s %6.2f", p->name[i], shape, floor_us);
            double worst = 0;
            for (int c = 0; c < GEMM_N_KINDS; c++) {
                const GemmTrial *tr = &t[i][c];
                if (!tr->tried) fprintf(f, " %12s", "-");
                else if (!tr->correct) {
                    fprintf(f, " %12s", "WRONG");
                    fprintf(stderr, "bench: VERIFY FAILED at B=%d H=%d, %d thread(s): gemm %s/%s "
                            "differs from cblas_sgemm by %.3g of its scale\n", sz.B, sz.H,
                            threads[k], p->name[i], GEMM_KIND_NAMES[c], tr->err);
                    wrong++;
                }
                else fprintf(f, " %11.2f%s", tr->seconds * 1e6, (int)op->kind == c ? "*" : " ");
                if (tr->tried && tr->err > worst) worst = tr->err;
            }
            double pick = t[i][op->kind].seconds * 1e6;
            fprintf(f, " %9.2fx %8.1e\n", pick / floor_us, worst);
            sum_pick += pick;
            sum_floor += floor_us;
            sum_blas += t[i][op->fixed].seconds * 1e6;  // the default plan: each op's fixed kind
        }
        fprintf(f, "  all six: floor %.2f us, the default plan (blas) %.2f us, the pick %.2f us "
                   "(%.2fx the floor)\n", sum_floor, sum_blas, sum_pick, sum_pick / sum_floor);
        net_free(&n);
    }
    fflush(f);
    return wrong;
}

// ---- dX and dW of a linear backward on two cores --------------------------------------
//
// The two GEMMs of a backward are independent but for W: dX reads the old W, the fused
// update writes it. On two cores dW goes to a buffer G (beta 0) beside dX, and the update
// W -= lr G is a third pass after the join. Timed against the engine's serial form.

typedef struct {
    const GemmOp *dx, *dw;
    float *din, *W, *G, *dout, *in;
    int B, n_in, n_out;
} DxDw;

static void dxdw_serial(void *p) {
    DxDw *s = p;
    linear_backward_sgd_op(s->dx, s->dw, s->din, s->W, NULL, s->dout, s->in, 1e-3f);
}

static void dxdw_sections(void *p) {
    DxDw *s = p;
    #pragma omp parallel sections num_threads(2)
    {
        #pragma omp section
        gemm_op_run(s->dx, 1.0f, s->dout, s->W, s->din);
        #pragma omp section
        gemm(1, 0, s->n_in, s->n_out, s->B, 1.0f, s->in, s->dout, 0.0f, s->G);
    }
    size_t n = (size_t)s->n_in * s->n_out;
    #pragma omp simd
    for (size_t i = 0; i < n; i++) s->W[i] -= 1e-3f * s->G[i];
}

static void dxdw_layer(FILE *f, const char *name, const GemmOp *dx, const GemmOp *dw,
                       const TimingPlan *plan) {
    DxDw s = {.dx = dx, .dw = dw, .B = dx->M, .n_in = dx->N, .n_out = dx->K};
    size_t nW = (size_t)s.n_in * s.n_out;
    s.din = xcalloc((size_t)s.B * s.n_in, sizeof(float));
    s.W = xcalloc(nW, sizeof(float));
    s.G = xcalloc(nW, sizeof(float));
    s.dout = xcalloc((size_t)s.B * s.n_out, sizeof(float));
    s.in = xcalloc((size_t)s.B * s.n_in, sizeof(float));
    fill_normal_seeded(s.W, (long)nW, 1.0f, 1);
    fill_normal_seeded(s.dout, (long)s.B * s.n_out, 1.0f, 2);
    fill_normal_seeded(s.in, (long)s.B * s.n_in, 1.0f, 3);
    // check: one call of each from the same W gives the same din (bit for bit: the same
    // GEMM) and W within rounding
    float *W0 = xcalloc(nW, sizeof(float)), *din0 = xcalloc((size_t)s.B * s.n_in, sizeof(float));
    memcpy(W0, s.W, nW * sizeof(float));
    dxdw_serial(&s);
    memcpy(din0, s.din, (size_t)s.B * s.n_in * sizeof(float));
    float *W1 = xcalloc(nW, sizeof(float));
    memcpy(W1, s.W, nW * sizeof(float));
    memcpy(s.W, W0, nW * sizeof(float));
    dxdw_sections(&s);
    double dW = 0;
    for (size_t i = 0; i < nW; i++) dW = fmax(dW, fabs((double)s.W[i] - W1[i]));
    double ddin = 0;
    for (size_t i = 0; i < (size_t)s.B * s.n_in; i++) ddin = fmax(ddin, fabs((double)s.din[i] - din0[i]));
    BenchFn fns[2] = {dxdw_serial, dxdw_sections};
    Timing t[2];
    time_interleaved(fns, &s, 2, plan, t);
    fprintf(f, "  %-8s serial %8.2f us (min %.2f) | dX || dW on 2 cores %8.2f us (min %.2f): "
               "%s | check: max diff din %.1e, W %.1e\n", name, t[0].median * 1e6, t[0].min * 1e6,
            t[1].median * 1e6, t[1].min * 1e6,
            t[1].median < t[0].median ? "two cores win" : "serial wins (kept)",
            ddin, dW);
    xfree(W0); xfree(din0); xfree(W1);
    xfree(s.din); xfree(s.W); xfree(s.G); xfree(s.dout); xfree(s.in);
}

void dxdw_two_cores(FILE *f, BenchSize sz, const TimingPlan *plan) {
    threads_set(2);
    Net n;  // the lecture's model: its plan holds the step's GEMMs
    lecture_net_alloc(&n, sz.H, sz.B);
    GemmOp *op = n.plan.op;
    const GemmPlan *p = &n.plan;
    gemm_op_set(&op[plan_op(p, "dx2")], GEMM_BLAS);  // both forms run the same plain dX GEMM
    fprintf(f, "\ndX || dW: a linear backward's two GEMMs on two cores (OpenMP sections; dW "
               "into a buffer, update after the join) vs the engine's serial form, B=%d H=%d, "
               "2 threads:\n", sz.B, sz.H);
    dxdw_layer(f, "layer 2", &op[plan_op(p, "dx2")], &op[plan_op(p, "dw2")], plan);
    dxdw_layer(f, "layer 1", &op[plan_op(p, "dx1")], &op[plan_op(p, "dw1")], plan);
    net_free(&n);
    fflush(f);
}
