// bench.h: the benchmark harness's internal contract.
//
// An Entry is one kernel pair (or family): its variants compute the same outputs, the
// first variant is the reference (the atomic / naive form). For each size and thread
// count the harness builds a Case (inputs + one set of output buffers per variant),
// checks every variant's outputs against the reference's, then times each variant.
#ifndef MAKEMORE_BENCH_H
#define MAKEMORE_BENCH_H

#include <stdio.h>

#include "backward_atomic.h"
#include "data.h"
#include "net.h"

// The lecture's fixed model dimensions; the bench varies batch B and hidden width H.
enum { BENCH_V = 27, BENCH_T = 3, BENCH_E = 10 };

// makemore.py's sequence models (the `seq` entries, bench_seq.c): its defaults block_size 16
// (names.txt's longest word + 1), n_head 4, n_layer 4, a 27-character vocabulary; the bench
// varies the batch B and the width C = n_embd = n_embd2 (--seq-sizes B x C).
enum { SEQ_V = 27, SEQ_T = 16, SEQ_NH = 4, SEQ_LAYERS = 4 };

// B x H for the lecture's entries; B x C for the seq entries.
typedef struct {
    int B, H;
} BenchSize;

// ---- timing --------------------------------------------------------------------

typedef struct {
    double warmup_s;  // warm-up: call until this much time has passed (at least 2 calls)
    double sample_s;  // one sample repeats the call until about this long
    int samples;      // samples wanted
    int min_samples;  // samples kept even when the budget runs out
    double budget_s;  // stop sampling after this long (once min_samples are in)
} TimingPlan;

typedef struct {
    double median, min;  // seconds per call
    int samples, reps;   // samples taken, calls per sample
} Timing;

typedef void (*BenchFn)(void *state);

Timing time_fn(BenchFn fn, void *state, const TimingPlan *plan);
// Several functions on one state, sampled round-robin (one sample of each per round) so
// that on a shared machine all meet the same noise: out[i] for fns[i].
void time_interleaved(const BenchFn *fns, void *state, int n_fns, const TimingPlan *plan,
                      Timing *out);

// ---- roofline references (measured at the current thread count) -----------------

// STREAM triad a = b + s*c over three arrays whose sum is about footprint_bytes,
// counted as 12 bytes per element (no write-allocate), best of serial and forked.
// Both references are best rates (the fastest sample), as STREAM reports them.
double triad_gbps(double footprint_bytes, const TimingPlan *plan);
// The same, measured once per footprint and thread count in a run (then remembered).
double triad_gbps_at(double footprint_bytes, const TimingPlan *plan);
// sgemm rate (GFLOP/s) of an n x n x n product through cblas_sgemm.
double sgemm_gflops(int n, const TimingPlan *plan);

// Fork cost and the work at which forking pays, at the current thread count
// (the sweep doubles n from 256 to BREAKEVEN_MAX; -1 when forking never won).
#define BREAKEVEN_MAX (1L << 22)
typedef struct {
    double fork_us;          // an empty parallel region (fork + join)
    long breakeven_stream;   // elements of a streaming add from which 2+ threads win (and
                             // keep winning at every larger size of the sweep)
    long breakeven_tanh;     // the same for a tanhf loop
} ForkCost;
ForkCost fork_cost_measure(const TimingPlan *plan);

// libmvec's vector expf over n floats, one thread: the compute floor of the cross-entropy
// kernels (which need one exp per logit), in ns per element.
double expf_ns_per_element(long n, const TimingPlan *plan);
// libmvec's vector tanhf over n floats of unit scale, one thread: the compute floor of the
// batchnorm forward (one tanh per value), in ns per element.
double tanhf_ns_per_element(long n, const TimingPlan *plan);

// ---- entries -------------------------------------------------------------------

enum { MAX_VARIANTS = 8, MAX_OUTS = 8 };

typedef struct {
    const char *name;  // "dlogits", "dW", ...
    float *data;
    long n;
} OutBuf;

typedef enum { ROOF_NONE, ROOF_BANDWIDTH, ROOF_FLOPS } RoofBasis;

// One entry instantiated at one size.
typedef struct {
    void *state;                          // the entry's inputs and outputs
    int n_outs;                           // outputs per variant
    OutBuf out[MAX_VARIANTS][MAX_OUTS];   // out[v][k]: variant v's k-th output
    double bytes;                         // minimum memory traffic of one call
    double flops;                         // arithmetic of one call
    RoofBasis basis;                      // which of the two is the roof
    void (*reset)(void *state);           // restore inputs before a check (may be NULL)
    void (*prepare)(void *state, int variant);  // after the outputs are poisoned, before a
                                                // checked run of variant: the starting value
                                                // of outputs it accumulates into or updates
                                                // in place (may be NULL)
    void (*after_check)(void *state, int variant);  // turn a checked run's effect into
                                                    // its outputs (may be NULL)
    void (*destroy)(void *state);
} Case;

typedef struct {
    const char *name;      // "atomic", "fused", ...
    BenchFn run;
    const char *torch_op;  // the op of bench/torch_bench.py doing the same, or NULL
    int engine;            // 1: the engine's code; 0: a strategy kept in bench/ only
} Variant;

typedef struct {
    const char *name;        // named like the kernels: "ce_backward", ...
    const char *about;       // one line for --list
    double tolerance;        // allowed max |x - ref| / max |ref|
    double floor_frac;       // outputs are scaled by at least this fraction of the largest
                             // output's scale (0: 1e-3); for outputs that cancel to ~0
    int n_variants;
    Variant variants[MAX_VARIANTS];
    void (*setup)(Case *c, BenchSize s);
    const char *group;     // NULL: the lecture's entries (--sizes B x H); "seq": makemore.py's
                           // (--seq-sizes B x C); --filter also matches the group's name
    void (*label)(char *buf, size_t len, BenchSize s);  // the size as the table shows it
                                                        // (NULL: "BxH")
} Entry;

extern const Entry *const BENCH_ENTRIES[];
extern const int BENCH_N_ENTRIES;

// A step with train --diag's statistics against the plain one (bench_diag.c).
extern const Entry ENTRY_DIAG;
// makemore.py's kernels (bench_seq.c), in the order they run.
extern const Entry ENTRY_LAYERNORM, ENTRY_ATTENTION, ENTRY_GELU, ENTRY_ADAMW, ENTRY_CE_MASKED,
    ENTRY_GRU, ENTRY_RNN, ENTRY_BOW, ENTRY_CONTEXT;
// The table's size column: e->label, or "BxH".
void entry_size_label(const Entry *e, BenchSize s, char *buf, size_t len);

// Compares each variant's outputs with variant 0's after running every variant once on
// NaN-poisoned outputs (so an output a kernel forgets to write fails). Writes the worst
// scale-relative error into *worst; returns 0 when all are within tol, else -1 and a
// message naming the variant, output and index.
int case_verify(const Entry *e, Case *c, double *worst, char *msg, size_t msg_len);
// Self-test of the check (--inject-fault): when set, case_verify perturbs one element of
// the last variant's first output by 0.1% of that output's scale, as a subtly wrong
// kernel would, so every case must fail.
extern int bench_inject_fault;

// n random examples (the size of the lecture's training split is 182625), packed for
// batch sampling as examples_build packs real ones; free with examples_free.
void synthetic_examples(Examples *ex, long n, unsigned long long seed);

// The lecture's model (V, T, E of the bench, hidden width H) as net.c's table: mlp with
// one hidden layer, Bessel's correction, calibrated statistics; allocated for batch B
// under the default GEMM plan. Its plan holds the step's six GEMMs: fwd1, fwd2, dx2,
// dw2, dx1, dw1. Parameters are zero: net_init gives the lecture's initialisation.
void lecture_net_alloc(Net *n, int H, int B);
// Index of the op named `name` in p ("fwd1", "dx2", ...); dies when there is none.
int plan_op(const GemmPlan *p, const char *name);

// Deterministic fill helpers for inputs.
void fill_normal_seeded(float *x, long n, float scale, unsigned long long seed);
void fill_index_seeded(int *x, long n, int below, unsigned long long seed);

// ---- embedding scatter-add strategies kept in bench/ (bench_scatter.c) ------------
// Each: dC [V,E] overwritten with the sum of dembcat rows by index Xb, as
// embedding_backward_serial. They always fork (they show the strategy's cost).
void scatter_thread_buffers(float *dC, const float *dembcat, const int *Xb, int n, int E, int V);
void scatter_sorted(float *dC, const float *dembcat, const int *Xb, int n, int E, int V);
void scatter_atomic_adds(float *dC, const float *dembcat, const int *Xb, int n, int E, int V);

// ---- naive matmul loops (the linear entry's reference) ----------------------------
// dW[n_in,n_out] = in^T . dout, din[B,n_in] = dout . W^T, db[n_out] = column sums of dout.
void linear_backward_loops(float *din, float *dW, float *db, const float *dout,
                           const float *in, const float *W, int B, int n_in, int n_out);

// ---- part 5's WaveNet step (bench_wavenet.c) ---------------------------------------
// The step at each thread count beside PyTorch's (torch = 1: bench/torch_wavenet.py via
// python), under the auto plan and the pick (the default path's plan) at 1 thread, then by
// layer. Returns the number of failed checks (0 or 1).
// sgemm1: this run's 1-thread sgemm rate, GFLOP/s (<= 0: unknown; no GEMM floor line).
int wavenet_section(FILE *f, const int *threads, int n_threads, const TimingPlan *plan,
                    const char *python, int torch, int quick, double sgemm1);
// ---- makemore.py's types' steps (bench_mmstep.c) -----------------------------------
// makemore.py's six types at its defaults on data/names.txt: each training step by layer,
// and against its GEMMs' floor (counted flops at sgemm[k] GFLOP/s, the same run's rate at
// threads[k]). Nonzero when a type could not be built.
int mmstep_section(FILE *f, const int *threads, int n_threads, const double *sgemm, int quick);
// ---- the default plan against the fixed ones, and the phases' floors (bench_plan.c) ----
// The default GEMM plan (net_plan_step) against --gemm blas and xsmm, whole steps
// round-robin, for the lecture's model at each size, the WaveNet and the Transformer, at
// each thread count, with the step's GEMM floor (sgemm_gflops[k]: this run's rate at
// threads[k]; quick: the first thread count alone). Returns the number of failed checks.
int plan_section(FILE *f, const BenchSize *sizes, int n_sizes, const int *threads, int n_threads,
                 const double *sgemm_gflops, const TimingPlan *plan, int retries, int quick);
// The step's non-GEMM phases at 1 thread for the lecture's model at each size and the
// WaveNet, against their floors (triad at each footprint; libmvec's tanhf and expf rates).
void phases_section(FILE *f, const BenchSize *sizes, int n_sizes, double tanhf_ns, double expf_ns,
                    const TimingPlan *plan, int retries);
// ---- the fused step by phase (bench_profile.c) -------------------------------------
void step_profile(FILE *f, BenchSize sz, const int *threads, int n_threads,
                  const TimingPlan *plan);

// ---- the step's GEMMs, every candidate of the planner (bench_gemm.c) -------------------
// sgemm_gflops[k]: the same run's sgemm reference at threads[k]. Returns the number of
// candidates that failed their check (each reported on stderr).
int gemm_table(FILE *f, BenchSize sz, const int *threads, int n_threads,
                const double *sgemm_gflops);
// Layer 1 and 2's backward at sz: dX and dW serial vs on two cores (2 threads).
void dxdw_two_cores(FILE *f, BenchSize sz, const TimingPlan *plan);

// ---- results ---------------------------------------------------------------------

typedef struct {
    const Entry *entry;
    const Variant *variant;
    BenchSize size;
    int threads;
    Timing t;
    double speedup;      // reference median / this median
    double vs_1thread;   // this variant's median at 1 thread / this median (0: unknown)
    double rate;         // GB/s or GFLOP/s: the case's minimal bytes / flops over the min time
    double roof;         // the same-run reference: triad GB/s or sgemm GFLOP/s
    RoofBasis basis;
    double verify_err;   // worst scale-relative difference to the reference
    int verified;
    double torch_median, torch_min;  // seconds; 0 when not measured
    double noise;        // share of the machine other processes used while this was timed
                         // (-1: too short a window to tell)
} Row;

// Torch results loaded from torch_bench.py's CSV.
typedef struct {
    char op[48];
    int B, H, threads;
    double median, min;  // seconds
} TorchRow;

typedef struct {
    TorchRow *rows;
    int n;
    char version[64];    // "1.13.1 (OpenBLAS core Cooperlake)"
    char note[256];      // why the column is empty, when it is
} TorchResults;

// Runs the script for ops (comma-separated) at the lecture's sizes and the seq sizes.
int torch_run(TorchResults *tr, const char *python, const char *script, const char *sizes,
              const char *seq_sizes, const char *threads, const char *ops, int quick);
const TorchRow *torch_find(const TorchResults *tr, const char *op, BenchSize s, int threads);
void torch_free(TorchResults *tr);

// ---- report ----------------------------------------------------------------------

typedef struct {
    char cpu[128];
    int cores;
    char blas_config[256], blas_core[64], blas_threading[32];
    char compiler[128];
    const char *cflags;
    char date[64];
    char libc[32];
} SysInfo;

void sysinfo_collect(SysInfo *si, const char *cflags);

void report_header(FILE *f, const char *prefix, const SysInfo *si);
void report_table_head(FILE *f);
void report_table_row(FILE *f, const Row *r);
void report_csv_head(FILE *f);
void report_csv_row(FILE *f, const Row *r);
// The load average now.
void report_load(FILE *f, const char *prefix);
// CPU time used by other processes (and stolen by the hypervisor) since a snapshot:
// on a shared machine this says how far the multi-thread figures can be trusted.
typedef struct {
    double wall_s, busy_s, self_s, steal_s;
} CpuSnap;
void cpu_snapshot(CpuSnap *snap);
double cpu_others_share(const CpuSnap *start, double *steal_share);  // steal_share may be NULL
void report_cpu_share(FILE *f, const CpuSnap *start);
// The acceptance goals of the bench's issue, evaluated on the rows of this run.
void report_goals(FILE *f, const Row *rows, int n, int n_threads_max);

#endif
