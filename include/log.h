// log.h: the append-only CSV files of a training run: train --log FILE (LOG_HEADER
// "step,loss", or LOG_HEADER_VAL "step,loss,val" with --eval-every; then a line for every
// step, the loss as %.9g) and the diagnostics' files (--diag DIR, outfile.h's DIAG_*
// headers). Each starts with its header line; every line after it starts with its step.
// Flushed and fsynced before every checkpoint; on --resume cut back to the lines before the
// checkpoint's step, so an interrupted and resumed run leaves the same file as an
// uninterrupted one. Opening failures return -1 with an Err; a failed write is recorded
// (failed, err) for the run to stop with a checkpoint.
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

// A fresh file: its header line, truncating the file (outfile_claim said it may); flag
// names it in messages ("--log"). 0, or -1 with err.
int log_create(Log *l, const char *flag, const char *path, const char *header, Err *err);
// The file of a run resumed at `step`: keeps the header and the lines of earlier steps,
// appends from there; a missing file is created (with a note when step > 0); a file whose
// first line is not `header`, or not a regular file, is refused (-1 with err). note gets a
// line to print ("note: ...") when the file was new or shorter than the run, else "".
int log_resume(Log *l, const char *flag, const char *path, const char *header, long step,
               char *note, size_t note_len, Err *err);
// A failed write: recorded once (errno), the run stops (a log that silently lost lines
// would not match the checkpoint it claims to cover).
void log_error(Log *l);
// Makes the lines durable (before a checkpoint: the log on disk covers every step it holds).
void log_sync(Log *l);
void log_close(Log *l);

#endif
