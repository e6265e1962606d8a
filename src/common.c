// common.c: errors, aligned allocation, clock, the thread pool's size.
#include "common.h"

#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

int err_set(Err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void die(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("makemore: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

void *xcalloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) die(EXIT_RUNTIME, "allocation of %zu x %zu bytes overflows", count, size);
    size_t bytes = count * size;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (!p) die(EXIT_RUNTIME, "out of memory (%zu bytes)", bytes);
    memset(p, 0, rounded);
    return p;
}

void xfree(void *p) { free(p); }

double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void threads_set(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int threads_get(void) { return omp_get_max_threads(); }
