// log.c: train --log, the step,loss CSV (log.h).
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "common.h"
#include "outfile.h"

#define CMD "train"

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

// A fresh log: header line, truncating an existing file.
void log_create(Log *l, const char *path) {
    l->path = path;
    l->f = fopen(path, "w");
    if (!l->f) cli_die(CMD, EXIT_RUNTIME, "--log %s: cannot write: %s", path, strerror(errno));
    fputs(LOG_HEADER, l->f);
}

// The log of a resumed run: keeps the header and the lines of steps before `step` (lines
// written after the checkpoint by the run that stopped are dropped, so the resumed run's
// lines follow on), and appends from there. A file that is not a makemore loss log is
// left alone (failure); a missing one is created; a log that cannot be cut (a FIFO,
// /dev/stdout) is appended to.
void log_resume(Log *l, const char *path, long step) {
    l->path = path;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) {
        log_create(l, path);
        if (step > 0)
            say(CMD, "note: --log %s is new; it starts at step %ld", path, step);
        return;
    }
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        cli_die(CMD, EXIT_RUNTIME, "--log %s: not a regular file (a FIFO, device or socket); allowed: "
             "a new file or the run's makemore loss log", path);
    int fd = open(path, O_RDWR | O_APPEND);
    if (fd < 0) cli_die(CMD, EXIT_RUNTIME, "--log %s: cannot open for update: %s", path, strerror(errno));
    FILE *r = fdopen(dup(fd), "r");
    if (!r) cli_die(CMD, EXIT_RUNTIME, "--log %s: cannot read: %s", path, strerror(errno));
    char line[256];
    long keep = 0, last = -1;
    int header = fgets(line, sizeof line, r) && strcmp(line, LOG_HEADER) == 0;
    if (!header) {
        fclose(r);
        close(fd);
        cli_die(CMD, EXIT_RUNTIME, "--log %s: not a makemore loss log (its first line is not "
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
    if (ftruncate(fd, keep) != 0)
        cli_die(CMD, EXIT_RUNTIME, "--log %s: cannot cut it back to step %ld: %s", path, step, strerror(errno));
    l->f = fdopen(fd, "a");
    if (!l->f) cli_die(CMD, EXIT_RUNTIME, "--log %s: cannot write: %s", path, strerror(errno));
    if (last != step - 1)
        say(CMD, "note: --log %s ends at step %ld; the resumed run appends from step %ld", path,
            last, step);
}

void log_close(Log *l) {
    if (!l->f) return;
    if (fflush(l->f) != 0 || ferror(l->f)) log_error(l);
    fclose(l->f);
    l->f = NULL;
}
