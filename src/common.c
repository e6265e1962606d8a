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

// Error messages quote names and values taken from the file (tensor names, metadata):
// a JSON string may hold "\n", ESC or other control characters, which would break the
// one-line message (or drive the terminal). Rewrites msg with C0 controls and DEL as
// \n, \r, \t or \xNN and UTF-8 C1 controls (U+0080..U+009F) as \u00NN.
void err_make_printable(Err *err) {
    if (!err) return;
    char out[sizeof err->msg];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)err->msg; *p && o + 7 < sizeof out; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            const char *named = *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : NULL;
            o += (size_t)(named ? snprintf(out + o, sizeof out - o, "%s", named)
                                : snprintf(out + o, sizeof out - o, "\\x%02x", *p));
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            o += (size_t)snprintf(out + o, sizeof out - o, "\\u00%02x", p[1]);
            p++;
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o] = '\0';
    memcpy(err->msg, out, o + 1);
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
    omp_set_num_threads(n);  // OpenBLAS itself stays on one thread (blas_setup)
}

int threads_get(void) { return omp_get_max_threads(); }
