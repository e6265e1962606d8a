// transformer.h: makemore.py's Transformer (GPT-2 style) on the layer table: token and
// position embeddings, n_layer blocks of x + attn(ln_1(x)) and x + mlp(ln_2(x)), ln_f and
// an lm_head without bias; every backward written by hand (transformer_kernels.h), every
// matmul an op of the GEMM plan.
#ifndef MAKEMORE_TRANSFORMER_H
#define MAKEMORE_TRANSFORMER_H

#include "net_table.h"

// makemore.py's defaults: n_layer 4, n_head 4, n_embd 64, batch 32, AdamW lr 5e-4, weight
// decay 0.01; the block from the data.
void transformer_recipe(NetRecipe *r);
// heads divide n_embd; 1..32 layers.
int transformer_config_check(NetConfig *c, Err *err);
// The table: tensors under makemore.py's state_dict names, linear weights kept [in, out]
// (transposed: PyTorch's layout is [out, in]), PyTorch's default initialisation.
void transformer_build(Net *n, NetOffsets *o);

// Token and position embeddings, x = wte[X] + wpe[t] (tensors wte, wpe from L->t0; its
// output [B*T, n_embd]): the Transformer's first layer, and the bag of words'.
extern const LayerOps TOKPOS_OPS;

#endif
