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
#include "net_io.h"

#define CMD "sweep"
#define MAX_RUNS 10000
#define MAX_GRID 8
#define MAX_PASS 32
#define MAX_JOBS 1024

// Train flags a sweep passes on to every run (and that --grid may vary), and the ones it
// sets itself.
static const char *const TRAIN_FLAGS[] = {"--data", "--arch", "--layers", "--bn-stats", "--block",
                                          "--embd", "--hidden", "--batch", "--bn-var", "--steps",
                                          "--lr", "--lr2", "--decay-step", "--split-seed",
                                          "--print-every", "--save-every", NULL};
static const char *const OWN_FLAGS[] = {"--seed", "--threads", "--out", "--log", "--resume",
                                        "--samples", NULL};

typedef struct {
    const char *key;      // "lr" (the train flag --lr)
    char *vals[64];
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

static void sweep_usage(void) {
    printf(
        "usage: makemore sweep --seeds LIST [--grid KEY=V1,V2 ...] [--jobs N] [--csv FILE]\n"
        "                      [--out-dir DIR] [--resume] [train flags]\n"
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
        "train flags: --data --arch --layers --bn-stats --block --embd --hidden --batch --bn-var\n"
        "  --steps --lr --lr2 --decay-step --split-seed --print-every --save-every (see\n"
        "  makemore train --help; --arch wavenet: makemore train --arch wavenet --help);\n"
        "  the sweep sets --seed, --threads 1, --samples 0, --out itself.\n"
        "Ctrl-C (SIGINT) or SIGTERM stops every run; each writes its resumable checkpoint and\n"
        "the sweep prints the command that resumes. Exit status: 0 every run ok, 1 a run\n"
        "failed, 2 usage, 130/143 interrupted.\n", MAX_RUNS);
}

// ---- parsing -------------------------------------------------------------------------

static uint64_t parse_seed(const Cli *c, const char *s, size_t len) {
    char buf[32];
    if (len == 0 || len >= sizeof buf || s[0] == '-' || s[0] == '+')
        cli_fail(c, "--seeds %s: bad seed '%.*s' (allowed: LIST of A, A-B, comma separated)",
                 c->value, (int)len, s);
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    unsigned long long v = strtoull(buf, &end, 10);
    if (errno || *end)
        cli_fail(c, "--seeds %s: bad seed '%s' (allowed: unsigned 64-bit integers)", c->value, buf);
    return v;
}

static void parse_seeds(SweepOpts *o, const Cli *c) {
    o->nseeds = 0;
    const char *s = c->value;
    while (1) {
        size_t len = strcspn(s, ",");
        const char *dash = memchr(s, '-', len);
        uint64_t a = parse_seed(c, s, dash ? (size_t)(dash - s) : len), b = a;
        if (dash) b = parse_seed(c, dash + 1, len - (size_t)(dash + 1 - s));
        if (b < a) cli_fail(c, "--seeds %s: range %llu-%llu is empty", c->value,
                            (unsigned long long)a, (unsigned long long)b);
        for (uint64_t x = a;; x++) {
            if (o->nseeds >= MAX_RUNS) cli_fail(c, "--seeds %s: more than %d seeds", c->value, MAX_RUNS);
            o->seeds[o->nseeds++] = x;
            if (x == b) break;
        }
        if (!s[len]) break;
        s += len + 1;
    }
}

static int in_list(const char *const *list, const char *name) {
    for (int i = 0; list[i]; i++)
        if (!strcmp(list[i], name)) return 1;
    return 0;
}

// One --grid token, KEY=V1,V2,...
static void parse_grid_item(SweepOpts *o, const Cli *c, char *tok) {
    char *eq = strchr(tok, '=');
    char flag[64];
    if (!eq || eq == tok || (size_t)(eq - tok) + 3 > sizeof flag)
        cli_fail(c, "--grid: '%s' is not KEY=V1,V2 (e.g. lr=0.1,0.05)", tok);
    snprintf(flag, sizeof flag, "--%.*s", (int)(eq - tok), tok);
    if (!in_list(TRAIN_FLAGS, flag))
        cli_fail(c, "--grid: '%.*s' is not a train flag a sweep can vary (allowed: data, arch, "
                 "layers, bn-stats, block, embd, hidden, batch, bn-var, steps, lr, lr2, "
                 "decay-step, split-seed; seeds come from --seeds)", (int)(eq - tok), tok);
    for (int k = 0; k < o->ngrid; k++)
        if (!strcmp(o->grid[k].key, flag + 2)) cli_fail(c, "--grid: %s given twice", flag + 2);
    if (o->ngrid == MAX_GRID) cli_fail(c, "--grid: more than %d keys", MAX_GRID);
    GridKey *g = &o->grid[o->ngrid++];
    *eq = '\0';
    g->key = tok;
    g->n = 0;
    for (char *v = eq + 1;; ) {
        size_t len = strcspn(v, ",");
        if (len == 0) cli_fail(c, "--grid %s: an empty value (allowed: V1,V2,... none empty)", tok);
        if (g->n == 64) cli_fail(c, "--grid %s: more than 64 values", tok);
        g->vals[g->n++] = v;
        if (!v[len]) break;
        v[len] = '\0';
        v += len + 1;
    }
}

static void parse_pass(SweepOpts *o, Cli *c) {
    for (int i = 0; TRAIN_FLAGS[i]; i++)
        if (cli_is(c, TRAIN_FLAGS[i], 1)) {
            for (int k = 0; k < o->npass; k += 2)
                if (!strcmp(o->pass[k], TRAIN_FLAGS[i])) cli_fail(c, "%s given twice", TRAIN_FLAGS[i]);
            if (o->npass == 2 * MAX_PASS) cli_fail(c, "too many train flags");
            o->pass[o->npass++] = TRAIN_FLAGS[i];
            o->pass[o->npass++] = c->value;
            if (!strcmp(TRAIN_FLAGS[i], "--data")) o->data = c->value;
            if (!strcmp(TRAIN_FLAGS[i], "--steps")) {
                o->steps = cli_long(c, 1, 1000000000L);
                o->steps_given = 1;
            }
            return;
        }
    for (int i = 0; OWN_FLAGS[i]; i++)
        if (cli_is(c, OWN_FLAGS[i], strcmp(OWN_FLAGS[i], "--resume") != 0))
            cli_fail(c, "%s is set by the sweep for each run (seeds: --seeds; checkpoints: "
                     "--out-dir)", OWN_FLAGS[i]);
    cli_unknown(c);
}

static void sweep_parse(SweepOpts *o, int argc, char **argv) {
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
        if (cli_is(&c, "--help", 0) || cli_is(&c, "-h", 0)) { sweep_usage(); exit(0); }
        else if (cli_is(&c, "--seeds", 1)) parse_seeds(o, &c);
        else if (cli_is(&c, "--grid", 0)) {
            int n0 = o->ngrid;
            while (c.i + 1 < argc && strncmp(argv[c.i + 1], "--", 2) != 0)
                parse_grid_item(o, &c, argv[++c.i]);
            if (o->ngrid == n0) cli_fail(&c, "--grid needs KEY=V1,V2 items (e.g. --grid lr=0.1,0.05)");
        }
        else if (cli_is(&c, "--jobs", 1)) o->jobs = (int)cli_long(&c, 1, MAX_JOBS);
        else if (cli_is(&c, "--csv", 1)) o->csv = c.value;
        else if (cli_is(&c, "--out-dir", 1)) o->out_dir = c.value;
        else if (cli_is(&c, "--resume", 0)) o->resume = 1;
        else parse_pass(o, &c);
    }
    if (!o->nseeds) cli_fail(&c, "--seeds LIST is required (e.g. --seeds 1-8)");
    for (int k = 0; k < o->ngrid; k++)
        for (int i = 0; i < o->npass; i += 2)
            if (!strcmp(o->pass[i] + 2, o->grid[k].key))
                cli_fail(&c, "%s is both a flag and a --grid key (give it once)", o->pass[i]);
    long runs = o->nseeds;
    for (int k = 0; k < o->ngrid; k++) runs *= o->grid[k].n;
    if (runs > MAX_RUNS) cli_fail(&c, "%ld runs (seeds x grid), more than %d", runs, MAX_RUNS);
}

// ---- runs ----------------------------------------------------------------------------

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
    if (vasprintf(&s, fmt, ap) < 0) die(EXIT_RUNTIME, "out of memory");
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
            for (int q = 0; q < r; q++)
                if (!strcmp(runs[q].name, u->name))
                    cli_die(CMD, EXIT_USAGE, "two runs would share the name %s (seeds or grid "
                            "values repeat); give each once", u->name);
        }
        free(label);
    }
}

// Decides, for --resume, what each run does with the checkpoint it finds; without
// --resume an existing checkpoint is an error (a sweep never overwrites a run's work).
static void runs_plan(Run *runs, int nruns, const SweepOpts *o) {
    for (int r = 0; r < nruns; r++) {
        Run *u = &runs[r];
        if (access(u->ckpt, F_OK) != 0) continue;
        if (!o->resume)
            cli_die(CMD, EXIT_USAGE, "%s exists (an earlier sweep's run); give --resume to "
                    "continue that sweep, or another --out-dir", u->ckpt);
        Vocab v;
        TrainState ts;
        int has_ts = 0, failed;
        Err err;
        Net n;
        if (!(failed = net_load(&n, &v, &ts, &has_ts, u->ckpt, 1, &err) != 0)) net_free(&n);
        if (failed) {
            u->status = RUN_FAILED;
            snprintf(u->msg, sizeof u->msg, "cannot resume: %s", err.msg);
            continue;
        }
        int done = has_ts && ts.calibrated && ts.step == ts.steps &&
                   (!o->steps_given || o->steps == ts.steps);
        u->mode = done ? 2 : 1;
    }
}

// The child: own process group, SIGTERM when the sweep dies, pinned to `cpu`, output to
// the run's log, then exec. Never returns.
static void child_exec(const Run *u, const SweepOpts *o, int cpu, const sigset_t *oldmask) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
    int fd = open(u->log, O_WRONLY | O_CREAT | (u->mode ? O_APPEND : O_TRUNC), 0644);
    if (fd < 0) _exit(126);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
    // A sweep started by mpirun must not make its runs think they are ranks.
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMIX_RANK");
    unsetenv("PMI_SIZE");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)u->seed);
    const char *av[2 * MAX_PASS + 2 * MAX_GRID + 16];
    int n = 0;
    av[n++] = "makemore";
    if (u->mode == 2) {  // finished: evaluate the checkpoint
        av[n++] = "eval";
        av[n++] = "--model";
        av[n++] = u->ckpt;
        av[n++] = "--data";
        av[n++] = o->data;
    } else {
        av[n++] = "train";
        for (int i = 0; i < o->npass; i++) av[n++] = o->pass[i];
        char *gflag[MAX_GRID];
        for (int k = 0; k < o->ngrid; k++) {
            gflag[k] = xasprintf("--%s", o->grid[k].key);
            av[n++] = gflag[k];
            av[n++] = o->grid[k].vals[grid_index(o, u->cfg, k)];
        }
        const char *own[] = {"--seed", seed, "--threads", "1", "--samples", "0",
                             u->mode ? "--resume" : "--out", u->ckpt};
        for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) av[n++] = own[i];
    }
    av[n] = NULL;
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    execv("/proc/self/exe", (char *const *)av);
    fprintf(stderr, "makemore " CMD ": cannot run /proc/self/exe: %s\n", strerror(errno));
    _exit(127);
}

// ---- signals -------------------------------------------------------------------------

static volatile sig_atomic_t stop_signal = 0;
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
    return got == 7;
}

static void run_finished(Run *u, int wstatus, int done, int total) {
    u->secs = now_seconds() - u->t0;
    int ok = read_log(u);
    int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
    u->code = code;
    if (WIFEXITED(wstatus) && code == 0 && ok) {
        u->status = RUN_OK;
        printf("[%d/%d] %s: train %.4f val %.4f test %.4f (%.1f s)\n", done, total, u->name,
               u->loss[0], u->loss[1], u->loss[2], u->secs);
    } else if (code == 128 + SIGINT || code == 128 + SIGTERM) {
        u->status = RUN_STOPPED;
        printf("[%d/%d] %s: stopped (%s), checkpoint %s\n", done, total, u->name,
               WIFEXITED(wstatus) ? "checkpoint written" : "killed", u->ckpt);
    } else {
        u->status = RUN_FAILED;
        if (!u->msg[0] || code == 0) snprintf(u->msg, sizeof u->msg, "no losses in %s", u->log);
        printf("[%d/%d] %s: FAILED (%s %d): %s (log %s)\n", done, total, u->name,
               WIFEXITED(wstatus) ? "exit" : "signal", WIFEXITED(wstatus) ? code : WTERMSIG(wstatus),
               u->msg, u->log);
    }
    fflush(stdout);
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
    int next = 0, running = 0, done = 0, total = 0, usage = 0;
    for (int r = 0; r < nruns; r++) total += runs[r].status == RUN_PENDING;
    while (1) {
        sigprocmask(SIG_BLOCK, &block, &oldmask);
        for (int k = 0; k < jobs && !stop_signal && !usage; k++) {
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
            die(EXIT_RUNTIME, "sweep: waitpid: %s", strerror(errno));
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
    }
    nlive_slots = 0;
    return usage;
}

// ---- the report ----------------------------------------------------------------------

static void print_table(const Run *runs, int nruns, const SweepOpts *o) {
    int w = 7;
    for (int c = 0; c < num_configs(o); c++) {
        char *l = config_label(o, c);
        if ((int)strlen(l) > w) w = (int)strlen(l);
        free(l);
    }
    printf("\n%-*s %20s %8s %8s %8s %9s  %s\n", w, "config", "seed", "train", "val", "test",
           "time (s)", "status");
    for (int r = 0; r < nruns; r++) {
        const Run *u = &runs[r];
        char *l = config_label(o, u->cfg);
        printf("%-*s %20llu ", w, l, (unsigned long long)u->seed);
        if (u->status == RUN_OK) printf("%8.4f %8.4f %8.4f ", u->loss[0], u->loss[1], u->loss[2]);
        else printf("%8s %8s %8s ", "-", "-", "-");
        if (u->secs > 0) printf("%9.1f", u->secs);
        else printf("%9s", "-");
        printf("  %s%s%s\n", STATUS[u->status], u->status == RUN_FAILED ? ": " : "",
               u->status == RUN_FAILED ? u->msg : "");
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
        char *l = config_label(o, c);
        printf("%-*s %5d", w, l, n);
        for (int i = 0; i < 3; i++) {
            if (n >= 2) printf("  %.4f +- %.4f", s[i] / n, sqrt(q[i] / (n - 1)));
            else if (n == 1) printf("  %.4f +-    -  ", s[i]);
            else printf("  %15s", "-");
        }
        printf("\n");
        free(l);
    }
    printf("(mean +- sample standard deviation over the runs that finished)\n");
    fflush(stdout);
}

// The table as CSV, written to a temporary file beside FILE and renamed over it.
static int write_csv(const Run *runs, int nruns, const SweepOpts *o) {
    char *tmp = xasprintf("%s.tmpXXXXXX", o->csv);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        fprintf(stderr, "makemore " CMD ": --csv %s: cannot write: %s\n", o->csv, strerror(errno));
        free(tmp);
        return -1;
    }
    fprintf(f, "config,seed,status,train,val,test,seconds,checkpoint\n");
    for (int r = 0; r < nruns; r++) {
        const Run *u = &runs[r];
        char *l = config_label(o, u->cfg);
        fprintf(f, "%s,%llu,%s,", l, (unsigned long long)u->seed, STATUS[u->status]);
        if (u->status == RUN_OK) fprintf(f, "%.4f,%.4f,%.4f,", u->loss[0], u->loss[1], u->loss[2]);
        else fprintf(f, ",,,");
        fprintf(f, "%.3f,%s\n", u->secs, u->ckpt);
        free(l);
    }
    int bad = fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, o->csv) != 0) {
        fprintf(stderr, "makemore " CMD ": --csv %s: cannot write: %s\n", o->csv, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

// The command that resumes this sweep (its arguments, shell-quoted, plus --resume).
static void print_resume(const SweepOpts *o) {
    fprintf(stderr, "makemore " CMD ": %s; each stopped run wrote its checkpoint to %s; "
            "resume with: makemore sweep", stop_signal == SIGINT ? "interrupted" : "terminated",
            o->out_dir);
    for (int i = 1; i < o->argc; i++) {
        const char *a = o->argv[i];
        if (a[0] && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                              "._/+,:=@%-") == strlen(a)) {
            fprintf(stderr, " %s", a);
            continue;
        }
        fputs(" '", stderr);
        for (; *a; a++) fputs(*a == '\'' ? "'\\''" : (char[2]){*a, 0}, stderr);
        fputc('\'', stderr);
    }
    fprintf(stderr, "%s\n", o->resume ? "" : " --resume");
}

static void check_dirs(const SweepOpts *o) {
    struct stat st;
    if (mkdir(o->out_dir, 0777) != 0 && errno != EEXIST)
        cli_die(CMD, EXIT_RUNTIME, "--out-dir %s: cannot create: %s (its parent must exist)",
                o->out_dir, strerror(errno));
    if (stat(o->out_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        cli_die(CMD, EXIT_RUNTIME, "--out-dir %s: not a directory", o->out_dir);
    if (access(o->out_dir, W_OK | X_OK) != 0)
        cli_die(CMD, EXIT_RUNTIME, "--out-dir %s: not writable: %s", o->out_dir, strerror(errno));
    if (o->csv) {  // fail now, not after hours of training
        char *tmp = xasprintf("%s.tmpXXXXXX", o->csv);
        int fd = mkstemp(tmp);
        if (fd < 0)
            cli_die(CMD, EXIT_RUNTIME, "--csv %s: cannot create it: %s", o->csv, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
    }
}

int sweep_main(int argc, char **argv) {
    static SweepOpts o;
    sweep_parse(&o, argc, argv);
    check_dirs(&o);
    int nruns = o.nseeds * num_configs(&o);
    Run *runs = calloc((size_t)nruns, sizeof *runs);
    if (!runs) die(EXIT_RUNTIME, "out of memory");
    runs_build(runs, &o);
    runs_plan(runs, nruns, &o);
    int jobs = o.jobs < nruns ? o.jobs : nruns;
    printf("makemore sweep: %d run%s (%d configuration%s x %d seed%s), %d at once, one thread "
           "each; checkpoints and logs in %s\n", nruns, nruns == 1 ? "" : "s", num_configs(&o),
           num_configs(&o) == 1 ? "" : "s", o.nseeds, o.nseeds == 1 ? "" : "s", jobs, o.out_dir);
    fflush(stdout);
    set_signals();
    double t0 = now_seconds();
    int usage_run = -1;
    int usage = schedule(runs, nruns, &o, &usage_run);
    double elapsed = now_seconds() - t0;
    if (usage) {
        fprintf(stderr, "makemore " CMD ": run %s: %s\n", runs[usage_run].name, runs[usage_run].msg);
        exit(EXIT_USAGE);
    }
    print_table(runs, nruns, &o);
    int ok = 0, failed = 0;
    for (int r = 0; r < nruns; r++) {
        ok += runs[r].status == RUN_OK;
        failed += runs[r].status == RUN_FAILED;
    }
    printf("time: %.1f s for %d run%s (%.2f runs/minute)\n", elapsed, ok, ok == 1 ? "" : "s",
           elapsed > 0 ? 60.0 * ok / elapsed : 0.0);
    int csv_bad = o.csv && write_csv(runs, nruns, &o) != 0;
    if (o.csv && !csv_bad) printf("wrote %s\n", o.csv);
    fflush(stdout);
    int status = 0;
    if (stop_signal) {
        print_resume(&o);
        status = 128 + stop_signal;
    } else if (failed || csv_bad) {
        fprintf(stderr, "makemore " CMD ": %d of %d runs failed (see the table and their logs in "
                "%s)\n", failed, nruns, o.out_dir);
        status = EXIT_RUNTIME;
    }
    for (int r = 0; r < nruns; r++) {
        free(runs[r].name);
        free(runs[r].ckpt);
        free(runs[r].log);
    }
    free(runs);
    return status;
}
