// common.h: error reporting, aligned allocation, timing and the thread policy
// shared by every module.
#ifndef MAKEMORE_COMMON_H
#define MAKEMORE_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

// Exit statuses: 2 = usage error (bad flag, bad value), 1 = runtime failure
// (unreadable file, corrupt checkpoint, diverged training).
enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

// Library functions never exit: they return 0 on success or -1 and write a
// one-line message (naming file / line / value and what is allowed) into an Err.
typedef struct {
    char msg[512];
} Err;
int err_set(Err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));  // returns -1
// Escapes control characters in e->msg (\n, \xNN, \u00NN for UTF-8 C1): a message that
// quotes a name or value from a file stays one line and cannot drive the terminal.
void err_make_printable(Err *e);

// The one escaper of everything printed on stderr: in as one line into out (cap bytes,
// NUL-terminated, cut at a whole escape): C0 controls and DEL as \n \r \t \xNN, UTF-8
// C1 controls as \u00NN, bytes outside well-formed UTF-8 as \xNN. Returns the length.
size_t escape_line(char *out, size_t cap, const char *in);
// "makemore <cmd>: <msg>\n" (cmd NULL: "makemore: ") on stderr, escaped, in one write:
// every message -- usage error, runtime error, warning, note, signal -- goes through it.
void say(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vsay(const char *cmd, const char *fmt, va_list ap);

// say(NULL, ...) and exit with status. For the bench's and the tests' main-level code
// only: nothing under src/ calls it (commands end through cmd_fail, cli.h; tests/
// test_layers.sh checks that nothing below src/cmd/ exits).
void die(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

// Opens /dev/null on fd 0, 1 or 2 when closed (called first thing in main).
void std_fds_ensure(void);

// 64-byte aligned allocation, zero-filled. Exhausted memory is the one failure below the
// commands that ends the process: one line, exit status 1.
void *xcalloc(size_t count, size_t size);
void xfree(void *p);
// A module's scratch, grown (never shrunk): p when *cap >= need, else p freed and a new
// zeroed block of need elements (*cap = need). The first growth registers at_exit (the
// module's function that frees its scratch) with atexit.
void *xgrow(void *p, size_t *cap, size_t need, size_t elem, void (*at_exit)(void));

double now_seconds(void);  // monotonic clock

// ---- threads -------------------------------------------------------------
// One pool: OpenMP kernels and (OpenMP-built) OpenBLAS share it.
void threads_set(int n);   // n >= 1; sets OpenMP and OpenBLAS thread counts
int threads_get(void);
// Forking a parallel region costs ~1-3 us; a kernel forks only when its work
// (roughly: elements touched) is at least this many. Tuned in bench/.
// Bytes of physical memory, or 0 when unknown.
double machine_memory(void);

#define PAR_MIN_WORK 32768
// Usage: #pragma omp parallel for if (par_worth(B * H))
static inline int par_worth(long work) { return work >= PAR_MIN_WORK; }

#endif
