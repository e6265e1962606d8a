// checkpoint.h: the training state and the vocabulary, the metadata of every makemore
// file (the model's tensors and config: net_io.h).
#ifndef MAKEMORE_CHECKPOINT_H
#define MAKEMORE_CHECKPOINT_H

#include "common.h"
#include "data.h"
#include "safetensors.h"

// Room for the GEMM plan's text form (gemm_plan.h's GEMM_PLAN_TEXT_MAX fits: train_gemm.c).
#define CHECKPOINT_PLAN_MAX 4096

// Everything a resumed run needs to draw the same batches and follow the same
// schedule as an uninterrupted one.
typedef struct {
    long step;          // next step to run (0-based); == steps when finished
    long steps;         // total steps of the run
    long decay_step;    // step from which lr2 is used
    float lr, lr2;
    float weight_decay;  // AdamW's (metadata "weight_decay", written when not 0)
    double best_loss;    // makemore.py's form: the best test loss so far (metadata
                         // "best_loss", written when >= 0; absent: -1, none yet)
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
    char gemm_plan[CHECKPOINT_PLAN_MAX];  // the run's GEMM plan (gemm_plan_format), "" when none; optional
                          // metadata "gemm_plan", reused by --resume
    int ranks;          // MPI ranks the run was trained on (metadata "ranks", written when > 1;
                        // absent reads as 1)
    int has_split_seed;  // split_seed is known: a training state, or a plain model file's
                         // "words_split_seed" (net_save_model); set by checkpoint_read_common
} TrainState;

// The words file's fingerprint: 1 when w is the file ts was trained on (or ts records
// none: a file written before fingerprints); record stores w's in ts.
int checkpoint_words_match(const TrainState *ts, const Words *w);
void checkpoint_words_record(TrainState *ts, const Words *w);

// ---- for the model file (net_io.c) ----
// 1 when v is a vocabulary this program writes: '.' then distinct ascending bytes.
int checkpoint_vocab_ok(const Vocab *v);
// Appends "itos" (and, with ts, the training state's keys) to meta/text (room entries);
// itos_buf holds 513 bytes. Returns the number of entries, or -1 without room.
int checkpoint_meta_common(StMeta *meta, char (*text)[ST_META_TEXT], int room, const Vocab *v,
                           const TrainState *ts, char *itos_buf);
// Reads and validates "itos" (V symbols) and, when present, the training state; without
// one, a plain model file's "words_split_seed" (optional) into ts->split_seed.
int checkpoint_read_common(const StFile *f, const char *path, int V, Vocab *v, TrainState *ts,
                           int *has_ts, Err *err);
int checkpoint_meta_int(const StFile *f, const char *path, const char *key, int lo, int hi,
                        int *out, Err *err);

#endif
