// blas_core.c: see blas_core.h.
#include "blas_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cblas.h>

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

void blas_core_fix(char **argv) {
    if (getenv("OPENBLAS_CORETYPE")) return;  // the user's choice stands
    const char *want = wanted_core();
    if (!want) return;
    // MAKEMORE_PRETEND_CORE (tests only) stands in for the core OpenBLAS chose, so the
    // restart can be exercised on a CPU that OpenBLAS recognises.
    const char *pretend = getenv("MAKEMORE_PRETEND_CORE");
    const char *core = pretend && *pretend ? pretend : openblas_get_corename();
    int fine = strcmp(want, "SkylakeX") == 0 ? core_has_avx512(core) : core_has_avx2(core);
    if (fine) return;
    fprintf(stderr,
            "makemore: OpenBLAS chose its generic '%s' core on this %s-capable CPU; "
            "restarting with OPENBLAS_CORETYPE=%s (3-4x faster matmuls)\n",
            core, strcmp(want, "SkylakeX") == 0 ? "AVX-512" : "AVX2", want);
    fflush(stderr);
    setenv("OPENBLAS_CORETYPE", want, 1);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "makemore: restart failed; continuing with the '%s' core\n", core);
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
    snprintf(buf, len, "OpenBLAS %s, core %s, %s threading", version, openblas_get_corename(),
             blas_threading());
}
