// blas_core.c: see blas_core.h.
#include "blas_core.h"

#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
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

// ---- memory limits -------------------------------------------------------------------------

// OpenBLAS's buffer (BUFFER_SIZE of Debian's x86-64 build, 32 << 22), and what the process
// maps between blas_preinit and OpenBLAS's first buffer (libgomp's set-up; measured: under
// 1 MiB, docs/RELIABILITY.md), with room to spare.
#define OB_BUFFER ((uint64_t)128 << 20)
#define OB_MARGIN ((uint64_t)16 << 20)

static int callers_max;        // 0: no limit; else the GEMM calls that may run at once
static int omp_lowered;        // OMP_NUM_THREADS was set by blas_preinit
static char *omp_saved;        // ... over the user's value (NULL: none)

// The "Vm...:" line of /proc/self/status in bytes (key "VmSize" or "VmData"); -1 unknown.
static int64_t vm_bytes(const char *key) {
    static char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return -1;
    buf[n] = '\0';
    size_t k = strlen(key);
    for (char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, key, k) && p[k] == ':') return (int64_t)strtoll(p + k + 1, NULL, 10) << 10;
    return -1;
}

// The threads OpenBLAS's OpenMP build counts when it loads (blas_get_cpu_number):
// OMP_NUM_THREADS (read as atoi reads it), at most the cores this process may run on.
static int openblas_load_threads(void) {
    cpu_set_t set;
    long cores = sysconf(_SC_NPROCESSORS_CONF);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 &&
        (cores < 1 || CPU_COUNT(&set) < cores))
        cores = CPU_COUNT(&set);
    if (cores < 1) cores = 1;
    const char *s = getenv("OMP_NUM_THREADS");
    int n = s ? atoi(s) : 0;
    return n > 0 && n < cores ? n : (int)cores;
}

int blas_preinit(char *msg, size_t len) {
    static const struct { int res; const char *vm, *flag; } LIM[2] = {
        {RLIMIT_AS, "VmSize", "-v"}, {RLIMIT_DATA, "VmData", "-d"}};
    uint64_t room = UINT64_MAX, need_limit = 0;
    const char *flag = NULL;
    unsigned long long limit_kib = 0;
    for (int i = 0; i < 2; i++) {
        struct rlimit rl;
        if (getrlimit(LIM[i].res, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) continue;
        int64_t used = vm_bytes(LIM[i].vm);
        if (used < 0) used = (int64_t)64 << 20;  // no /proc: a generous guess
        uint64_t r = (uint64_t)rl.rlim_cur > (uint64_t)used ? (uint64_t)rl.rlim_cur - (uint64_t)used : 0;
        if (r < room) {
            room = r;
            flag = LIM[i].flag;
            limit_kib = (unsigned long long)(rl.rlim_cur >> 10);
            need_limit = (uint64_t)used + 2 * OB_BUFFER + OB_MARGIN;
        }
    }
    if (!flag) return 0;  // no limit: OpenBLAS maps what it likes
    int counted = openblas_load_threads(), threads = blas_buffers_fit(room, counted);
    if (threads == 0) {
        snprintf(msg, len, "the memory limit (ulimit %s %llu, in KiB) leaves %llu MiB to this "
                 "process, and OpenBLAS needs two buffers of %llu MiB (it would wait for them "
                 "forever); raise the limit to at least ulimit %s %llu", flag, limit_kib,
                 (unsigned long long)(room >> 20), (unsigned long long)(OB_BUFFER >> 20), flag,
                 (unsigned long long)((need_limit >> 10) + 1023) / 1024 * 1024);
        return -1;
    }
    if (threads < counted) {  // fewer buffers at load: OMP_NUM_THREADS until blas_setup
        const char *s = getenv("OMP_NUM_THREADS");
        omp_saved = s ? strdup(s) : NULL;
        char v[16];
        snprintf(v, sizeof v, "%d", threads);
        setenv("OMP_NUM_THREADS", v, 1);
        omp_lowered = 1;
    }
    // The first buffer stays held by OpenBLAS's thread pool; the others serve GEMM calls.
    callers_max = threads - 1 > 0 ? threads - 1 : 1;
    return 0;
}

int blas_buffers_fit(uint64_t room, int threads) {
    // One buffer per thread counted at load (the first held by OpenBLAS's pool), and one
    // more for a GEMM call: at least two.
    uint64_t fit = room > OB_MARGIN ? (room - OB_MARGIN) / OB_BUFFER : 0;
    if (fit < 2) return 0;
    return (uint64_t)threads > fit ? (int)fit : threads;
}

int blas_callers_max(void) { return callers_max; }

void blas_setup(char **argv) {
    if (omp_lowered) {  // the user's OMP_NUM_THREADS back, for the pool and for any child
        if (omp_saved) setenv("OMP_NUM_THREADS", omp_saved, 1);
        else unsetenv("OMP_NUM_THREADS");
        int n = omp_saved ? atoi(omp_saved) : 0;
        omp_set_num_threads(n > 0 ? n : omp_get_num_procs());
        free(omp_saved);
        omp_saved = NULL;
        omp_lowered = 0;
    }
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
    int family = -1, model = -1;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {  // the first processor's lines
        const char *colon = strchr(line, ':');
        if (!colon) continue;
        if (!strncmp(line, "cpu family", 10)) family = atoi(colon + 1);
        else if (!strncmp(line, "model\t", 6)) model = atoi(colon + 1);
        else if (!strncmp(line, "model name", 10)) {
            snprintf(cpu, sizeof cpu, "%s", colon + 1 + (colon[1] == ' '));
            cpu[strcspn(cpu, "\n;")] = '\0';
        } else if (line[0] == '\n') break;
    }
    if (f) fclose(f);
    const char *cfg = openblas_get_config();
    if (cfg && strncmp(cfg, "OpenBLAS ", 9) == 0) sscanf(cfg + 9, "%31s", version);
#if MAKEMORE_XSMM
    const char *xsmm = LIBXSMM_VERSION;
#else
    const char *xsmm = "none";
#endif
    snprintf(buf, len, "cpu=%s (%d/%d);openblas=%s;core=%s;xsmm=%s;engine=%d", cpu, family, model,
             version, openblas_get_corename(), xsmm, GEMM_ENGINE_EPOCH);
}
