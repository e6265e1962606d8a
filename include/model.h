// model.h: the lecture's model as exercises 1-3 see it: its seven parameters, named as in
// the lecture, as pointers into one buffer. The layout is the layer table's (net.h: the
// MLP with one hidden layer), which alone describes the model; training, inference and
// files go through the table (net.h, net_io.h).
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

#include "common.h"
#include "kernels.h"

typedef struct {
    int V;       // vocabulary size
    int T;       // context length (--block)
    int E;       // embedding width (--embd)
    int H;       // hidden width (--hidden)
    int bessel;  // 1: batch variance divides by B-1 (the lecture); 0: by B (nn.BatchNorm1d)
} Config;

// Parameter tensors, in the table's order. Shapes as PyTorch has them in the lecture:
//   C [V,E]  W1 [T*E,H]  b1 [H]  W2 [H,V]  b2 [V]  bngain [1,H]  bnbias [1,H]
enum { P_C, P_W1, P_B1, P_W2, P_B2, P_BNGAIN, P_BNBIAS, NUM_PARAMS };
extern const char *const PARAM_NAMES[NUM_PARAMS];  // "C", "W1", "b1", "W2", "b2", "bngain", "bnbias"

typedef struct {
    float *C, *W1, *b1, *W2, *b2, *bngain, *bnbias;
} Params;

// Shape of parameter i as the lecture has it: ndim 1 or 2, dims in shape[0..ndim-1].
void param_shape(const Config *c, int i, int *ndim, int shape[2]);
size_t param_numel(const Config *c, int i);
size_t params_total(const Config *c);

struct Net;
// The layer table of the lecture's MLP for c (net_build: no buffers). Its first NUM_PARAMS
// tensors are the seven above, in that order and those shapes: 0, or -1 with err when not.
int model_table(struct Net *n, const Config *c, Err *err);
// Points the named pointers into mem (params_total floats) at the offsets of the table n
// (from model_table).
void params_point(Params *p, float *mem, const struct Net *n);

#endif
