// model.h: the lecture's MLP. Config / Params / Acts / Model in the llm.c manner:
// parameters (and their gradients) each live in one contiguous buffer with named
// pointers into it; activations are allocated once for a batch size B.
//
//   emb = C[Xb]                 (B,T,E) -> embcat (B,T*E)
//   hprebn = embcat . W1 + b1   (B,H)
//   batchnorm on batch statistics (Bessel's correction by default), affine bngain/bnbias
//   h = tanh(hpreact)           (B,H)
//   logits = h . W2 + b2        (B,V)
//   loss = cross_entropy(logits, Yb)
#ifndef MAKEMORE_MODEL_H
#define MAKEMORE_MODEL_H

#include <stddef.h>

#include "data.h"
#include "gemm_plan.h"
#include "rng.h"

#define BN_EPS 1e-5f

// The six GEMMs of the step in its plan, in the order they run.
enum { GOP_FWD1, GOP_FWD2, GOP_DX2, GOP_DW2, GOP_DX1, GOP_DW1, GOP_N };

typedef struct {
    int V;       // vocabulary size
    int T;       // context length (--block)
    int E;       // embedding width (--embd)
    int H;       // hidden width (--hidden)
    int bessel;  // 1: batch variance divides by B-1 (the lecture); 0: by B (nn.BatchNorm1d)
} Config;

// Parameter tensors, in buffer order. Shapes as PyTorch has them in the lecture:
//   C [V,E]  W1 [T*E,H]  b1 [H]  W2 [H,V]  b2 [V]  bngain [1,H]  bnbias [1,H]
enum { P_C, P_W1, P_B1, P_W2, P_B2, P_BNGAIN, P_BNBIAS, NUM_PARAMS };
extern const char *const PARAM_NAMES[NUM_PARAMS];  // "C", "W1", "b1", "W2", "b2", "bngain", "bnbias"

typedef struct {
    float *C, *W1, *b1, *W2, *b2, *bngain, *bnbias;
} Params;

// Shape of parameter i: ndim 1 or 2, dims in shape[0..ndim-1].
void param_shape(const Config *c, int i, int *ndim, int shape[2]);
size_t param_numel(const Config *c, int i);
size_t params_total(const Config *c);
// Points the named pointers into mem (params_total floats), in enum order.
void params_point(Params *p, float *mem, const Config *c);

// Activations of the fused training step for a batch of B.
typedef struct {
    int B;
    int *Xb;           // [B,T]
    int *Yb;           // [B]
    float *embcat;     // [B,T*E]
    float *hprebn;     // [B,H] embcat . W1 without b1 (the batchnorm adds b1 on the fly)
    float *bnmeani;    // [H]   batch mean
    float *bnvar;      // [H]   batch variance (B-1 or B divisor)
    float *bnvar_inv;  // [H]   (bnvar + eps)^-1/2
    float *bnraw;      // [B,H]
    float *h;          // [B,H] tanh output
    float *logits;     // [B,V]
    float *dlogits;    // [B,V]
    float *dh;         // [B,H]
    float *dhprebn;    // [B,H]
    float *dembcat;    // [B,T*E]
    float loss;
} Acts;

typedef struct {
    Config cfg;
    Params params;          // into params_memory
    float *params_memory;
    size_t num_params;
    Params grads;           // into grads_memory, same layout
    float *grads_memory;
    float *bnmean, *bnvar;  // [H] statistics for inference (model_calibrate)
    Acts acts;
    GemmPlan plan;          // the training step's six GEMMs at batch acts.B (gemm_plan.h);
                            // model_alloc sets the default plan (gemm_plan_init)
} Model;

// Allocates everything (parameters, gradients, activations for batch B). B >= 1.
void model_alloc(Model *m, const Config *c, int B);
void model_free(Model *m);
// The lecture's initialisation (see DESIGN: kaiming-scaled W1, small b1/W2/b2,
// bngain ~ 1 + 0.1 N, bnbias ~ 0.1 N). bnmean = 0, bnvar = 1.
void model_init_weights(Model *m, Rng *rng);

// Training step pieces (fused path). model_forward copies Xb/Yb into acts and
// returns the mean loss; it also leaves dlogits (the CE backward is fused with the loss).
float model_forward(Model *m, const int *Xb, const int *Yb);
void model_backward(Model *m);           // fills m->grads (overwrites)
void model_sgd(Model *m, float lr);      // params -= lr * grads
// model_backward then model_sgd, fused: W1/W2 are updated inside their weight-gradient
// GEMMs, so grads.W1/grads.W2 are left untouched (the other grads are filled).
void model_backward_sgd(Model *m, float lr);
// One whole step: batch, forward, model_backward_sgd. Returns the loss.
float model_train_step(Model *m, const Examples *ex, float lr, Rng *rng);

// Sets bnmean / bnvar to the batch statistics of hprebn over all of ex
// (variance unbiased, as torch.var: the lecture's calibration).
void model_calibrate(Model *m, const Examples *ex);
// Mean cross-entropy over ex, inference mode (bnmean / bnvar). Chunked, no grads.
double model_eval_loss(const Model *m, const Examples *ex);
// Inference-mode logits for n contexts X[n,T] into logits[n,V] (scratch sized by caller:
// scratch must hold n*(T*E + 2*H) floats).
void model_logits(const Model *m, float *logits, const int *X, int n, float *scratch);

#endif
