// linear.c: the linear layers (row-major): their GEMMs through blas.h, or in the training
// step through the GEMM plan's ops (gemm_plan.h).
#include "linear.h"

#include <string.h>

#include "blas.h"

// out[B,n_out] = in[B,n_in] . W[n_in,n_out] + b[n_out]
void linear_forward(float *out, const float *in, const float *W, const float *b, int B, int n_in,
                    int n_out) {
    float beta = 0.0f;
    if (b) {  // preload the bias rows, then accumulate the product onto them
        for (int r = 0; r < B; r++) {
            float *row = out + (size_t)r * n_out;
            for (int o = 0; o < n_out; o++) row[o] = b[o];
        }
        beta = 1.0f;
    }
    gemm(0, 0, B, n_out, n_in, 1.0f, in, W, beta, out);
}

// One row (sampling draws a word one symbol at a time) is a matrix-vector product: sgemv
// reads W in place, where sgemm copies and packs it on every call, which for one row costs
// more than the arithmetic.
void linear_forward_rows(float *out, const float *in, const float *W, const float *b, int rows,
                         int n_in, int n_out) {
    if (rows != 1) {
        linear_forward(out, in, W, b, rows, n_in, n_out);
        return;
    }
    if (b) memcpy(out, b, (size_t)n_out * sizeof(float));
    blas_sgemv_t(n_in, n_out, 1.0f, W, in, b ? 1.0f : 0.0f, out);
}

// dW[n_in,n_out] = in^T . dout    db[n_out] = sum_b dout[b,:]    din[B,n_in] = dout . W^T
void linear_backward(float *din, float *dW, float *db, const float *dout, const float *in,
                     const float *W, int B, int n_in, int n_out) {
    gemm(1, 0, n_in, n_out, B, 1.0f, in, dout, 0.0f, dW);
    if (din) gemm(0, 1, B, n_in, n_out, 1.0f, dout, W, 0.0f, din);
    if (db) bias_backward(db, dout, B, n_out);
}

// Column sums with the sums in registers over the rows: blocks of 64 columns, then 16,
// then 8 (GCC's vector extensions: each lane adds its column's rows in row order, as the
// plain loop db[o] += row[o] does: the same bits), then column by column.
typedef float vsum16 __attribute__((vector_size(64)));
typedef float vsum16_u __attribute__((vector_size(64), aligned(4), may_alias));
typedef float vsum8 __attribute__((vector_size(32)));
typedef float vsum8_u __attribute__((vector_size(32), aligned(4), may_alias));
#define SUM_BLOCK(name, vt, vt_u, VL, NV)                                                     \
    static inline __attribute__((always_inline)) void name(float *db, const float *dout, int B, \
                                                           int n_out, int o) {                  \
        vt acc[NV];                                                                             \
        for (int k = 0; k < NV; k++) acc[k] = (vt){0};                                          \
        for (int r = 0; r < B; r++)                                                             \
            for (int k = 0; k < NV; k++) acc[k] += *(const vt_u *)(dout + (size_t)r * n_out + o + k * VL); \
        for (int k = 0; k < NV; k++) *(vt_u *)(db + o + k * VL) = acc[k];                       \
    }
SUM_BLOCK(sum_block_64, vsum16, vsum16_u, 16, 4)
SUM_BLOCK(sum_block_16, vsum16, vsum16_u, 16, 1)
SUM_BLOCK(sum_block_8, vsum8, vsum8_u, 8, 1)

void bias_backward(float *db, const float *dout, int B, int n_out) {
    int o = 0;
    for (; o + 64 <= n_out; o += 64) sum_block_64(db, dout, B, n_out, o);
    for (; o + 16 <= n_out; o += 16) sum_block_16(db, dout, B, n_out, o);
    for (; o + 8 <= n_out; o += 8) sum_block_8(db, dout, B, n_out, o);
    for (; o < n_out; o++) {
        float acc = 0.0f;
        for (int r = 0; r < B; r++) acc += dout[(size_t)r * n_out + o];
        db[o] = acc;
    }
}

// ---- the training step's forms, each GEMM run as its plan says ------------------------

// out[B,n_out] = in[B,n_in] . W[n_in,n_out] + b[n_out]; op = {NN, M B, N n_out, K n_in}
void linear_forward_op(const GemmOp *op, float *out, const float *in, const float *W,
                       const float *b) {
    linear_forward_op_rows(op, op->M, out, in, W, b);
}

void linear_forward_op_rows(const GemmOp *op, int rows, float *out, const float *in,
                            const float *W, const float *b) {
    int B = rows, n_out = op->N;
    if (op->beta == 0.0f) {  // an op that overwrites: the product, then the bias added
        gemm_op_run_rows(op, rows, 1.0f, in, W, out);
        for (int r = 0; b && r < B; r++) {
            float *row = out + (size_t)r * n_out;
            for (int o = 0; o < n_out; o++) row[o] += b[o];
        }
        return;
    }
    for (int r = 0; r < B; r++) {  // preload the bias rows, then accumulate the product
        float *row = out + (size_t)r * n_out;
        if (b)
            for (int o = 0; o < n_out; o++) row[o] = b[o];
        else
            memset(row, 0, (size_t)n_out * sizeof(float));
    }
    gemm_op_run_rows(op, rows, 1.0f, in, W, out);
}

// din = dout . W^T (old W), db = column sums of dout, W -= lr * in^T . dout
//   dx = {NT, M B, N n_in, K n_out, beta 0}   dw = {TN, M n_in, N n_out, K B, beta 1}
void linear_backward_sgd_op(const GemmOp *dx, const GemmOp *dw, float *din, float *W, float *db,
                            const float *dout, const float *in, float lr) {
    if (din) gemm_op_run(dx, 1.0f, dout, W, din);  // before W moves
    if (db) bias_backward(db, dout, dw->K, dw->N);
    gemm_op_run(dw, -lr, in, dout, W);
}

void linear_backward_op(const GemmOp *dx, const GemmOp *dw, float *din, float *dW, float *db,
                        const float *dout, const float *in, const float *W) {
    linear_backward_op_rows(dx, dw, dw->K, din, dW, db, dout, in, W);
}

void linear_backward_op_rows(const GemmOp *dx, const GemmOp *dw, int rows, float *din, float *dW,
                             float *db, const float *dout, const float *in, const float *W) {
    if (din) gemm_op_run_rows(dx, rows, 1.0f, dout, W, din);
    gemm_op_run_rows(dw, rows, 1.0f, in, dout, dW);
    if (db) bias_backward(db, dout, rows, dw->N);
}
