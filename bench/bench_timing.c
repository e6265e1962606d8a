// bench_timing.c: timing (warm-up, calibrated repetitions, median and min) and the
// same-run references a kernel's rate is compared with: triad bandwidth, sgemm rate,
// and the cost of forking a parallel region.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>


#include "vecmath.h"
#include "bench.h"
#include "common.h"
#include "blas.h"
#include "linear.h"

enum { MAX_SAMPLES = 1024 };

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_sorted(const double *x, int n) {
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

// Calls fn until warmup_s has passed (at least twice); returns seconds per call.
static double warm_up(BenchFn fn, void *state, double warmup_s) {
    double t0 = now_seconds(), elapsed;
    long calls = 0;
    do {
        fn(state);
        calls++;
        elapsed = now_seconds() - t0;
    } while (elapsed < warmup_s || calls < 2);
    return elapsed / (double)calls;
}

static long reps_for(double per_call, const TimingPlan *plan) {
    long reps = per_call > 0 ? (long)(plan->sample_s / per_call) : 1;
    if (reps < 1) reps = 1;
    if (reps > 1000000) reps = 1000000;
    return reps;
}

static double one_sample(BenchFn fn, void *state, long reps) {
    double t0 = now_seconds();
    for (long r = 0; r < reps; r++) fn(state);
    return (now_seconds() - t0) / (double)reps;
}

static Timing summarise(double *samples, int n, long reps) {
    qsort(samples, (size_t)n, sizeof samples[0], cmp_double);
    return (Timing){.median = median_sorted(samples, n), .min = samples[0], .samples = n,
                    .reps = (int)reps};
}

Timing time_fn(BenchFn fn, void *state, const TimingPlan *plan) {
    Timing t;
    time_interleaved(&fn, state, 1, plan, &t);
    return t;
}

// Round-robin: one sample of each function per round, so on a shared machine every
// function meets the same noise and their ratios stay meaningful.
void time_interleaved(const BenchFn *fns, void *state, int n_fns, const TimingPlan *plan,
                      Timing *out) {
    enum { MAX_FNS = 16 };
    if (n_fns > MAX_FNS) n_fns = MAX_FNS;
    long reps[MAX_FNS];
    for (int f = 0; f < n_fns; f++) reps[f] = reps_for(warm_up(fns[f], state, plan->warmup_s), plan);
    int wanted = plan->samples < MAX_SAMPLES ? plan->samples : MAX_SAMPLES;
    static double samples[MAX_FNS][MAX_SAMPLES];
    int n = 0;
    double start = now_seconds();
    while (n < wanted) {
        for (int f = 0; f < n_fns; f++) samples[f][n] = one_sample(fns[f], state, reps[f]);
        n++;
        if (n >= plan->min_samples && now_seconds() - start > plan->budget_s * n_fns) break;
    }
    for (int f = 0; f < n_fns; f++) out[f] = summarise(samples[f], n, reps[f]);
}

// ---- triad -------------------------------------------------------------------------

typedef struct {
    float *a, *b, *c;
    long n;
} Triad;

static void triad_serial(void *p) {
    Triad *t = p;
    float *restrict a = t->a;
    const float *restrict b = t->b, *restrict c = t->c;
    #pragma omp simd
    for (long i = 0; i < t->n; i++) a[i] = b[i] + 3.0f * c[i];
}

static void triad_forked(void *p) {
    Triad *t = p;
    float *restrict a = t->a;
    const float *restrict b = t->b, *restrict c = t->c;
    #pragma omp parallel for simd schedule(static)
    for (long i = 0; i < t->n; i++) a[i] = b[i] + 3.0f * c[i];
}

double triad_gbps(double footprint_bytes, const TimingPlan *plan) {
    long n = (long)(footprint_bytes / 12.0);
    if (n < 256) n = 256;
    n = (n + 15) / 16 * 16;
    Triad t = {xcalloc((size_t)n, 4), xcalloc((size_t)n, 4), xcalloc((size_t)n, 4), n};
    for (long i = 0; i < n; i++) {
        t.b[i] = 1.0f;
        t.c[i] = 0.5f;
    }
    double best = time_fn(triad_serial, &t, plan).min;
    if (omp_get_max_threads() > 1) {
        double forked = time_fn(triad_forked, &t, plan).min;
        if (forked < best) best = forked;
    }
    xfree(t.a);
    xfree(t.b);
    xfree(t.c);
    return 12.0 * (double)n / best * 1e-9;
}

enum { MAX_TRIADS = 256 };
static struct {
    double bytes, gbps;
    int threads;
} triads[MAX_TRIADS];
static int n_triads;

double triad_gbps_at(double footprint_bytes, const TimingPlan *plan) {
    int threads = omp_get_max_threads();
    for (int i = 0; i < n_triads; i++)
        if (triads[i].bytes == footprint_bytes && triads[i].threads == threads) return triads[i].gbps;
    double gbps = triad_gbps(footprint_bytes, plan);
    if (n_triads < MAX_TRIADS) triads[n_triads++] = (__typeof__(triads[0])){footprint_bytes, gbps, threads};
    return gbps;
}

// ---- sgemm -------------------------------------------------------------------------

typedef struct {
    float *A, *B, *C;
    int n;
} Sgemm;

// Through the engine's gemm(): OpenBLAS runs on one thread (blas_setup), and gemm() splits
// a large GEMM over the pool in fixed tiles, so this is the rate the engine reaches.
static void sgemm_square(void *p) {
    Sgemm *s = p;
    gemm(0, 0, s->n, s->n, s->n, 1.0f, s->A, s->B, 0.0f, s->C);
}

double sgemm_gflops(int n, const TimingPlan *plan) {
    size_t nn = (size_t)n * n;
    Sgemm s = {xcalloc(nn, 4), xcalloc(nn, 4), xcalloc(nn, 4), n};
    fill_normal_seeded(s.A, (long)nn, 1.0f, 1);
    fill_normal_seeded(s.B, (long)nn, 1.0f, 2);
    double t = time_fn(sgemm_square, &s, plan).min;
    xfree(s.A);
    xfree(s.B);
    xfree(s.C);
    return 2.0 * (double)n * n * n / t * 1e-9;
}

// ---- fork cost ---------------------------------------------------------------------

typedef struct {
    float *x, *y;
    long n;
} Sweep;

static void empty_region(void *p) {
    int *regions = p;
    #pragma omp parallel
    {
        #pragma omp master
        (*regions)++;
    }
}

// y += x: the lightest kernel shape (two streams in, one out, one flop per element).
// The serial side is a plain loop, as a kernel's non-forking path should be: an
// `if (0)` clause on `parallel for simd` costs 4x at these sizes (GCC 12).
static void stream_add_serial(void *p) {
    Sweep *s = p;
    float *restrict y = s->y;
    const float *restrict x = s->x;
    #pragma omp simd
    for (long i = 0; i < s->n; i++) y[i] += x[i];
}

static void stream_add_forked(void *p) {
    Sweep *s = p;
    float *restrict y = s->y;
    const float *restrict x = s->x;
    #pragma omp parallel for simd schedule(static)
    for (long i = 0; i < s->n; i++) y[i] += x[i];
}

// y = tanh(x): a transcendental per element (libmvec), as the batchnorm forward.
static void tanh_serial(void *p) {
    Sweep *s = p;
    float *restrict y = s->y;
    const float *restrict x = s->x;
    #pragma omp simd
    for (long i = 0; i < s->n; i++) y[i] = tanhf(x[i]);
}

static void tanh_forked(void *p) {
    Sweep *s = p;
    float *restrict y = s->y;
    const float *restrict x = s->x;
    #pragma omp parallel for simd schedule(static)
    for (long i = 0; i < s->n; i++) y[i] = tanhf(x[i]);
}

// Smallest n (doubling from 256) from which the forked loop beats the serial one by 5%
// at every larger n of the sweep: one lucky (or noisy) size does not set it.
static long breakeven(BenchFn serial_fn, BenchFn forked_fn, const TimingPlan *plan) {
    const long max_n = BREAKEVEN_MAX;
    Sweep s = {xcalloc((size_t)max_n, 4), xcalloc((size_t)max_n, 4), 0};
    fill_normal_seeded(s.x, max_n, 0.5f, 3);
    long found = -1;
    for (long n = 256; n <= max_n; n *= 2) {
        s.n = n;
        double serial = time_fn(serial_fn, &s, plan).median;
        double forked = time_fn(forked_fn, &s, plan).median;
        if (forked < 0.95 * serial) {
            if (found < 0) found = n;
        } else {
            found = -1;
        }
    }
    xfree(s.x);
    xfree(s.y);
    return found;
}

ForkCost fork_cost_measure(const TimingPlan *plan) {
    ForkCost fc = {0, -1, -1};
    int regions = 0;
    fc.fork_us = time_fn(empty_region, &regions, plan).median * 1e6;
    if (omp_get_max_threads() > 1) {
        fc.breakeven_stream = breakeven(stream_add_serial, stream_add_forked, plan);
        fc.breakeven_tanh = breakeven(tanh_serial, tanh_forked, plan);
    }
    return fc;
}

// ---- a compute floor -----------------------------------------------------------------

static void expf_flat(void *p) {
    Sweep *s = p;
    float *restrict y = s->y;
    const float *restrict x = s->x;
    #pragma omp simd
    for (long i = 0; i < s->n; i++) y[i] = expf(x[i]);
}

static void tanhf_flat(void *p) {
    Sweep *s = p;
    float *restrict y = s->y;
    const float *restrict x = s->x;
    #pragma omp simd
    for (long i = 0; i < s->n; i++) y[i] = tanhf(x[i]);
}

// The batchnorm forward's inputs to tanh are normalised values (gain ~1, bias ~0): unit
// scale, as the kernel meets them.
double tanhf_ns_per_element(long n, const TimingPlan *plan) {
    Sweep s = {xcalloc((size_t)n, 4), xcalloc((size_t)n, 4), n};
    fill_normal_seeded(s.x, n, 1.0f, 5);
    double t = time_fn(tanhf_flat, &s, plan).min;
    xfree(s.x);
    xfree(s.y);
    return t / (double)n * 1e9;
}

double expf_ns_per_element(long n, const TimingPlan *plan) {
    Sweep s = {xcalloc((size_t)n, 4), xcalloc((size_t)n, 4), n};
    fill_normal_seeded(s.x, n, 3.0f, 4);
    double t = time_fn(expf_flat, &s, plan).min;
    xfree(s.x);
    xfree(s.y);
    return t / (double)n * 1e9;
}

// ---- deterministic inputs ----------------------------------------------------------

static unsigned long long splitmix(unsigned long long *s) {
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// Approximately normal: the sum of four uniforms, centred and scaled to unit variance.
void fill_normal_seeded(float *x, long n, float scale, unsigned long long seed) {
    unsigned long long s = seed * 0x2545F4914F6CDD1DULL + 1;
    for (long i = 0; i < n; i++) {
        double u = 0;
        for (int k = 0; k < 4; k++) u += (double)(splitmix(&s) >> 11) * 0x1.0p-53;
        x[i] = (float)((u - 2.0) * sqrt(3.0)) * scale;
    }
}

void fill_index_seeded(int *x, long n, int below, unsigned long long seed) {
    unsigned long long s = seed * 0x9E3779B97F4A7C15ULL + 7;
    for (long i = 0; i < n; i++) x[i] = (int)(splitmix(&s) % (unsigned long long)below);
}
