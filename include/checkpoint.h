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
int checkpoint_load(Model *m, Vocab *v, TrainState *ts, int *has_train_state,
                    const char *path, int B, Err *err);

#endif
