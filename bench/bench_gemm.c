// bench_gemm.c: the `gemm` table: every GEMM of the step at each size, every candidate
// implementation checked against cblas_sgemm and timed by the planner (gemm_plan_auto),
// the planner's pick marked, each against the floor: its flops at the same run's best
// sgemm rate (the 1024^3 reference at the same thread count).
#include <stdio.h>

#include "bench.h"
#include "common.h"
#include "gemm_plan.h"

void gemm_table(FILE *f, BenchSize sz, const int *threads, int n_threads, const double *sgemm_gflops) {
    for (int k = 0; k < n_threads; k++) {
        threads_set(threads[k]);
        GemmPlan p;
        gemm_plan_init(&p, sz.B, BENCH_T * BENCH_E, sz.H, BENCH_V);
        GemmTrial t[GOP_N][GEMM_N_KINDS];
        double planning = gemm_plan_auto(&p, t);
        double rate = sgemm_gflops[k];
        fprintf(f, "\ngemm: the step's GEMMs at B=%d H=%d, %d thread(s): median us per call "
                   "(planner's timing, each checked against cblas_sgemm first); * = the plan's "
                   "pick; floor = flops at the sgemm reference's %.1f GFLOP/s; planned in %.0f ms\n",
                sz.B, sz.H, threads[k], rate, planning * 1e3);
        fprintf(f, "  %-5s %-15s %6s", "op", "MxNxK form", "floor");
        for (int c = 0; c < GEMM_N_KINDS; c++) fprintf(f, " %12s", GEMM_KIND_NAMES[c]);
        fprintf(f, " %9s %8s\n", "pick/floor", "max err");
        double sum_pick = 0, sum_floor = 0, sum_blas = 0;
        for (int i = 0; i < GOP_N; i++) {
            const GemmOp *op = &p.op[i];
            char shape[32];
            snprintf(shape, sizeof shape, "%dx%dx%d %s", op->M, op->N, op->K,
                     op->transA ? "TN" : op->transB ? "NT" : "NN");
            double floor_us = 2.0 * op->M * op->N * op->K / (rate * 1e3);
            fprintf(f, "  %-5s %-15s %6.2f", GOP_NAMES[i], shape, floor_us);
            double worst = 0;
            for (int c = 0; c < GEMM_N_KINDS; c++) {
                const GemmTrial *tr = &t[i][c];
                if (!tr->tried) fprintf(f, " %12s", "-");
                else if (!tr->correct) fprintf(f, " %12s", "WRONG");
                else fprintf(f, " %11.2f%s", tr->seconds * 1e6, (int)op->kind == c ? "*" : " ");
                if (tr->tried && tr->err > worst) worst = tr->err;
            }
            double pick = t[i][op->kind].seconds * 1e6;
            fprintf(f, " %9.2fx %8.1e\n", pick / floor_us, worst);
            sum_pick += pick;
            sum_floor += floor_us;
            sum_blas += t[i][i == GOP_DX2 || i == GOP_DW2 ? GEMM_BLAS_T : GEMM_BLAS].seconds * 1e6;
        }
        fprintf(f, "  all six: floor %.2f us, the default plan (blas) %.2f us, the pick %.2f us "
                   "(%.2fx the floor)\n", sum_floor, sum_blas, sum_pick, sum_pick / sum_floor);
        gemm_plan_free(&p);
    }
    fflush(f);
}
