// linear.h: the linear layers, their GEMMs through blas.h (gemm) or the GEMM plan's ops.
// Row-major throughout.
#ifndef MAKEMORE_LINEAR_H
#define MAKEMORE_LINEAR_H

#include "gemm_plan.h"

// out[B,O] = in[B,n_in] . W[n_in,n_out] + b[n_out]   (b may be NULL)
void linear_forward(float *out, const float *in, const float *W, const float *b, int B, int n_in,
                    int n_out);

// The same for inference: one row (rows == 1) as a matrix-vector product.
void linear_forward_rows(float *out, const float *in, const float *W, const float *b, int rows,
                         int n_in, int n_out);

// Adjoint of linear_forward, gradients overwritten (not accumulated):
//   dW[n_in,n_out] = in^T . dout   db[n_out] = column sums of dout   din[B,n_in] = dout . W^T
// din and db may be NULL (skipped).
void linear_backward(float *din, float *dW, float *db, const float *dout, const float *in,
                     const float *W, int B, int n_in, int n_out);

// The training step's forms: each GEMM is one op of the net's GemmPlan (its shape and
// chosen implementation; net.c builds the ops from the layer table). The SGD update is
// folded into the weight-gradient GEMM (alpha = -lr, beta = 1): dW is never materialised.
// The output layer's fixed kind (GEMM_BLAS_T) runs its dX and dW on transposed copies:
// OpenBLAS sends the NT form dout . W^T and the in^T . dout update of a 27-wide W to
// slower paths than the NN forms of the copies (at B = 32, each alone on one core: dh
// 4.1 vs 5.0 us, update 5.0 vs 6.0 us).
// out[B,n_out] = in . W + b (b may be NULL); op: {NN, M = B, N = n_out, K = n_in}: with
// beta 1 the bias rows are preloaded and the product accumulated onto them (as
// linear_forward); with beta 0 the product is written, then the bias added.
void linear_forward_op(const GemmOp *op, float *out, const float *in, const float *W,
                       const float *b);
// The same on `rows` rows (at most the op's M): a batch packed to its counted positions.
void linear_forward_op_rows(const GemmOp *op, int rows, float *out, const float *in,
                            const float *W, const float *b);
// din = dout . W^T (old W; din may be NULL), db = column sums of dout (may be NULL),
// W -= lr * in^T . dout.  dx: {NT, B, n_in, n_out, beta 0}; dw: {TN, n_in, n_out, B, beta 1}
void linear_backward_sgd_op(const GemmOp *dx, const GemmOp *dw, float *din, float *W, float *db,
                            const float *dout, const float *in, float lr);

// The gradients without an update (AdamW's step): din = dout . W^T (may be NULL), dW =
// in^T . dout (overwritten: dw's beta is 0), db = column sums of dout (may be NULL).
//   dx = {NT, B, n_in, n_out, beta 0}   dw = {TN, n_in, n_out, B, beta 0}
void linear_backward_op(const GemmOp *dx, const GemmOp *dw, float *din, float *dW, float *db,
                        const float *dout, const float *in, const float *W);
// The same on `rows` rows (at most the ops').
void linear_backward_op_rows(const GemmOp *dx, const GemmOp *dw, int rows, float *din, float *dW,
                             float *db, const float *dout, const float *in, const float *W);

// db[n_out] = column sums of dout[B,n_out] (overwritten).
void bias_backward(float *db, const float *dout, int B, int n_out);

#endif
