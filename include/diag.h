// diag.h: part 3's diagnostics of a training step (docs/DIAGNOSTICS.md). Per layer, the
// statistics of its nonlinearity's output (mean, std, saturation, histogram) and of the
// gradient of the loss with respect to its output (mean, std, histogram); per parameter,
// std(grad) / std(data) and log10(std(update) / std(data)), the update being the change
// the step applied (lr * grad for SGD, AdamW's whole step).
//
// Everything is read from what the step leaves (each kind's LayerProbe, net_table.h) and
// from a copy of the parameters taken before it, into buffers allocated once (diag_alloc).
// A step without statistics calls nothing here. A weight the fused SGD step updates inside
// its GEMM keeps no gradient: its update, read back, is lr times it (or, for an update
// lost in the weight's rounding, the gradient is rebuilt from the layer's input and output
// gradient by one GEMM). The training bits never change.
//
// Conventions, as PyTorch's: std unbiased (torch.std); a histogram of DIAG_BINS bins over
// the values' range ([-1, 1] for tanh), density = count / (counted * bin width)
// (torch.histogram(density=True)), a value's bin found in float: floor((x - lo) *
// DIAG_BINS / (hi - lo)), the top value in the last bin. Saturation: tanh |t| > 0.97 (part 3); GELU input
// < -3, its flat tail (output within 0.004 of 0, slope under 0.012). Rows a packed batch
// only pads (makemore.py's target -1) are not counted.
#ifndef MAKEMORE_DIAG_H
#define MAKEMORE_DIAG_H

#include "net_table.h"

#define DIAG_BINS 50
#define DIAG_TANH_SAT 0.97
#define DIAG_GELU_SAT (-3.0)

typedef struct {
    long count;                 // values counted
    double mean, std;           // NaN when count < 1 (std: < 2)
    double saturated;           // fraction in [0, 1] (a nonlinearity's output; else 0)
    double lo, hi;              // the histogram's range
    double density[DIAG_BINS];  // bin k: [lo + k w, lo + (k+1) w), the last one closed
} DiagStat;

typedef struct {
    int layer;     // index in the table
    NetNonlin nl;  // NONE: act unused
    DiagStat act;  // the nonlinearity's output
    DiagStat grad; // dloss/d(the layer's output)
} DiagLayer;

typedef struct {
    int tensor;                             // index in the table (a parameter)
    double data_std, grad_std, update_std;  // data: before the step; NaN when numel < 2
} DiagParam;

typedef struct {
    int n_layers, n_params;
    DiagLayer layer[NET_MAX_LAYERS];  // the layers with a probe, in table order
    DiagParam param[NET_MAX_TENSORS]; // every parameter, in table order
    float *before;                    // the parameters before the step [num_params]
    float *dw;                        // a fused weight's rebuilt gradient [largest one]
} Diag;

// Buffers for n (allocated once; nothing is allocated after).
void diag_alloc(Diag *d, const Net *n);
void diag_free(Diag *d);
// Before a step with statistics: the parameters as they are.
void diag_before_step(Diag *d, const Net *n);
// After it: every statistic. lr: the step's SGD learning rate (the gradient of a weight
// updated inside its GEMM is std(update) / lr, or, where the update is too small against
// the weight's float rounding to read it back, rebuilt by one GEMM); 0 for AdamW.
void diag_after_step(Diag *d, const Net *n, float lr);

// The statistics of x [rows, cols] (row r skipped when skip && skip[r] < 0): nl NONE
// (saturated 0, histogram over [min, max]), TANH (|x| > 0.97; over [-1, 1]) or GELU
// (saturated where pre [rows, cols] < -3).
void diag_stat(DiagStat *s, const float *x, int rows, int cols, const int *skip, NetNonlin nl,
               const float *pre);
// std of n floats (unbiased; NaN when n < 2); with b: of a[i] - b[i], in double.
double diag_std(const float *a, const float *b, size_t n);

#endif
