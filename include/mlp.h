// mlp.h: the lecture's family on the layer table: the MLP of parts 3-4 (N hidden blocks of
// Linear -> BatchNorm -> Tanh, or with --norm none part 3's Linear -> Tanh) and part 5's
// hierarchical WaveNet; and the layer kinds they share with makemore.py's types (the
// embedding and the output layer with its cross-entropy).
#ifndef MAKEMORE_MLP_H
#define MAKEMORE_MLP_H

#include "net_table.h"

// The recipes (net.h's NetRecipe): the lecture's part 4 and part 5's.
void mlp_recipe(NetRecipe *r);
void wavenet_recipe(NetRecipe *r);
// Checks and completes an mlp or wavenet config (wavenet's layers from its block).
int mlp_config_check(NetConfig *c, Err *err);
// Builds the table of an mlp or wavenet (c checked).
void mlp_build(Net *n, NetOffsets *o);

// Kinds shared with the other architectures:
//  EMBED: C[X] for X [B,T] -> [B*T, E] (= [B, T*E]); backward: the scatter-add into dC.
//  LINEAR_OUT: in [B*rows, in] . W + b -> logits [B*rows, V], then the cross-entropy: the
//  lecture's over B rows, or (n->seq) the masked one over B*T positions; b may be -1.
extern const LayerOps MLP_EMBED_OPS, MLP_LINEAR_OUT_OPS;
// The backward of a linear layer `L` (tensors w, b; plan ops fwd, dx, dw) on rows of `in`:
// din (may be NULL), the weight and bias gradients; with lr > 0 the fused SGD step.
void mlp_linear_backward(Net *n, const Layer *L, float *din, const float *dout, const float *in,
                         int rows, float lr);
// The plan of a linear layer numbered k (its op names "fwd<k>", "dx<k>", "dw<k>").
void mlp_linear_plan(Net *n, Layer *L, int phase, int k, float fwd_beta, GemmKind fixed);

#endif
