// common.c: errors, aligned allocation, clock, the thread pool's size.
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


int err_set(Err *e, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

// ---- one escaped line ---------------------------------------------------------------
// Error messages quote names and values taken from files and the command line (paths,
// words, tensor names, flag values): any of them may hold "\n", ESC, a C1 control or
// bytes that are not UTF-8, which would break the one-line message or drive the
// terminal. Everything printed on stderr goes through escape_line: C0 controls and DEL
// become \n, \r, \t or \xNN, UTF-8 C1 controls (U+0080..U+009F) \u00NN, and every byte
// that does not start a well-formed UTF-8 sequence \xNN.

// Length of the well-formed UTF-8 sequence at p (2..4), or 0 (p[0] >= 0x80).
static int utf8_len(const unsigned char *p) {
    unsigned char b = p[0];
    int n = b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (!n) return 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range (overlongs, surrogates)
    if (b == 0xe0) lo = 0xa0;
    if (b == 0xed) hi = 0x9f;
    if (b == 0xf0) lo = 0x90;
    if (b == 0xf4) hi = 0x8f;
    if (p[1] < lo || p[1] > hi) return 0;
    for (int i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return n;
}

size_t escape_line(char *out, size_t cap, const char *in) {
    size_t o = 0;
    if (cap == 0) return 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        char piece[8];
        int n;
        if (*p < 0x20 || *p == 0x7f) {
            const char *named = *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : NULL;
            n = named ? snprintf(piece, sizeof piece, "%s", named)
                      : snprintf(piece, sizeof piece, "\\x%02x", *p);
        } else if (*p < 0x80) {
            piece[0] = (char)*p;
            n = 1;
        } else {
            int len = utf8_len(p);
            if (len == 2 && p[0] == 0xc2 && p[1] <= 0x9f) {
                n = snprintf(piece, sizeof piece, "\\u00%02x", p[1]);
            } else if (len) {
                memcpy(piece, p, (size_t)len);
                n = len;
            } else {
                n = snprintf(piece, sizeof piece, "\\x%02x", *p);
                len = 1;
            }
            p += len - 1;
        }
        if (o + (size_t)n >= cap) break;  // truncated at a whole piece
        memcpy(out + o, piece, (size_t)n);
        o += (size_t)n;
    }
    out[o] = '\0';
    return o;
}

void err_make_printable(Err *err) {
    if (!err) return;
    char out[sizeof err->msg];
    escape_line(out, sizeof out, err->msg);
    memcpy(err->msg, out, strlen(out) + 1);
}

void vsay(const char *cmd, const char *fmt, va_list ap) {
    char msg[4096], line[4096 + 64];
    vsnprintf(msg, sizeof msg, fmt, ap);
    // On a terminal, first clear a live progress line the message would otherwise follow.
    int n = snprintf(line, sizeof line, "%smakemore%s%s: ", isatty(STDERR_FILENO) ? "\r\033[K" : "",
                     cmd ? " " : "", cmd ? cmd : "");
    escape_line(line + n, sizeof line - (size_t)n - 1, msg);
    strcat(line, "\n");
    // One write(2): the line reaches stderr whole even when stdio's buffer is in use.
    const char *p = line;
    size_t left = strlen(line);
    while (left > 0) {
        ssize_t w = write(STDERR_FILENO, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        p += w;
        left -= (size_t)w;
    }
}

void say(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(cmd, fmt, ap);
    va_end(ap);
}

void die(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(NULL, fmt, ap);
    va_end(ap);
    exit(status);
}

// fds 0, 1 and 2 open: a closed one is opened on /dev/null, so that no file opened later
// (a log, a checkpoint's temp file) takes its number and receives output meant for it.
void std_fds_ensure(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
        int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (n < 0) _exit(EXIT_RUNTIME);  // cannot even say so
        if (n != fd) {
            dup2(n, fd);
            close(n);
        }
    }
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

void *xgrow(void *p, size_t *cap, size_t need, size_t elem, void (*at_exit)(void)) {
    if (need <= *cap) return p;
    if (*cap == 0 && at_exit) atexit(at_exit);
    free(p);
    *cap = need;
    return xcalloc(need, elem);
}

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

double machine_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
}
