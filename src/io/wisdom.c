// wisdom.c: plans kept per machine (wisdom.h).
#include "wisdom.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "outfile.h"

#define HEADER "makemore-wisdom-1\n"
#define MAX_BYTES (16u << 20)

int wisdom_path(char *buf, size_t len, Err *err) {
    const char *w = getenv("MAKEMORE_WISDOM"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    int n;
    if (w && *w) n = snprintf(buf, len, "%s", w);
    else if (x && *x == '/') n = snprintf(buf, len, "%s/makemore/wisdom", x);
    else if (h && *h) n = snprintf(buf, len, "%s/.cache/makemore/wisdom", h);
    else return err_set(err, "no place for wisdom: neither MAKEMORE_WISDOM, XDG_CACHE_HOME nor HOME is set");
    if (n < 0 || (size_t)n >= len) return err_set(err, "the wisdom path is too long");
    return 0;
}

// mkdir -p of path's directory.
static void make_dirs(const char *path) {
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return;
    *slash = '\0';
    for (char *p = d + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(d, 0777);
            *p = '/';
        }
    mkdir(d, 0777);
}

// Reads and checks the file into w->text, or leaves it NULL with a note.
static void wisdom_read(Wisdom *w) {
    Err err;
    struct stat st;
    if (lstat(w->path, &st) != 0) return;  // none yet
    int fd = infile_open(NULL, w->path, &err);
    if (fd < 0) {
        snprintf(w->note, sizeof w->note, "wisdom %s is not read: %s", w->path, err.msg);
        w->foreign = 1;
        return;
    }
    if (fstat(fd, &st) != 0 || st.st_size > (off_t)MAX_BYTES) {
        close(fd);
        snprintf(w->note, sizeof w->note, "wisdom %s is not read: larger than %u bytes", w->path, MAX_BYTES);
        w->foreign = 1;
        return;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got != (ssize_t)st.st_size) {
        free(buf);
        snprintf(w->note, sizeof w->note, "wisdom %s is not read: a short read", w->path);
        return;
    }
    buf[got] = '\0';
    const size_t hl = strlen(HEADER);
    if ((size_t)got < hl || memcmp(buf, HEADER, hl)) {
        free(buf);
        snprintf(w->note, sizeof w->note, "%s is not a makemore wisdom file; not using or "
                 "touching it (remove it, or set MAKEMORE_WISDOM)", w->path);
        w->foreign = 1;
        return;
    }
    char *last = NULL;  // the checksum line: the last line
    for (char *p = buf + got - 1; p > buf; p--)
        if (p[-1] == '\n') {
            last = p;
            break;
        }
    unsigned want = 0;
    int ok = last && sscanf(last, "crc32c %8x", &want) == 1 && strlen(last) == 16 && last[15] == '\n' &&
             crc32c(0, buf, (size_t)(last - buf)) == want;
    for (char *p = buf + hl; ok && p < last; ) {  // every line: KEY\tVALUE (a NUL: no line end found)
        char *nl = strchr(p, '\n'), *tab = nl ? memchr(p, '\t', (size_t)(nl - p)) : NULL;
        ok = nl && tab && tab > p && tab + 1 < nl;
        if (ok) p = nl + 1;
    }
    if (!ok) {
        free(buf);
        snprintf(w->note, sizeof w->note, "wisdom %s is damaged (its checksum or its lines): "
                 "ignored, and replaced by the next plan stored", w->path);
        return;
    }
    *last = '\0';
    w->text = strdup(buf + hl);
    free(buf);
}

int wisdom_open(Wisdom *w, const char *path, Err *err) {
    memset(w, 0, sizeof *w);
    w->lock_fd = -1;
    snprintf(w->path, sizeof w->path, "%s", path);
    make_dirs(path);
    char lp[4200];
    snprintf(lp, sizeof lp, "%s.lock", path);
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        if (fd >= 0) close(fd);
        return err_set(err, "wisdom %s: cannot use its lock file %s: %s", path, lp,
                       fd >= 0 ? "not a regular file" : strerror(e));
    }
    for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; tries++) {
        if (errno != EWOULDBLOCK || tries >= 600) {
            int e = errno;
            close(fd);
            return err_set(err, "wisdom %s: cannot lock it: %s", path,
                           e == EWOULDBLOCK ? "another run holds it for more than a minute" : strerror(e));
        }
        usleep(100000);
    }
    w->lock_fd = fd;
    wisdom_read(w);
    return 0;
}

// The line of key in text, or NULL.
static const char *find_line(const char *text, const char *key) {
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; ) {
        const char *nl = strchr(p, '\n');
        if (!strncmp(p, key, kl) && p[kl] == '\t') return p;
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

int wisdom_get(const Wisdom *w, const char *key, char *value, size_t len) {
    const char *line = w->text ? find_line(w->text, key) : NULL;
    if (!line) return 0;
    const char *v = line + strlen(key) + 1, *nl = strchr(v, '\n');
    size_t n = nl ? (size_t)(nl - v) : strlen(v);
    if (n >= len) return 0;
    memcpy(value, v, n);
    value[n] = '\0';
    return 1;
}

// Writes HEADER, text and the checksum line, atomically.
static int write_file(Wisdom *w, const char *text, Err *err) {
    if (w->foreign) return err_set(err, "%s", w->note);
    size_t tl = strlen(text), hl = strlen(HEADER);
    char *all = malloc(hl + tl + 32);
    if (!all) return err_set(err, "wisdom %s: out of memory", w->path);
    memcpy(all, HEADER, hl);
    memcpy(all + hl, text, tl);
    int n = snprintf(all + hl + tl, 32, "crc32c %08x\n", (unsigned)crc32c(0, all, hl + tl));
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", w->path);
    int fd = mkstemp(tmp);
    size_t total = hl + tl + (size_t)n, done = 0;
    while (fd >= 0 && done < total) {
        ssize_t k = write(fd, all + done, total - done);
        if (k <= 0) break;
        done += (size_t)k;
    }
    int ok = fd >= 0 && done == total && fsync(fd) == 0;
    int e = errno;
    if (fd >= 0) ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, w->path) == 0;
    if (!ok) {
        e = errno ? errno : e;
        if (fd >= 0) unlink(tmp);
    }
    free(all);
    if (!ok) return err_set(err, "wisdom %s: cannot write it: %s", w->path, strerror(e));
    free(w->text);
    w->text = strdup(text);
    return 0;
}

int wisdom_put(Wisdom *w, const char *key, const char *value, Err *err) {
    if (strpbrk(key, "\t\n") || strpbrk(value, "\t\n"))
        return err_set(err, "wisdom: a key or value with a tab or line end");
    size_t old = w->text ? strlen(w->text) : 0;
    char *text = malloc(old + strlen(key) + strlen(value) + 4);
    if (!text) return err_set(err, "wisdom: out of memory");
    size_t n = 0;
    for (const char *p = w->text; p && *p; ) {  // every other line, then key's
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        size_t kl = strlen(key);
        if (!(len > kl && !strncmp(p, key, kl) && p[kl] == '\t')) {
            memcpy(text + n, p, len);
            n += len;
        }
        p += len;
    }
    n += (size_t)sprintf(text + n, "%s\t%s\n", key, value);
    int rc = write_file(w, text, err);
    free(text);
    return rc;
}

int wisdom_forget(Wisdom *w, const char *match, Err *err) {
    size_t old = w->text ? strlen(w->text) : 0;
    char *text = calloc(old + 1, 1);
    if (!text) return err_set(err, "wisdom: out of memory");
    int dropped = 0;
    size_t n = 0;
    for (const char *p = w->text; p && *p; ) {
        const char *nl = strchr(p, '\n'), *tab = strchr(p, '\t');
        size_t len = nl ? (size_t)(nl - p) + 1 : strlen(p);
        char key[4096];
        snprintf(key, sizeof key, "%.*s", tab ? (int)(tab - p) : 0, p);
        if (!match || strstr(key, match)) dropped++;
        else {
            memcpy(text + n, p, len);
            n += len;
        }
        p += len;
    }
    int rc = write_file(w, text, err);
    free(text);
    return rc ? -1 : dropped;
}

int wisdom_each(const Wisdom *w, void (*fn)(void *ctx, const char *key, const char *value), void *ctx) {
    int count = 0;
    for (const char *p = w->text; p && *p; count++) {
        const char *nl = strchr(p, '\n'), *tab = strchr(p, '\t');
        char key[4096], value[8192];
        snprintf(key, sizeof key, "%.*s", (int)(tab - p), p);
        snprintf(value, sizeof value, "%.*s", (int)(nl - tab - 1), tab + 1);
        fn(ctx, key, value);
        p = nl + 1;
    }
    return count;
}

void wisdom_close(Wisdom *w) {
    if (w->lock_fd >= 0) close(w->lock_fd);  // the lock goes with it
    free(w->text);
    memset(w, 0, sizeof *w);
    w->lock_fd = -1;
}
