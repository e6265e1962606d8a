// log.h: train --log FILE, an append-only progress file: LOG_HEADER ("step,loss"), then
// "step,loss" for every step (the loss as %.9g). Flushed and fsynced before every
// checkpoint; on --resume cut back to the lines before the checkpoint's step, so an
// interrupted and resumed run leaves the same log as an uninterrupted one. Opening
// failures return -1 with an Err; a failed write is recorded (failed, err) for the run to
// stop with a checkpoint.
#ifndef MAKEMORE_LOG_H
#define MAKEMORE_LOG_H

#include <stddef.h>
#include <stdio.h>

#include "common.h"

typedef struct {
    FILE *f;
    const char *path;
    int failed;  // a write failed (EFBIG, ENOSPC, EIO...): the run stops with a checkpoint
    int err;     // its errno
} Log;

// A fresh log: the header, truncating the file (outfile_claim said it may). 0, or -1 with err.
int log_create(Log *l, const char *path, Err *err);
// The log of a run resumed at `step`: keeps the header and the lines of earlier steps,
// appends from there; a missing file is created (with a note when step > 0); a file that
// is not a makemore loss log, or not a regular file, is refused (-1 with err). note gets a
// line to print ("note: ...") when the log was new or shorter than the run, else "".
int log_resume(Log *l, const char *path, long step, char *note, size_t note_len, Err *err);
// A failed write: recorded once (errno), the run stops (a log that silently lost lines
// would not match the checkpoint it claims to cover).
void log_error(Log *l);
// Makes the lines durable (before a checkpoint: the log on disk covers every step it holds).
void log_sync(Log *l);
void log_close(Log *l);

#endif
