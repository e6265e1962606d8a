// bench_report.c: what the bench prints: the machine header, the aligned table, the
// CSV, and the acceptance goals of the bench's issue evaluated on this run's rows.
#include <gnu/libc-version.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "bench.h"
#include "blas_core.h"
#include "common.h"

// ---- the machine ---------------------------------------------------------------------

static void cpu_model(char *buf, size_t len) {
    snprintf(buf, len, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = 0;
        snprintf(buf, len, "%s", colon);
        break;
    }
    fclose(f);
}

void sysinfo_collect(SysInfo *si, const char *cflags) {
    memset(si, 0, sizeof *si);
    cpu_model(si->cpu, sizeof si->cpu);
    __builtin_cpu_init();
    size_t used = strlen(si->cpu);
    snprintf(si->cpu + used, sizeof si->cpu - used, "%s",
             __builtin_cpu_supports("avx512f") ? ", AVX-512" : "");
    si->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(si->blas_config, sizeof si->blas_config, "%s", openblas_get_config());
    snprintf(si->blas_core, sizeof si->blas_core, "%s", openblas_get_corename());
    snprintf(si->blas_threading, sizeof si->blas_threading, "%s", blas_threading());
#if defined(__clang__)
    snprintf(si->compiler, sizeof si->compiler, "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(si->compiler, sizeof si->compiler, "gcc %s", __VERSION__);
#else
    snprintf(si->compiler, sizeof si->compiler, "unknown compiler");
#endif
    si->cflags = cflags;
    time_t now = time(NULL);
    strftime(si->date, sizeof si->date, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
    snprintf(si->libc, sizeof si->libc, "glibc %s", gnu_get_libc_version());
}

// ---- who else used the machine --------------------------------------------------------

static double timeval_s(struct timeval t) { return (double)t.tv_sec + 1e-6 * (double)t.tv_usec; }

void cpu_snapshot(CpuSnap *snap) {
    memset(snap, 0, sizeof *snap);
    snap->wall_s = now_seconds();
    struct rusage self, children;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    snap->self_s = timeval_s(self.ru_utime) + timeval_s(self.ru_stime) +
                   timeval_s(children.ru_utime) + timeval_s(children.ru_stime);
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
               &iowait, &irq, &softirq, &steal) == 8) {
        double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
        snap->busy_s = (double)(user + nice + sys + irq + softirq) * tick;
        snap->steal_s = (double)steal * tick;
    }
    fclose(f);
}

// Share of the machine (all cores, wall time since start) that other processes used,
// and the share the hypervisor stole; -1 when the window is too short to tell (the
// kernel counts CPU time in 10 ms ticks).
double cpu_others_share(const CpuSnap *start, double *steal_share) {
    CpuSnap end;
    cpu_snapshot(&end);
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    double capacity = (end.wall_s - start->wall_s) * cores;
    if (steal_share) *steal_share = capacity > 0 ? (end.steal_s - start->steal_s) / capacity : 0;
    if (capacity < 0.5) return -1;
    double others = (end.busy_s - start->busy_s) - (end.self_s - start->self_s);
    return others > 0 ? others / capacity : 0;
}

void report_cpu_share(FILE *f, const CpuSnap *start) {
    double steal, share = cpu_others_share(start, &steal);
    if (share < 0) return;
    fprintf(f, "noise     other processes used %.0f%% of the %d cores during this run, the "
               "hypervisor stole %.0f%%%s\n", 100.0 * share, (int)sysconf(_SC_NPROCESSORS_ONLN),
            100.0 * steal, share + steal > 0.1 ? ": multi-thread figures are unreliable (see "
                                                 "the noise column), rerun on a quiet machine"
                                               : "");
}

void report_load(FILE *f, const char *prefix) {
    double load[3];
    if (getloadavg(load, 3) == 3)
        fprintf(f, "%sload      %.2f %.2f %.2f (1, 5, 15 min) at the start\n", prefix, load[0],
                load[1], load[2]);
}

void report_header(FILE *f, const char *prefix, const SysInfo *si) {
    const char *env_core = getenv("OPENBLAS_CORETYPE");
    fprintf(f, "%sdate      %s\n", prefix, si->date);
    fprintf(f, "%scpu       %s; %d cores online\n", prefix, si->cpu, si->cores);
    fprintf(f, "%sopenblas  %s | core %s (OPENBLAS_CORETYPE=%s) | %s threading\n", prefix,
            si->blas_config, si->blas_core, env_core ? env_core : "unset", si->blas_threading);
    fprintf(f, "%scompiler  %s | %s\n", prefix, si->compiler,
            si->cflags ? si->cflags : "flags unknown (run through `make bench` to record them)");
    fprintf(f, "%slibc      %s (vector tanhf/expf from libmvec); OpenMP %d\n", prefix, si->libc,
            _OPENMP);
}

// ---- one row -------------------------------------------------------------------------

static const char *basis_unit(RoofBasis b) {
    return b == ROOF_BANDWIDTH ? "GB/s" : b == ROOF_FLOPS ? "GF/s" : "";
}

void entry_size_label(const Entry *e, BenchSize s, char *buf, size_t len) {
    if (e->label) e->label(buf, len, s);
    else snprintf(buf, len, "%dx%d", s.B, s.H);
}

void report_table_head(FILE *f) {
    fprintf(f, "%-19s %-13s %-11s %3s %11s %11s %8s %6s %13s %6s %8s %11s %9s %5s\n", "entry",
            "variant", "size", "thr", "median_us", "min_us", "speedup", "vs1thr", "rate", "roof%",
            "verify", "torch_us", "torch/eng", "noise");
}

void report_table_row(FILE *f, const Row *r) {
    char size[24], rate[24] = "-", roof[16] = "-", check[16], vs1[16] = "-", torch[24] = "-",
         ratio[16] = "-";
    entry_size_label(r->entry, r->size, size, sizeof size);
    if (r->basis != ROOF_NONE && r->rate > 0) {
        snprintf(rate, sizeof rate, "%.2f %s", r->rate, basis_unit(r->basis));
        snprintf(roof, sizeof roof, "%.0f%%", 100.0 * r->rate / r->roof);
    }
    if (!r->verified) snprintf(check, sizeof check, "FAIL");
    else if (r->verify_err == 0) snprintf(check, sizeof check, "exact");
    else snprintf(check, sizeof check, "%.0e", r->verify_err);
    if (r->vs_1thread > 0) snprintf(vs1, sizeof vs1, "%.2f", r->vs_1thread);
    if (r->torch_median > 0) {
        snprintf(torch, sizeof torch, "%.2f", r->torch_median * 1e6);
        snprintf(ratio, sizeof ratio, "%.2f", r->torch_median / r->t.median);
    }
    char noise[16] = "-";
    if (r->noise >= 0) snprintf(noise, sizeof noise, "%.0f%%", 100.0 * r->noise);
    fprintf(f, "%-19s %-13s %-11s %3d %11.2f %11.2f %7.2fx %6s %13s %6s %8s %11s %9s %5s\n",
            r->entry->name, r->variant->name, size, r->threads, r->t.median * 1e6, r->t.min * 1e6,
            r->speedup, vs1, rate, roof, check, torch, ratio, noise);
    fflush(f);
}

void report_csv_head(FILE *f) {
    fprintf(f, "entry,variant,B,H,V,T,E,threads,median_us,min_us,samples,reps,speedup,"
               "vs_1thread,rate,rate_unit,roof,roof_pct,verify_err,verified,engine,"
               "torch_op,torch_median_us,torch_min_us,torch_ratio,noise_pct\n");
}

// CSV's B, H, V, T, E: the lecture's B x H with its V, T, E; for a seq entry B x C with
// makemore.py's V and T, and E = C (n_embd = n_embd2).
void report_csv_row(FILE *f, const Row *r) {
    const char *op = r->variant->torch_op ? r->variant->torch_op : "";
    int seq = r->entry->group != NULL;
    double roof_pct = r->basis != ROOF_NONE && r->roof > 0 ? 100.0 * r->rate / r->roof : 0;
    double ratio = r->torch_median > 0 ? r->torch_median / r->t.median : 0;
    fprintf(f, "%s,%s,%d,%d,%d,%d,%d,%d,%.3f,%.3f,%d,%d,%.4f,%.4f,%.3f,%s,%.3f,%.2f,%.3g,%d,%d,"
               "%s,%.3f,%.3f,%.4f,%.1f\n",
            r->entry->name, r->variant->name, r->size.B, r->size.H, seq ? SEQ_V : BENCH_V,
            seq ? SEQ_T : BENCH_T, seq ? r->size.H : BENCH_E,
            r->threads, r->t.median * 1e6, r->t.min * 1e6, r->t.samples, r->t.reps, r->speedup,
            r->vs_1thread, r->rate, basis_unit(r->basis), r->roof, roof_pct, r->verify_err,
            r->verified, r->variant->engine, op, r->torch_median * 1e6, r->torch_min * 1e6, ratio,
            100.0 * r->noise);
    fflush(f);
}

// ---- the goals -------------------------------------------------------------------------

static const Row *find_row(const Row *rows, int n, const char *entry, const char *variant,
                           int B, int H, int threads) {
    for (int i = 0; i < n; i++)
        if (strcmp(rows[i].entry->name, entry) == 0 && strcmp(rows[i].variant->name, variant) == 0 &&
            rows[i].size.B == B && rows[i].size.H == H && rows[i].threads == threads)
            return &rows[i];
    return NULL;
}

enum { GOAL_INFO = 2 };  // a context line, not a goal
static void goal_line(FILE *f, int met, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void goal_line(FILE *f, int met, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(f, "  [%s] ", met == GOAL_INFO ? "info" : met < 0 ? "n/a " : met ? "met " : "MISS");
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    va_end(ap);
}

// " (noise 1 thr 3%, 2 thr 40%)" for a thread comparison; "" when both were quiet.
static const char *noise_note(const Row *one, const Row *two) {
    static char note[96];
    note[0] = 0;
    if ((one && one->noise > 0.05) || (two && two->noise > 0.05))
        snprintf(note, sizeof note, " (other processes took %.0f%% / %.0f%% of the machine "
                 "meanwhile: unreliable)", one ? 100.0 * one->noise : 0.0,
                 two ? 100.0 * two->noise : 0.0);
    return note;
}

static void goal_speedup_b32(FILE *f, const Row *rows, int n, const char *entry) {
    const Row *r = find_row(rows, n, entry, "fused", 32, 200, 1);
    if (!r) goal_line(f, -1, "%s fused >= 5x atomic at B=32 H=200, 1 thread: not measured", entry);
    else goal_line(f, r->speedup >= 5.0, "%s fused %.2fx faster than its atomic chain at B=32 "
                   "H=200, 1 thread (goal >= 5x)", entry, r->speedup);
}

static void goal_bandwidth_large(FILE *f, const Row *rows, int n, const char *entry,
                                 int n_threads_max) {
    for (int t = 1; t <= n_threads_max; t++) {
        const Row *r = find_row(rows, n, entry, "fused", 4096, 1024, t);
        if (!r) continue;
        double pct = 100.0 * r->rate / r->roof;
        goal_line(f, pct >= 70.0, "%s fused at B=4096 H=1024, %d thread(s): %.1f GB/s = %.0f%% "
                  "of the triad's %.1f GB/s at its footprint (goal >= 70%%)", entry, t, r->rate,
                  pct, r->roof);
    }
}

static void goal_step_large(FILE *f, const Row *rows, int n, int n_threads_max) {
    const Row *one = find_row(rows, n, "train_step", "fused", 4096, 1024, 1);
    const Row *two = find_row(rows, n, "train_step", "fused", 4096, 1024, 2);
    if (one && two)
        goal_line(f, one->t.median / two->t.median >= 1.7, "train_step fused at B=4096 H=1024: "
                  "2 threads %.2fx faster than 1 (goal >= 1.7x)%s", one->t.median / two->t.median,
                  noise_note(one, two));
    else goal_line(f, -1, "train_step 2 vs 1 threads at B=4096 H=1024: not measured");
    // PyTorch's two steps: the fused row carries exercise 4's manual step, the atomic row
    // the autograd step (the lecture's training loop); each is held to the goal.
    for (int t = 1; t <= n_threads_max; t++) {
        const Row *fused = find_row(rows, n, "train_step", "fused", 4096, 1024, t);
        const Row *atomic = find_row(rows, n, "train_step", "atomic", 4096, 1024, t);
        if (!fused || !atomic || fused->torch_median <= 0 || atomic->torch_median <= 0) continue;
        double vs_autograd = atomic->torch_median / fused->t.median;
        double vs_manual = fused->torch_median / fused->t.median;
        goal_line(f, vs_autograd >= 4.0, "train_step fused at B=4096 H=1024, %d thread(s): %.1f ms, "
                  "%.2fx faster than PyTorch's autograd step (%.1f ms; goal >= 4x)", t,
                  fused->t.median * 1e3, vs_autograd, atomic->torch_median * 1e3);
        goal_line(f, vs_manual >= 4.0, "train_step fused at B=4096 H=1024, %d thread(s): %.2fx "
                  "faster than PyTorch's manual (exercise 4) step (%.1f ms; goal >= 4x)", t,
                  vs_manual, fused->torch_median * 1e3);
    }
}

// At B=32 every engine variant: 2 threads no more than 5% slower than 1.
static void goal_no_slowdown_b32(FILE *f, const Row *rows, int n) {
    int checked = 0, slow = 0;
    for (int i = 0; i < n; i++) {
        const Row *r = &rows[i];
        if (r->entry->group || r->size.B != 32 || r->threads != 2 || !r->variant->engine ||
            r->vs_1thread <= 0)
            continue;  // the lecture's entries (the goal's scope)
        checked++;
        if (r->vs_1thread < 1.0 / 1.05) {
            slow++;
            const Row *one = find_row(rows, n, r->entry->name, r->variant->name, 32, r->size.H, 1);
            double by_min = one ? 100.0 * (r->t.min / one->t.min - 1.0) : 0;
            goal_line(f, 0, "%s %s at B=32 H=%d: 2 threads %.1f%% slower than 1 by the median, "
                      "%+.1f%% by the min%s", r->entry->name, r->variant->name, r->size.H,
                      100.0 * (1.0 / r->vs_1thread - 1.0), by_min, noise_note(one, r));
        }
    }
    if (!checked) goal_line(f, -1, "B=32, 2 vs 1 threads: not measured");
    else goal_line(f, slow == 0, "B=32: %d of %d engine rows at 2 threads within 5%% of 1 thread",
                   checked - slow, checked);
}

void report_goals(FILE *f, const Row *rows, int n, int n_threads_max) {
    int lecture = 0;  // the goals are the lecture's entries'
    for (int i = 0; i < n; i++) lecture |= rows[i].entry->group == NULL;
    if (!lecture) return;
    fprintf(f, "\nacceptance goals (speed is reported, never asserted):\n");
    goal_speedup_b32(f, rows, n, "ce_backward");
    const Row *whole = find_row(rows, n, "ce_forward_backward", "fused", 32, 200, 1);
    if (whole)
        goal_line(f, GOAL_INFO, "ce_forward_backward fused %.2fx faster than all the notebook's "
                  "cross-entropy lines (forward + chain) at B=32 H=200, 1 thread: what the "
                  "fusion replaces in a step", whole->speedup);
    goal_speedup_b32(f, rows, n, "bn_backward");
    goal_bandwidth_large(f, rows, n, "ce_backward", n_threads_max);
    goal_bandwidth_large(f, rows, n, "bn_backward", n_threads_max);
    goal_step_large(f, rows, n, n_threads_max);
    goal_no_slowdown_b32(f, rows, n);
}
