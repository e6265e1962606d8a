// net.h: the models, one registry over the layer table (net_table.h): which architectures
// exist, their recipes, configs, tables and buffers; the training step; the guard; sizes.
//
// Architectures (docs/ARCHITECTURES.md has the whole story):
//   mlp, N layers   EMBED -> FLATTEN(T) -> N x [LINEAR -> BN_TANH] -> LINEAR_OUT (+ CE)
//                   N = 1 is the lecture's part-4 MLP, tensor for tensor; --norm none:
//                   N x [LINEAR -> TANH], part 3's start (no batchnorm).
//   wavenet         EMBED -> L x [FLATTEN(2) -> LINEAR (no bias) -> BN_TANH] -> LINEAR_OUT
//                   with L = log2(T): part 5's hierarchical model.
//   makemore.py's six types on its sequences (X, Y [B,T], targets -1 ignored), under its
//   state_dict names, PyTorch's initialisation, AdamW:
//   bigram          BIGRAM (a [V,V] table of logits)
//   bengio          CONTEXT (the T previous tokens, <BLANK> before the start; their
//                   Linear through projection tables, tanh) -> LINEAR_OUT
//                   (makemore.py's "mlp": Bengio et al. 2003)
//   bow             TOKPOS -> BOW (causal average + MLP, both residual) -> LINEAR_OUT
//   rnn, gru        EMBED -> RNN | GRU (backprop through time) -> LINEAR_OUT
//   transformer     TOKPOS -> n_layer x TBLOCK -> LAYERNORM -> LINEAR_OUT (no bias)
// BN_TANH normalises its [B*rows, cols] input over all B*rows rows: for rows > 1 that is
// part 5's BatchNorm1d reduction over dims (0, 1) of a (B, rows, cols) activation.
#ifndef MAKEMORE_NET_H
#define MAKEMORE_NET_H

#include <stddef.h>

#include "data.h"
#include "gemm_plan.h"
#include "net_table.h"
#include "rng.h"

extern const char *const NET_ARCH_NAMES[NET_N_ARCHS + 1];  // "mlp", "wavenet", ..., NULL
extern const char *const BN_STATS_NAMES[3];                // "calibrate", "running", NULL
extern const char *const OPTIM_NAMES[3];                   // "sgd", "adamw", NULL
extern const char *const NORM_NAMES[3];                    // "batchnorm", "none", NULL
extern const char *const INIT_NAMES[3];                    // "lecture", "plain", NULL
const char *net_arch_name(NetArch a);
// 1 for makemore.py's types: sequences, AdamW by default, no batchnorm.
int net_arch_is_seq(NetArch a);
// makemore.py's name of a type ("mlp" for bengio), or NULL for the lecture's family.
const char *net_arch_makemore_name(NetArch a);

void net_recipe(NetArch a, NetRecipe *r);

// The head of the plan's text form for cfg at batch B: "B=32,TE=30,H=200,V=27" for the
// lecture's model, with arch, layers (and the optimizer, when not the recipe's) before the
// sizes for the others.
void net_plan_sizes(const NetConfig *cfg, int B, char *buf, size_t len);

// Checks cfg (sizes, wavenet's power-of-two block, heads dividing n_embd) and completes it
// (wavenet's layers). 0, or -1 with a message naming the flag and what is allowed.
int net_config_check(NetConfig *cfg, Err *err);
// Builds the table for cfg (already checked) without allocating: counts and names.
void net_build(Net *n, const NetConfig *cfg, int B);
// net_build, then allocates every buffer and the GEMM plan (every op at its fixed kind:
// gemm_plan_force sets another). B >= 1.
void net_alloc(Net *n, const NetConfig *cfg, int B);
void net_free(Net *n);
// Bytes the training run needs: buffers of the table plus the evaluation scratch.
double net_memory_bytes(const NetConfig *cfg, int B);
// 0 when a training run of cfg at batch B fits: every tensor and activation (of the step
// and of the evaluation's chunks) within the kernels' int indices, the whole within the
// machine's memory; else -1 with msg naming the tensor or the sizes and which flags to lower.
int net_check_sizes(const NetConfig *cfg, int B, char *msg, size_t len);

// ---- inference ----
// The MLP family (net_infer.c): batchnorm on its stored statistics.
// Calibrates every batchnorm's statistics on ex, layer by layer in inference mode
// (mean, then unbiased variance, in double: the lecture's calibration).
void net_calibrate(Net *n, const Examples *ex);
// Inference logits for X [m,T] into logits [m,V]; scratch of net_scratch_floats(m).
size_t net_scratch_floats(const Net *n, int m);
void net_logits(const Net *n, float *logits, const int *X, int m, float *scratch);
// Mean cross-entropy of ex in inference mode: per example for the lecture's family, per
// counted position (Y >= 0) for makemore.py's types.
double net_eval_loss(const Net *n, const Examples *ex);
// makemore.py's evaluate(): the mean over up to max_batches + 1 batches of `batch`
// examples (drawn in a shuffled order from rng) of each batch's mean loss.
double net_eval_makemore(const Net *n, const Examples *ex, int batch, int max_batches, Rng *rng);
// makemore.py's types: a view of n's parameters with activations for m sequences (its own
// buffers but params, grads: n's); its forward leaves the logits [m*T, V] at net_view_logits.
void net_view(Net *view, const Net *n, int m);
const float *net_view_logits(const Net *view);

#endif
