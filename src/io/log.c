// log.c: the append-only CSV files of a training run (log.h).
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

// A fresh file: header line, truncating an existing file (claimed: one of ours).
int log_create(Log *l, const char *flag, const char *path, const char *header, Err *err) {
    l->path = path;
    int fd = outfile_open_append(flag, path, err);
    if (fd < 0) return -1;
    if (ftruncate(fd, 0) != 0 || !(l->f = fdopen(fd, "a"))) {
        int e = errno;
        close(fd);
        return err_set(err, "%s %s: cannot write: %s", flag, path, strerror(e));
    }
    if (fputs(header, l->f) < 0) log_error(l);
    return 0;
}

// The first line of a header, without its newline, for messages.
static int header_len(const char *header) { return (int)strcspn(header, "\n"); }

// The file of a resumed run: keeps the header and the lines of steps before `step` (lines
// written after the checkpoint by the run that stopped are dropped, so the resumed run's
// lines follow on), and appends from there. A file with another header is left alone
// (failure); a missing one is created; a file that cannot be cut (a FIFO, /dev/stdout) is
// refused.
int log_resume(Log *l, const char *flag, const char *path, const char *header, long step,
               char *note, size_t note_len, Err *err) {
    l->path = path;
    note[0] = '\0';
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) {
        if (log_create(l, flag, path, header, err)) return -1;
        if (step > 0) snprintf(note, note_len, "note: %s %s is new; it starts at step %ld", flag, path, step);
        return 0;
    }
    int fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s %s: cannot open for update: %s", flag, path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s %s: not a regular file (a FIFO, device or socket); allowed: a "
                       "new file or the run's own", flag, path);
    }
    fcntl(fd, F_SETFL, O_APPEND);  // blocking from here (O_APPEND kept)
    char line[256];
    long keep = 0, last = -1;
    FILE *r = fdopen(dup(fd), "r");
    if (!r) {
        int e = errno;
        close(fd);
        return err_set(err, "%s %s: cannot read: %s", flag, path, strerror(e));
    }
    rewind(r);
    int ours = fgets(line, sizeof line, r) && strcmp(line, header) == 0;
    if (!ours) {
        fclose(r);
        close(fd);
        return err_set(err, "%s %s: its first line is not \"%.*s\" (another run's file, or "
                       "one written with other flags); not touching it (give another path)", flag,
                       path, header_len(header), header);
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
        return err_set(err, "%s %s: cannot cut it back to step %ld: %s", flag, path, step, strerror(e));
    }
    l->f = fdopen(fd, "a");
    if (!l->f) {
        int e = errno;
        close(fd);
        return err_set(err, "%s %s: cannot write: %s", flag, path, strerror(e));
    }
    if (last != step - 1 && note_len)
        snprintf(note, note_len, "note: %s %s ends at step %ld; the resumed run appends from "
                 "step %ld", flag, path, last, step);
    return 0;
}

void log_close(Log *l) {
    if (!l->f) return;
    if (fflush(l->f) != 0 || ferror(l->f)) log_error(l);
    fclose(l->f);
    l->f = NULL;
}
