// net_io.h: a model file: a Net and its training state as one safetensors file (the
// format is in net_io.c; the vocabulary and training state's keys in checkpoint.c).
#ifndef MAKEMORE_NET_IO_H
#define MAKEMORE_NET_IO_H

#include "checkpoint.h"
#include "net.h"

// Atomic write (st_save); ts may be NULL (a plain model file). Refuses a vocabulary that
// is malformed or not the model's.
int net_save(const char *path, const Net *n, const Vocab *v, const TrainState *ts, Err *err);
// A plain model file (no training state: makemore.py's model.pt) that records the split its
// held-out words came from ("words_split_seed"), so eval and sample hold it out again.
int net_save_model(const char *path, const Net *n, const Vocab *v, uint64_t split_seed,
                   Err *err);
// Reads and validates a model file (checksums, config, every tensor present with its dtype
// and shape, every value finite, variances non-negative, the vocabulary well-formed), then
// net_alloc(n, cfg, B) and fills it. has_ts (may be NULL) is 1 when the file holds a
// training state (ts, may be NULL). A file without checksums is refused unless flags has
// NET_ACCEPT_UNCHECKED. On failure n is left empty.
enum { NET_ACCEPT_UNCHECKED = 1 };
int net_load_flags(Net *n, Vocab *v, TrainState *ts, int *has_ts, const char *path, int B,
                   unsigned flags, Err *err);
int net_load(Net *n, Vocab *v, TrainState *ts, int *has_ts, const char *path, int B, Err *err);
// The checkpoint a run resumes from: loaded as net_load_flags (B = 1), and it must hold a
// training state this program could have written (a batch >= 2 with unbiased batchnorm,
// learning rates in (0, 1000], steps and batch in the flags' ranges); else -1 with
// "--resume PATH: ..." in err.
int net_load_resume(Net *n, Vocab *v, TrainState *ts, const char *path, unsigned flags, Err *err);
#endif
