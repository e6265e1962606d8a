// backward_atomic.h: exercise 1 of "becoming a backprop ninja" as code.
//
// The lecture's forward pass with every intermediate materialised under its notebook
// name, and its backward pass written as one small function per notebook line, each
// computing one dX from the ones before it (dX always means dloss/dX, same shape as X).
// This is the reference the fused kernels of kernels.h are held against, and the
// "naive" side of the bench. Matmuls go to cblas_sgemm (linear.h); everything else is
// a plain loop. The graph itself is written once, over a scalar type, in
// src/exercises/backward_graph.inc: this header is its float32 instance, backward_ref.h its
// float64 instance (the gradient check's reference).
#ifndef MAKEMORE_BACKWARD_ATOMIC_H
#define MAKEMORE_BACKWARD_ATOMIC_H

#include <stdint.h>

#include "model.h"

// Every tensor of the graph by its lecture name. n = B rows; shapes as PyTorch has them
// in the notebook (keepdim reductions are [B,1] or [1,H], stored flat). Parameters and
// the batch are borrowed (set by *_forward); everything else is owned.
#define GRAPH_TENSORS(real)                                                                   \
    /* parameters (borrowed) */                                                               \
    const real *C;          /* [V,E]                                                      */  \
    const real *W1;         /* [T*E,H]                                                    */  \
    const real *b1;         /* [H]                                                        */  \
    const real *W2;         /* [H,V]                                                      */  \
    const real *b2;         /* [V]                                                        */  \
    const real *bngain;     /* [1,H]                                                      */  \
    const real *bnbias;     /* [1,H]                                                      */  \
    const int *Xb;          /* [B,T] (borrowed)                                           */  \
    const int *Yb;          /* [B]   (borrowed)                                           */  \
    /* forward, in the notebook's order */                                                    \
    real *emb;              /* [B,T,E]  C[Xb]                                             */  \
    real *embcat;           /* [B,T*E]  emb.view(B, -1)                                   */  \
    real *hprebn;           /* [B,H]    embcat @ W1 + b1                                  */  \
    real *bnmeani;          /* [1,H]    1/n * hprebn.sum(0, keepdim=True)                 */  \
    real *bndiff;           /* [B,H]    hprebn - bnmeani                                  */  \
    real *bndiff2;          /* [B,H]    bndiff**2                                         */  \
    real *bnvar;            /* [1,H]    1/(n-1) * bndiff2.sum(0, keepdim=True)            */  \
    real *bnvar_inv;        /* [1,H]    (bnvar + 1e-5)**-0.5                              */  \
    real *bnraw;            /* [B,H]    bndiff * bnvar_inv                                */  \
    real *hpreact;          /* [B,H]    bngain * bnraw + bnbias                           */  \
    real *h;                /* [B,H]    torch.tanh(hpreact)                               */  \
    real *logits;           /* [B,V]    h @ W2 + b2                                       */  \
    real *logit_maxes;      /* [B,1]    logits.max(1, keepdim=True).values                */  \
    real *norm_logits;      /* [B,V]    logits - logit_maxes                              */  \
    real *counts;           /* [B,V]    norm_logits.exp()                                 */  \
    real *counts_sum;       /* [B,1]    counts.sum(1, keepdims=True)                      */  \
    real *counts_sum_inv;   /* [B,1]    counts_sum**-1                                    */  \
    real *probs;            /* [B,V]    counts * counts_sum_inv                           */  \
    real *logprobs;         /* [B,V]    probs.log()                                       */  \
    real loss;              /* []       -logprobs[range(n), Yb].mean()                    */  \
    /* the 26 gradients, in backward order */                                                 \
    real *dlogprobs;        /* [B,V]  */                                                      \
    real *dprobs;           /* [B,V]  */                                                      \
    real *dcounts_sum_inv;  /* [B,1]  */                                                      \
    real *dcounts_sum;      /* [B,1]  */                                                      \
    real *dcounts;          /* [B,V]  */                                                      \
    real *dnorm_logits;     /* [B,V]  */                                                      \
    real *dlogit_maxes;     /* [B,1]  */                                                      \
    real *dlogits;          /* [B,V]  */                                                      \
    real *dh;               /* [B,H]  */                                                      \
    real *dW2;              /* [H,V]  */                                                      \
    real *db2;              /* [V]    */                                                      \
    real *dhpreact;         /* [B,H]  */                                                      \
    real *dbngain;          /* [1,H]  */                                                      \
    real *dbnbias;          /* [1,H]  */                                                      \
    real *dbnraw;           /* [B,H]  */                                                      \
    real *dbnvar_inv;       /* [1,H]  */                                                      \
    real *dbnvar;           /* [1,H]  */                                                      \
    real *dbndiff2;         /* [B,H]  */                                                      \
    real *dbndiff;          /* [B,H]  */                                                      \
    real *dbnmeani;         /* [1,H]  */                                                      \
    real *dhprebn;          /* [B,H]  */                                                      \
    real *dembcat;          /* [B,T*E] */                                                     \
    real *dW1;              /* [T*E,H] */                                                     \
    real *db1;              /* [H]    */                                                      \
    real *demb;             /* [B,T,E] */                                                     \
    real *dC;               /* [V,E]  */                                                      \
    real *mem;              /* the one allocation behind the owned tensors */

typedef struct {
    Config cfg;  // V, T, E, H, bessel
    int B;
    GRAPH_TENSORS(float)
} AtomicActs;

// Allocates every tensor for batch size B (B >= 2; B >= 1 when cfg->bessel == 0).
void atomic_alloc(AtomicActs *a, const Config *cfg, int B);
void atomic_free(AtomicActs *a);

// The forward pass, one function per notebook line. Borrows p's tensors and Xb [B,T],
// Yb [B] (in [0,V)) until the next call. Returns (and stores) the loss.
float atomic_forward(AtomicActs *a, const Params *p, const int *Xb, const int *Yb);
// The cross-entropy forward lines alone (logit_maxes ... loss) from a->logits, for the bench:
// with atomic_ce_backward_chain, everything ce_forward_backward_fused replaces.
float atomic_ce_forward_chain(AtomicActs *a);

// Exercise 1: the whole backward pass, loss -> dC (all 26 gradients), after atomic_forward.
void atomic_backward(AtomicActs *a);
// Its pieces, so the bench can time each against its fused kernel:
//   the cross-entropy chain:  dlogprobs ... dlogits        (vs ce_backward_fused)
//   tanh's backward:          dhpreact = (1 - h**2) * dh
//   the batchnorm chain:      dbngain ... dhprebn, from dhpreact   (vs bn_backward_fused)
// Each reads the forward's intermediates and the gradients before it in the struct.
void atomic_ce_backward_chain(AtomicActs *a);
void atomic_tanh_backward(AtomicActs *a);
void atomic_bn_backward_chain(AtomicActs *a);

// Exercise 1's lines reading every input from `a` and writing each output into `g`
// (atomic_backward is atomic_backward_lines(a, a)). With g != a, each gradient of g is its
// notebook line evaluated on exactly the values in a -- as the lecture's cmp() holds each
// manual line against autograd given the same forward tensors (gradcheck --ref).
void atomic_backward_lines(AtomicActs *g, const AtomicActs *a);

// The max's line on its own (exposed for the tie-routing test):
//   dlogits += F.one_hot(logits.max(1).indices, V) * dlogit_maxes
// routes each row's dlogit_maxes to exactly one index, the first maximum (torch's rule).
void atomic_dlogits_add_max(float *dlogits, const float *logits, const float *dlogit_maxes,
                            int B, int V);

// ---- the 26 gradients as a list, for tables and files ---------------------------
#define NUM_GRADS 26

typedef struct {
    const char *name;   // the lecture's name of X ("logprobs" ... "C"); the gradient is dX
    int ndim;
    int64_t shape[3];   // as PyTorch has X
    long numel;
} GradInfo;

// info[k] for the k-th gradient in backward order (the order the lecture's cmp prints).
void grad_info(GradInfo info[NUM_GRADS], const Config *cfg, int B);
// Pointers to the 26 gradients of a, and to their X (an intermediate, or a parameter
// a borrows), same order.
void atomic_grads(float *grads[NUM_GRADS], const AtomicActs *a);
void atomic_values(float *x[NUM_GRADS], const AtomicActs *a);

#endif
