// net_ref.h: the Net's float64 twin (plain loops, the atomic batchnorm chain), the
// referee of `makemore gradcheck --arch` and of tests/test_net.c.
#ifndef MAKEMORE_NET_REF_H
#define MAKEMORE_NET_REF_H

#include "net.h"

// Loss of the net's architecture in double for params [n->num_params] (n's tensor
// offsets) on the batch Xb [B,T], Yb [B] (training-mode batchnorm). When grads is not
// NULL it receives every parameter gradient [n->num_params]. n's own buffers are unused.
double net_ref_loss(const Net *n, const double *params, const int *Xb, const int *Yb, int B,
                    double *grads);
// As net_ref_loss, keeping each layer's output and the loss's gradient with respect to it:
// outs[l] and douts[l] receive B*rows*cols doubles of layer l (allocated by the caller; a
// NULL array, or a NULL entry, is skipped; a FLATTEN layer's are its input's, reshaped).
double net_ref_pass(const Net *n, const double *params, const int *Xb, const int *Yb, int B,
                    double *grads, double *const *outs, double *const *douts);

#endif
