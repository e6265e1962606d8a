// net_io.h: a Net and its training state as one safetensors file (format in net_io.c).
#ifndef MAKEMORE_NET_IO_H
#define MAKEMORE_NET_IO_H

#include "checkpoint.h"
#include "net.h"

// Atomic write (st_save); ts may be NULL.
int net_save(const char *path, const Net *n, const Vocab *v, const TrainState *ts, Err *err);
// Reads and validates a Net file, or a model.c file as mlp/1; then net_alloc(n, cfg, B)
// and fills it. has_ts (may be NULL) is 1 when the file holds a training state (ts).
int net_load(Net *n, Vocab *v, TrainState *ts, int *has_ts, const char *path, int B, Err *err);
// 1: a Net file ("makemore-net-1"); 0: another makemore file; -1: unreadable or not a
// model. cfg (may be NULL) receives the file's configuration.
int net_file_kind(const char *path, NetConfig *cfg);

#endif
