// net_table.h: the layer table, in the llm.c manner: the types every architecture file
// builds on, the building blocks it builds with, and the drivers that run any table.
//
// A Net is a list of layers; each has a kind, the shape of its output per example (rows x
// cols: a batch of B holds B*rows rows), the tensors it owns, the offsets of its
// activations and its ops in the GEMM plan, and the functions that run it (LayerOps, set by
// its architecture file). Everything else follows from the table: one parameter buffer,
// one gradient buffer, one buffer of batchnorm statistics, one activation buffer, AdamW's
// two moment buffers; forward, backward, the updates, checkpoint names, parameter count,
// memory estimate and the plan.
//
// The architectures (net.h's registry) live in one file each: mlp.c (the lecture's MLP and
// part 5's WaveNet), transformer.c and seqmodels.c (makemore.py's six types). Adding one:
// docs/ADDING_A_MODEL.md.
#ifndef MAKEMORE_NET_TABLE_H
#define MAKEMORE_NET_TABLE_H

#include <stddef.h>

#include "common.h"
#include "data.h"
#include "gemm_plan.h"
#include "rng.h"

typedef enum {
    ARCH_MLP, ARCH_WAVENET,  // the lecture's family: context windows, batchnorm, SGD
    ARCH_BIGRAM, ARCH_BENGIO, ARCH_BOW, ARCH_RNN, ARCH_GRU, ARCH_TRANSFORMER,  // makemore.py's
    NET_N_ARCHS
} NetArch;
typedef enum { BN_STATS_CALIBRATE, BN_STATS_RUNNING } BnStats;
typedef enum { OPTIM_SGD, OPTIM_ADAMW } Optim;
// The lecture's family: what follows each hidden linear layer (part 3's end, the default;
// or its start, Linear -> Tanh) and how its weights start (docs/DIAGNOSTICS.md).
typedef enum { NORM_BATCHNORM, NORM_NONE } Norm;
typedef enum { INIT_LECTURE, INIT_PLAIN } InitKind;

typedef struct {
    NetArch arch;
    int V, T, E, H;    // vocabulary, context (block), embedding width (n_embd), hidden width
                       // (the MLP family's --hidden; makemore.py's n_embd2)
    int layers;        // mlp: hidden blocks (>= 1); wavenet: log2(T), set by net_config_check;
                       // transformer: n_layer
    int heads;         // transformer: n_head
    int bessel;        // batch variance divides by rows-1 (1) or rows (0)
    BnStats bn_stats;  // inference statistics: calibrated on the training split or running
    float momentum;    // of the running statistics (part 5: 0.1)
    Optim optim;       // SGD (the weights' updates folded into their GEMMs) or AdamW
    Norm norm;         // mlp: NORM_BATCHNORM (Linear -> BatchNorm -> Tanh blocks) or NORM_NONE
                       // (Linear -> Tanh, part 3's start); the others: NORM_BATCHNORM
    InitKind init;     // mlp, wavenet: INIT_LECTURE (hidden weights gain (5/3)/sqrt(fan_in),
                       // output weights x 0.1: the architecture's own) or INIT_PLAIN (every
                       // linear weight and bias N(0, 1): part 3's first cell). Initialisation
                       // only: not kept in model files.
} NetConfig;

typedef enum {
    L_EMBED, L_FLATTEN, L_LINEAR, L_BN_TANH, L_LINEAR_OUT, L_TANH,  // mlp.c
    L_TOKPOS, L_TBLOCK, L_LAYERNORM,                           // transformer.c
    L_BIGRAM, L_CONTEXT, L_BOW, L_RNN, L_GRU,                  // seqmodels.c
    L_N_KINDS
} LayerKind;
extern const char *const LAYER_KIND_NAMES[L_N_KINDS];

#define NET_NAME_MAX 48

// One tensor: a parameter (in params/grads) or a batchnorm statistic (in stats).
typedef struct {
    char name[NET_NAME_MAX];  // the checkpoint's name ("W1", "transformer.h.0.attn.c_attn.weight")
    int ndim, shape[2];       // the engine's layout
    size_t numel, off;        // offset in params (is_stat == 0) or stats (is_stat == 1)
    int is_stat;
    int gemm_updated;   // a weight the fused SGD step updates inside its GEMM (no gradient kept)
    int is_bn;          // a batchnorm's gain or shift
    int transposed;     // a linear weight kept [in, out]: PyTorch's layout is its transpose
    int fan_in;         // weights: rows of W
    int init;           // NET_INIT_NORMAL or NET_INIT_UNIFORM
    float init_scale, init_shift;  // normal: init_scale * N(0,1) + init_shift;
                                   // uniform: U(-init_scale, init_scale)
} NetTensor;
enum { NET_INIT_NORMAL, NET_INIT_UNIFORM };

// An architecture's recipe: its default sizes and the schedule it trains with (the
// lecture's for mlp, part 5's for wavenet, makemore.py's for its types). One function per
// architecture fills it; the commands' defaults are read from it.
typedef struct NetRecipe {
    int T, E, H, layers, heads;   // --block (0: from the data), --embd, --hidden, --layers, --heads
    BnStats bn_stats;
    Optim optim;
    long steps, decay_step;
    float lr, lr2, weight_decay;
    int batch;
} NetRecipe;
struct Net;
struct Layer;

// What the diagnostics (diag.h) read of a layer after a training step, from the buffers
// the step leaves (nothing is computed for them): the output of its nonlinearity and the
// gradient of the loss with respect to the layer's output, over the step's rows (B*rows,
// or the packed rows: n->rows). Every pointer holds until the next step.
typedef enum { NET_NL_NONE, NET_NL_TANH, NET_NL_GELU, NET_N_NL } NetNonlin;
extern const char *const NET_NL_NAMES[NET_N_NL];  // "none", "tanh", "gelu"
typedef struct {
    int rows;
    NetNonlin nl;          // the layer's nonlinearity (NONE: act, pre unused)
    const float *act;      // its output [rows, act_cols]
    const float *pre;      // NET_NL_GELU: its input [rows, act_cols] (saturation reads it)
    int act_cols;
    const float *grad;     // dloss/d(the layer's output) [rows, cols]
    int cols;
    // A weight the fused SGD step updated inside its GEMM (its gradient never kept; -1:
    // none): tensor fused_w's gradient is in^T . grad, in [rows, in_cols].
    int fused_w;
    const float *in;
    int in_cols;
} LayerProbe;

// How a kind runs (its architecture file defines one per kind). forward: training (batch
// statistics; update_running moves running statistics) from the previous layer's output;
// backward: fills the gradients of its tensors (overwritten) and its input's gradient;
// lr > 0: the fused SGD step (a weight whose tensor is gemm_updated is updated inside its
// GEMM, its gradient never kept). plan: phase 0 adds the layer's forward ops to the plan
// (layers in order), phase 1 its backward ops (layers in reverse). probe: after a step,
// where its nonlinearity's output and its output's gradient lie (LayerProbe; most kinds:
// net_probe_output); NULL: the layer is a view, nothing of its own to read.
// decode (makemore.py's types, optional): sampling one position at a time. Position t's
// output [B, cols] (row b: sequence b) from its input at t (the layer before's decode
// output, [B, in_cols]) and what the layer kept from the calls for 0..t-1 (t = 0 starts
// afresh): a Transformer block's keys and values, a cell's hidden state, bow's running sum.
// That state lives in the layer's activations, allocated with the table; nothing is
// allocated per step. Without it, sampling runs the whole forward over the prefix
// (net_decode_ready), so a new kind never needs one. Each may be NULL.
typedef struct {
    LayerKind kind;
    void (*forward)(struct Net *n, const struct Layer *L, int l, int update_running);
    void (*backward)(struct Net *n, const struct Layer *L, int l, float lr);
    void (*plan)(struct Net *n, struct Layer *L, int phase);
    void (*probe)(const struct Net *n, const struct Layer *L, int l, LayerProbe *p);
    void (*decode)(struct Net *n, const struct Layer *L, int l, int t);
} LayerOps;

#define LAYER_ACTS 24
#define LAYER_OPS 12

typedef struct Layer {
    LayerKind kind;
    const LayerOps *ops;
    int in_rows, in_cols;  // input per example
    int rows, cols;        // output per example
    int w, b;              // tensors: EMBED C; LINEAR W, b (-1: none); BN_TANH gain, bias
    int mean, var;         // BN_TANH: its inference statistics
    size_t out, dout;      // activation offsets of the output and its gradient (B*rows*cols)
    size_t raw, bmean, bvar, binv;  // BN_TANH: bnraw [B*rows*cols], batch stats [cols] x 3
    int fwd, dx, dw;       // linear layers: their ops in the GEMM plan (-1: none)
    int t0;                // composite kinds: the first of their tensors (consecutive)
    size_t a[LAYER_ACTS];  // composite kinds: their other activations (kind-defined order)
    int op[LAYER_OPS];     // composite kinds: their plan ops (kind-defined order)
} Layer;

// The batchnorm kernels the table's BN_TANH layers call, chosen when the model is built:
// net_alloc sets the local ones (kernels.h); data-parallel training sets the synchronised
// ones (dp_step.h). Forward: hprebn = hprod + bias (bias may be NULL) normalised over the
// rows this process holds (or the global batch's), then tanh; backward: the closed form.
typedef void (*NetBnForward)(float *h, float *bnraw, float *bnmeani, float *bnvar,
                             float *bnvar_inv, const float *hprod, const float *bias,
                             const float *bngain, const float *bnbias, int rows, int H, int bessel);
typedef void (*NetBnBackward)(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                              const float *h, const float *bnraw, const float *bnvar_inv,
                              const float *bngain, int rows, int H, int bessel);

#define NET_MAX_LAYERS 64
#define NET_MAX_TENSORS 200

typedef struct Net {
    NetConfig cfg;
    int n_layers, n_tensors;
    Layer layer[NET_MAX_LAYERS];
    NetTensor tensor[NET_MAX_TENSORS];
    size_t num_params, num_stats, num_acts;
    float *params, *grads, *stats, *acts;
    float *adam_m, *adam_v;  // AdamW's moments [num_params] (OPTIM_ADAMW; net_alloc)
    GemmPlan plan;         // the training step's GEMMs at batch B (net_alloc: the fixed path)
    int attn[6];           // the attention's ops in the plan (shared by every block; -1: none)
    int B;                 // batch the activations are sized for
    int seq;               // targets per example are T positions (makemore.py's), else 1
    int *Xb, *Yb;          // [B, T], [B] or [B, T] (seq: -1 where ignored)
    // Packed (an architecture whose position t depends on positions <= t alone, set by its
    // builder): each step runs on the positions up to every sequence's last counted target,
    // no further: the positions after it reach neither the loss nor, through the causal
    // model, any position before them. net_forward packs (net_pack).
    int packed;            // NET_PACK_NONE, _CAUSAL (each sequence to its own length) or
                           // _UNIFORM (every sequence to the batch's longest: [B, Tp])
    int rows;              // the rows this step runs on: B*T, or the packed positions
    int Tp;                // NET_PACK_UNIFORM: the positions kept per sequence
    int *pk_x, *pk_y, *pk_t;  // packed: each row's token, target and position [B*T]
    int *pk_p;             // packed: each row's place in the batch, b*T + t [B*T]
    int *pk_off;           // packed: sequence b's first row [B+1]
    int *pk_len;           // packed: sequence b's rows, pk_off[b+1] - pk_off[b] [B]
    float loss;
    NetBnForward bn_forward;    // batchnorm's kernels (see NetBnForward)
    NetBnBackward bn_backward;
} Net;

// ---- building a table (the architecture files) ----
// Offsets handed out while a table is built.
typedef struct {
    size_t params, stats, acts;
} NetOffsets;
// A tensor named base (k > 0: base followed by k), rows x cols (cols 0: 1-D); its offset in
// params or stats (is_stat). Returns its index.
int net_add_tensor(Net *n, NetOffsets *o, const char *base, int k, int rows, int cols,
                   int is_stat, float scale, float shift);
// As net_add_tensor under a name given whole, with PyTorch's default initialisation:
// uniform (bound > 0: U(-bound, bound)), normal (N(0,1) * scale + shift) or constant.
int net_add_param(Net *n, NetOffsets *o, const char *name, int rows, int cols, int init,
                  float scale, float shift);
// An activation of floats, its offset rounded to 16 floats (64 bytes).
size_t net_add_act(NetOffsets *o, size_t floats);
// The next layer of kind (its input: the previous layer's output), run by ops.
Layer *net_add_layer(Net *n, LayerKind kind, const LayerOps *ops, int rows, int cols);
// The GEMMs of a linear layer on rows x in -> out (weight [in, out]) into the plan, named
// "fwd" tag, "dx" tag, "dw" tag: phase 0 its forward (NN, beta fwd_beta) into *fwd; phase
// 1 its dX (NT) and dW (TN) into *dx, *dw, at the fixed kind `fixed` (the forward at
// GEMM_BLAS). dW's beta: 1 when `fused` (the SGD step folded in: W -= lr in^T dout), else 0.
void net_plan_linear(Net *n, int phase, const char *tag, int rows, int in, int out,
                     float fwd_beta, GemmKind fixed, int fused, int *fwd, int *dx, int *dw);

enum { NET_PACK_NONE, NET_PACK_CAUSAL, NET_PACK_UNIFORM };
// Packs the batch Xb, Yb (n->packed): sequence b keeps positions 0..L_b-1, L_b its last
// counted target + 1 (NET_PACK_UNIFORM: the batch's largest L_b, n->Tp, for every
// sequence, targets -1 past a sequence's own); sets n->rows and the pk_ arrays.
void net_pack(Net *n);
// The probe of a layer without a nonlinearity: its output's gradient (L->dout, L->cols
// wide) over the step's rows; no fused weight.
void net_probe_output(const Net *n, const Layer *L, int l, LayerProbe *p);
// The step's rows of layer L: B*L->rows for the lecture's family, n->rows (packed or
// B*T) for makemore.py's types.
int net_step_rows(const Net *n, const Layer *L);

// [rows, w] <-> [B, T, w] (unpack: the positions packed away are zeros).
void net_pack_rows(const Net *n, float *dst, const float *src, int w);
void net_unpack_rows(const Net *n, float *dst, const float *src, int w);
// The logits of position t of sequence b after a forward of a makemore.py type (packed or
// not), or NULL when that position was packed away.
const float *net_seq_logits(const Net *n, int b, int t);

// ---- access ----
float *net_tensor(const Net *n, int i);        // data of tensor i (params or stats)
float *net_grad(const Net *n, int i);          // gradient of parameter i
int net_find(const Net *n, const char *name);  // tensor index or -1
int net_tensor_is_bn(const Net *n, int i);     // 1: a batchnorm's gain or shift
// Tensor i in PyTorch's layout: its shape (a transposed weight's [out, in]) and its values
// (x: the tensor's numel floats as the engine keeps them, e.g. net_tensor or net_grad).
void net_torch_shape(const Net *n, int i, int shape[2]);
void net_to_torch(const Net *n, int i, const float *x, float *out);
// The inverse: PyTorch's layout in, the engine's out.
void net_from_torch(const Net *n, int i, const float *in, float *x);

// ---- running any table ----
// The architecture's initialisation (docs/ARCHITECTURES.md): the lecture's for its family,
// PyTorch's defaults for makemore.py's types. perturb = 1 makes every bias, gain and shift
// non-trivial as the gradient check wants.
void net_init(Net *n, Rng *rng, int perturb);
// The parameters alone (n->params may be any buffer of num_params floats: the exercises'
// Params, model.h, share the layout).
void net_init_params(Net *n, Rng *rng, int perturb);

// Training forward on the batch Xb [B,T], Yb [B] (seq: [B,T]): returns the mean loss and
// leaves dlogits (the cross-entropy backward is fused with the loss). update_running: also
// move the running statistics (momentum) when the config keeps running statistics.
float net_forward(Net *n, const int *Xb, const int *Yb, int update_running);
// Sampling one position at a time (makemore.py's types; LayerOps' decode): 1 when every
// layer of n's table has a decode, else 0 (sample the whole forward over the prefix).
int net_decode_ready(const Net *n);
// Position t of the B sequences of n->Xb: runs every layer's decode on the B rows
// (X[b, t] at position t, packed as one row per sequence: rows = B, pk_x, pk_t, pk_p; no
// targets) and returns the logits [B, V], row b those of (b, t): net_forward's at (b, t)
// within float rounding. The calls go t = 0, 1, 2, ... in order on the same Xb prefix
// (t = 0 starts again); net_decode_ready(n) must hold.
const float *net_decode_step(Net *n, int t);
// Fills every parameter gradient (overwritten).
void net_backward(Net *n);
// One layer of each (net_forward and net_backward run them in order; the bench times them
// one by one). Layer l's forward reads layer l-1's output; the last one also computes the
// loss and dlogits. Backward: sgd = 1 is the fused step (weights updated inside their
// GEMMs with lr), else the gradients go to n->grads.
void net_layer_forward(Net *n, int l, int update_running);
void net_layer_backward(Net *n, int l, int sgd, float lr);
void net_sgd(Net *n, float lr);  // params -= lr * grads
// net_backward and net_sgd fused: each weight is updated inside its gradient GEMM
// (its grads entry is left untouched); the other tensors go through grads.
void net_backward_sgd(Net *n, float lr);
// The last part of net_backward_sgd: params -= lr * grads for the tensors their GEMMs do
// not update (embedding, biases, batchnorm's gain and bias).
void net_sgd_small(Net *n, float lr);
// torch.optim.AdamW's step t (from 1) on every parameter, from n->grads.
void net_adamw(Net *n, float lr, float weight_decay, long t);
// AdamW's fixed hyperparameters, makemore.py's: betas (0.9, 0.99), eps 1e-8.
#define NET_ADAM_BETA1 0.9
#define NET_ADAM_BETA2 0.99
#define NET_ADAM_EPS 1e-8
// One training step: a batch (examples_sample_batch), net_forward, then the config's
// update: SGD fused into the backward (net_backward_sgd with lr), or net_backward and
// AdamW's step t (net_adamw with lr, weight_decay). Returns the loss.
float net_train_step(Net *n, const Examples *ex, float lr, Rng *rng);
float net_train_step_adamw(Net *n, const Examples *ex, float lr, float weight_decay, long t,
                           Rng *rng);

// 1 when a value is not finite, naming it in msg ("<kind> W2[17] is nan"); else 0.
// small_grads = 0: every parameter; 1: the gradients the fused step keeps (all but the
// GEMM-updated weights), as the training loop checks every step.
int net_nonfinite(const Net *n, int small_grads, char *msg, size_t len);

#endif
