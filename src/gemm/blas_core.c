// blas_core.c: see blas_core.h.
#include "blas_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>
#ifndef MAKEMORE_XSMM
#define MAKEMORE_XSMM 0
#endif
#if MAKEMORE_XSMM
#include <libxsmm.h>
#endif
#include <omp.h>

// Set in the environment of the re-executed program: the core OpenBLAS had chosen.
#define RESTART_VAR "MAKEMORE_CORE_RESTARTED_FROM"

// The core OpenBLAS should use on this CPU, or NULL when no better one is known.
static const char *wanted_core(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

static int core_has_avx2(const char *core) {
    static const char *const good[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
                                       "SapphireRapids", "Sandybridge_AVX2", NULL};
    for (int i = 0; good[i]; i++)
        if (strcasecmp(core, good[i]) == 0) return 1;
    return 0;
}

static int core_has_avx512(const char *core) {
    return strcasecmp(core, "SkylakeX") == 0 || strcasecmp(core, "Cooperlake") == 0 ||
           strcasecmp(core, "SapphireRapids") == 0;
}

// The core a restart would have set, when the re-execution failed (reported by
// blas_describe, never on stderr: stderr is for errors alone).
static char restart_failed[16];

static void core_fix(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;  // the user's choice stands
    const char *want = wanted_core();
    if (!want) return;
    const char *pretend = getenv("MAKEMORE_PRETEND_CORE");
    const char *core = pretend && *pretend ? pretend : openblas_get_corename();
    int fine = strcmp(want, "SkylakeX") == 0 ? core_has_avx512(core) : core_has_avx2(core);
    if (fine) return;
    setenv(RESTART_VAR, core, 1);
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    // Still here: the process goes on with the generic core; the run header says so.
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(RESTART_VAR);
    snprintf(restart_failed, sizeof restart_failed, "%s", want);
}

void blas_setup(char **argv) {
    core_fix(argv);
    // In OpenBLAS's OpenMP build openblas_set_num_threads() also sets OpenMP's count, so
    // the pool's size is put back. That build re-reads the pool's size at every call, so
    // linear.c's sgemm_call holds each call to one thread (test_linear checks it).
    int pool = omp_get_max_threads();
    openblas_set_num_threads(1);
    omp_set_num_threads(pool);
}

const char *blas_threading(void) {
    switch (openblas_get_parallel()) {
    case 0: return "serial";
    case 1: return "pthreads";
    case 2: return "OpenMP";
    default: return "unknown";
    }
}

void blas_describe(char *buf, size_t len) {
    // openblas_get_config() reads like "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Prescott MAX_THREADS=64"
    char version[32] = "?";
    const char *cfg = openblas_get_config();
    if (cfg && strncmp(cfg, "OpenBLAS ", 9) == 0) sscanf(cfg + 9, "%31s", version);
    const char *from = getenv(RESTART_VAR);
    char note[96] = "";
    if (from && getenv("OPENBLAS_CORETYPE"))
        snprintf(note, sizeof note, " (restarted: OpenBLAS chose '%.32s')", from);
    else if (restart_failed[0])
        snprintf(note, sizeof note, " (generic core: restart with OPENBLAS_CORETYPE=%s failed)",
                 restart_failed);
    snprintf(buf, len, "OpenBLAS %s, core %s, %s threading%s", version, openblas_get_corename(),
             blas_threading(), note);
}

void blas_machine_key(char *buf, size_t len) {
    char cpu[128] = "unknown", version[32] = "?";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        snprintf(cpu, sizeof cpu, "%s", colon + 1 + (colon[1] == ' '));
        cpu[strcspn(cpu, "\n;")] = '\0';
        break;
    }
    if (f) fclose(f);
    const char *cfg = openblas_get_config();
    if (cfg && strncmp(cfg, "OpenBLAS ", 9) == 0) sscanf(cfg + 9, "%31s", version);
#if MAKEMORE_XSMM
    const char *xsmm = LIBXSMM_VERSION;
#else
    const char *xsmm = "none";
#endif
    snprintf(buf, len, "cpu=%s;openblas=%s;core=%s;xsmm=%s", cpu, version, openblas_get_corename(), xsmm);
}
