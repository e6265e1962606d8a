// bench_graph.c: the notebook's cross-entropy forward lines (logit_maxes ... loss) on
// their own, for the ce_forward_backward entry. backward_atomic.h exposes the whole
// forward only, so the graph of src/backward_graph.inc is instantiated here once more
// over float (its documented includer contract), under benchgraph_* names, and its
// forward_after() runs the lines after logits. When backward_atomic.h gains a
// float atomic_ce_forward_chain(AtomicActs *), this file can go.
#include <string.h>
#include <tgmath.h>

#include "backward_atomic.h"
#include "bench.h"
#include "common.h"
#include "linear.h"

#define real float
#define ACTS AtomicActs
#define PARAMS Params
#define GRAPH(name) benchgraph_##name
#define GRAPH_THREADS 1  // as backward_atomic.c: loops fork where the work pays

static void matmul(float *out, int transA, const float *A, int transB, const float *Bm, int M,
                   int N, int K) {
    gemm(transA, transB, M, N, K, 1.0f, A, Bm, 0.0f, out);
}

static void matmul_bias(float *out, const float *in, const float *W, const float *b, int n,
                        int n_in, int n_out) {
    linear_forward(out, in, W, b, n, n_in, n_out);
}

#include "../src/backward_graph.inc"

float bench_ce_forward_chain(AtomicActs *a) { return forward_after(a, S_LOGITS); }
