// train_diag.c: train --diag DIR's files (train_diag.h).
#include "train_diag.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAG "--diag"
#define LOCK_NAME "makemore-diag"

int train_diag_claim(const char *dir, Err *err) {
    const char *files[DIAG_N_FILES + 1];
    OutKind kinds[DIAG_N_FILES];
    for (int i = 0; i < DIAG_N_FILES; i++) {
        files[i] = DIAG_FILES[i];
        kinds[i] = OUT_DIAG;
    }
    files[DIAG_N_FILES] = NULL;
    return outfile_claim_dir(FLAG, dir, LOCK_NAME, files, kinds, err);
}

int train_diag_open(TrainDiag *t, const char *dir, long every, const Net *n, long step, Err *err) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < DIAG_N_FILES; i++) {
        if (asprintf(&t->path[i], "%s/%s", dir, DIAG_FILES[i]) < 0) {
            t->path[i] = NULL;
            train_diag_free(t);
            return err_set(err, FLAG " %s: out of memory", dir);
        }
        char note[8];  // rows are not every step's: a shorter file is no news
        if (step > 0 ? log_resume(&t->f[i], FLAG, t->path[i], DIAG_HEADERS[i], step, note, 0, err)
                     : log_create(&t->f[i], FLAG, t->path[i], DIAG_HEADERS[i], err)) {
            train_diag_free(t);
            return -1;
        }
    }
    t->dir = dir;
    t->every = every;
    diag_alloc(&t->d, n);
    return 0;
}

void train_diag_before(TrainDiag *t, const Net *n) { diag_before_step(&t->d, n); }

// fprintf into file k, a failure recorded once.
#define ROW(t, k, ...)                                                                    \
    do {                                                                                  \
        Log *l_ = &(t)->f[k];                                                             \
        if (l_->f && !l_->failed && fprintf(l_->f, __VA_ARGS__) < 0) log_error(l_);      \
    } while (0)

static void hist_rows(TrainDiag *t, long i, int layer, const char *of, const DiagStat *s) {
    const double w = (s->hi - s->lo) / DIAG_BINS;
    for (int k = 0; k < DIAG_BINS; k++)
        ROW(t, DIAG_HIST, "%ld,%d,%s,%.6g,%.6g,%.6g\n", i, layer, of, s->lo + k * w,
            s->lo + (k + 1) * w, s->density[k]);
}

static void stats_rows(TrainDiag *t, const Net *n, long i) {
    const Diag *d = &t->d;
    for (int k = 0; k < d->n_layers; k++) {
        const DiagLayer *y = &d->layer[k];
        const char *kind = LAYER_KIND_NAMES[n->layer[y->layer].kind];
        if (y->nl != NET_NL_NONE) {
            ROW(t, DIAG_ACTS, "%ld,%d,%s,%s,%.6g,%.6g,%.4g\n", i, y->layer, kind, NET_NL_NAMES[y->nl],
                y->act.mean, y->act.std, 100.0 * y->act.saturated);
            hist_rows(t, i, y->layer, "act", &y->act);
        }
        ROW(t, DIAG_GRADS, "%ld,%d,%s,%.6g,%.6g\n", i, y->layer, kind, y->grad.mean, y->grad.std);
        hist_rows(t, i, y->layer, "grad", &y->grad);
    }
    for (int k = 0; k < d->n_params; k++) {
        const DiagParam *p = &d->param[k];
        const NetTensor *x = &n->tensor[p->tensor];
        char shape[32];  // the engine's layout: "30x200", "200"
        if (x->ndim == 2) snprintf(shape, sizeof shape, "%dx%d", x->shape[0], x->shape[1]);
        else snprintf(shape, sizeof shape, "%d", x->shape[0]);
        ROW(t, DIAG_PARAMS, "%ld,%s,%s,%zu,%.6g,%.6g,%.6g,%.6g\n", i, x->name, shape, x->numel,
            p->data_std, p->grad_std, p->grad_std / p->data_std, log10(p->update_std / p->data_std));
    }
}

static void loss_row(TrainDiag *t, long i) {
    if (t->loss_n == 0) return;
    ROW(t, DIAG_LOSS, "%ld,%ld,%.9g\n", i, t->loss_n, t->loss_sum / (double)t->loss_n);
    t->loss_sum = 0.0;
    t->loss_n = 0;
}

void train_diag_after(TrainDiag *t, const Net *n, long i, float loss, float lr, int due) {
    t->loss_sum += loss;
    t->loss_n++;
    if ((i + 1) % t->every == 0) loss_row(t, i);
    if (!due) return;
    diag_after_step(&t->d, n, n->cfg.optim == OPTIM_SGD ? lr : 0.0f);
    stats_rows(t, n, i);
}

void train_diag_val(TrainDiag *t, long i, double val) { ROW(t, DIAG_VAL, "%ld,%.9g\n", i, val); }

void train_diag_end(TrainDiag *t, long i) { loss_row(t, i); }

const Log *train_diag_failed(const TrainDiag *t) {
    for (int k = 0; t->dir && k < DIAG_N_FILES; k++)
        if (t->f[k].failed) return &t->f[k];
    return NULL;
}

void train_diag_sync(TrainDiag *t) {
    for (int k = 0; t->dir && k < DIAG_N_FILES; k++) log_sync(&t->f[k]);
}

void train_diag_close(TrainDiag *t) {
    for (int k = 0; k < DIAG_N_FILES; k++) log_close(&t->f[k]);
    if (t->d.before) diag_free(&t->d);
}

void train_diag_free(TrainDiag *t) {
    train_diag_close(t);
    for (int k = 0; k < DIAG_N_FILES; k++) {
        free(t->path[k]);
        t->path[k] = NULL;
    }
}
