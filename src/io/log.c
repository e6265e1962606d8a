// log.c: train --log, the step,loss CSV (log.h).
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "outfile.h"

void log_error(Log *l) {
    if (l->failed) return;
    l->failed = 1;
    l->err = errno ? errno : EIO;
}

// Makes the log's lines durable (before a checkpoint, so that the log on disk covers at
// least every step the checkpoint holds).
void log_sync(Log *l) {
    if (!l->f || l->failed) return;
    if (fflush(l->f) != 0 || ferror(l->f)) return log_error(l);
    if (fsync(fileno(l->f)) != 0 && errno != EINVAL && errno != EROFS) log_error(l);
}

// A fresh log: header line, truncating an existing file (claimed: a makemore log).
int log_create(Log *l, const char *path, Err *err) {
    l->path = path;
    int fd = outfile_open_append("--log", path, err);
    if (fd < 0) return -1;
    if (ftruncate(fd, 0) != 0 || !(l->f = fdopen(fd, "a"))) {
        int e = errno;
        close(fd);
        return err_set(err, "--log %s: cannot write: %s", path, strerror(e));
    }
    if (fputs(LOG_HEADER, l->f) < 0) log_error(l);
    return 0;
}

// The log of a resumed run: keeps the header and the lines of steps before `step` (lines
// written after the checkpoint by the run that stopped are dropped, so the resumed run's
// lines follow on), and appends from there. A file that is not a makemore loss log is
// left alone (failure); a missing one is created; a log that cannot be cut (a FIFO,
// /dev/stdout) is appended to.
int log_resume(Log *l, const char *path, long step, char *note, size_t note_len, Err *err) {
    l->path = path;
    note[0] = '\0';
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) {
        if (log_create(l, path, err)) return -1;
        if (step > 0) snprintf(note, note_len, "note: --log %s is new; it starts at step %ld", path, step);
        return 0;
    }
    int fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(err, "--log %s: cannot open for update: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "--log %s: not a regular file (a FIFO, device or socket); allowed: a "
                       "new file or the run's makemore loss log", path);
    }
    fcntl(fd, F_SETFL, O_APPEND);  // blocking from here (O_APPEND kept)
    char line[256];
    long keep = 0, last = -1;
    FILE *r = fdopen(dup(fd), "r");
    if (!r) {
        int e = errno;
        close(fd);
        return err_set(err, "--log %s: cannot read: %s", path, strerror(e));
    }
    rewind(r);
    int header = fgets(line, sizeof line, r) && strcmp(line, LOG_HEADER) == 0;
    if (!header) {
        fclose(r);
        close(fd);
        return err_set(err, "--log %s: not a makemore loss log (its first line is not "
                       "\"step,loss\"); not touching it (give another --log path)", path);
    }
    keep = (long)strlen(line);
    while (fgets(line, sizeof line, r)) {
        size_t n = strlen(line);
        char *end;
        errno = 0;
        long s = strtol(line, &end, 10);
        if (n == 0 || line[n - 1] != '\n' || end == line || *end != ',' || errno || s < 0 ||
            s >= step)
            break;  // the first line of a later step (or a torn last line) ends what is kept
        last = s;
        keep += (long)n;
    }
    fclose(r);
    if (ftruncate(fd, keep) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, "--log %s: cannot cut it back to step %ld: %s", path, step, strerror(e));
    }
    l->f = fdopen(fd, "a");
    if (!l->f) {
        int e = errno;
        close(fd);
        return err_set(err, "--log %s: cannot write: %s", path, strerror(e));
    }
    if (last != step - 1)
        snprintf(note, note_len, "note: --log %s ends at step %ld; the resumed run appends from "
                 "step %ld", path, last, step);
    return 0;
}

void log_close(Log *l) {
    if (!l->f) return;
    if (fflush(l->f) != 0 || ferror(l->f)) log_error(l);
    fclose(l->f);
    l->f = NULL;
}
