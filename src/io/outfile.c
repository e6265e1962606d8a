// outfile.c: the one rule for the files makemore writes, and non-blocking opens of the
// files it reads (outfile.h).
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const DIAG_FILES[DIAG_N_FILES] = {"acts.csv", "grads.csv", "hist.csv",
                                              "params.csv", "loss.csv", "val.csv"};
const char *const DIAG_HEADERS[DIAG_N_FILES] = {DIAG_ACTS_HEADER, DIAG_GRADS_HEADER,
                                                DIAG_HIST_HEADER, DIAG_PARAMS_HEADER,
                                                DIAG_LOSS_HEADER, DIAG_VAL_HEADER};

static const char *nz(const char *flag) { return flag ? flag : ""; }
static const char *sp(const char *flag) { return flag ? " " : ""; }

// ---- inputs ----------------------------------------------------------------------------

int infile_open(const char *what, const char *path, Err *err) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return err_set(err, "%s%s%s: cannot open: %s", nz(what), sp(what), path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, "%s%s%s: cannot open: %s", nz(what), sp(what), path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return err_set(err, "%s%s%s: is a directory (allowed: a file)", nz(what), sp(what), path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s%s%s: not a regular file (a FIFO, device or socket; allowed: a "
                       "file)", nz(what), sp(what), path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

// ---- whose file ------------------------------------------------------------------------

// The first n bytes of fd (from offset 0) into buf; the count read.
static size_t head_of(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    return got;
}

// A makemore safetensors file: its header (JSON) holds "format":"makemore-...".
static int model_is_ours(int fd, off_t size) {
    unsigned char pre[8];
    if (size < 8 || head_of(fd, (char *)pre, 8) != 8) return 0;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | pre[i];
    if (n < 2 || n > (uint64_t)size - 8 || n > (100u << 20)) return 0;
    char *h = malloc(n + 9);
    if (!h) return 0;
    int ours = head_of(fd, h, n + 8) == n + 8;
    h[n + 8] = '\0';
    ours = ours && h[8] == '{' && strstr(h + 8, "\"format\":\"makemore-") != NULL;
    free(h);
    return ours;
}

// 1 when the n bytes at head begin with the whole of line (a header, its newline included).
static int starts(const char *head, size_t n, const char *line) {
    size_t k = strlen(line);
    return n >= k && !memcmp(head, line, k);
}

int outfile_is_ours(int fd, OutKind kind) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (st.st_size == 0) return 1;
    char head[128] = "";
    size_t n = head_of(fd, head, sizeof head - 1);
    switch (kind) {
    case OUT_MODEL: return model_is_ours(fd, st.st_size);
    case OUT_LOG: return starts(head, n, LOG_HEADER) || starts(head, n, LOG_HEADER_VAL);
    case OUT_DIAG:
        for (int i = 0; i < DIAG_N_FILES; i++)
            if (starts(head, n, DIAG_HEADERS[i])) return 1;
        return 0;
    case OUT_PNG: return n >= 8 && !memcmp(head, "\x89PNG\r\n\x1a\n", 8);
    case OUT_CSV:
        return n >= 20 && !memcmp(head, SWEEP_CSV_HEADER, n < strlen(SWEEP_CSV_HEADER) ? n : strlen(SWEEP_CSV_HEADER));
    case OUT_PLAN: return n >= 3 && !memcmp(head, "B=", 2) && memchr(head, '\n', n) != head;
    case OUT_RUN_LOG: return n >= 9 && !memcmp(head, "makemore ", 9);
    }
    return 0;
}

static const char *kind_name(OutKind kind) {
    switch (kind) {
    case OUT_MODEL: return "a makemore model file";
    case OUT_LOG: return "a makemore loss log (its first line is not \"step,loss\")";
    case OUT_CSV: return "a makemore sweep CSV";
    case OUT_PLAN: return "a makemore GEMM plan";
    case OUT_RUN_LOG: return "a makemore run's log";
    case OUT_DIAG: return "a makemore diagnostics file (its first line is not its CSV header)";
    case OUT_PNG: return "a PNG picture";
    }
    return "a makemore file";
}

// The path's directory takes a new file: one is made there and removed.
static int probe_dir(const char *flag, const char *path, Err *err) {
    char *copy = strdup(path), *tmp = NULL;
    if (!copy || asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) {
        free(copy);
        return err_set(err, "%s%s%s: out of memory", nz(flag), sp(flag), path);
    }
    const char *dir = dirname(copy);
    struct stat ds;
    int rc = 0;
    if (stat(dir, &ds) != 0)
        rc = err_set(err, "%s%s%s: directory %s: %s (create it first)", nz(flag), sp(flag), path,
                     dir, strerror(errno));
    else if (!S_ISDIR(ds.st_mode))
        rc = err_set(err, "%s%s%s: %s is not a directory", nz(flag), sp(flag), path, dir);
    else {
        int fd = mkstemp(tmp);
        if (fd < 0)
            rc = err_set(err, "%s%s%s: cannot create files in directory %s: %s", nz(flag), sp(flag),
                         path, dir, strerror(errno));
        else {
            close(fd);
            unlink(tmp);
        }
    }
    free(tmp);
    free(copy);
    return rc;
}

int outfile_check(const char *flag, const char *path, OutKind kind, Err *err) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return err_set(err, "%s%s%s: %s", nz(flag), sp(flag), path, strerror(errno));
        return probe_dir(flag, path, err);  // names what is wrong with the directory
    }
    if (S_ISLNK(st.st_mode))
        return err_set(err, "%s%s%s: is a symbolic link; not following it (allowed: a new file or "
                       "%s)", nz(flag), sp(flag), path, kind_name(kind));
    if (S_ISDIR(st.st_mode))
        return err_set(err, "%s%s%s: is a directory (allowed: a file path)", nz(flag), sp(flag), path);
    if (!S_ISREG(st.st_mode))
        return err_set(err, "%s%s%s: exists and is not a regular file (allowed: a new or regular "
                       "file)", nz(flag), sp(flag), path);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s%s%s: cannot open: %s", nz(flag), sp(flag), path, strerror(errno));
    int ours = outfile_is_ours(fd, kind);
    close(fd);
    if (!ours)
        return err_set(err, "%s%s%s: not %s; not touching it (give a new path, or remove it)",
                       nz(flag), sp(flag), path, kind_name(kind));
    return probe_dir(flag, path, err);  // replaced through a temporary file beside it
}

int outfile_open_append(const char *flag, const char *path, Err *err) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0) return err_set(err, "%s%s%s: cannot write: %s", nz(flag), sp(flag), path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s%s%s: not a regular file (a FIFO, device or socket)", nz(flag), sp(flag), path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

// ---- locks -----------------------------------------------------------------------------

typedef struct {
    char *path;
    int fd;
} Lock;
static Lock *locks;
static volatile int n_locks;
static int cap_locks;

void outfile_unlock_signal_safe(void) {
    for (int i = 0; i < n_locks; i++) unlink(locks[i].path);  // we hold each: ours to remove
}

static void unlock_at_exit(void) {
    outfile_unlock_signal_safe();
    for (int i = 0; i < n_locks; i++) close(locks[i].fd);
    n_locks = 0;
}

// The pid in the lock file at fd: 0 when empty, -1 when it is not a makemore lock.
static long lock_owner(int fd) {
    char buf[32] = "";
    size_t n = head_of(fd, buf, sizeof buf - 1);
    if (n == 0) return 0;
    size_t d = strspn(buf, "0123456789");
    if (d == 0 || d > 19 || d + 1 != n || buf[d] != '\n') return -1;
    return strtol(buf, NULL, 10);
}

int outfile_lock(const char *flag, const char *path, Err *err) {
    char *lp;
    if (asprintf(&lp, "%s.lock", path) < 0) return err_set(err, "%s%s%s: out of memory", nz(flag), sp(flag), path);
    for (int i = 0; i < n_locks; i++)
        if (!strcmp(locks[i].path, lp)) {  // already ours
            free(lp);
            return 0;
        }
    if (n_locks == cap_locks) {
        int cap = cap_locks ? 2 * cap_locks : 8;
        Lock *grown = realloc(locks, (size_t)cap * sizeof *grown);
        if (!grown) {
            free(lp);
            return err_set(err, "%s%s%s: out of memory", nz(flag), sp(flag), path);
        }
        locks = grown;
        cap_locks = cap;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
        struct stat a, b;
        if (fd < 0 || fstat(fd, &a) != 0 || !S_ISREG(a.st_mode)) {
            int e = errno;
            if (fd >= 0) close(fd);
            free(lp);
            return err_set(err, "%s%s%s: cannot use its lock file %s.lock: %s", nz(flag), sp(flag),
                           path, path, fd >= 0 ? "not a regular file" : strerror(e));
        }
        long pid = lock_owner(fd);
        if (pid < 0) {
            close(fd);
            free(lp);
            return err_set(err, "%s%s%s: %s.lock exists and is not a makemore lock; not touching "
                           "it (remove it, or give another path)", nz(flag), sp(flag), path, path);
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            free(lp);
            if (e == EWOULDBLOCK)
                return err_set(err, "%s%s%s is in use by another makemore run (pid %ld, lock file "
                               "%s.lock); wait for it to finish, or give another path", nz(flag),
                               sp(flag), path, pid, path);
            return err_set(err, "%s%s%s: cannot lock %s.lock: %s", nz(flag), sp(flag), path, path, strerror(e));
        }
        // The file locked must still be the one at lp: a run that was exiting may have
        // removed it between our open and our flock.
        if (stat(lp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char line[32];
            int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)n, 0) != n) {
                // the lock holds without the pid; a second run's message then says pid 0
            }
            static int registered;
            if (!registered) registered = !atexit(unlock_at_exit);
            locks[n_locks] = (Lock){lp, fd};
            n_locks++;
            return 0;
        }
        close(fd);
    }
    free(lp);
    return err_set(err, "%s%s%s: cannot take its lock %s.lock (it keeps changing)", nz(flag), sp(flag), path, path);
}

int outfile_claim(const char *flag, const char *path, OutKind kind, Err *err) {
    if (outfile_check(flag, path, kind, err)) return -1;
    return outfile_lock(flag, path, err);
}

int outfile_claim_dir(const char *flag, const char *dir, const char *name,
                      const char *const *files, const OutKind *kinds, Err *err) {
    struct stat st;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return err_set(err, "%s%s%s: cannot create: %s (its parent must exist)", nz(flag), sp(flag),
                       dir, strerror(errno));
    if (lstat(dir, &st) != 0)
        return err_set(err, "%s%s%s: %s", nz(flag), sp(flag), dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return err_set(err, "%s%s%s: not a directory%s (allowed: a new or existing directory)",
                       nz(flag), sp(flag), dir, S_ISLNK(st.st_mode) ? " (a symbolic link; not following it)" : "");
    if (access(dir, W_OK | X_OK) != 0)
        return err_set(err, "%s%s%s: not writable: %s", nz(flag), sp(flag), dir, strerror(errno));
    char *path;
    if (asprintf(&path, "%s/%s", dir, name) < 0) return err_set(err, "%s%s%s: out of memory", nz(flag), sp(flag), dir);
    int rc = outfile_lock(flag, path, err);
    free(path);
    for (int i = 0; rc == 0 && files && files[i]; i++) {
        if (asprintf(&path, "%s/%s", dir, files[i]) < 0)
            return err_set(err, "%s%s%s: out of memory", nz(flag), sp(flag), dir);
        rc = outfile_check(flag, path, kinds[i], err);
        free(path);
    }
    return rc;
}

// ---- paths -----------------------------------------------------------------------------

// "dir/name" with dir resolved (symlinks, ..) when it exists, so that two spellings of
// one path compare equal. Caller frees; NULL when out of memory.
static char *canonical(const char *path) {
    char *a = strdup(path), *b = strdup(path), *out = NULL;
    if (a && b) {
        char *dir = realpath(dirname(a), NULL);
        if (!dir || asprintf(&out, "%s/%s", dir, basename(b)) < 0) out = strdup(path);
        free(dir);
    }
    free(a);
    free(b);
    return out;
}

int outfile_same(const char *x, const char *y) {
    struct stat sx, sy;
    if (stat(x, &sx) == 0 && stat(y, &sy) == 0) return sx.st_dev == sy.st_dev && sx.st_ino == sy.st_ino;
    char *cx = canonical(x), *cy = canonical(y);
    int same = cx && cy && strcmp(cx, cy) == 0;
    free(cx);
    free(cy);
    return same;
}

char *outfile_shell_quote(const char *path) {
    size_t n = strlen(path);
    char *q = malloc(4 * n + 4), *p = q;
    if (!q) return NULL;
    if (n && strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789._/+,:@%-") == n) {
        memcpy(q, path, n + 1);
        return q;
    }
    char *esc = malloc(4 * n + 16);
    if (!esc) {
        free(q);
        return NULL;
    }
    escape_line(esc, 4 * n + 16, path);
    int printable = strcmp(esc, path) == 0;  // nothing needed escaping
    free(esc);
    *p++ = printable ? '\'' : '$';
    if (!printable) *p++ = '\'';
    for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
        if (printable && *s == '\'') {
            memcpy(p, "'\\''", 4);
            p += 4;
        } else if (printable || (*s >= 0x20 && *s < 0x7f && *s != '\'' && *s != '\\')) {
            *p++ = (char)*s;
        } else {
            p += sprintf(p, "\\x%02x", *s);
        }
    }
    *p++ = '\'';
    *p = '\0';
    return q;
}

char *outfile_shell_command(const char *first, int argc, char *const *argv, const char *append) {
    for (int i = 1; append && i < argc; i++)
        if (!strcmp(argv[i], append)) append = NULL;
    size_t cap = strlen(first) + 1;
    char **q = calloc((size_t)(argc > 1 ? argc : 1), sizeof *q);
    for (int i = 1; q && i < argc; i++) {
        if (!(q[i] = outfile_shell_quote(argv[i]))) cap = 0;
        else cap += strlen(q[i]) + 1;
    }
    if (append) cap += strlen(append) + 1;
    char *cmd = q && cap ? malloc(cap) : NULL;
    if (cmd) {
        char *p = cmd + sprintf(cmd, "%s", first);
        for (int i = 1; i < argc; i++) p += sprintf(p, " %s", q[i]);
        if (append) sprintf(p, " %s", append);
    }
    for (int i = 1; q && i < argc; i++) free(q[i]);
    free(q);
    return cmd;
}
