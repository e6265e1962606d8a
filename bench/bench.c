// bench.c: the benchmark harness's main: flags, the same-run references (triad
// bandwidth, sgemm rate, fork cost), PyTorch beside it, and the loop over entries,
// sizes and thread counts that checks and times every variant.
//
//   build/bench [--quick] [--sizes 32x64,32x200,...] [--seq-sizes 32x64,...] [--threads 1,2]
//               [--filter ce,bn,seq] [--csv FILE] [--tee FILE] [--torch | --no-torch]
//               [--profile | --no-profile]
//
// Exit status: 0 all variants verified; 1 a variant disagreed with its reference
// (a fast wrong kernel fails loudly); 2 usage error.
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "blas_core.h"
#include "common.h"

enum { MAX_SIZES = 16, MAX_THREADS_LIST = 64, MAX_FILTERS = 16 };
static const double NOISE_OK = 0.05;
static const double RETRY_BUDGET_S = 120;  // keeps a full run near 10 minutes under noise

static const char DEFAULT_SIZES[] = "32x64,32x200,512x512,4096x1024";
// --quick: the lecture's sizes and one large enough that every kernel forks
// (B*H, B*T*E and 8*B*V all >= PAR_MIN_WORK), so the parallel paths are checked too.
static const char QUICK_SIZES[] = "32x64,32x200,2048x128";
// The seq entries (makemore.py's kernels), B x C: makemore.py's defaults (batch 32, n_embd =
// n_embd2 = 64; every kernel but the two recurrences forks there at 2+ threads), and batch
// 256 at width 128, where the recurrences are cut into 8 blocks of rows and the whole-batch
// GEMMs split too. --quick: the defaults and batch 64, the smallest at which every kernel
// forks (the recurrences into 2 blocks), at width 128 (AdamW over 802 304 parameters).
static const char DEFAULT_SEQ_SIZES[] = "32x64,256x128";
static const char QUICK_SEQ_SIZES[] = "32x64,64x128";

static FILE *out;  // the report: stdout, or stdout teed into --tee FILE

typedef struct {
    int quick;
    BenchSize sizes[MAX_SIZES];
    int n_sizes;
    BenchSize seq_sizes[MAX_SIZES];  // the seq entries' B x C
    int n_seq_sizes;
    int threads[MAX_THREADS_LIST];
    int n_threads;
    const char *filters[MAX_FILTERS];
    int n_filters;
    const char *csv_path;
    const char *tee_path;
    int sizes_given, seq_sizes_given;
    int retries;  // re-times a case when other processes took more than NOISE_OK of the
                  // machine meanwhile, keeping the quietest attempt (default 2; 0 with --quick)
    int torch;    // 1 run torch_bench.py, 0 not; default: on, off under --quick
    int profile;  // 1 print the step's phase profile; default: on, off under --quick
    const char *python, *torch_script, *cflags;
    char sizes_text[512], seq_sizes_text[512], threads_text[512];
} Options;

static void usage(FILE *f) {
    fprintf(f,
            "usage: bench [options]\n"
            "  --quick             short run (CI smoke: every entry runs and verifies, < 1 min)\n"
            "  --sizes LIST        BxH pairs, default %s (V=27, T=3, E=10);\n"
            "                      with --quick %s\n"
            "  --seq-sizes LIST    BxC pairs for the seq entries (makemore.py's kernels: T=16,\n"
            "                      n_head=4, V=27, n_embd = n_embd2 = C), default %s;\n"
            "                      with --quick %s\n"
            "  --threads LIST      thread counts, default 1..cores\n"
            "  --filter LIST       only entries whose name contains one of these words, or\n"
            "                      whose group is one of them (seq: makemore.py's kernels)\n"
            "  --csv FILE          also write every row as CSV\n"
            "  --tee FILE          also write what goes to stdout into FILE\n"
            "  --torch, --no-torch PyTorch beside the engine (default: on; off with --quick)\n"
            "  --python PATH       Debian's python3 with python3-torch (/usr/bin/python3)\n"
            "  --torch-script PATH default bench/torch_bench.py\n"
            "  --profile, --no-profile  the fused step by phase, and makemore.py's types' steps by\n"
            "                           layer against their GEMM floor (mmstep; default: on; off with --quick)\n"
            "  --retries N         re-time a case up to N times when other processes used more\n"
            "                      than 5%% of the machine meanwhile (default 2; 0 with --quick)\n"
            "  --cflags STRING     compiler flags to record in the header (make passes them)\n"
            "  --list              list entries and variants, then exit\n"
            "  --inject-fault      self-test: perturb one output element by 0.1%% of its\n"
            "                      scale after each check's run; every case must then fail\n"
            "exit status: 0 all verified, 1 a variant disagreed with its reference, 2 usage\n",
            DEFAULT_SIZES, QUICK_SIZES, DEFAULT_SEQ_SIZES, QUICK_SEQ_SIZES);
}

static void bad_usage(const char *fmt, const char *what) {
    fprintf(stderr, "bench: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    usage(stderr);
    exit(EXIT_USAGE);
}

// ---- flags ---------------------------------------------------------------------------

// "BxH[,BxH...]" into sizes (at most MAX_SIZES), the text kept in text (512 bytes).
static int parse_size_list(BenchSize *sizes, int *n, char *text, const char *arg) {
    snprintf(text, 512, "%s", arg);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", arg);
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int B, H;
        char tail;
        if (*n == MAX_SIZES || sscanf(tok, "%dx%d%c", &B, &H, &tail) != 2 || B < 2 ||
            H < 1 || B > (1 << 20) || H > (1 << 16))
            return -1;
        sizes[(*n)++] = (BenchSize){B, H};
    }
    return *n ? 0 : -1;
}

static int parse_sizes(Options *o, const char *text) {
    return parse_size_list(o->sizes, &o->n_sizes, o->sizes_text, text);
}

// The seq entries' B x C: C a multiple of n_head (the attention's heads), B*T*C within int.
static int parse_seq_sizes(Options *o, const char *text) {
    if (parse_size_list(o->seq_sizes, &o->n_seq_sizes, o->seq_sizes_text, text)) return -1;
    for (int i = 0; i < o->n_seq_sizes; i++)
        if (o->seq_sizes[i].H % SEQ_NH || o->seq_sizes[i].H > 4096 ||
            (long)o->seq_sizes[i].B * SEQ_T * SEQ_T * o->seq_sizes[i].H > (1L << 30))
            return -1;
    return 0;
}

static int parse_threads(Options *o, const char *text) {
    snprintf(o->threads_text, sizeof o->threads_text, "%s", text);
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    o->n_threads = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long t = strtol(tok, &end, 10);
        if (o->n_threads == MAX_THREADS_LIST || *end || t < 1 || t > 1024) return -1;
        o->threads[o->n_threads++] = (int)t;
    }
    return o->n_threads ? 0 : -1;
}

static int parse_filters(Options *o, char *text) {
    for (char *save = NULL, *tok = strtok_r(text, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_filters == MAX_FILTERS) return -1;
        o->filters[o->n_filters++] = tok;
    }
    return 0;
}

static void default_threads(Options *o) {
    int cores = omp_get_num_procs();
    if (cores > MAX_THREADS_LIST) cores = MAX_THREADS_LIST;
    char text[512] = "";
    for (int t = 1; t <= cores; t++) {
        size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, t > 1 ? ",%d" : "%d", t);
    }
    parse_threads(o, text);
}

static void list_entries(void) {
    for (int i = 0; i < BENCH_N_ENTRIES; i++) {
        const Entry *e = BENCH_ENTRIES[i];
        printf("%-20s %s%s%s%s\n", e->name, e->group ? "[" : "", e->group ? e->group : "",
               e->group ? "] " : "", e->about);
        for (int v = 0; v < e->n_variants; v++)
            printf("  %-14s %s%s%s\n", e->variants[v].name, v == 0 ? "(reference) " : "",
                   e->variants[v].engine ? "engine" : "bench-only strategy",
                   e->variants[v].torch_op ? "" : "; no PyTorch twin");
    }
}

// A flag's value: "--name=value" or "--name value".
static const char *flag_value(int argc, char **argv, int *i, const char *name) {
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0) return NULL;
    if (argv[*i][len] == '=') return argv[*i] + len + 1;
    if (argv[*i][len] != 0) return NULL;
    if (*i + 1 >= argc) bad_usage("%s wants a value", name);
    return argv[++*i];
}

static int parse_flag(Options *o, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    if (!strcmp(a, "--quick")) o->quick = 1;
    else if (!strcmp(a, "--torch")) o->torch = 1;
    else if (!strcmp(a, "--no-torch")) o->torch = 0;
    else if (!strcmp(a, "--profile")) o->profile = 1;
    else if (!strcmp(a, "--no-profile")) o->profile = 0;
    else if (!strcmp(a, "--list")) { list_entries(); exit(0); }
    else if (!strcmp(a, "--inject-fault")) bench_inject_fault = 1;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); exit(0); }
    else if ((v = flag_value(argc, argv, i, "--sizes"))) {
        if (parse_sizes(o, v)) bad_usage("bad --sizes '%s' (want BxH[,BxH...], B >= 2)", v);
        o->sizes_given = 1;
    } else if ((v = flag_value(argc, argv, i, "--seq-sizes"))) {
        if (parse_seq_sizes(o, v))
            bad_usage("bad --seq-sizes '%s' (want BxC[,BxC...], B >= 2, C a multiple of 4, "
                      "at most 4096)", v);
        o->seq_sizes_given = 1;
    } else if ((v = flag_value(argc, argv, i, "--threads"))) {
        if (parse_threads(o, v)) bad_usage("bad --threads '%s' (want N[,N...], 1..1024)", v);
    } else if ((v = flag_value(argc, argv, i, "--filter"))) {
        if (parse_filters(o, (char *)v)) bad_usage("too many --filter words in '%s'", v);
    } else if ((v = flag_value(argc, argv, i, "--csv"))) o->csv_path = v;
    else if ((v = flag_value(argc, argv, i, "--tee"))) o->tee_path = v;
    else if ((v = flag_value(argc, argv, i, "--python"))) o->python = v;
    else if ((v = flag_value(argc, argv, i, "--torch-script"))) o->torch_script = v;
    else if ((v = flag_value(argc, argv, i, "--cflags"))) o->cflags = v;
    else if ((v = flag_value(argc, argv, i, "--retries"))) {
        char *end;
        o->retries = (int)strtol(v, &end, 10);
        if (*end || o->retries < 0 || o->retries > 10) bad_usage("bad --retries '%s' (0..10)", v);
    }
    else return -1;
    return 0;
}

static void parse_options(Options *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->torch = o->profile = o->retries = -1;
    o->python = "/usr/bin/python3";
    o->torch_script = "bench/torch_bench.py";
    parse_sizes(o, DEFAULT_SIZES);
    parse_seq_sizes(o, DEFAULT_SEQ_SIZES);
    default_threads(o);
    for (int i = 1; i < argc; i++)
        if (parse_flag(o, argc, argv, &i)) bad_usage("unknown argument '%s'", argv[i]);
    if (o->quick && !o->sizes_given) parse_sizes(o, QUICK_SIZES);
    if (o->quick && !o->seq_sizes_given) parse_seq_sizes(o, QUICK_SEQ_SIZES);
    if (o->torch < 0) o->torch = !o->quick;
    if (o->retries < 0) o->retries = o->quick ? 0 : 2;
    if (o->profile < 0) o->profile = !o->quick;
}

static int entry_selected_name(const Options *o, const char *name) {
    if (!o->n_filters) return 1;
    for (int i = 0; i < o->n_filters; i++)
        if (strstr(name, o->filters[i])) return 1;
    return 0;
}

static int entry_selected(const Options *o, const Entry *e) {
    if (entry_selected_name(o, e->name)) return 1;
    for (int i = 0; e->group && i < o->n_filters; i++)
        if (strcmp(e->group, o->filters[i]) == 0) return 1;
    return 0;
}

static int any_selected(const Options *o, const char *group) {
    for (int i = 0; i < BENCH_N_ENTRIES; i++) {
        const Entry *e = BENCH_ENTRIES[i];
        if (entry_selected(o, e) && (group ? e->group && !strcmp(e->group, group) : !e->group))
            return 1;
    }
    return 0;
}

static TimingPlan plan_for(const Options *o) {
    if (o->quick)
        return (TimingPlan){.warmup_s = 0.002, .sample_s = 0.001, .samples = 5, .min_samples = 2,
                            .budget_s = 0.03};
    return (TimingPlan){.warmup_s = 0.05, .sample_s = 0.01, .samples = 21, .min_samples = 3,
                        .budget_s = 1.0};
}

// ---- references ----------------------------------------------------------------------

typedef struct {
    double sgemm[MAX_THREADS_LIST + 1];  // by thread count index
    double expf_ns, tanhf_ns;            // libmvec's vector rates, 1 thread
} References;

// Triad bandwidth at a footprint, measured once per (footprint, threads).
static double triad_at(References *refs, double bytes, int threads, const TimingPlan *plan) {
    (void)refs, (void)threads;  // threads: the current count, which triad_gbps_at keys on
    return triad_gbps_at(bytes, plan);
}

// "N", or "none up to M" when forking never won in the sweep.
static const char *breakeven_text(long n, int slot) {
    static char text[2][48];
    if (n > 0) snprintf(text[slot], sizeof text[slot], "%ld", n);
    else snprintf(text[slot], sizeof text[slot], "none up to %ld", BREAKEVEN_MAX);
    return text[slot];
}

// One thread count's references: DRAM triad, sgemm rate, fork cost; returns the fork cost.
static ForkCost print_reference_line(FILE *csv, const Options *o, int k, References *refs,
                                     const TimingPlan *plan) {
    const int sgemm_n = 1024;
    const double dram_bytes = o->quick ? 48e6 : 384e6;
    threads_set(o->threads[k]);
    double dram = triad_gbps(dram_bytes, plan);
    refs->sgemm[k] = sgemm_gflops(sgemm_n, plan);
    ForkCost fc = fork_cost_measure(plan);
    char line[512];
    int used = snprintf(line, sizeof line, "%d thread(s): triad %.1f GB/s (%.0f MB, DRAM) | "
                        "sgemm %dx%dx%d %.1f GFLOP/s | fork+join %.2f us", o->threads[k], dram,
                        dram_bytes / 1e6, sgemm_n, sgemm_n, sgemm_n, refs->sgemm[k], fc.fork_us);
    if (o->threads[k] > 1 && used > 0 && (size_t)used < sizeof line)
        snprintf(line + used, sizeof line - (size_t)used, " | forking wins from %s (y += x), %s "
                 "(tanhf) elements", breakeven_text(fc.breakeven_stream, 0),
                 breakeven_text(fc.breakeven_tanh, 1));
    if (k == 0 && used > 0 && (size_t)used < sizeof line) {
        refs->expf_ns = expf_ns_per_element(4096L * BENCH_V, plan);
        refs->tanhf_ns = tanhf_ns_per_element(32L * 200, plan);
        snprintf(line + used, sizeof line - (size_t)used, " | expf %.2f ns/element (the CE "
                 "kernels' floor) | tanhf %.2f ns/element (the batchnorm forward's)",
                 refs->expf_ns, refs->tanhf_ns);
    }
    fprintf(out, "reference %s\n", line);
    if (csv) fprintf(csv, "# reference %s\n", line);
    return fc;
}

static void print_recommendation(const ForkCost *fc, int threads) {
    fprintf(out, "threshold PAR_MIN_WORK (include/common.h) = %d; recommended: ", PAR_MIN_WORK);
    if (threads > 1 && fc->breakeven_stream > 0)
        fprintf(out, "%ld (the streaming break-even at %d threads; a kernel with a "
                "transcendental per element breaks even at %s)\n", fc->breakeven_stream, threads,
                breakeven_text(fc->breakeven_tanh, 0));
    else fprintf(out, "n/a (no multi-thread break-even found in this run)\n");
}

static void print_references(FILE *csv, const Options *o, References *refs,
                             const TimingPlan *plan) {
    ForkCost last = {0, -1, -1};
    for (int k = 0; k < o->n_threads; k++) last = print_reference_line(csv, o, k, refs, plan);
    print_recommendation(&last, o->threads[o->n_threads - 1]);
    fflush(out);
}

// This run's sgemm rate at `threads` threads, or 0 when that count was not measured.
static double sgemm_at(const Options *o, const References *refs, int threads) {
    for (int k = 0; k < o->n_threads; k++)
        if (o->threads[k] == threads) return refs->sgemm[k];
    return 0;
}

// ---- the table -----------------------------------------------------------------------

typedef struct {
    Row *rows;
    int n, cap;
    int failures;
} Results;

static Row *results_add(Results *res) {
    if (res->n == res->cap) {
        res->cap = res->cap ? 2 * res->cap : 128;
        Row *grown = realloc(res->rows, (size_t)res->cap * sizeof *grown);
        if (!grown) die(EXIT_RUNTIME, "out of memory for result rows");
        res->rows = grown;
    }
    memset(&res->rows[res->n], 0, sizeof res->rows[0]);
    return &res->rows[res->n++];
}

static const Row *row_at_1thread(const Results *res, const Entry *e, int v, BenchSize s) {
    for (int i = 0; i < res->n; i++) {
        const Row *r = &res->rows[i];
        if (r->entry == e && r->variant == &e->variants[v] && r->threads == 1 &&
            r->size.B == s.B && r->size.H == s.H)
            return r;
    }
    return NULL;
}

// Times every variant of e (round-robin); when other processes took more than NOISE_OK
// of the machine meanwhile, tries again up to `retries` times (while the run's retry
// budget lasts) and keeps the quietest attempt. Returns that attempt's noise share.
static double time_case(const Entry *e, Case *c, const TimingPlan *plan, int retries,
                        Timing *times) {
    BenchFn fns[MAX_VARIANTS];
    Timing attempt[MAX_VARIANTS];
    for (int v = 0; v < e->n_variants; v++) fns[v] = e->variants[v].run;
    static double retry_spent_s;  // retries stop after RETRY_BUDGET_S in a run
    double best = 2.0;
    for (int a = 0; a <= retries && (a == 0 || retry_spent_s < RETRY_BUDGET_S); a++) {
        CpuSnap start;
        cpu_snapshot(&start);
        time_interleaved(fns, c->state, e->n_variants, plan, attempt);
        if (a > 0) retry_spent_s += now_seconds() - start.wall_s;
        double share = cpu_others_share(&start, NULL);
        if (a == 0 || (share >= 0 && share < best)) {
            best = share;
            memcpy(times, attempt, (size_t)e->n_variants * sizeof *times);
        }
        if (best <= NOISE_OK) break;  // quiet enough, or too short to tell (-1)
    }
    return best;
}

// Checks then times every variant of entry e at size s with the current thread count.
static void run_case_threads(Results *res, const Entry *e, Case *c, BenchSize s, int threads,
                             int thread_idx, References *refs, const TorchResults *tr,
                             const TimingPlan *plan, int retries, FILE *csv) {
    double err;
    char msg[512] = "";
    int ok = case_verify(e, c, &err, msg, sizeof msg) == 0;
    if (!ok) {
        fprintf(stderr, "bench: VERIFY FAILED at B=%d H=%d, %d thread(s): %s\n", s.B, s.H,
                threads, msg);
        res->failures++;
    }
    double roof = c->basis == ROOF_BANDWIDTH ? triad_at(refs, c->bytes, threads, plan)
                : c->basis == ROOF_FLOPS    ? refs->sgemm[thread_idx] : 0;
    Timing times[MAX_VARIANTS];
    double noise = time_case(e, c, plan, retries, times);
    for (int v = 0; v < e->n_variants; v++) {
        Row *r = results_add(res);
        *r = (Row){.entry = e, .variant = &e->variants[v], .size = s, .threads = threads,
                   .t = times[v], .speedup = times[0].median / times[v].median, .basis = c->basis,
                   .roof = roof, .verify_err = v == 0 ? 0 : err, .verified = ok,
                   .noise = noise};
        const Row *one = row_at_1thread(res, e, v, s);
        r->vs_1thread = one ? one->t.median / r->t.median : 0;
        r->rate = (c->basis == ROOF_BANDWIDTH ? c->bytes : c->flops) / r->t.min * 1e-9;
        const TorchRow *t = torch_find(tr, e->variants[v].torch_op, s, threads);
        if (t) {
            r->torch_median = t->median;
            r->torch_min = t->min;
        }
        report_table_row(out, r);
        if (csv) report_csv_row(csv, r);
    }
}

static void run_entries(Results *res, const Options *o, References *refs, const TorchResults *tr,
                        const TimingPlan *plan, FILE *csv) {
    report_table_head(out);
    for (int i = 0; i < BENCH_N_ENTRIES; i++) {
        const Entry *e = BENCH_ENTRIES[i];
        if (!entry_selected(o, e)) continue;
        const BenchSize *sizes = e->group ? o->seq_sizes : o->sizes;
        int n_sizes = e->group ? o->n_seq_sizes : o->n_sizes;
        for (int si = 0; si < n_sizes; si++) {
            Case c = {0};
            e->setup(&c, sizes[si]);
            for (int k = 0; k < o->n_threads; k++) {
                threads_set(o->threads[k]);
                run_case_threads(res, e, &c, sizes[si], o->threads[k], k, refs, tr, plan,
                                 o->retries, csv);
            }
            c.destroy(c.state);
        }
    }
}

// ---- stdout, optionally teed into a file ----

static ssize_t tee_write(void *cookie, const char *buf, size_t len) {
    fwrite(buf, 1, len, stdout);
    fflush(stdout);
    return (ssize_t)fwrite(buf, 1, len, (FILE *)cookie);
}

static int tee_close(void *cookie) {
    fflush(stdout);
    return fclose((FILE *)cookie);
}

// stdout itself, or a stream writing to both stdout and path.
static FILE *open_out(const char *path) {
    if (!path) return stdout;
    FILE *file = fopen(path, "w");
    if (!file) die(EXIT_RUNTIME, "cannot write --tee %s", path);
    FILE *both = fopencookie(file, "w", (cookie_io_functions_t){.write = tee_write,
                                                                 .close = tee_close});
    if (!both) die(EXIT_RUNTIME, "cannot tee into %s", path);
    setvbuf(both, NULL, _IOLBF, 0);
    return both;
}

// ---- main ----------------------------------------------------------------------------

static void print_method(FILE *f, const char *prefix, const Options *o, const TimingPlan *p) {
    fprintf(f, "%smethod    warm-up >= %.0f ms; up to %d samples of >= %.0f ms (calls per "
               "sample calibrated, >= %d samples, ~%.1f s per variant), an entry's variants "
               "sampled round-robin; median and min per call\n",
            prefix, p->warmup_s * 1e3, p->samples, p->sample_s * 1e3, p->min_samples,
            p->budget_s);
    fprintf(f, "%scheck     before timing, every variant runs on NaN-poisoned outputs and is "
               "compared with variant 0: max|x - ref| / max|ref| <= the entry's tolerance\n",
            prefix);
    fprintf(f, "%sroofline  rate = minimal bytes (or GEMM flops) per call / min time; roof%% = "
               "rate / the same run's best triad GB/s at the entry's footprint (or best sgemm "
               "GFLOP/s), same threads: best against best, as STREAM\n", prefix);
    fprintf(f, "%smodel     V=%d T=%d E=%d, batchnorm with Bessel's correction; sizes %s; "
               "threads %s%s\n", prefix, BENCH_V, BENCH_T, BENCH_E, o->sizes_text,
            o->threads_text, o->quick ? "; --quick" : "");
    if (any_selected(o, "seq"))
        fprintf(f, "%sseq       makemore.py's kernels: T=%d, n_head=%d, V=%d, n_embd = n_embd2 = C; "
                   "sizes BxC %s (shown BxTxC; AdamW: n = the %d-layer Transformer's parameters "
                   "at C)\n", prefix, SEQ_T, SEQ_NH, SEQ_V, o->seq_sizes_text, SEQ_LAYERS);
}

// The PyTorch ops of the selected entries' variants, comma-separated (empty: none).
static void torch_ops(const Options *o, char *buf, size_t len) {
    buf[0] = 0;
    for (int i = 0; i < BENCH_N_ENTRIES; i++) {
        const Entry *e = BENCH_ENTRIES[i];
        if (!entry_selected(o, e)) continue;
        for (int v = 0; v < e->n_variants; v++) {
            const char *op = e->variants[v].torch_op;
            if (!op) continue;
            int seen = 0;  // whole-word match in the list so far
            for (const char *p = buf; (p = strstr(p, op)); p += strlen(op))
                if ((p == buf || p[-1] == ',') && (p[strlen(op)] == ',' || !p[strlen(op)]))
                    seen = 1;
            size_t used = strlen(buf);
            if (!seen) snprintf(buf + used, len - used, "%s%s", used ? "," : "", op);
        }
    }
}

static void run_torch(TorchResults *tr, const Options *o, FILE *csv) {
    memset(tr, 0, sizeof *tr);
    char ops[2048];
    torch_ops(o, ops, sizeof ops);
    if (!o->torch) {
        snprintf(tr->note, sizeof tr->note, "PyTorch column off (--no-torch%s)",
                 o->quick ? " is the default under --quick; --torch turns it on" : "");
    } else if (ops[0]) {
        fprintf(stderr, "bench: timing PyTorch first (%s %s) ...\n", o->python, o->torch_script);
        torch_run(tr, o->python, o->torch_script, o->sizes_text, o->seq_sizes_text,
                  o->threads_text, ops, o->quick);
    }
    if (tr->n) fprintf(out, "torch     PyTorch %s via %s, torch.set_num_threads and "
                       "OMP/OPENBLAS_NUM_THREADS per thread count\n", tr->version, o->python);
    if (tr->note[0]) fprintf(out, "torch     %s\n", tr->note);
    if (csv && tr->n) fprintf(csv, "# torch %s\n", tr->version);
}

int main(int argc, char **argv) {
    blas_setup(argv);
    Options o;
    parse_options(&o, argc, argv);
    TimingPlan plan = plan_for(&o);
    FILE *csv = NULL;
    if (o.csv_path && !(csv = fopen(o.csv_path, "w")))
        die(EXIT_RUNTIME, "cannot write --csv %s", o.csv_path);
    SysInfo si;
    sysinfo_collect(&si, o.cflags);
    out = open_out(o.tee_path);
    fprintf(out, "makemore bench: atomic vs fused kernels, engine vs PyTorch\n");
    CpuSnap start;
    cpu_snapshot(&start);
    report_header(out, "", &si);
    report_load(out, "");
    print_method(out, "", &o, &plan);
    if (csv) {
        report_header(csv, "# ", &si);
        report_load(csv, "# ");
        print_method(csv, "# ", &o, &plan);
    }
    TorchResults tr;
    run_torch(&tr, &o, csv);
    References refs = {0};
    print_references(csv, &o, &refs, &plan);
    fprintf(out, "\n");
    if (csv) report_csv_head(csv);
    Results res = {0};
    run_entries(&res, &o, &refs, &tr, &plan, csv);
    for (int i = 0; i < o.n_sizes && entry_selected_name(&o, "gemm"); i++)
        res.failures += gemm_table(out, o.sizes[i], o.threads, o.n_threads, refs.sgemm);
    if (o.threads[o.n_threads - 1] >= 2)
        for (int i = 0; i < o.n_sizes && entry_selected_name(&o, "gemm"); i++)
            dxdw_two_cores(out, o.sizes[i], &plan);
    if (entry_selected_name(&o, "plan"))
        res.failures += plan_section(out, o.sizes, o.n_sizes, o.threads, o.n_threads, refs.sgemm,
                                     &plan, o.retries, o.quick);
    if (entry_selected_name(&o, "phases"))
        phases_section(out, o.sizes, o.n_sizes, refs.tanhf_ns, refs.expf_ns, &plan, o.retries);
    if (entry_selected_name(&o, "wavenet"))
        res.failures += wavenet_section(out, o.threads, o.n_threads, &plan, o.python, o.torch,
                                        o.quick, sgemm_at(&o, &refs, 1));
    if (o.profile)
        for (int i = 0; i < o.n_sizes && entry_selected_name(&o, "train_step"); i++)
            step_profile(out, o.sizes[i], o.threads, o.n_threads, &plan);
    if (o.profile && entry_selected_name(&o, "mmstep"))
        res.failures += mmstep_section(out, o.threads, o.n_threads, refs.sgemm, o.quick);
    report_goals(out, res.rows, res.n, o.threads[o.n_threads - 1]);
    report_cpu_share(out, &start);
    if (res.failures)
        fprintf(out, "\nVERIFY FAILED: %d case(s) disagreed with their reference (see stderr)\n",
                res.failures);
    else fprintf(out, "\nall %d rows verified against their reference before timing\n", res.n);
    if (csv) fclose(csv);
    if (out != stdout) fclose(out);
    torch_free(&tr);
    free(res.rows);
    return res.failures ? EXIT_RUNTIME : 0;
}
