// seqmodels.h: makemore.py's other five types on the layer table, each exactly its class:
// bigram, mlp (Bengio et al. 2003; "bengio" here, as the engine's "mlp" is the lecture's),
// bow, rnn and gru. Their tensors carry makemore.py's state_dict names, linear weights kept
// [in, out] (PyTorch's layout transposed), PyTorch's default initialisation; the kernels
// are recurrent_kernels.h's and seq_kernels.h's.
#ifndef MAKEMORE_SEQMODELS_H
#define MAKEMORE_SEQMODELS_H

#include "net_table.h"

// makemore.py's defaults: n_embd 64, n_embd2 64, batch 32, AdamW lr 5e-4, weight decay
// 0.01; the block from the data.
void seqmodels_recipe(NetRecipe *r);
int seqmodels_config_check(NetConfig *c, Err *err);
void bigram_build(Net *n, NetOffsets *o);
void bengio_build(Net *n, NetOffsets *o);
void bow_build(Net *n, NetOffsets *o);
void rnn_build(Net *n, NetOffsets *o);  // rnn and gru (c->arch)

#endif
