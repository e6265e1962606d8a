// dist.c: the MPI seam (dist.h). Everything MPI lives in this file, behind MAKEMORE_MPI.
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MAKEMORE_MPI
#include <fcntl.h>
#include <unistd.h>
#endif

#ifdef MAKEMORE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }

int dist_local_size(void) {
    const char *s = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int n = s ? atoi(s) : 1;
    return n >= 1 ? n : 1;
}

// 1 when started by mpirun (Open MPI sets these in each rank's environment).
int dist_launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

int dist_launch_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
    for (int i = 0; i < 3; i++) {
        const char *s = getenv(vars[i]);
        if (s && *s) return atoi(s);
    }
    return 0;
}

#ifndef MAKEMORE_MPI

void dist_init(void) {}
int dist_built(void) { return 0; }
void dist_describe(char *buf, size_t len) { snprintf(buf, len, "single process (built without MPI)"); }
void dist_allreduce_sum(float *buf, int n) { (void)buf; (void)n; }
void dist_allreduce_sum_double(double *buf, int n) { (void)buf; (void)n; }
int dist_same_everywhere(const float *buf, size_t n) { (void)buf; (void)n; return 1; }

#else

int dist_built(void) { return 1; }

static int g_started = 0;
static int g_err = 2;  // this rank's real stderr (ranks > 0 send fd 2 to /dev/null)

static void check(int rc, const char *what) {
    if (rc == MPI_SUCCESS) return;
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, s, &len);
    dprintf(g_err, "makemore train: rank %d of %d: %s failed: %s; stopping the job\n", g_rank,
            g_size, what, s);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

// Every exit of a rank passes here (on_exit): the agreed ones finalise, the others abort.
static void on_exit_handler(int status, void *arg) {
    (void)arg;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) return;
    if (status == 0 || status == 130 || status == 143) {
        fflush(stdout);
        MPI_Finalize();
        return;
    }
    if (g_rank != 0) {
        // Most failures are every rank's (same flags, same files): rank 0 says why and aborts;
        // a moment's wait lets its message out before this abort could kill it.
        sleep(2);
        if (status != 2)  // a usage error is the same on every rank: rank 0 said it
            dprintf(g_err, "makemore train: rank %d of %d failed (exit status %d); stopping the "
                    "job\n", g_rank, g_size, status);
    }
    MPI_Abort(MPI_COMM_WORLD, status);
}

void dist_init(void) {
    if (g_started || !dist_launched()) return;
    g_started = 1;
    int provided;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    on_exit(on_exit_handler, NULL);
    if (g_rank != 0) {  // every rank runs the same checks on the same inputs: rank 0 speaks
        int null = open("/dev/null", O_WRONLY);
        g_err = dup(STDERR_FILENO);
        if (null < 0 || g_err < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
            check(MPI_ERR_OTHER, "redirecting stdout and stderr to /dev/null");
        close(null);
    }
}

void dist_describe(char *buf, size_t len) {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "MPI";
    int n = 0;
    MPI_Get_library_version(lib, &n);
    lib[strcspn(lib, ",\n")] = '\0';  // "Open MPI v4.1.4"
    if (!g_started) snprintf(buf, len, "%s; %s", lib, dist_launched() ? "under mpirun" : "1 process (not under mpirun)");
    else snprintf(buf, len, "%s; %d rank%s", lib, g_size, g_size == 1 ? "" : "s");
}

void dist_allreduce_sum(float *buf, int n) {
    if (g_size > 1) check(MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                          "MPI_Allreduce");
}

void dist_allreduce_sum_double(double *buf, int n) {
    if (g_size > 1) check(MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
                          "MPI_Allreduce");
}

// An FNV-1a hash of the bits, compared as the min and max over the ranks.
int dist_same_everywhere(const float *buf, size_t n) {
    if (g_size == 1) return 1;
    const unsigned char *p = (const unsigned char *)buf;
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n * sizeof(float); i++) h = (h ^ p[i]) * 1099511628211ULL;
    unsigned long long lo = h, hi = h;
    check(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    check(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    return lo == hi;
}

#endif
