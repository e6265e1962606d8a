// net.h: the makemore MLP family as one table of layers, in the llm.c manner.
//
// A Net is a list of layers; each has a kind, the shape of its output per example
// (rows x cols: a batch of B holds B*rows rows), the tensors it owns and the offsets of
// its activations. Everything else follows from the table: one parameter buffer, one
// gradient buffer, one buffer of batchnorm statistics, one activation buffer; forward,
// backward, the SGD update, checkpoint names, parameter count and memory estimate.
//
// Architectures (docs/ARCHITECTURES.md has the whole story):
//   mlp, N layers   EMBED -> FLATTEN(T) -> N x [LINEAR -> BN_TANH] -> LINEAR_OUT (+ CE)
//                   N = 1 is the lecture's part-4 MLP, tensor for tensor.
//   wavenet         EMBED -> L x [FLATTEN(2) -> LINEAR (no bias) -> BN_TANH] -> LINEAR_OUT
//                   with L = log2(T): part 5's hierarchical model.
// BN_TANH normalises its [B*rows, cols] input over all B*rows rows: for rows > 1 that is
// part 5's BatchNorm1d reduction over dims (0, 1) of a (B, rows, cols) activation.
#ifndef MAKEMORE_NET_H
#define MAKEMORE_NET_H

#include <stddef.h>

#include "data.h"
#include "gemm_plan.h"
#include "rng.h"

typedef enum { ARCH_MLP, ARCH_WAVENET, NET_N_ARCHS } NetArch;
typedef enum { BN_STATS_CALIBRATE, BN_STATS_RUNNING } BnStats;
extern const char *const NET_ARCH_NAMES[NET_N_ARCHS + 1];  // "mlp", "wavenet", NULL
extern const char *const BN_STATS_NAMES[3];                // "calibrate", "running", NULL

// An architecture's recipe: its default sizes and the schedule it trains with (the
// lecture's for mlp, part 5's for wavenet). One function per architecture fills it; the
// commands' defaults are read from it.
typedef struct {
    int T, E, H, layers;   // --block, --embd, --hidden, --layers
    BnStats bn_stats;
    long steps, decay_step;
    float lr, lr2;
} NetRecipe;
void net_recipe(NetArch a, NetRecipe *r);

typedef struct {
    NetArch arch;
    int V, T, E, H;    // vocabulary, context (--block), embedding width, hidden width
    int layers;        // mlp: hidden blocks (>= 1); wavenet: log2(T), set by net_config_check
    int bessel;        // batch variance divides by rows-1 (1) or rows (0)
    BnStats bn_stats;  // inference statistics: calibrated on the training split or running
    float momentum;    // of the running statistics (part 5: 0.1)
} NetConfig;

typedef enum { L_EMBED, L_FLATTEN, L_LINEAR, L_BN_TANH, L_LINEAR_OUT } LayerKind;

// One tensor: a parameter (in params/grads) or a batchnorm statistic (in stats).
typedef struct {
    char name[16];
    int ndim, shape[2];
    size_t numel, off;  // offset in params (is_stat == 0) or stats (is_stat == 1)
    int is_stat;
    int gemm_updated;   // a weight the fused step updates inside its GEMM (no gradient kept)
    int is_bn;          // a batchnorm's gain or shift
    int fan_in;         // weights: rows of W
    float init_scale, init_shift;  // initial value: init_scale * N(0,1) + init_shift
} NetTensor;

typedef struct {
    LayerKind kind;
    int in_rows, in_cols;  // input per example
    int rows, cols;        // output per example
    int w, b;              // tensors: EMBED C; LINEAR W, b (-1: none); BN_TANH gain, bias
    int mean, var;         // BN_TANH: its inference statistics
    size_t out, dout;      // activation offsets of the output and its gradient (B*rows*cols)
    size_t raw, bmean, bvar, binv;  // BN_TANH: bnraw [B*rows*cols], batch stats [cols] x 3
    int fwd, dx, dw;       // LINEAR, LINEAR_OUT: its ops in the GEMM plan (-1: none)
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
    GemmPlan plan;         // the training step's GEMMs at batch B, three per linear layer
                           // (net_alloc: the fixed path; gemm_plan.h)
    int B;                 // batch the activations are sized for
    int *Xb, *Yb;          // [B, T], [B]
    float loss;
    NetBnForward bn_forward;    // batchnorm's kernels (see NetBnForward)
    NetBnBackward bn_backward;
} Net;

// The head of the plan's text form for cfg at batch B: "B=32,TE=30,H=200,V=27" for the
// lecture's model, with arch and layers before the sizes for the others.
void net_plan_sizes(const NetConfig *cfg, int B, char *buf, size_t len);

// Checks cfg (sizes, wavenet's power-of-two block) and completes it (wavenet's layers).
// 0, or -1 with a message naming the flag and what is allowed.
int net_config_check(NetConfig *cfg, Err *err);
// Builds the table for cfg (already checked) without allocating: counts and names.
void net_build(Net *n, const NetConfig *cfg, int B);
// net_build, then allocates every buffer and the GEMM plan (every op at its fixed kind:
// gemm_plan_force sets another). B >= 1.
void net_alloc(Net *n, const NetConfig *cfg, int B);
void net_free(Net *n);
const char *net_arch_name(NetArch a);
// Bytes the training run needs: buffers of the table plus the evaluation scratch.
double net_memory_bytes(const NetConfig *cfg, int B);
// 0 when a training run of cfg at batch B fits: every tensor and activation (of the step
// and of the evaluation's chunks) within the kernels' int indices, the whole within the
// machine's memory; else -1 with msg naming the tensor or the sizes and which flags to lower.
int net_check_sizes(const NetConfig *cfg, int B, char *msg, size_t len);
float *net_tensor(const Net *n, int i);  // data of tensor i (params or stats)
int net_find(const Net *n, const char *name);  // tensor index or -1
int net_tensor_is_bn(const Net *n, int i);     // 1: a batchnorm's gain or shift

// The lecture's initialisation for the architecture (docs/ARCHITECTURES.md). perturb = 1
// makes every bias, gain and shift non-trivial as the gradient check wants.
void net_init(Net *n, Rng *rng, int perturb);
// The parameters alone (n->params may be any buffer of num_params floats: the exercises'
// Params, model.h, share the layout).
void net_init_params(Net *n, Rng *rng, int perturb);

// Training forward on the batch Xb [B,T], Yb [B]: returns the mean loss and leaves
// dlogits (the cross-entropy backward is fused with the loss). update_running: also
// move the running statistics (momentum) when the config keeps running statistics.
float net_forward(Net *n, const int *Xb, const int *Yb, int update_running);
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
// Batch (examples_sample_batch), net_forward, net_backward_sgd. Returns the loss.
float net_train_step(Net *n, const Examples *ex, float lr, Rng *rng);

// Calibrates every batchnorm's statistics on ex, layer by layer in inference mode
// (mean, then unbiased variance, in double: the lecture's calibration).
void net_calibrate(Net *n, const Examples *ex);
// Inference logits for X [m,T] into logits [m,V]; scratch of net_scratch_floats(m).
size_t net_scratch_floats(const Net *n, int m);
void net_logits(const Net *n, float *logits, const int *X, int m, float *scratch);
double net_eval_loss(const Net *n, const Examples *ex);  // mean CE, inference mode
// 1 when a value is not finite, naming it in msg ("<kind> W2[17] is nan"); else 0.
// small_grads = 0: every parameter; 1: the gradients the fused step keeps (all but the
// GEMM-updated weights), as the training loop checks every step.
int net_nonfinite(const Net *n, int small_grads, char *msg, size_t len);

#endif
