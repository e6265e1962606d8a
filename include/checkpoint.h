// checkpoint.h: a model (and optionally the training state) as one safetensors file.
// Tensors: the parameters under the lecture's names (C, W1, b1, W2, b2, bngain, bnbias)
// and the buffers bnmean, bnvar ([1,H]). Metadata (strings): format version, config
// (vocab_size, block, embd, hidden, bn_var "unbiased"/"biased"), the vocabulary
// (itos as a string), and for a training checkpoint the TrainState fields.
#ifndef MAKEMORE_CHECKPOINT_H
#define MAKEMORE_CHECKPOINT_H

#include "common.h"
#include "data.h"
#include "model.h"
#include "safetensors.h"

// Everything a resumed run needs to draw the same batches and follow the same
// schedule as an uninterrupted one.
typedef struct {
    long step;          // next step to run (0-based); == steps when finished
    long steps;         // total steps of the run
    long decay_step;    // step from which lr2 is used
    float lr, lr2;
    int batch;
    uint64_t seed;
    uint64_t split_seed;
    uint64_t rng[4];    // Rng state after `step` steps
    int calibrated;     // bnmean/bnvar hold calibrated statistics
    // The words file trained on: its size and CRC-32C (metadata data_bytes, data_crc32c;
    // absent from files written before the fingerprint existed: has_data_fp = 0).
    int has_data_fp;
    uint64_t data_bytes;
    uint32_t data_crc;
    char gemm_plan[192];  // the run's GEMM plan (gemm_plan_format), "" when none; optional
                          // metadata "gemm_plan", reused by --resume
    int ranks;          // MPI ranks the run was trained on (metadata "ranks", written when > 1;
                        // absent reads as 1)
} TrainState;

// ts may be NULL (a plain model file). Atomic write.
int checkpoint_save(const char *path, const Model *m, const Vocab *v, const TrainState *ts,
                    Err *err);
// Reads and validates (config sane, every tensor present with the right dtype and shape,
// all values finite, vocabulary well-formed), then model_alloc(m, cfg, B) and fills it.
// has_train_state is set to 1 if the file holds a TrainState (ts filled), else 0.
// ts may be NULL.
// The file's checksums (safetensors.h) are verified first: a mismatch is an error naming
// the file; a file without them is refused unless flags has CKPT_ACCEPT_UNCHECKED. The
// header is checked before the data is read (see st_open).
int checkpoint_load(Model *m, Vocab *v, TrainState *ts, int *has_train_state,
                    const char *path, int B, Err *err);
enum { CKPT_ACCEPT_UNCHECKED = 1 };
int checkpoint_load_flags(Model *m, Vocab *v, TrainState *ts, int *has_train_state,
                          const char *path, int B, unsigned flags, Err *err);

// The checkpoint a run resumes from: loaded as checkpoint_load_flags (B = 1), and it must
// hold a training state this program could have written (a batch >= 2 with unbiased
// batchnorm, learning rates in (0, 1000], steps and batch in the flags' ranges); else -1
// with "--resume PATH: ..." in err and m freed.
int checkpoint_load_resume(Model *m, Vocab *v, TrainState *ts, const char *path,
                           unsigned flags, Err *err);
// The words file's fingerprint: 1 when w is the file ts was trained on (or ts records
// none: a file written before fingerprints); record stores w's in ts.
int checkpoint_words_match(const TrainState *ts, const Words *w);
void checkpoint_words_record(TrainState *ts, const Words *w);

// ---- shared with the MLP family's files (net_io.c) ----
// Appends "itos" (and, with ts, the training state's keys) to meta/text (room entries);
// itos_buf holds 513 bytes. Returns the number of entries, or -1 without room.
int checkpoint_meta_common(StMeta *meta, char (*text)[80], int room, const Vocab *v,
                           const TrainState *ts, char *itos_buf);
// Reads and validates "itos" (V symbols) and, when present, the training state.
int checkpoint_read_common(const StFile *f, const char *path, int V, Vocab *v, TrainState *ts,
                           int *has_ts, Err *err);
int checkpoint_meta_int(const StFile *f, const char *path, const char *key, int lo, int hi,
                        int *out, Err *err);

#endif
