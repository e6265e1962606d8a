// backward_ref.h: the float64 twin of backward_atomic.h, the gradient check's reference.
// The same graph (src/exercises/backward_graph.inc, instantiated over double), same names, same
// lines; matmuls are naive loops (no BLAS) so nothing but the precision differs.
#ifndef MAKEMORE_BACKWARD_REF_H
#define MAKEMORE_BACKWARD_REF_H

#include "backward_atomic.h"

// The parameters in float64. Shapes as Params (model.h).
typedef struct {
    double *C, *W1, *b1, *W2, *b2, *bngain, *bnbias;
    double *mem;
} RefParams;

// Allocates rp and fills it with p's float32 values, widened exactly.
void ref_params_from(RefParams *rp, const Params *p, const Config *cfg);
void ref_params_free(RefParams *rp);

typedef struct {
    Config cfg;
    int B;
    GRAPH_TENSORS(double)
} RefActs;

void ref_alloc(RefActs *r, const Config *cfg, int B);
void ref_free(RefActs *r);
double ref_forward(RefActs *r, const RefParams *p, const int *Xb, const int *Yb);
double ref_ce_forward_chain(RefActs *r);  // the CE forward lines alone, from r->logits
void ref_backward(RefActs *r);
void ref_ce_backward_chain(RefActs *r);
void ref_tanh_backward(RefActs *r);
void ref_bn_backward_chain(RefActs *r);
// Pointers to the 26 gradients of r, and to their X, in grad_info's order.
void ref_grads(double *grads[NUM_GRADS], const RefActs *r);
void ref_values(double *x[NUM_GRADS], const RefActs *r);

// ---- for the gradient check ------------------------------------------------------
// r := a's tensors (every intermediate and gradient, and the loss) widened to float64;
// r's parameters point at p (ref_params_from the same Params). r from ref_alloc.
void ref_widen(RefActs *r, const AtomicActs *a, const RefParams *p);
// Exercise 1's lines in float64, each computed from the inputs in `in` (for instance the
// float32 values, widened) and written to `out`: every gradient of `out` is then its
// notebook line evaluated on exactly the float32 inputs that line was given.
void ref_backward_lines(RefActs *out, const RefActs *in);
// r and p := their absolute values, every tensor but logits (the max's line reads it only
// for its argmax). ref_backward_lines on the result evaluates each line on |inputs|: the
// sum of |terms| that bounds the line's rounding error.
void ref_abs(RefActs *r, RefParams *p, const Config *cfg);
// Finite differences on any of the 26: X of gradient k (grad_info's order) -- an
// intermediate of r or a parameter in p -- and the loss recomputed by every forward line
// after the one that computes X (r must hold a forward pass).
double *ref_value(RefActs *r, RefParams *p, int k);
double ref_forward_after(RefActs *r, int k);

#endif
