// sweep.c: `makemore sweep`: K trainings at once. Each run is a child process,
// `makemore train ... --seed S --threads 1` (this same executable, /proc/self/exe),
// pinned to one core with sched_setaffinity, its stdout and stderr in DIR/NAME.log and its
// checkpoint in DIR/NAME.safetensors. Up to --jobs run together. A run is exactly the
// `makemore train` run alone with the same flags (the same program, one thread), so its
// checkpoint and losses are bit-identical to it.
//
// Robustness: runs are processes, so one that crashes or fails shows as failed and the
// others go on. Children live in their own process group (a terminal's Ctrl-C reaches the
// sweep only) and the sweep forwards SIGINT/SIGTERM to each running child exactly once, so
// each one finishes its step, writes its resumable checkpoint and exits; a child whose
// sweep dies gets SIGTERM (PR_SET_PDEATHSIG). `--resume` continues the runs of an
// interrupted sweep from their checkpoints (finished ones are evaluated, not retrained).
#include "sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "common.h"
#include "flags.h"
#include "net_io.h"
#include "outfile.h"
#include "train_opts.h"

#define CMD "sweep"
#define MAX_RUNS 10000
#define MAX_GRID 8
#define MAX_PASS 32
#define MAX_JOBS 1024

// The train flags a sweep sets itself for each run.
static const char *const OWN_FLAGS[] = {"--seed", "--threads", "--out", "--log", "--resume",
                                        "--samples", NULL};

typedef struct {
    const char *key;      // "lr" (the train flag --lr)
    int row;              // its row in train's flag table
    char *vals[64];       // pointers into buf
    char *buf;            // a copy of the values (argv stays as given)
    int n;
} GridKey;

enum { RUN_PENDING, RUN_RUNNING, RUN_OK, RUN_FAILED, RUN_STOPPED };
static const char *const STATUS[] = {"not started", "running", "ok", "failed", "stopped"};

typedef struct {
    int cfg;
    uint64_t seed;
    char *name, *ckpt, *log;
    int status, mode;       // mode: 0 fresh, 1 resume the checkpoint, 2 evaluate it (finished)
    double loss[3], secs, t0;
    char msg[1100];         // why it failed
    int code;               // exit status (128 + signal when killed)
    pid_t pid;
} Run;

typedef struct {
    uint64_t seeds[MAX_RUNS];
    int nseeds;
    GridKey grid[MAX_GRID];
    int ngrid;
    const char *pass[2 * MAX_PASS];  // flag, value pairs
    int npass;
    int jobs, resume, steps_given;
    long steps;
    const char *csv, *out_dir, *data;
    int argc;
    char **argv;
} SweepOpts;

// The train flags with role, as " --data --arch ..." (wrapped).
static const char *sweep_flag_list(unsigned role) {
    static char buf[1024];
    const FlagTable *t = train_flags();
    size_t n = 0, col = 12;
    buf[0] = '\0';
    for (int i = 0; i < t->n && n < sizeof buf - 40; i++) {
        if (!(t->flag[i].roles & role)) continue;
        size_t len = strlen(t->flag[i].name) + 1;
        if (col + len > 88) {
            n += (size_t)snprintf(buf + n, sizeof buf - n, "\n ");
            col = 1;
        }
        n += (size_t)snprintf(buf + n, sizeof buf - n, " %s", t->flag[i].name);
        col += len;
    }
    return buf;
}

static void sweep_usage(void) {
    printf(
        "usage:\n"
        "  makemore sweep    --seeds LIST [--grid KEY=V1,V2 ...] [--jobs N] [--csv FILE]\n"
        "                    [--out-dir DIR] [--resume] [train flags]\n\n"
        "Runs one `makemore train --seed S --threads 1` per seed and per configuration of the\n"
        "grid, up to --jobs at once, each pinned to one core. Each run's result is bit-identical\n"
        "to that train command alone. One line per finished run; at the end a table (train,\n"
        "val, test, seconds, status per run) and the mean +- sd per configuration.\n\n"
        "  --seeds LIST       seeds: 1-8, 1,3,5 or 1-4,10 (at most %d runs in all)\n"
        "  --grid KEY=V,...   train flags to vary (without --), e.g. --grid lr=0.1,0.05\n"
        "                     hidden=100,200: every combination is a configuration\n"
        "  --jobs N           runs at once (default: the cores this process may use)\n"
        "  --csv FILE         also write the table as CSV\n"
        "  --out-dir DIR      each run's checkpoint NAME.safetensors and output NAME.log\n"
        "                     (default makemore-sweep; created if missing)\n"
        "  --resume           continue an interrupted sweep from the checkpoints in --out-dir\n"
        "                     (same flags); without it, existing checkpoints there are an error\n"
        "train flags:%s (see makemore train --help);\n"
        "  the sweep sets --seed, --threads 1, --samples 0, --out itself.\n"
        "Ctrl-C (SIGINT) or SIGTERM stops every run; each writes its resumable checkpoint and\n"
        "the sweep prints the command that resumes. Exit status: 0 every run ok, 1 a run\n"
        "failed, 2 usage, 130/143 interrupted.\n", MAX_RUNS, sweep_flag_list(FL_SWEEP));
}

// ---- parsing -------------------------------------------------------------------------

static int parse_seed(const char *list, const char *s, size_t len, uint64_t *out, Err *err) {
    char buf[32];
    if (len == 0 || len >= sizeof buf || !(s[0] >= '0' && s[0] <= '9'))
        return err_set(err, "--seeds %s: bad seed '%.*s' (allowed: LIST of A or A-B with "
                       "unsigned decimal A, B, comma separated)", list, (int)len, s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || *end)
        return err_set(err, "--seeds %s: bad seed '%s' (allowed: unsigned 64-bit integers)", list, buf);
    *out = v;
    return 0;
}

static int parse_seeds(SweepOpts *o, const char *list, Err *err) {
    o->nseeds = 0;
    const char *s = list;
    while (1) {
        size_t len = strcspn(s, ",");
        const char *dash = len ? memchr(s + 1, '-', len - 1) : NULL;  // a leading '-' is no range
        uint64_t a, b;
        if (parse_seed(list, s, dash ? (size_t)(dash - s) : len, &a, err)) return -1;
        b = a;
        if (dash && parse_seed(list, dash + 1, len - (size_t)(dash + 1 - s), &b, err)) return -1;
        if (b < a) return err_set(err, "--seeds %s: range %llu-%llu is empty", list,
                                  (unsigned long long)a, (unsigned long long)b);
        for (uint64_t x = a;; x++) {
            if (o->nseeds >= MAX_RUNS) return err_set(err, "--seeds %s: more than %d seeds", list, MAX_RUNS);
            o->seeds[o->nseeds++] = x;
            if (x == b) break;
        }
        if (!s[len]) break;
        s += len + 1;
    }
    return 0;
}

// One --grid token, KEY=V1,V2,...: the key a train flag a sweep may vary, every value one
// that flag accepts (checked now, not in a run hours later). The token is copied: argv
// stays as given (it is printed back in the resume command).
static int parse_grid_item(SweepOpts *o, const char *arg, Err *err) {
    const FlagTable *t = train_flags();
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return err_set(err, "--grid: '%s' is not KEY=V1,V2 (e.g. lr=0.1,0.05)", arg);
    char key[64];
    snprintf(key, sizeof key, "--%.*s", (int)(eq - arg) < 60 ? (int)(eq - arg) : 60, arg);
    int row = (size_t)(eq - arg) < 60 ? flags_find(t, key) : -1;
    if (row < 0 || !(t->flag[row].roles & FL_GRID))
        return err_set(err, "--grid: '%.*s' is not a train flag a sweep can vary (allowed:%s; "
                       "seeds come from --seeds)", (int)(eq - arg), arg, sweep_flag_list(FL_GRID));
    for (int k = 0; k < o->ngrid; k++)
        if (o->grid[k].row == row) return err_set(err, "--grid: %s given twice", key + 2);
    if (o->ngrid == MAX_GRID) return err_set(err, "--grid: more than %d keys", MAX_GRID);
    GridKey *g = &o->grid[o->ngrid++];
    g->row = row;
    g->key = t->flag[row].name + 2;
    g->n = 0;
    g->buf = strdup(eq + 1);
    if (!g->buf) return err_set(err, "out of memory");
    for (char *v = g->buf;;) {
        size_t len = strcspn(v, ",");
        if (len == 0) return err_set(err, "--grid %s: an empty value (allowed: V1,V2,... none empty)", arg);
        if (g->n == 64) return err_set(err, "--grid %s: more than 64 values", arg);
        int last = !v[len];
        v[len] = '\0';
        TrainOpts scratch = {0};
        if (flags_set(&t->flag[row], &scratch, v, err)) return -1;
        g->vals[g->n++] = v;
        if (last) break;
        v += len + 1;
    }
    return 0;
}

// A train flag passed on to every run: checked with train's own parser now.
static int parse_pass(SweepOpts *o, Cli *c, Err *err) {
    const FlagTable *t = train_flags();
    for (int i = 0; i < t->n; i++) {
        const Flag *f = &t->flag[i];
        if (!(f->roles & FL_SWEEP)) continue;
        int r = cli_is(c, f->name, f->type != FT_SWITCH, err);
        if (r < 0) return -1;
        if (!r) continue;
        TrainOpts scratch = {0};
        if (flags_set(f, &scratch, c->value, err)) return -1;
        int k = 0;
        while (k < o->npass && strcmp(o->pass[k], f->name)) k += 2;  // given twice: the last
        if (k == o->npass) {
            if (o->npass == 2 * MAX_PASS) return err_set(err, "too many train flags");
            o->npass += 2;
        }
        o->pass[k] = f->name;
        o->pass[k + 1] = c->value;
        if (!strcmp(f->name, "--data")) o->data = c->value;
        if (!strcmp(f->name, "--steps")) {
            o->steps = scratch.steps;
            o->steps_given = 1;
        }
        return 0;
    }
    for (int i = 0; OWN_FLAGS[i]; i++) {
        int r = cli_is(c, OWN_FLAGS[i], strcmp(OWN_FLAGS[i], "--resume") != 0, err);
        if (r < 0) return -1;
        if (r) return err_set(err, "%s is set by the sweep for each run (seeds: --seeds; "
                              "checkpoints: --out-dir)", OWN_FLAGS[i]);
    }
    return cli_unknown(c, err);
}

// FLAGS_OK, FLAGS_HELP or FLAGS_ERROR (err).
static int sweep_parse(SweepOpts *o, int argc, char **argv, Err *err) {
    memset(o, 0, sizeof *o);
    o->out_dir = "makemore-sweep";
    o->data = "data/names.txt";
    o->argc = argc;
    o->argv = argv;
    cpu_set_t set;
    o->jobs = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    Cli c;
    cli_init(&c, CMD, argc, argv);
    while (cli_next(&c)) {
        int r;
        long jobs;
        if ((r = cli_is(&c, "--help", 0, err)) || (r = cli_is(&c, "-h", 0, err))) {
            if (r < 0) return FLAGS_ERROR;
            return FLAGS_HELP;
        } else if ((r = cli_is(&c, "--seeds", 1, err))) {
            if (r < 0 || parse_seeds(o, c.value, err)) return FLAGS_ERROR;
        } else if ((r = cli_is(&c, "--grid", 0, err))) {
            if (r < 0) return FLAGS_ERROR;
            int n0 = o->ngrid;
            while (c.i + 1 < argc && strncmp(argv[c.i + 1], "--", 2) != 0)
                if (parse_grid_item(o, argv[++c.i], err)) return FLAGS_ERROR;
            if (o->ngrid == n0) return err_set(err, "--grid needs KEY=V1,V2 items (e.g. --grid lr=0.1,0.05)");
        } else if ((r = cli_is(&c, "--jobs", 1, err))) {
            if (r < 0 || cli_long("--jobs", c.value, 1, MAX_JOBS, &jobs, err)) return FLAGS_ERROR;
            o->jobs = (int)jobs;
        } else if ((r = cli_is(&c, "--csv", 1, err))) {
            if (r < 0) return FLAGS_ERROR;
            o->csv = c.value;
        } else if ((r = cli_is(&c, "--out-dir", 1, err))) {
            if (r < 0) return FLAGS_ERROR;
            o->out_dir = c.value;
        } else if ((r = cli_is(&c, "--resume", 0, err))) {
            if (r < 0) return FLAGS_ERROR;
            o->resume = 1;
        } else if (parse_pass(o, &c, err)) {
            return FLAGS_ERROR;
        }
    }
    if (!o->nseeds) return err_set(err, "--seeds LIST is required (e.g. --seeds 1-8)");
    for (int k = 0; k < o->ngrid; k++)
        for (int i = 0; i < o->npass; i += 2)
            if (!strcmp(o->pass[i] + 2, o->grid[k].key))
                return err_set(err, "%s is both a flag and a --grid key (give it once)", o->pass[i]);
    long runs = o->nseeds;
    for (int k = 0; k < o->ngrid; k++) runs *= o->grid[k].n;
    if (runs > MAX_RUNS) return err_set(err, "%ld runs (seeds x grid), more than %d", runs, MAX_RUNS);
    return FLAGS_OK;
}

// ---- runs ----------------------------------------------------------------------------

static int num_configs(const SweepOpts *o);

int sweep_parse_args(int argc, char **argv, long *runs, Err *err) {
    SweepOpts *o = malloc(sizeof *o);
    if (!o) return err_set(err, "out of memory");
    int rc = sweep_parse(o, argc, argv, err);
    *runs = rc == FLAGS_OK ? (long)o->nseeds * num_configs(o) : 0;
    for (int k = 0; k < o->ngrid; k++) free(o->grid[k].buf);
    free(o);
    return rc;
}

static int num_configs(const SweepOpts *o) {
    int n = 1;
    for (int k = 0; k < o->ngrid; k++) n *= o->grid[k].n;
    return n;
}

// Value index of grid key k in configuration cfg (the first key varies slowest).
static int grid_index(const SweepOpts *o, int cfg, int k) {
    for (int j = o->ngrid - 1; j > k; j--) cfg /= o->grid[j].n;
    return cfg % o->grid[k].n;
}

// "lr=0.1 hidden=100", or "default" without a grid. Caller frees.
static char *config_label(const SweepOpts *o, int cfg) {
    char buf[1024] = "";
    size_t n = 0;
    for (int k = 0; k < o->ngrid; k++)
        n += (size_t)snprintf(buf + n, n < sizeof buf ? sizeof buf - n : 0, "%s%s=%s", k ? " " : "",
                              o->grid[k].key, o->grid[k].vals[grid_index(o, cfg, k)]);
    return strdup(o->ngrid ? buf : "default");
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *s;
    if (vasprintf(&s, fmt, ap) < 0) cmd_fail(CMD, EXIT_RUNTIME, "out of memory");
    va_end(ap);
    return s;
}

// Names: the label with spaces as '_' and any character outside [A-Za-z0-9._=+-] as '_',
// then "_seed=S"; two runs with one name are a usage error.
static void runs_build(Run *runs, const SweepOpts *o) {
    int r = 0;
    for (int cfg = 0; cfg < num_configs(o); cfg++) {
        char *label = config_label(o, cfg);
        for (char *p = label; *p; p++)
            if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.=+-", *p)) *p = '_';
        for (int s = 0; s < o->nseeds; s++, r++) {
            Run *u = &runs[r];
            memset(u, 0, sizeof *u);
            u->cfg = cfg;
            u->seed = o->seeds[s];
            u->name = o->ngrid ? xasprintf("%s_seed=%llu", label, (unsigned long long)u->seed)
                               : xasprintf("seed=%llu", (unsigned long long)u->seed);
            u->ckpt = xasprintf("%s/%s.safetensors", o->out_dir, u->name);
            u->log = xasprintf("%s/%s.log", o->out_dir, u->name);
            if (strlen(u->name) + strlen(".safetensors.lock") > 255)
                cmd_fail(CMD, EXIT_USAGE, "run %s: its file names would be longer than 255 bytes "
                         "(shorten the --grid values)", u->name);
            for (int q = 0; q < r; q++)
                if (!strcmp(runs[q].name, u->name))
                    cmd_fail(CMD, EXIT_USAGE, "two runs would share the name %s (seeds or grid "
                             "values repeat); give each once", u->name);
        }
        free(label);
    }
}

// The command line of run u (argv[0] "makemore"): train with the sweep's flags, its grid
// values and its own (seed, one thread, no samples, its checkpoint), or, for a finished
// run, eval of its checkpoint on its own words file. av holds 2 * MAX_PASS + 2 * MAX_GRID
// + 16 entries; grid flag names are written into names[MAX_GRID][64]; seed[32].
static int run_argv(const Run *u, const SweepOpts *o, const char **av, char names[][64],
                    char *seed) {
    int n = 0;
    const char *data = o->data;
    snprintf(seed, 32, "%llu", (unsigned long long)u->seed);
    av[n++] = "makemore";
    for (int k = 0; k < o->ngrid; k++)
        if (!strcmp(o->grid[k].key, "data")) data = o->grid[k].vals[grid_index(o, u->cfg, k)];
    if (u->mode == 2) {  // finished: evaluate the checkpoint
        const char *ev[] = {"eval", "--model", u->ckpt, "--data", data};
        for (size_t i = 0; i < sizeof ev / sizeof ev[0]; i++) av[n++] = ev[i];
    } else {
        av[n++] = "train";
        for (int i = 0; i < o->npass; i++) av[n++] = o->pass[i];
        for (int k = 0; k < o->ngrid; k++) {
            snprintf(names[k], 64, "--%s", o->grid[k].key);
            av[n++] = names[k];
            av[n++] = o->grid[k].vals[grid_index(o, u->cfg, k)];
        }
        const char *own[] = {"--seed", seed, "--threads", "1", "--samples", "0",
                             u->mode ? "--resume" : "--out", u->ckpt};
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) av[n++] = own[i];
    }
    av[n] = NULL;
    return n;
}

// A run's checkpoint must be the one its flags would train: its flags parsed as train
// parses them, held against the file as train --resume holds them (every model and
// schedule flag; --steps may extend a run). 0, or -1 with err.
static int run_matches(const Run *u, const SweepOpts *o, const NetConfig *c, const TrainState *ts,
                       Err *err) {
    const char *av[2 * MAX_PASS + 2 * MAX_GRID + 16];
    char names[MAX_GRID][64], seed[32];
    Run as_train = *u;
    as_train.mode = 1;
    int n = run_argv(&as_train, o, av, names, seed);
    TrainOpts t;
    if (train_opts_parse(&t, n - 1, (char **)av + 1, err) != FLAGS_OK) return -1;
    if (train_opts_check_resume(&t, c, ts, err) == 0) return 0;
    if (strstr(err->msg, "the run is complete")) return 0;  // finished, no --steps: evaluated
    return -1;
}

// Decides, for --resume, what each run does with the checkpoint it finds: every one is
// held against the run's flags first (a mismatch is a usage error naming the run); without
// --resume an existing checkpoint is an error (a sweep never overwrites a run's work).
static void runs_plan(Run *runs, int nruns, const SweepOpts *o) {
    for (int r = 0; r < nruns; r++) {
        Run *u = &runs[r];
        struct stat st;
        if (lstat(u->ckpt, &st) != 0) continue;
        if (!o->resume)
            cmd_fail(CMD, EXIT_USAGE, "%s exists (an earlier sweep's run); give --resume to "
                     "continue that sweep, or another --out-dir", u->ckpt);
        Vocab v;
        TrainState ts;
        int has_ts = 0;
        Err err;
        Net n;
        if (net_load(&n, &v, &ts, &has_ts, u->ckpt, 1, &err) != 0) {
            u->status = RUN_FAILED;
            snprintf(u->msg, sizeof u->msg, "cannot resume: %s", err.msg);
            continue;
        }
        int ok = !has_ts || run_matches(u, o, &n.cfg, &ts, &err) == 0;
        net_free(&n);
        if (!has_ts)
            cmd_fail(CMD, EXIT_RUNTIME, "%s holds no training state (not a sweep's checkpoint)", u->ckpt);
        if (!ok)
            cmd_fail(CMD, EXIT_USAGE, "--resume: run %s: %s", u->name, err.msg);
        int done = ts.calibrated && ts.step == ts.steps && (!o->steps_given || o->steps == ts.steps);
        u->mode = done ? 2 : 1;
    }
}

// The child: own process group, SIGTERM when the sweep dies, pinned to `cpu`, output to
// the run's log (claimed by the sweep: new, or a run log of its own; never through a
// symbolic link), then exec. Never returns.
static void child_exec(const Run *u, const SweepOpts *o, int cpu, const sigset_t *oldmask) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    int fd = open(u->log, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | (u->mode ? O_APPEND : O_TRUNC), 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) _exit(126);
    fcntl(fd, F_SETFL, u->mode ? O_APPEND : 0);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    // A sweep started by mpirun must not make its runs think they are ranks.
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMIX_RANK");
    unsetenv("PMI_SIZE");
    const char *av[2 * MAX_PASS + 2 * MAX_GRID + 16];
    char names[MAX_GRID][64], seed[32];
    run_argv(u, o, av, names, seed);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    execv("/proc/self/exe", (char *const *)av);
    fprintf(stderr, "makemore " CMD ": cannot run /proc/self/exe: %s\n", strerror(errno));
    _exit(127);
}

// ---- signals -------------------------------------------------------------------------

static volatile sig_atomic_t stop_signal = 0;
// The errno of a failed write to stdout (a full disk, a closed pipe: SIGPIPE is ignored):
// the sweep then stops its runs as SIGTERM would, and says so (sweep_main).
static int stdout_failed;
static void stdout_check(void) {
    if (!stdout_failed) stdout_failed = cmd_stdout_errno();
}
static volatile pid_t live[MAX_JOBS];
static int nlive_slots = 0;

// Each signal is forwarded once to every running run (the first makes each one
// checkpoint and stop; a second one, as for train, stops them at once).
static void on_signal(int sig) {
    if (!stop_signal) stop_signal = sig;
    for (int k = 0; k < nlive_slots; k++)
        if (live[k] > 0) kill(live[k], sig);
}

static void set_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;  // no SA_RESTART: waitpid returns EINTR
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

// ---- results -------------------------------------------------------------------------

// Reads the run's losses (its last "train X", "val X", "test X" lines) and, for a
// failure, its last "makemore ...:" line.
static int read_log(Run *u) {
    FILE *f = fopen(u->log, "r");
    if (!f) return 0;
    char line[1024];
    int got = 0;
    static const char *const keys[3] = {"train ", "val ", "test "};
    u->loss[1] = NAN;  // makemore.py's types have no val split
    while (fgets(line, sizeof line, f)) {
        for (int i = 0; i < 3; i++) {
            size_t n = strlen(keys[i]);
            char *end;
            if (strncmp(line, keys[i], n) == 0) {
                double x = strtod(line + n, &end);
                if (end != line + n && *end == '\n') { u->loss[i] = x; got |= 1 << i; }
            }
        }
        if (strncmp(line, "makemore ", 9) == 0 && strstr(line, ": ")) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(u->msg, sizeof u->msg, "%s", line);
        }
    }
    fclose(f);
    return got == 7 || got == 5;
}

// s as one printable line (escape_line, common.h) in buf: paths hold what --out-dir holds.
static const char *esc(char *buf, size_t len, const char *s) {
    escape_line(buf, len, s);
    return buf;
}

static void run_finished(Run *u, int wstatus, int done, int total) {
    char e1[4096], e2[4096];
    u->secs = now_seconds() - u->t0;
    int ok = read_log(u);
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    u->code = code;
    if (WIFEXITED(wstatus) && code == 0 && ok) {
        u->status = RUN_OK;
        if (isnan(u->loss[1]))
            printf("[%d/%d] %s: train %.4f test %.4f (%.1f s)\n", done, total, u->name, u->loss[0],
                   u->loss[2], u->secs);
        else
            printf("[%d/%d] %s: train %.4f val %.4f test %.4f (%.1f s)\n", done, total, u->name,
                   u->loss[0], u->loss[1], u->loss[2], u->secs);
    } else if (code == 128 + SIGINT || code == 128 + SIGTERM || code == 128 + SIGHUP) {
        u->status = RUN_STOPPED;
        struct stat st;
        if (WIFEXITED(wstatus) && stat(u->ckpt, &st) == 0)
            printf("[%d/%d] %s: stopped (checkpoint written), checkpoint %s\n", done, total,
                   u->name, esc(e1, sizeof e1, u->ckpt));
        else
            printf("[%d/%d] %s: stopped (%s), no checkpoint\n", done, total, u->name,
                   WIFEXITED(wstatus) ? "before training started" : "killed");
    } else {
        u->status = RUN_FAILED;
        if (!u->msg[0] || code == 0) snprintf(u->msg, sizeof u->msg, "no losses in %s", u->log);
        printf("[%d/%d] %s: FAILED (%s %d): %s (log %s)\n", done, total, u->name,
               WIFEXITED(wstatus) ? "exit" : "signal", WIFEXITED(wstatus) ? code : WTERMSIG(wstatus),
               esc(e1, sizeof e1, u->msg), esc(e2, sizeof e2, u->log));
    }
    stdout_check();
}

// ---- the scheduler -------------------------------------------------------------------

typedef struct {
    pid_t pid;
    int run;
} Slot;

// Starts run r in slot k (signals are blocked by the caller, so a signal cannot fall
// between the fork and the record of the child's pid).
static void start_run(Run *runs, int r, Slot *slot, int k, const SweepOpts *o, const int *cpus,
                      int ncpus, const sigset_t *oldmask) {
    Run *u = &runs[r];
    fflush(stdout);
    fflush(stderr);
    u->t0 = now_seconds();
    pid_t pid = fork();
    if (pid < 0) {
        u->status = RUN_FAILED;
        snprintf(u->msg, sizeof u->msg, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) child_exec(u, o, cpus[k % ncpus], oldmask);
    u->status = RUN_RUNNING;
    u->pid = pid;
    slot[k].pid = pid;
    slot[k].run = r;
    live[k] = pid;
}

// Runs every pending run, up to o->jobs at once. Returns 1 when a run failed with a
// usage error (exit 2: the flags must change; the others were stopped).
static int schedule(Run *runs, int nruns, const SweepOpts *o, int *usage_run) {
    cpu_set_t set;
    int cpus[CPU_SETSIZE], ncpus = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) cpus[ncpus++] = c;
    if (!ncpus) cpus[ncpus++] = 0;
    int jobs = o->jobs < nruns ? o->jobs : nruns;
    Slot slot[MAX_JOBS];
    for (int k = 0; k < jobs; k++) slot[k].pid = 0, live[k] = 0;
    nlive_slots = jobs;
    sigset_t block, oldmask;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    int next = 0, running = 0, done = 0, total = 0, usage = 0, stdout_stopped = 0;
    for (int r = 0; r < nruns; r++) total += runs[r].status == RUN_PENDING;
    while (1) {
        sigprocmask(SIG_BLOCK, &block, &oldmask);
        for (int k = 0; k < jobs && !stop_signal && !usage && !stdout_failed; k++) {
            while (next < nruns && runs[next].status != RUN_PENDING) next++;
            if (slot[k].pid || next >= nruns) continue;
            start_run(runs, next++, slot, k, o, cpus, ncpus, &oldmask);
            running += runs[next - 1].status == RUN_RUNNING;
        }
        sigprocmask(SIG_SETMASK, &oldmask, NULL);
        if (!running) break;
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0) {
            if (errno == EINTR) continue;
            cmd_fail(CMD, EXIT_RUNTIME, "waitpid: %s", strerror(errno));
        }
        for (int k = 0; k < jobs; k++) {
            if (slot[k].pid != pid) continue;
            live[k] = 0;
            slot[k].pid = 0;
            running--;
            Run *u = &runs[slot[k].run];
            run_finished(u, ws, ++done, total);
            if (u->status == RUN_FAILED && u->code == EXIT_USAGE && !usage) {
                usage = 1;
                *usage_run = slot[k].run;
                for (int q = 0; q < jobs; q++)  // the flags are wrong: stop the others
                    if (slot[q].pid) kill(slot[q].pid, SIGTERM);
            }
        }
        if (stdout_failed && !stdout_stopped) {  // no one reads the results: stop as SIGTERM
            stdout_stopped = 1;
            for (int q = 0; q < jobs; q++)
                if (slot[q].pid) kill(slot[q].pid, SIGTERM);
        }
    }
    nlive_slots = 0;
    return usage;
}

// ---- the report ----------------------------------------------------------------------

// A configuration's label as printed: escaped (grid values may be paths).
static char *printed_label(const SweepOpts *o, int cfg) {
    char *l = config_label(o, cfg), buf[4096];
    if (!l) cmd_fail(CMD, EXIT_RUNTIME, "out of memory");
    escape_line(buf, sizeof buf, l);
    free(l);
    return xasprintf("%s", buf);
}

static void print_table(const Run *runs, int nruns, const SweepOpts *o) {
    int w = 7;
    char e[4096];
    for (int c = 0; c < num_configs(o); c++) {
        char *l = printed_label(o, c);
        if ((int)strlen(l) > w) w = (int)strlen(l);
        free(l);
    }
    printf("\n%-*s %20s %8s %8s %8s %9s  %s\n", w, "config", "seed", "train", "val", "test",
           "time (s)", "status");
    for (int r = 0; r < nruns; r++) {
        const Run *u = &runs[r];
        char *l = printed_label(o, u->cfg);
        printf("%-*s %20llu ", w, l, (unsigned long long)u->seed);
        if (u->status == RUN_OK && isnan(u->loss[1])) printf("%8.4f %8s %8.4f ", u->loss[0], "-", u->loss[2]);
        else if (u->status == RUN_OK) printf("%8.4f %8.4f %8.4f ", u->loss[0], u->loss[1], u->loss[2]);
        else printf("%8s %8s %8s ", "-", "-", "-");
        if (u->secs > 0) printf("%9.1f", u->secs);
        else printf("%9s", "-");
        printf("  %s%s%s\n", STATUS[u->status], u->status == RUN_FAILED ? ": " : "",
               u->status == RUN_FAILED ? esc(e, sizeof e, u->msg) : "");
        free(l);
    }
    printf("\n%-*s %5s %17s %17s %17s\n", w, "config", "runs", "train", "val", "test");
    for (int c = 0; c < num_configs(o); c++) {
        double s[3] = {0}, q[3] = {0};
        int n = 0;
        for (int r = 0; r < nruns; r++)
            if (runs[r].cfg == c && runs[r].status == RUN_OK) {
                n++;
                for (int i = 0; i < 3; i++) s[i] += runs[r].loss[i];
            }
        for (int r = 0; r < nruns; r++)
            if (runs[r].cfg == c && runs[r].status == RUN_OK)
                for (int i = 0; i < 3; i++) q[i] += pow(runs[r].loss[i] - s[i] / n, 2);
        char *l = printed_label(o, c);
        printf("%-*s %5d", w, l, n);
        for (int i = 0; i < 3; i++) {
            if (isnan(s[i])) printf("  %15s", "-");  // no val split
            else if (n >= 2) printf("  %.4f +- %.4f", s[i] / n, sqrt(q[i] / (n - 1)));
            else if (n == 1) printf("  %.4f +-    -  ", s[i]);
            else printf("  %15s", "-");
        }
        printf("\n");
        free(l);
    }
    printf("(mean +- sample standard deviation over the runs that finished)\n");
    stdout_check();
}

// One CSV field as RFC 4180 writes it: as is, or in double quotes (doubled inside) when it
// holds a comma, a quote, CR or LF.
static void csv_field(FILE *f, const char *x) {
    if (!strpbrk(x, ",\"\r\n")) {
        fputs(x, f);
        return;
    }
    fputc('"', f);
    for (; *x; x++) {
        if (*x == '"') fputc('"', f);
        fputc(*x, f);
    }
    fputc('"', f);
}

// The table as CSV (RFC 4180, CRLF line ends), written to a temporary file beside FILE
// and renamed over it (FILE was claimed before the runs started).
static int write_csv(const Run *runs, int nruns, const SweepOpts *o) {
    char *tmp = xasprintf("%s.tmpXXXXXX", o->csv);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        say(CMD, "--csv %s: cannot write: %s", o->csv, strerror(errno));
        if (fd >= 0) close(fd), unlink(tmp);
        free(tmp);
        return -1;
    }
    fputs("config,seed,status,train,val,test,seconds,checkpoint\r\n", f);
    for (int r = 0; r < nruns; r++) {
        const Run *u = &runs[r];
        char *l = config_label(o, u->cfg);
        csv_field(f, l);
        fprintf(f, ",%llu,%s,", (unsigned long long)u->seed, STATUS[u->status]);
        if (u->status == RUN_OK && isnan(u->loss[1])) fprintf(f, "%.4f,,%.4f,", u->loss[0], u->loss[2]);
        else if (u->status == RUN_OK) fprintf(f, "%.4f,%.4f,%.4f,", u->loss[0], u->loss[1], u->loss[2]);
        else fprintf(f, ",,,");
        fprintf(f, "%.3f,", u->secs);
        csv_field(f, u->ckpt);
        fputs("\r\n", f);
        free(l);
    }
    int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, o->csv) != 0) {
        say(CMD, "--csv %s: cannot write: %s", o->csv, strerror(bad ? e : errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

// The command that resumes this sweep: its arguments, each shell-quoted (one line
// whatever they hold), plus --resume.
static void print_resume(const SweepOpts *o) {
    char *cmd = outfile_shell_command("sweep", o->argc, o->argv, "--resume");
    if (!cmd) return;
    char why[160];
    if (stop_signal)
        snprintf(why, sizeof why, "%s", stop_signal == SIGINT ? "interrupted" : stop_signal == SIGHUP
                                        ? "hung up" : "terminated");
    else
        snprintf(why, sizeof why, "writing to stdout failed (%s), so every run was stopped",
                 strerror(stdout_failed));
    say(CMD, "%s; each stopped run wrote its checkpoint to %s; resume with: makemore %s", why,
        o->out_dir, cmd);
    free(cmd);
}

// Before any run: the out-dir exists (made when missing) and is this sweep's alone (its
// lock, DIR/makemore-sweep.lock); the CSV is claimed (outfile.h) and is no input; every
// run's log is new or a run log of an earlier sweep (never another file, nor a link).
static void claim_outputs(const SweepOpts *o, const Run *runs, int nruns) {
    struct stat st;
    Err err;
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
        cmd_fail(CMD, EXIT_RUNTIME, "--out-dir %s: cannot create: %s (its parent must exist)",
                 o->out_dir, strerror(errno));
    if (lstat(o->out_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        cmd_fail(CMD, EXIT_RUNTIME, "--out-dir %s: not a directory", o->out_dir);
    if (access(o->out_dir, W_OK | X_OK) != 0)
        cmd_fail(CMD, EXIT_RUNTIME, "--out-dir %s: not writable: %s", o->out_dir, strerror(errno));
    char *dir_lock = xasprintf("%s/makemore-sweep", o->out_dir);
    int locked = outfile_lock("--out-dir", dir_lock, &err) == 0;
    free(dir_lock);
    if (!locked)
        cmd_fail(CMD, EXIT_RUNTIME, "%s (another sweep writes in --out-dir %s)", err.msg, o->out_dir);
    if (o->csv) {  // fail now, not after hours of training
        for (int k = 0; k < o->ngrid; k++)
            if (!strcmp(o->grid[k].key, "data"))
                for (int i = 0; i < o->grid[k].n; i++)
                    if (outfile_same(o->csv, o->grid[k].vals[i]))
                        cmd_fail(CMD, EXIT_USAGE, "--csv %s is a words file of --grid data", o->csv);
        if (outfile_same(o->csv, o->data))
            cmd_fail(CMD, EXIT_USAGE, "--csv %s is the words file --data %s", o->csv, o->data);
        if (outfile_claim("--csv", o->csv, OUT_CSV, &err)) cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
    }
    for (int r = 0; r < nruns; r++)
        if (outfile_check("--out-dir", runs[r].log, OUT_RUN_LOG, &err))
            cmd_fail(CMD, EXIT_RUNTIME, "run %s: %s", runs[r].name, err.msg);
}

int sweep_main(int argc, char **argv) {
    static SweepOpts o;
    Err err;
    signal(SIGPIPE, SIG_IGN);
    int parsed = sweep_parse(&o, argc, argv, &err);
    if (parsed == FLAGS_HELP) {
        sweep_usage();
        return cmd_stdout_done(CMD, 0);
    }
    if (parsed != FLAGS_OK) cmd_fail(CMD, EXIT_USAGE, "%s", err.msg);
    set_signals();  // before any lock: a signal now stops the sweep with nothing left behind
    int nruns = o.nseeds * num_configs(&o);
    Run *runs = calloc((size_t)nruns, sizeof *runs);
    if (!runs) cmd_fail(CMD, EXIT_RUNTIME, "out of memory");
    runs_build(runs, &o);
    claim_outputs(&o, runs, nruns);
    runs_plan(runs, nruns, &o);
    int jobs = o.jobs < nruns ? o.jobs : nruns;
    char dir[1024];
    escape_line(dir, sizeof dir, o.out_dir);
    printf("makemore sweep: %d run%s (%d configuration%s x %d seed%s), %d at once, one thread "
           "each; checkpoints and logs in %s\n", nruns, nruns == 1 ? "" : "s", num_configs(&o),
           num_configs(&o) == 1 ? "" : "s", o.nseeds, o.nseeds == 1 ? "" : "s", jobs, dir);
    stdout_check();
    double t0 = now_seconds();
    int usage_run = -1;
    int usage = schedule(runs, nruns, &o, &usage_run);
    double elapsed = now_seconds() - t0;
    if (usage) cmd_fail(CMD, EXIT_USAGE, "run %s: %s", runs[usage_run].name, runs[usage_run].msg);
    if (!stdout_failed) print_table(runs, nruns, &o);
    int ok = 0, failed = 0, stopped = 0, started = 0;
    for (int r = 0; r < nruns; r++) {
        ok += runs[r].status == RUN_OK;
        failed += runs[r].status == RUN_FAILED;
        stopped += runs[r].status == RUN_STOPPED || runs[r].status == RUN_PENDING;
        started += runs[r].status != RUN_PENDING;
    }
    if (!stdout_failed)
        printf("time: %.1f s for %d run%s (%.2f runs/minute)\n", elapsed, ok, ok == 1 ? "" : "s",
               elapsed > 0 ? 60.0 * ok / elapsed : 0.0);
    int csv_bad = o.csv && write_csv(runs, nruns, &o) != 0;
    char csv[1024];
    if (o.csv && !csv_bad && !stdout_failed) printf("wrote %s\n", esc(csv, sizeof csv, o.csv));
    stdout_check();
    int status = 0;
    // A failed stdout: 141 for a closed pipe (as train's), else 1.
    int stdout_status = stdout_failed == EPIPE ? 128 + SIGPIPE : EXIT_RUNTIME;
    if (stop_signal || (stdout_failed && stopped && started)) {
        print_resume(&o);
        status = stop_signal ? 128 + stop_signal : stdout_status;
    } else if (stdout_failed) {
        say(CMD, "writing to stdout failed (%s); %s", strerror(stdout_failed),
            !started ? "no run was started" : "the table is incomplete (every run finished; their "
            "logs and checkpoints are in --out-dir)");
        status = stdout_status;
    } else if (failed || stopped) {
        say(CMD, "%d of %d runs %s (see the table and their logs in %s)%s", failed + stopped, nruns,
            failed && stopped ? "failed or were stopped" : failed ? "failed" : "were stopped",
            o.out_dir, stopped ? "; continue them with --resume" : "");
        status = EXIT_RUNTIME;
    } else if (csv_bad) {
        status = EXIT_RUNTIME;  // its line is said
    }
    for (int r = 0; r < nruns; r++) {
        free(runs[r].name);
        free(runs[r].ckpt);
        free(runs[r].log);
    }
    for (int k = 0; k < o.ngrid; k++) free(o.grid[k].buf);
    free(runs);
    return status;
}
