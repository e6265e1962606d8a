// train_gemm.c: the training run's GEMM plan: from --plan FILE, the resumed
// checkpoint, or --gemm (planned now); printed in the run's header.
#include "train_gemm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "blas_core.h"
#include "cli.h"
#include "crc32c.h"
#include "dist.h"
#include "net_plan.h"
#include "wisdom.h"
#include "common.h"
#include "outfile.h"

#define CMD "train"

_Static_assert(GEMM_PLAN_TEXT_MAX <= CHECKPOINT_PLAN_MAX, "a plan must fit a checkpoint");

const char *const GEMM_MODE_CHOICES[] = {"wisdom", "auto", "blas", "xsmm", NULL};

// The first line of path into buf; 1 read, 0 the file does not exist; a failure ends the
// run.
static int read_plan_file(const char *path, char *buf, size_t len) {
    Err err;
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) return 0;
    int fd = infile_open("--plan", path, &err);
    if (fd < 0) cmd_fail_err(CMD, EXIT_RUNTIME, &err);
    FILE *f = fdopen(fd, "r");
    if (!f) cmd_fail(CMD, EXIT_RUNTIME, "--plan %s: cannot read it (%s)", path, strerror(errno));
    int ok = fgets(buf, (int)len, f) && (strchr(buf, '\n') || feof(f));
    fclose(f);
    if (!ok)
        cmd_fail(CMD, EXIT_RUNTIME, "--plan %s: expected one line of at most %zu bytes "
                 "(SIZES:fwd1=KIND,...); delete it to plan again", path, len - 2);
    buf[strcspn(buf, "\r\n")] = '\0';
    return 1;
}

// The plan's text, atomically: a temporary file beside path, then renamed over it.
static void write_plan_file(const char *path, const char *text) {
    char *tmp;
    if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) cmd_fail(CMD, EXIT_RUNTIME, "out of memory");
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    int ok = f && fprintf(f, "%s\n", text) > 0;
    ok = f && fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    ok = f && fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        cmd_fail(CMD, EXIT_RUNTIME, "--plan %s: cannot write it (%s)", path, strerror(e));
    }
    free(tmp);
}

void train_gemm_key(const Net *n, char *key, size_t len) {
    char machine[512];
    blas_machine_key(machine, sizeof machine);
    uint32_t ops = 0;  // the op list itself: names, shapes, fixed kinds
    for (int i = 0; i < n->plan.n; i++) {
        const GemmOp *op = &n->plan.op[i];
        int v[7] = {op->transA, op->transB, op->M, op->N, op->K, (int)op->beta, (int)op->fixed};
        ops = crc32c(ops, n->plan.name[i], strlen(n->plan.name[i]));
        ops = crc32c(ops, v, sizeof v);
    }
    snprintf(key, len, "%s;threads=%d;%s;ops=%08x", machine, threads_get(), n->plan.sizes, (unsigned)ops);
}

// The default: wisdom's plan for this key, or one planned now and kept. Returns the
// planning's seconds (-1: from wisdom); `from` says where the plan came from.
static double from_wisdom(Net *n, const Examples *ex, char *from, size_t flen) {
    char path[4096], key[1024], text[GEMM_PLAN_TEXT_MAX], msg[512];
    Err err;
    train_gemm_key(n, key, sizeof key);
    Wisdom w;
    int have = wisdom_path(path, sizeof path, &err) == 0 && wisdom_open(&w, path, &err) == 0;
    if (!have) say(CMD, "note: no wisdom (%s): the plan is made for this run alone", err.msg);
    else if (w.note[0]) say(CMD, "note: %s", w.note);
    if (have && w.foreign) {  // never written: the plan is this run's alone
        wisdom_close(&w);
        have = 0;
    }
    if (have && wisdom_get(&w, key, text, sizeof text)) {
        if (gemm_plan_parse(&n->plan, text, msg, sizeof msg) == 0) {
            snprintf(from, flen, "from wisdom %s", path);
            wisdom_close(&w);
            return -1.0;
        }
        say(CMD, "note: wisdom %s: its plan for this run does not apply (%s): planning again", path, msg);
    }
    NetPlanReport rep;
    double secs = net_plan_step(n, ex, &rep);
    gemm_plan_format(&n->plan, text, sizeof text);
    if (have && wisdom_put(&w, key, text, &err) != 0) say(CMD, "note: the plan is not kept: %s", err.msg);
    snprintf(from, flen, "planned (the %s plan the fastest step), %s%s", NET_PLAN_NAMES[rep.chosen],
             have ? "kept in wisdom " : "not kept", have ? path : "");
    if (have) wisdom_close(&w);
    return secs;
}

void train_gemm_setup(Net *n, const Examples *ex, int mode, const char *plan_file, int resumed,
                      char *stored, size_t len) {
    GemmPlan *p = &n->plan;
    char text[GEMM_PLAN_TEXT_MAX], msg[512], from[4600];
    double planning = -1.0;
    int have_file = plan_file && read_plan_file(plan_file, text, sizeof text);
    if (have_file && mode >= 0)
        cmd_fail(CMD, EXIT_USAGE, "--gemm %s and --plan %s (which exists) both choose the plan "
                "(allowed: one of them; delete the file to plan again)", GEMM_MODE_CHOICES[mode],
                plan_file);
    if (have_file) {
        if (gemm_plan_parse(p, text, msg, sizeof msg) != 0)
            cmd_fail(CMD, EXIT_RUNTIME, "--plan %s: %s", plan_file, msg);
        snprintf(from, sizeof from, "from --plan %s", plan_file);
    } else if (resumed && stored[0] && mode < 0) {
        if (gemm_plan_parse(p, stored, msg, sizeof msg) != 0)
            cmd_fail(CMD, EXIT_RUNTIME, "the resumed checkpoint's %s (give --gemm auto|blas to "
                    "plan again)", msg);
        snprintf(from, sizeof from, "the resumed checkpoint's");
    } else if (mode == GEMM_MODE_XSMM && !gemm_xsmm_available()) {
        cmd_fail(CMD, EXIT_USAGE, "--gemm xsmm: this build has no libxsmm (allowed: wisdom, auto, "
                 "blas; or rebuild with libxsmm-dev installed)");
    } else if (mode == GEMM_MODE_BLAS || mode == GEMM_MODE_XSMM) {
        gemm_plan_force(p, mode == GEMM_MODE_XSMM ? GEMM_XSMM : GEMM_BLAS);
        snprintf(from, sizeof from, "--gemm %s", GEMM_MODE_CHOICES[mode]);
    } else if (mode == GEMM_MODE_AUTO) {
        NetPlanReport rep;
        planning = net_plan_step(n, ex, &rep);
        snprintf(from, sizeof from, "--gemm auto (the %s plan)", NET_PLAN_NAMES[rep.chosen]);
    } else if (dist_size() > 1) {  // DIST: every rank must run the same plan
        gemm_plan_force(p, GEMM_BLAS);
        snprintf(from, sizeof from, "the fixed path (a data-parallel run plans only from --plan FILE)");
    } else {
        planning = from_wisdom(n, ex, from, sizeof from);
    }
    gemm_plan_format(p, stored, len);
    if (plan_file && !have_file) write_plan_file(plan_file, stored);
    char desc[4096];
    gemm_plan_describe(p, desc, sizeof desc);
    if (planning >= 0) printf("gemm: %s, planned in %.0f ms: %s\n", from, planning * 1e3, desc);
    else printf("gemm: %s: %s\n", from, desc);
    fflush(stdout);
}
