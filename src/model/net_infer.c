// net_infer.c: the Net in inference mode. The lecture's family: batchnorm on its stored
// statistics, calibration of those statistics, logits and the evaluation loss, in chunks
// of EVAL_CHUNK examples through two ping-pong scratch buffers. makemore.py's types (no
// batchnorm, nothing differs between training and inference): the training forward on a
// view of the parameters with activations for a chunk of sequences.
#include "net.h"

#include <math.h>
#include <string.h>

#include "common.h"
#include "kernels.h"
#include "linear.h"
#include "seq_kernels.h"
#include "vecmath.h"

enum { EVAL_CHUNK = 4096 };  // the lecture model's calibration chunk (its sums' order)

static size_t widest(const Net *n) {
    size_t w = 0;
    for (int l = 0; l < n->n_layers; l++) {
        size_t x = (size_t)n->layer[l].rows * n->layer[l].cols;
        w = x > w ? x : w;
    }
    return w;
}

size_t net_scratch_floats(const Net *n, int m) { return 2 * (size_t)m * widest(n); }

// Runs layers [0, upto) for X [m,T] in inference mode; returns their output (in scratch),
// [m*rows, cols] of layer upto-1. upto == n_layers: logits go to `logits`, returned.
static const float *infer(const Net *n, float *logits, const int *X, int m, float *scratch,
                          int upto) {
    const NetConfig *c = &n->cfg;
    float *cur = scratch, *next = scratch + (size_t)m * widest(n);
    for (int l = 0; l < upto; l++) {
        const Layer *L = &n->layer[l];
        int rows = m * L->rows;
        float *out = next;
        switch (L->kind) {
        case L_EMBED:
            embedding_forward(cur, net_tensor(n, L->w), X, m, c->T, c->E);
            continue;
        case L_FLATTEN:
            continue;
        case L_LINEAR:
            linear_forward_rows(out, cur, net_tensor(n, L->w), L->b >= 0 ? net_tensor(n, L->b) : NULL,
                         rows, L->in_cols, L->cols);
            break;
        case L_TANH: {  // in place; the linear layer before it added the bias
            const size_t k = (size_t)rows * L->cols;
            #pragma omp simd
            for (size_t i = 0; i < k; i++) cur[i] = tanhf(cur[i]);  // libmvec's vector tanhf
            continue;
        }
        case L_BN_TANH:
            batchnorm_tanh_forward_eval(out, cur, net_tensor(n, L->mean), net_tensor(n, L->var),
                                        net_tensor(n, L->w), net_tensor(n, L->b), rows, L->cols);
            break;
        case L_LINEAR_OUT:
            linear_forward_rows(logits, cur, net_tensor(n, L->w), net_tensor(n, L->b), m, L->in_cols,
                         c->V);
            return logits;
        default:  // the lecture's family only (makemore.py's types: net_view)
            return cur;
        }
        next = cur;
        cur = out;
    }
    return cur;
}

void net_logits(const Net *n, float *logits, const int *X, int m, float *scratch) {
    infer(n, logits, X, m, scratch, n->n_layers);
}

// Layer l's (a BN_TANH) statistics over all of ex, its input computed with the layers
// before it in inference mode: two passes (mean, then squared deviations) in double,
// the variance unbiased as torch.var, over ex->n * rows rows.
static void calibrate_layer(Net *n, int l, const Examples *ex, float *scratch, double *sum,
                            double *sq) {
    const Layer *L = &n->layer[l];
    const int H = L->cols, T = n->cfg.T;
    memset(sum, 0, (size_t)H * sizeof(double));
    memset(sq, 0, (size_t)H * sizeof(double));
    double count = (double)ex->n * L->rows;
    for (int pass = 0; pass < 2; pass++) {
        for (int i0 = 0; i0 < ex->n; i0 += EVAL_CHUNK) {
            int m = ex->n - i0 < EVAL_CHUNK ? ex->n - i0 : EVAL_CHUNK;
            const float *x = infer(n, NULL, ex->X + (size_t)i0 * T, m, scratch, l);
            for (size_t b = 0; b < (size_t)m * L->rows; b++)
                for (int j = 0; j < H; j++) {
                    double v = x[b * H + j];
                    if (pass == 0) sum[j] += v;
                    else sq[j] += (v - sum[j]) * (v - sum[j]);
                }
        }
        if (pass == 0)
            for (int j = 0; j < H; j++) sum[j] /= count;  // sum now holds the mean
    }
    float *mean = net_tensor(n, L->mean), *var = net_tensor(n, L->var);
    for (int j = 0; j < H; j++) {
        mean[j] = (float)sum[j];
        var[j] = (float)(count > 1 ? sq[j] / (count - 1) : 0.0);
    }
}

void net_calibrate(Net *n, const Examples *ex) {
    float *scratch = xcalloc(net_scratch_floats(n, EVAL_CHUNK), sizeof(float));
    double *sum = xcalloc((size_t)n->cfg.H, sizeof(double));
    double *sq = xcalloc((size_t)n->cfg.H, sizeof(double));
    for (int l = 0; l < n->n_layers; l++)
        if (n->layer[l].kind == L_BN_TANH) calibrate_layer(n, l, ex, scratch, sum, sq);
    xfree(scratch);
    xfree(sum);
    xfree(sq);
}

// ---- makemore.py's types ---------------------------------------------------------------

void net_view(Net *view, const Net *n, int m) {
    NetConfig c = n->cfg;
    c.optim = OPTIM_ADAMW;  // no weight updated inside a GEMM: the view never steps
    net_alloc(view, &c, m);
    xfree(view->params);
    xfree(view->grads);
    xfree(view->adam_m);
    xfree(view->adam_v);
    view->adam_m = view->adam_v = NULL;
    view->params = n->params;  // n's parameters, read only
    view->grads = NULL;
}

static void view_free(Net *view) {
    view->params = NULL;
    net_free(view);
}

const float *net_view_logits(const Net *view) { return view->acts + view->layer[view->n_layers - 1].out; }

enum { EVAL_SEQS = 256 };  // sequences per chunk (net.c's memory estimate counts them)

// Sum of the loss over ex's counted positions, and their count, in chunks of m.
static double seq_loss_sum(const Net *n, const Examples *ex, const int *order, int count,
                           long *positions) {
    const int T = n->cfg.T, V = n->cfg.V, m = count < EVAL_SEQS ? count : EVAL_SEQS;
    Net view;
    net_view(&view, n, m > 0 ? m : 1);
    double total = 0.0;
    *positions = 0;
    for (int i0 = 0; i0 < count; i0 += m) {
        int k = count - i0 < m ? count - i0 : m;
        for (int b = 0; b < m; b++) {  // a short last chunk repeats its rows, not counted
            int row = order ? order[i0 + (b < k ? b : 0)] : i0 + (b < k ? b : 0);
            memcpy(view.Xb + (size_t)b * T, ex->X + (size_t)row * T, (size_t)T * sizeof(int));
            memcpy(view.Yb + (size_t)b * T, ex->Y + (size_t)row * T, (size_t)T * sizeof(int));
        }
        net_forward(&view, view.Xb, view.Yb, 0);
        int valid;  // the first k sequences' rows: packed, or k*T
        int rows = view.packed ? view.pk_off[k] : k * T;
        total += ce_masked_loss_sum(net_view_logits(&view), view.packed ? view.pk_y : view.Yb, rows,
                                    V, &valid);
        *positions += valid;
    }
    view_free(&view);
    return total;
}

double net_eval_makemore(const Net *n, const Examples *ex, int batch, int max_batches, Rng *rng) {
    if (ex->n == 0) return 0.0;
    int *order = xcalloc((size_t)ex->n, sizeof(int));
    for (int i = 0; i < ex->n; i++) order[i] = i;
    for (int i = ex->n - 1; i > 0; i--) {  // DataLoader(shuffle=True): a permutation
        int j = (int)rng_below(rng, (uint32_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    double sum = 0.0;
    int batches = 0;
    for (int i0 = 0; i0 < ex->n && batches <= max_batches; i0 += batch, batches++) {
        int k = ex->n - i0 < batch ? ex->n - i0 : batch;
        long positions;
        double s = seq_loss_sum(n, ex, order + i0, k, &positions);
        sum += positions ? s / positions : 0.0;  // each batch's mean, as loss.item()
    }
    xfree(order);
    return batches ? sum / batches : 0.0;
}

double net_eval_loss(const Net *n, const Examples *ex) {
    if (n->seq) {
        long positions;
        double total = seq_loss_sum(n, ex, NULL, ex->n, &positions);
        return positions ? total / positions : 0.0;
    }
    float *scratch = xcalloc(net_scratch_floats(n, EVAL_CHUNK), sizeof(float));
    float *logits = xcalloc((size_t)EVAL_CHUNK * n->cfg.V, sizeof(float));
    double total = 0.0;
    for (int i0 = 0; i0 < ex->n; i0 += EVAL_CHUNK) {
        int m = ex->n - i0 < EVAL_CHUNK ? ex->n - i0 : EVAL_CHUNK;
        net_logits(n, logits, ex->X + (size_t)i0 * n->cfg.T, m, scratch);
        total += ce_loss_sum(logits, ex->Y + i0, m, n->cfg.V);
    }
    xfree(scratch);
    xfree(logits);
    return ex->n ? total / ex->n : 0.0;
}
