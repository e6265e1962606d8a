// outfile.c: output paths checked, taken over only when ours, and locked (outfile.h).
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"

void outfile_probe(const char *cmd, const char *flag, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            cli_die(cmd, EXIT_RUNTIME, "%s %s: is a directory (allowed: a file path)", flag, path);
        if (!S_ISREG(st.st_mode))
            cli_die(cmd, EXIT_RUNTIME, "%s %s: exists and is not a regular file (allowed: a new "
                    "or regular file)", flag, path);
    }
    char *copy = strdup(path), *tmp = NULL;
    if (!copy || asprintf(&tmp, "%s.tmpXXXXXX", path) < 0) cli_die(cmd, EXIT_RUNTIME, "out of memory");
    const char *dir = dirname(copy);
    struct stat ds;
    if (stat(dir, &ds) != 0)
        cli_die(cmd, EXIT_RUNTIME, "%s %s: directory %s: %s (create it first)", flag, path, dir,
                strerror(errno));
    if (!S_ISDIR(ds.st_mode)) cli_die(cmd, EXIT_RUNTIME, "%s %s: %s is not a directory", flag, path, dir);
    int fd = mkstemp(tmp);
    if (fd < 0)
        cli_die(cmd, EXIT_RUNTIME, "%s %s: cannot create files in directory %s: %s", flag, path,
                dir, strerror(errno));
    close(fd);
    unlink(tmp);
    free(tmp);
    free(copy);
}

void outfile_check_log(const char *cmd, const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) return;  // created later
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) != 0)
        cli_die(cmd, EXIT_RUNTIME, "--log %s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        cli_die(cmd, EXIT_RUNTIME, "--log %s: not a regular file (a FIFO, device or socket); "
                "allowed: a new file, an empty one or a makemore loss log", path);
    }
    char head[sizeof LOG_HEADER] = "";
    ssize_t n = st.st_size > 0 ? read(fd, head, sizeof LOG_HEADER - 1) : 0;
    close(fd);
    if (st.st_size > 0 && (n != (ssize_t)sizeof LOG_HEADER - 1 || memcmp(head, LOG_HEADER, (size_t)n) != 0))
        cli_die(cmd, EXIT_RUNTIME, "--log %s: exists and is not a makemore loss log (its first "
                "line is not \"step,loss\"); not touching it (give a new path, or remove it)",
                path);
}

// ---- locks ---------------------------------------------------------------------------

enum { MAX_LOCKS = 4 };
static char lock_path[MAX_LOCKS][4096];
static int lock_fd[MAX_LOCKS];
static volatile int n_locks;

void outfile_unlock_signal_safe(void) {
    for (int i = 0; i < n_locks; i++) unlink(lock_path[i]);  // we hold each: ours to remove
}

static void unlock_at_exit(void) {
    outfile_unlock_signal_safe();
    for (int i = 0; i < n_locks; i++) close(lock_fd[i]);
    n_locks = 0;
}

// The pid written in the lock file at fd, or 0.
static long lock_owner(int fd) {
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? strtol(buf, NULL, 10) : 0;
}

void outfile_lock(const char *cmd, const char *flag, const char *path) {
    char lp[4096];
    if (snprintf(lp, sizeof lp, "%s.lock", path) >= (int)sizeof lp)
        cli_die(cmd, EXIT_RUNTIME, "%s %s: path too long", flag, path);
    for (int i = 0; i < n_locks; i++)
        if (strcmp(lock_path[i], lp) == 0) return;  // already ours
    if (n_locks == MAX_LOCKS) cli_die(cmd, EXIT_RUNTIME, "too many locks");
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            cli_die(cmd, EXIT_RUNTIME, "%s %s: cannot create its lock file %s: %s", flag, path,
                    lp, strerror(errno));
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            long pid = lock_owner(fd);
            close(fd);
            if (e == EWOULDBLOCK)
                cli_die(cmd, EXIT_RUNTIME, "%s %s is in use by another makemore run (pid %ld, "
                        "lock file %s); wait for it to finish, or give another path", flag, path,
                        pid, lp);
            cli_die(cmd, EXIT_RUNTIME, "%s %s: cannot lock %s: %s", flag, path, lp, strerror(e));
        }
        // The file locked must still be the one at lp: a run that was exiting may have
        // removed it between our open and our flock.
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
                // the lock holds without the pid; the message then says pid 0
            }
            static int registered;
            if (!registered) registered = !atexit(unlock_at_exit);
            memcpy(lock_path[n_locks], lp, strlen(lp) + 1);
            lock_fd[n_locks] = fd;
            n_locks++;
            return;
        }
        close(fd);
    }
    cli_die(cmd, EXIT_RUNTIME, "%s %s: cannot take its lock %s (it keeps changing)", flag, path, lp);
}

// ---- paths ----------------------------------------------------------------------------

// "dir/name" with dir resolved (symlinks, ..) when it exists, so that two spellings of
// one path compare equal. Caller frees.
static char *canonical(const char *path) {
    char *a = strdup(path), *b = strdup(path);
    if (!a || !b) die(EXIT_RUNTIME, "out of memory");
    char *dir = realpath(dirname(a), NULL);
    const char *base = basename(b);
    char *out = NULL;
    if (dir && asprintf(&out, "%s/%s", dir, base) < 0) out = NULL;
    if (!out) out = strdup(path);
    free(dir);
    free(a);
    free(b);
    return out;
}

int outfile_same(const char *x, const char *y) {
    struct stat sx, sy;
    if (stat(x, &sx) == 0 && stat(y, &sy) == 0) return sx.st_dev == sy.st_dev && sx.st_ino == sy.st_ino;
    char *cx = canonical(x), *cy = canonical(y);
    int same = strcmp(cx, cy) == 0;
    free(cx);
    free(cy);
    return same;
}

int outfile_cwd_writable(void) {
    char tmp[] = "makemore-interrupted.safetensors.tmpXXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return 0;
    close(fd);
    unlink(tmp);
    return 1;
}

char *outfile_shell_quote(const char *path) {
    size_t n = strlen(path);
    char *q = malloc(4 * n + 4), *p = q;
    if (!q) die(EXIT_RUNTIME, "out of memory");
    if (n && strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789._/+,:@%-") == n) {
        memcpy(q, path, n + 1);
        return q;
    }
    char esc[4096];
    escape_line(esc, sizeof esc, path);
    int printable = n < sizeof esc && strcmp(esc, path) == 0;  // nothing needed escaping
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
