// plot.c: `makemore plot DIR`: the pictures of a run's diagnostics (train --diag DIR;
// docs/DIAGNOSTICS.md), drawn by gnuplot into DIR as PNGs:
//   loss.png         the training loss, each --diag-every chunk's mean, on a log scale,
//                    with the held-out losses of --eval-every as points
//   activations.png  each layer's nonlinearity: its histogram at one step, one curve per
//                    layer, mean, std and saturation in the legend
//   gradients.png    the gradient of those layers' outputs: the same
//   update_data.png  log10(std(update) / std(data)) of every weight over the steps, with
//                    the lecture's guide line at 1e-3
//   grad_data.png    std(grad) / std(data) of every weight over the steps
// The CSV files are read (diagcsv.h) and never written; the pictures follow the rule of
// every written file (outfile.h): each new or a PNG already, written to a temporary file
// beside it and renamed, the directory locked for the plot (DIR/makemore-plot.lock: a
// training run writing DIR holds another lock, so a run can be plotted as it goes).
#include "train.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "diagcsv.h"
#include "flags.h"
#include "outfile.h"

#define CMD "plot"
#define PLOT_MAX 256  // curves in one picture
#define fail(status, ...) cmd_fail(CMD, status, __VA_ARGS__)

typedef struct {
    long step;  // the histograms' step (-1: the last one with statistics)
} PlotOpts;

#define O(field) offsetof(PlotOpts, field)
static const Flag FLAGS[] = {
    {"--step", NULL, FT_LONG, O(step), 0, 1e15, NULL, "N",
     "the step whose histograms are drawn (default: the last one in DIR)", 0},
};
#undef O
static const PlotOpts DEFAULTS = {.step = -1};
static const FlagDefaults DEFAULTS_V[] = {{NULL, &DEFAULTS, NULL}};
static const FlagTable TABLE = {"plot", FLAGS, sizeof FLAGS / sizeof FLAGS[0], DEFAULTS_V, 1};

static void usage(void) {
    printf("usage:\n");
    flags_synopsis(stdout, &TABLE, "makemore plot", 17, "DIR", NULL);
    printf("\nDraws the diagnostics a run wrote with makemore train --diag DIR (docs/DIAGNOSTICS.md)\n"
           "as PNGs in DIR with gnuplot (apt-get install gnuplot-nox): loss.png (training loss,\n"
           "chunk means, log scale, held-out points), activations.png and gradients.png (one\n"
           "histogram per layer, saturation in the legend), update_data.png (log10 update:data\n"
           "over the steps, the 1e-3 line) and grad_data.png. The CSV files are only read.\n\n");
    flags_help(stdout, &TABLE);
}

enum { P_LOSS, P_ACTS, P_GRADS, P_UPDATE, P_GRAD_DATA, N_PICS };
static const char *const PICS[N_PICS] = {"loss.png", "activations.png", "gradients.png",
                                         "update_data.png", "grad_data.png"};

typedef struct {
    const char *dir;
    DiagCsv csv[DIAG_N_FILES];
    long step;  // the histograms' step
    char *target[N_PICS], *tmp[N_PICS];
    int drawn[N_PICS];  // has data: drawn
} Plot;

// ---- gnuplot -------------------------------------------------------------------------

// The first executable gnuplot on PATH, or NULL.
static char *find_gnuplot(void) {
    const char *path = getenv("PATH");
    if (!path || !*path) return NULL;
    for (const char *p = path; p; p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL) {
        int len = (int)strcspn(p, ":");
        char *exe;
        if (asprintf(&exe, "%.*s/gnuplot", len ? len : 1, len ? p : ".") < 0) return NULL;
        struct stat st;
        if (stat(exe, &st) == 0 && S_ISREG(st.st_mode) && access(exe, X_OK) == 0) return exe;
        free(exe);
    }
    return NULL;
}

// s in a gnuplot string of quote q ('\'': doubled; '"': backslash-escaped), as text.
static void put_quoted(FILE *f, const char *s, char q) {
    fputc(q, f);
    for (; *s; s++) {
        if (*s == q && q == '\'') fputc('\'', f);
        else if ((*s == q || *s == '\\') && q == '"') fputc('\\', f);
        fputc(*s, f);
    }
    fputc(q, f);
}

// ---- the data ------------------------------------------------------------------------



// The last step of file k's rows (col 0), or -1.
static long last_step(const DiagCsv *c) { return c->nrows ? (long)diagcsv_num(c, c->nrows - 1, 0) : -1; }

static int has_step(const DiagCsv *c, long step) {
    for (int r = 0; r < c->nrows; r++)
        if ((long)diagcsv_num(c, r, 0) == step) return 1;
    return 0;
}

// The layers of acts.csv at `step` (with a nonlinearity); none: every layer of grads.csv.
static int hist_layers(const Plot *p, long step, int *layer, int max, int *from_acts) {
    int n = 0;
    const DiagCsv *a = &p->csv[DIAG_ACTS], *g = &p->csv[DIAG_GRADS];
    for (int r = 0; r < a->nrows && n < max; r++)
        if ((long)diagcsv_num(a, r, 0) == step) layer[n++] = (int)diagcsv_num(a, r, 1);
    *from_acts = n > 0;
    for (int r = 0; r < g->nrows && n < max && !*from_acts; r++)
        if ((long)diagcsv_num(g, r, 0) == step) layer[n++] = (int)diagcsv_num(g, r, 1);
    return n;
}

// The row of `c` at (step, layer), or -1.
static int row_of(const DiagCsv *c, long step, int layer) {
    for (int r = 0; r < c->nrows; r++)
        if ((long)diagcsv_num(c, r, 0) == step && (int)diagcsv_num(c, r, 1) == layer) return r;
    return -1;
}

// Inline data: the histogram of `of` ("act" or "grad") at (step, layer), bin centres.
static void hist_data(FILE *f, const Plot *p, long step, int layer, const char *of) {
    const DiagCsv *h = &p->csv[DIAG_HIST];
    for (int r = 0; r < h->nrows; r++) {
        if ((long)diagcsv_num(h, r, 0) != step || (int)diagcsv_num(h, r, 1) != layer ||
            strcmp(diagcsv_str(h, r, 2), of))
            continue;
        double x = 0.5 * (diagcsv_num(h, r, 3) + diagcsv_num(h, r, 4)), y = diagcsv_num(h, r, 5);
        if (isfinite(x) && isfinite(y)) fprintf(f, "%.9g %.9g\n", x, y);
    }
    fputs("e\n", f);
}

// ---- the pictures --------------------------------------------------------------------

static void picture_head(FILE *f, const Plot *p, int k, const char *title, const char *xl,
                         const char *yl) {
    fputs("set output ", f);
    put_quoted(f, p->tmp[k], '\'');
    fputs("\nreset\nset grid\nset key below\nset title ", f);
    put_quoted(f, title, '"');
    fputs("\nset xlabel ", f);
    put_quoted(f, xl, '"');
    fputs("\nset ylabel ", f);
    put_quoted(f, yl, '"');
    fputc('\n', f);
}

// A log axis fitted to the losses (not widened to whole decades), 7 tics over it.
static void loss_axis(FILE *f, const Plot *p) {
    double lo = INFINITY, hi = 0;
    for (int k = DIAG_LOSS; k <= DIAG_VAL; k++) {
        const DiagCsv *c = &p->csv[k];
        for (int r = 0; r < c->nrows; r++) {
            double y = diagcsv_num(c, r, c->ncols - 1);
            if (isfinite(y) && y > 0) lo = fmin(lo, y), hi = fmax(hi, y);
        }
    }
    fputs("set logscale y\n", f);
    if (!(hi > lo)) return;
    double a = lo / pow(hi / lo, 0.05), b = hi * pow(hi / lo, 0.05);  // 5% margins
    fprintf(f, "set yrange [%.9g:%.9g]\nset ytics (", a, b);
    for (int k = 0; k < 7; k++) fprintf(f, "%s%.3g", k ? ", " : "", a * pow(b / a, k / 6.0));
    fputs(")\n", f);
}

static void draw_loss(FILE *f, const Plot *p) {
    const DiagCsv *l = &p->csv[DIAG_LOSS], *v = &p->csv[DIAG_VAL];
    long every = l->nrows ? (long)diagcsv_num(l, 0, 1) : 0;
    char title[160];
    snprintf(title, sizeof title, "loss: training (mean of each %ld steps) and held-out", every);
    picture_head(f, p, P_LOSS, title, "step", "loss (log scale)");
    loss_axis(f, p);
    fprintf(f, "plot '-' using 1:2 with linespoints pt 7 ps 0.5 title "
               "\"training loss, chunk mean\"%s\n",
            v->nrows ? ", '-' using 1:2 with points pt 9 ps 1.2 title \"held-out loss (--eval-every)\"" : "");
    for (int r = 0; r < l->nrows; r++) {  // each chunk at its middle step
        double x = diagcsv_num(l, r, 0) - 0.5 * (diagcsv_num(l, r, 1) - 1), y = diagcsv_num(l, r, 2);
        if (isfinite(y) && y > 0) fprintf(f, "%.9g %.9g\n", x, y);
    }
    fputs("e\n", f);
    for (int r = 0; v->nrows && r <= v->nrows; r++) {
        if (r == v->nrows) fputs("e\n", f);
        else if (isfinite(diagcsv_num(v, r, 1)) && diagcsv_num(v, r, 1) > 0)
            fprintf(f, "%.9g %.9g\n", diagcsv_num(v, r, 0), diagcsv_num(v, r, 1));
    }
}

// One curve per layer: of = "act" (acts.csv's saturation in the legend) or "grad".
static void draw_hist(FILE *f, const Plot *p, int k, const char *of) {
    int layer[PLOT_MAX], from_acts, act = !strcmp(of, "act");
    int n = hist_layers(p, p->step, layer, PLOT_MAX, &from_acts);
    char title[200];
    snprintf(title, sizeof title, "%s distribution at step %ld", act ? "activation" :
             from_acts ? "gradient (of each nonlinearity layer's output)" : "gradient (of each layer's output)",
             p->step);
    picture_head(f, p, k, title, act ? "value" : "gradient", "density");
    fputs("plot ", f);
    for (int i = 0; i < n; i++) {
        const DiagCsv *s = act ? &p->csv[DIAG_ACTS] : &p->csv[DIAG_GRADS];
        int r = row_of(s, p->step, layer[i]);
        char t[200];
        if (act)
            snprintf(t, sizeof t, "layer %d (%s): mean %+.2f, std %.2f, saturated %.2f%%", layer[i],
                     diagcsv_str(s, r, 3), diagcsv_num(s, r, 4), diagcsv_num(s, r, 5), diagcsv_num(s, r, 6));
        else
            snprintf(t, sizeof t, "layer %d (%s): mean %+.2e, std %.2e", layer[i], diagcsv_str(s, r, 2),
                     diagcsv_num(s, r, 3), diagcsv_num(s, r, 4));
        fprintf(f, "%s'-' using 1:2 with lines lw 1.5 title ", i ? ", " : "");
        put_quoted(f, t, '"');
    }
    fputc('\n', f);
    for (int i = 0; i < n; i++) hist_data(f, p, p->step, layer[i], of);
}

// A matrix: shape "RxC" with R, C > 1 (a batchnorm's [1, H] gain is no weight).
static int is_matrix(const char *shape) {
    int r, c;
    char end;
    return sscanf(shape, "%dx%d%c", &r, &c, &end) == 2 && r > 1 && c > 1;
}

// The weights (matrices: the lecture's p.ndim == 2) of params.csv, in their first step's
// order.
static int weights(const Plot *p, const char **name, int max) {
    const DiagCsv *c = &p->csv[DIAG_PARAMS];
    int n = 0;
    for (int r = 0; r < c->nrows && n < max; r++) {
        if ((long)diagcsv_num(c, r, 0) != (long)diagcsv_num(c, 0, 0)) break;
        if (is_matrix(diagcsv_str(c, r, 2))) name[n++] = diagcsv_str(c, r, 1);
    }
    return n;
}

// Column col of every weight over the steps: update:data (7, with the 1e-3 line) or
// grad:data (6, on a log scale).
static void draw_ratio(FILE *f, const Plot *p, int k, int col) {
    const DiagCsv *c = &p->csv[DIAG_PARAMS];
    const char *name[PLOT_MAX];
    int n = weights(p, name, PLOT_MAX), upd = col == 7;
    picture_head(f, p, k, upd ? "update:data ratio of each weight: log10(std(update) / std(data))"
                              : "grad:data ratio of each weight: std(grad) / std(data)",
                 "step", upd ? "log10 ratio" : "ratio (log scale)");
    fputs(upd ? "set offsets 0, 0, 0.25, 0.25\n" : "set logscale y\n", f);
    fputs("plot ", f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s'-' using 1:2 with lines lw 1.5 title ", i ? ", " : "");
        put_quoted(f, name[i], '"');
    }
    if (upd) fprintf(f, "%s-3 with lines dt 2 lw 2 lc rgb 'black' title \"1e-3 (the lecture's guide)\"", n ? ", " : "");
    fputc('\n', f);
    for (int i = 0; i < n; i++) {
        for (int r = 0; r < c->nrows; r++) {
            double y = diagcsv_num(c, r, col);
            if (!strcmp(diagcsv_str(c, r, 1), name[i]) && isfinite(y) && (upd || y > 0))
                fprintf(f, "%.9g %.9g\n", diagcsv_num(c, r, 0), y);
        }
        fputs("e\n", f);
    }
}

// ---- running gnuplot -------------------------------------------------------------------

// The script: the terminal, then every picture with data.
static void script(FILE *f, const Plot *p, const char *terminal) {
    fprintf(f, "set terminal %s noenhanced size 1100,560 font ',10'\nset datafile missing 'nan'\n",
            terminal);
    if (p->drawn[P_LOSS]) draw_loss(f, p);
    if (p->drawn[P_ACTS]) draw_hist(f, p, P_ACTS, "act");
    if (p->drawn[P_GRADS]) draw_hist(f, p, P_GRADS, "grad");
    if (p->drawn[P_UPDATE]) draw_ratio(f, p, P_UPDATE, 7);
    if (p->drawn[P_GRAD_DATA]) draw_ratio(f, p, P_GRAD_DATA, 6);
}

// Runs gnuplot (exe) on the script, its messages to `errs`. Its exit status (-1: it could
// not run).
static int run_gnuplot(const char *exe, const Plot *p, const char *terminal, FILE *errs) {
    int in[2];
    if (pipe(in) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    if (pid == 0) {  // gnuplot: the script on stdin, its messages to errs, signals as usual
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(in[0], STDIN_FILENO);
        dup2(fileno(errs), STDOUT_FILENO);
        dup2(fileno(errs), STDERR_FILENO);
        close(in[0]);
        close(in[1]);
        execl(exe, "gnuplot", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    FILE *w = fdopen(in[1], "w");
    if (w) {
        if (terminal) script(w, p, terminal);
        else fputs("set terminal pngcairo\n", w);  // the probe: does this gnuplot have it?
        fclose(w);  // a gnuplot that died early: EPIPE (SIGPIPE is ignored), seen in its status
    } else {
        close(in[1]);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// gnuplot's first message line (for one escaped line), or "".
static void first_message(FILE *errs, char *buf, size_t len) {
    buf[0] = '\0';
    rewind(errs);
    char line[512];
    while (fgets(line, sizeof line, errs)) {
        line[strcspn(line, "\n")] = '\0';
        if (line[strspn(line, " \t^")]) {
            snprintf(buf, len, "%s", line + strspn(line, " \t"));
            return;
        }
    }
}

// ---- the command -----------------------------------------------------------------------

static void read_files(Plot *p) {
    for (int k = 0; k < DIAG_N_FILES; k++) {
        char *path;
        if (asprintf(&path, "%s/%s", p->dir, DIAG_FILES[k]) < 0) fail(EXIT_RUNTIME, "out of memory");
        Err err;
        if (diagcsv_read(&p->csv[k], path, DIAG_HEADERS[k], DIAG_TYPES[k], &err)) fail(EXIT_RUNTIME, "%s", err.msg);
        free(path);
    }
}

// Which pictures have data, and the histograms' step.
static void choose(Plot *p, long step_given) {
    const DiagCsv *c = p->csv;
    p->step = step_given >= 0 ? step_given : last_step(&c[DIAG_GRADS]);
    if (step_given >= 0 && !has_step(&c[DIAG_GRADS], step_given))
        fail(EXIT_USAGE, "--step %ld: %s has no statistics of that step (its last: %ld; they are "
             "every --diag-every steps)", step_given, p->dir, last_step(&c[DIAG_GRADS]));
    p->drawn[P_LOSS] = c[DIAG_LOSS].nrows > 0;
    p->drawn[P_ACTS] = p->step >= 0 && has_step(&c[DIAG_ACTS], p->step);
    p->drawn[P_GRADS] = p->step >= 0;
    p->drawn[P_UPDATE] = p->drawn[P_GRAD_DATA] = c[DIAG_PARAMS].nrows > 0;
}

// Each picture's path claimed (new, or a PNG: outfile_check) and its temporary file made.
static void claim_pictures(Plot *p) {
    Err err;
    char *lock;
    if (asprintf(&lock, "%s/makemore-plot", p->dir) < 0) fail(EXIT_RUNTIME, "out of memory");
    if (outfile_lock(NULL, lock, &err)) fail(EXIT_RUNTIME, "%s (another plot of %s)", err.msg, p->dir);
    free(lock);
    for (int k = 0; k < N_PICS; k++) {
        if (!p->drawn[k]) continue;
        if (asprintf(&p->target[k], "%s/%s", p->dir, PICS[k]) < 0 ||
            asprintf(&p->tmp[k], "%s.tmpXXXXXX", p->target[k]) < 0)
            fail(EXIT_RUNTIME, "out of memory");
        if (outfile_check(NULL, p->target[k], OUT_PNG, &err)) fail(EXIT_RUNTIME, "%s", err.msg);
        int fd = mkstemp(p->tmp[k]);
        if (fd < 0) fail(EXIT_RUNTIME, "%s: cannot create a temporary file beside it: %s",
                         p->target[k], strerror(errno));
        fchmod(fd, 0644);
        close(fd);
    }
}

static void remove_temps(Plot *p) {
    for (int k = 0; k < N_PICS; k++)
        if (p->tmp[k]) unlink(p->tmp[k]);
}

int plot_main(int argc, char **argv) {
    static Plot p;
    PlotOpts o = DEFAULTS;
    unsigned char given[FLAGS_MAX];
    Err err;
    if (argc >= 2 && argv[1][0] != '-') {  // DIR first, then the flags
        p.dir = argv[1];
        argv[1] = argv[0];
        argc--, argv++;
    }
    int r = flags_parse(&TABLE, &o, given, argc, argv, &err);
    if (r == FLAGS_HELP) {
        usage();
        return cmd_stdout_done(CMD, 0);
    }
    if (r != FLAGS_OK) fail(EXIT_USAGE, "%s", err.msg);
    if (!p.dir) fail(EXIT_USAGE, "no directory given (makemore plot DIR: a directory of makemore train --diag DIR)");
    struct stat st;
    if (stat(p.dir, &st) != 0 || !S_ISDIR(st.st_mode))
        fail(EXIT_RUNTIME, "%s: not a directory (%s); give the DIR of makemore train --diag DIR",
             p.dir, errno ? strerror(errno) : "a file");
    for (const char *c = p.dir; *c; c++)
        if ((unsigned char)*c < 0x20) fail(EXIT_USAGE, "%s: a control character in the path (gnuplot could not write there)", p.dir);
    read_files(&p);
    if (!p.csv[DIAG_LOSS].nrows && !p.csv[DIAG_GRADS].nrows)
        fail(EXIT_RUNTIME, "%s: no diagnostics yet (no rows in loss.csv nor grads.csv); write them with "
             "makemore train --diag %s", p.dir, p.dir);
    char *exe = find_gnuplot();
    if (!exe)
        fail(EXIT_RUNTIME, "gnuplot is not installed (not on PATH); install it with apt-get install "
             "gnuplot-nox and run makemore plot again (the CSV files in %s are untouched)", p.dir);
    choose(&p, o.step);
    claim_pictures(&p);
    signal(SIGPIPE, SIG_IGN);
    sigset_t stops, old;
    sigemptyset(&stops);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGHUP);
    sigprocmask(SIG_BLOCK, &stops, &old);  // held until the temporary files are settled
    FILE *errs = tmpfile();
    int rc = errs ? run_gnuplot(exe, &p, NULL, errs) : -1;
    const char *terminal = rc == 0 ? "pngcairo" : "png";  // gnuplot-nox has pngcairo
    if (errs) {
        rewind(errs);
        if (ftruncate(fileno(errs), 0) != 0) rc = -1;
    }
    rc = errs ? run_gnuplot(exe, &p, terminal, errs) : -1;
    for (int k = 0; rc == 0 && k < N_PICS; k++)
        if (p.drawn[k] && (stat(p.tmp[k], &st) != 0 || st.st_size == 0)) rc = -1;  // drew nothing
    for (int k = 0; rc == 0 && k < N_PICS; k++)
        if (p.drawn[k] && rename(p.tmp[k], p.target[k]) != 0) rc = -2;
    char msg[512] = "";
    if (errs && rc != 0) first_message(errs, msg, sizeof msg);
    remove_temps(&p);
    sigset_t pending;
    sigpending(&pending);
    for (int s = 1; s < 32; s++)
        if (sigismember(&stops, s) && sigismember(&pending, s))
            fail(128 + s, "stopped by signal %d; no picture was replaced", s);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        fail(EXIT_RUNTIME, "gnuplot (%s) failed%s%s; no picture was replaced", exe, msg[0] ? ": " : "", msg);
    for (int k = 0; k < N_PICS; k++)
        if (p.drawn[k]) printf("wrote %s\n", p.target[k]);
        else printf("skipped %s: no rows for it in %s yet\n", PICS[k], p.dir);
    for (int k = 0; k < DIAG_N_FILES; k++) diagcsv_free(&p.csv[k]);
    free(exe);
    return cmd_stdout_done(CMD, 0);
}
