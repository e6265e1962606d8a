// gradcheck.h: `makemore gradcheck`, exercises 1-3 checked as the lecture's cmp() table.
//
//   makemore gradcheck [--batch 32] [--hidden 64] [--embd 10] [--block 3] [--vocab 27]
//                      [--seed 42] [--bn-var unbiased|biased] [--ties] [--dump FILE]
//   makemore gradcheck --ref FILE
//
// Without --ref: random parameters and batch (the lecture's initialisation), the atomic
// float32 backward (backward_atomic.h) against the same graph in float64 (backward_ref.h),
// the float64 graph against central finite differences on a sample of parameter entries,
// and the fused kernels (kernels.h) against the atomic chain and against float64.
// --dump FILE writes parameters, batch and the 26 gradients as safetensors (PyTorch shapes).
// --ref FILE reads such a file (e.g. written by tests/torch_reference.py from PyTorch's
// autograd) and holds the engine's atomic and fused backward against its gradients.
// One row per gradient: `name | exact: True/False | approximate: True/False | maxdiff: X`,
// approximate being torch.allclose's rule |a - b| <= 1e-8 + 1e-5 |b|.
// Exit status: 0 when every row is approximately equal, 1 on a mismatch (named on stderr)
// or an unreadable file, 2 on a bad flag.
#ifndef MAKEMORE_GRADCHECK_H
#define MAKEMORE_GRADCHECK_H

int gradcheck_main(int argc, char **argv);  // argv[0] is "gradcheck"
// `makemore gradcheck --arch mlp|wavenet [--layers N]`: every layer of the family's table
// against its float64 twin and finite differences (gradcheck_net.c); gradcheck_main
// hands a command line with --arch to it.
int net_gradcheck_main(int argc, char **argv);

#endif
