// train_diag.h: train --diag DIR, the diagnostics' files of a run (docs/DIAGNOSTICS.md;
// their headers: outfile.h's DIAG_*): every --diag-every steps diag.h's statistics of the
// step (acts.csv, grads.csv, hist.csv, params.csv), the training loss averaged over each
// chunk of that many steps (loss.csv), and the held-out loss of every --eval-every
// (val.csv). Every row starts with its step; the files are logs (log.h): appended,
// synced with each checkpoint, cut back on --resume. `makemore plot DIR` draws them.
//
// A step without statistics costs one addition (the chunk's loss); buffers are allocated
// once, when the files are opened.
#ifndef MAKEMORE_TRAIN_DIAG_H
#define MAKEMORE_TRAIN_DIAG_H

#include "common.h"
#include "diag.h"
#include "log.h"
#include "outfile.h"

typedef struct {
    const char *dir;             // NULL: no --diag
    long every;
    Diag d;
    Log f[DIAG_N_FILES];
    char *path[DIAG_N_FILES];
    double loss_sum;             // the chunk's losses so far
    long loss_n;
} TrainDiag;

// Claims DIR: made when missing, locked (DIR/makemore-diag.lock), each file new or ours.
// 0, or -1 with err.
int train_diag_claim(const char *dir, Err *err);
// Opens the files (step 0: fresh; else a run resumed at `step`: each cut back to its rows
// of earlier steps) and allocates the statistics' buffers for n. 0, or -1 with err.
int train_diag_open(TrainDiag *t, const char *dir, long every, const Net *n, long step, Err *err);
// 1 when step i has statistics.
static inline int train_diag_due(const TrainDiag *t, long i) { return t->dir && i % t->every == 0; }
// Before a step with statistics.
void train_diag_before(TrainDiag *t, const Net *n);
// After step i (its loss, its learning rate): the chunk's sum; when the chunk ends, its
// row; with statistics (due: train_diag_due was 1 before it), their rows.
void train_diag_after(TrainDiag *t, const Net *n, long i, float loss, float lr, int due);
// A held-out loss after step i.
void train_diag_val(TrainDiag *t, long i, double val);
// The end of the run's steps (the last one: i): the last chunk's row, however short.
void train_diag_end(TrainDiag *t, long i);
// The file whose write failed, or NULL.
const Log *train_diag_failed(const TrainDiag *t);
void train_diag_sync(TrainDiag *t);
// Closes the files (a failure stays recorded: train_diag_failed) and frees the buffers.
void train_diag_close(TrainDiag *t);
// train_diag_close, then the paths.
void train_diag_free(TrainDiag *t);

#endif
