// seq.c: the kernels shared by makemore.py's models (seq_kernels.h): masked cross-entropy,
// AdamW, token + position embedding; fused, and the atomic chains beside them.
//
// Threading as kernels.c: a kernel forks only when par_worth(work) says so and there is
// more than one thread; serial paths are plain calls. Reductions are cut into parts fixed by
// the sizes alone, each part summed by one thread, the parts combined in part order; every
// other output is owned by one thread. Results never depend on the thread count.
#include "seq_kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "common.h"
#include "kernels.h"
#include "vecmath.h"

// Reductions over enough rows to fork are cut into this many parts.
#define SEQ_PARTS 16

static int fork_pays(long work) { return par_worth(work) && omp_get_max_threads() > 1; }

static inline int part_start(int n, int p, int parts) { return (int)((long)n * p / parts); }

static int team_for(int parts) {
    int t = omp_get_max_threads();
    return t < parts ? t : parts;
}

// ---- masked cross-entropy ---------------------------------------------------------------

static int count_valid(const int *targets, int N) {
    int n = 0;
    for (int i = 0; i < N; i++) n += targets[i] >= 0;
    return n;
}

// Rows [r0, r1): dlogits = (softmax - onehot) * inv_n on valid rows, 0 on ignored rows;
// returns the rows' summed loss terms (double). Rows are short (V = 27): the exponentials of
// a block of up to CE_BLOCK rows run as one vector loop over the rows laid end to end. Blocks
// start at r0, fixed by the part, so every element's path (vector body or tail) is too.
#define CE_BLOCK 64
static double ce_masked_rows(float *dlogits, const float *logits, const int *targets, int r0,
                             int r1, int V, float inv_n) {
    double loss = 0.0;
    for (int c0 = r0; c0 < r1; c0 += CE_BLOCK) {
        int c1 = c0 + CE_BLOCK < r1 ? c0 + CE_BLOCK : r1;
        float row_max[CE_BLOCK];
        for (int i = c0; i < c1; i++) {  // norm_logits = logits - max
            const float *x = logits + (size_t)i * V;
            float *d = dlogits + (size_t)i * V;
            float mx = x[0];
            for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
            row_max[i - c0] = mx;
            for (int v = 0; v < V; v++) d[v] = x[v] - mx;
        }
        float *block = dlogits + (size_t)c0 * V;
        size_t n = (size_t)(c1 - c0) * V;
        #pragma omp simd
        for (size_t k = 0; k < n; k++) block[k] = expf(block[k]);  // counts
        for (int i = c0; i < c1; i++) {
            float *d = dlogits + (size_t)i * V;
            int y = targets[i];
            if (y < 0) {
                for (int v = 0; v < V; v++) d[v] = 0.0f;
                continue;
            }
            float sum = 0.0f;
            for (int v = 0; v < V; v++) sum += d[v];
            float scale = inv_n / sum;
            #pragma omp simd
            for (int v = 0; v < V; v++) d[v] *= scale;
            d[y] -= inv_n;
            const float *x = logits + (size_t)i * V;
            loss += log((double)sum) - ((double)x[y] - (double)row_max[i - c0]);
        }
    }
    return loss;
}

float ce_masked_forward_backward(float *dlogits, const float *logits, const int *targets,
                                 int N, int V) {
    int n_valid = count_valid(targets, N);
    if (n_valid == 0) {
        memset(dlogits, 0, (size_t)N * V * sizeof(float));
        return NAN;
    }
    const float inv_n = (float)(1.0 / n_valid);
    // Parts fixed by N and V alone (also where they run on one thread): the part boundaries
    // fix both the loss's summation order and each element's path through the vector loop.
    int parts = par_worth((long)N * V * 8) ? (N < SEQ_PARTS ? N : SEQ_PARTS) : 1;
    if (parts == 1) return (float)(ce_masked_rows(dlogits, logits, targets, 0, N, V, inv_n) / n_valid);
    double partial[SEQ_PARTS];
    if (omp_get_max_threads() > 1) {
        #pragma omp parallel for schedule(static) num_threads(team_for(parts))
        for (int p = 0; p < parts; p++)
            partial[p] = ce_masked_rows(dlogits, logits, targets, part_start(N, p, parts),
                                        part_start(N, p + 1, parts), V, inv_n);
    } else {
        for (int p = 0; p < parts; p++)
            partial[p] = ce_masked_rows(dlogits, logits, targets, part_start(N, p, parts),
                                        part_start(N, p + 1, parts), V, inv_n);
    }
    double total = 0.0;
    for (int p = 0; p < parts; p++) total += partial[p];
    return (float)(total / n_valid);
}

// Rows [r0, r1) of the evaluation sum, all in double.
static double ce_loss_rows(const float *logits, const int *targets, int r0, int r1, int V) {
    double total = 0.0;
    for (int i = r0; i < r1; i++) {
        int y = targets[i];
        if (y < 0) continue;
        const float *x = logits + (size_t)i * V;
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
        total += log(sum) - ((double)x[y] - mx);
    }
    return total;
}

double ce_masked_loss_sum(const float *logits, const int *targets, int N, int V, int *n_valid) {
    if (n_valid) *n_valid = count_valid(targets, N);
    // Parts fixed by N alone (the whole split at evaluation time), whatever the thread count.
    int parts = par_worth((long)N * V * 8) ? (N < SEQ_PARTS ? N : SEQ_PARTS) : 1;
    if (parts == 1) return ce_loss_rows(logits, targets, 0, N, V);
    double partial[SEQ_PARTS];
    if (omp_get_max_threads() > 1) {
        #pragma omp parallel for schedule(static) num_threads(team_for(parts))
        for (int p = 0; p < parts; p++)
            partial[p] = ce_loss_rows(logits, targets, part_start(N, p, parts),
                                      part_start(N, p + 1, parts), V);
    } else {
        for (int p = 0; p < parts; p++)
            partial[p] = ce_loss_rows(logits, targets, part_start(N, p, parts),
                                      part_start(N, p + 1, parts), V);
    }
    double total = 0.0;
    for (int p = 0; p < parts; p++) total += partial[p];
    return total;
}

// ---- masked cross-entropy, atomic --------------------------------------------------------
// One function per notebook line; ignored rows (target < 0) take part in the forward lines
// (as every row of the notebook's batch does) and receive exactly 0 in every gradient.
// Each backward line is the notebook's: a row with an underflowed probability (a logit gap
// of ~88 and more) gives inf * 0 there, as it does in the notebook.

size_t ce_masked_atomic_scratch(int N, int V) { return 8 * (size_t)N * V + 6 * (size_t)N; }

// logit_maxes = logits.max(1, keepdim=True).values
static void ce_logit_maxes(float *logit_maxes, const float *logits, int N, int V) {
    for (int i = 0; i < N; i++) {
        const float *x = logits + (size_t)i * V;
        float m = x[0];
        for (int v = 1; v < V; v++)
            if (x[v] > m) m = x[v];
        logit_maxes[i] = m;
    }
}

// norm_logits = logits - logit_maxes
static void ce_norm_logits(float *norm_logits, const float *logits, const float *logit_maxes,
                           int N, int V) {
    for (int i = 0; i < N; i++)
        for (int v = 0; v < V; v++)
            norm_logits[(size_t)i * V + v] = logits[(size_t)i * V + v] - logit_maxes[i];
}

// counts = norm_logits.exp()
static void ce_counts(float *counts, const float *norm_logits, int N, int V) {
    for (size_t k = 0; k < (size_t)N * V; k++) counts[k] = expf(norm_logits[k]);
}

// counts_sum = counts.sum(1, keepdims=True)
static void ce_counts_sum(float *counts_sum, const float *counts, int N, int V) {
    for (int i = 0; i < N; i++) {
        float s = 0.0f;
        for (int v = 0; v < V; v++) s += counts[(size_t)i * V + v];
        counts_sum[i] = s;
    }
}

// counts_sum_inv = counts_sum**-1
static void ce_counts_sum_inv(float *counts_sum_inv, const float *counts_sum, int N) {
    for (int i = 0; i < N; i++) counts_sum_inv[i] = 1.0f / counts_sum[i];
}

// probs = counts * counts_sum_inv
static void ce_probs(float *probs, const float *counts, const float *counts_sum_inv, int N,
                     int V) {
    for (int i = 0; i < N; i++)
        for (int v = 0; v < V; v++)
            probs[(size_t)i * V + v] = counts[(size_t)i * V + v] * counts_sum_inv[i];
}

// logprobs = probs.log()
static void ce_logprobs(float *logprobs, const float *probs, int N, int V) {
    for (size_t k = 0; k < (size_t)N * V; k++) logprobs[k] = logf(probs[k]);
}

// loss = -logprobs[valid, targets[valid]].mean()   (summed in double, in row order)
static float ce_loss(const float *logprobs, const int *targets, int N, int V, int n_valid) {
    double s = 0.0;
    for (int i = 0; i < N; i++)
        if (targets[i] >= 0) s += logprobs[(size_t)i * V + targets[i]];
    return (float)(-s / n_valid);
}

// dlogprobs = zeros; dlogprobs[valid, targets[valid]] = -1.0/n_valid
static void ce_dlogprobs(float *dlogprobs, const int *targets, int N, int V, int n_valid) {
    memset(dlogprobs, 0, (size_t)N * V * sizeof(float));
    for (int i = 0; i < N; i++)
        if (targets[i] >= 0) dlogprobs[(size_t)i * V + targets[i]] = (float)(-1.0 / n_valid);
}

// dprobs = (1.0 / probs) * dlogprobs
static void ce_dprobs(float *dprobs, const float *probs, const float *dlogprobs,
                      const int *targets, int N, int V) {
    for (int i = 0; i < N; i++)
        for (int v = 0; v < V; v++) {
            size_t k = (size_t)i * V + v;
            dprobs[k] = targets[i] < 0 ? 0.0f : (1.0f / probs[k]) * dlogprobs[k];
        }
}

// dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)
static void ce_dcounts_sum_inv(float *dcounts_sum_inv, const float *counts, const float *dprobs,
                               int N, int V) {
    for (int i = 0; i < N; i++) {
        float s = 0.0f;
        for (int v = 0; v < V; v++) s += counts[(size_t)i * V + v] * dprobs[(size_t)i * V + v];
        dcounts_sum_inv[i] = s;
    }
}

// dcounts = counts_sum_inv * dprobs
static void ce_dcounts(float *dcounts, const float *counts_sum_inv, const float *dprobs, int N,
                       int V) {
    for (int i = 0; i < N; i++)
        for (int v = 0; v < V; v++)
            dcounts[(size_t)i * V + v] = counts_sum_inv[i] * dprobs[(size_t)i * V + v];
}

// dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv
static void ce_dcounts_sum(float *dcounts_sum, const float *counts_sum,
                           const float *dcounts_sum_inv, int N) {
    for (int i = 0; i < N; i++)
        dcounts_sum[i] = -1.0f / (counts_sum[i] * counts_sum[i]) * dcounts_sum_inv[i];
}

// dcounts += torch.ones_like(counts) * dcounts_sum
static void ce_dcounts_add(float *dcounts, const float *dcounts_sum, int N, int V) {
    for (int i = 0; i < N; i++)
        for (int v = 0; v < V; v++) dcounts[(size_t)i * V + v] += dcounts_sum[i];
}

// dnorm_logits = counts * dcounts
static void ce_dnorm_logits(float *dnorm_logits, const float *counts, const float *dcounts,
                            int N, int V) {
    for (size_t k = 0; k < (size_t)N * V; k++) dnorm_logits[k] = counts[k] * dcounts[k];
}

// dlogits = dnorm_logits.clone()
static void ce_dlogits(float *dlogits, const float *dnorm_logits, int N, int V) {
    memcpy(dlogits, dnorm_logits, (size_t)N * V * sizeof(float));
}

// dlogit_maxes = (-dnorm_logits).sum(1, keepdim=True)
static void ce_dlogit_maxes(float *dlogit_maxes, const float *dnorm_logits, int N, int V) {
    for (int i = 0; i < N; i++) {
        float s = 0.0f;
        for (int v = 0; v < V; v++) s += -dnorm_logits[(size_t)i * V + v];
        dlogit_maxes[i] = s;
    }
}

// dlogits += F.one_hot(logits.max(1).indices, num_classes=V) * dlogit_maxes
// (the first maximum of a row, torch's rule)
static void ce_dlogits_add_max(float *dlogits, const float *logits, const float *dlogit_maxes,
                               int N, int V) {
    for (int i = 0; i < N; i++) {
        const float *x = logits + (size_t)i * V;
        int arg = 0;
        for (int v = 1; v < V; v++)
            if (x[v] > x[arg]) arg = v;
        dlogits[(size_t)i * V + arg] += dlogit_maxes[i];
    }
}

float ce_masked_forward_backward_atomic(float *dlogits, const float *logits,
                                        const int *targets, int N, int V, float *scratch) {
    size_t nv = (size_t)N * V;
    float *norm_logits = scratch, *counts = norm_logits + nv, *probs = counts + nv;
    float *logprobs = probs + nv, *dlogprobs = logprobs + nv, *dprobs = dlogprobs + nv;
    float *dcounts = dprobs + nv, *dnorm_logits = dcounts + nv;
    float *logit_maxes = dnorm_logits + nv, *counts_sum = logit_maxes + N;
    float *counts_sum_inv = counts_sum + N, *dcounts_sum_inv = counts_sum_inv + N;
    float *dcounts_sum = dcounts_sum_inv + N, *dlogit_maxes = dcounts_sum + N;
    int n_valid = count_valid(targets, N);
    if (n_valid == 0) {
        memset(dlogits, 0, nv * sizeof(float));
        return NAN;
    }
    // forward
    ce_logit_maxes(logit_maxes, logits, N, V);
    ce_norm_logits(norm_logits, logits, logit_maxes, N, V);
    ce_counts(counts, norm_logits, N, V);
    ce_counts_sum(counts_sum, counts, N, V);
    ce_counts_sum_inv(counts_sum_inv, counts_sum, N);
    ce_probs(probs, counts, counts_sum_inv, N, V);
    ce_logprobs(logprobs, probs, N, V);
    float loss = ce_loss(logprobs, targets, N, V, n_valid);
    // backward
    ce_dlogprobs(dlogprobs, targets, N, V, n_valid);
    ce_dprobs(dprobs, probs, dlogprobs, targets, N, V);
    ce_dcounts_sum_inv(dcounts_sum_inv, counts, dprobs, N, V);
    ce_dcounts(dcounts, counts_sum_inv, dprobs, N, V);
    ce_dcounts_sum(dcounts_sum, counts_sum, dcounts_sum_inv, N);
    ce_dcounts_add(dcounts, dcounts_sum, N, V);
    ce_dnorm_logits(dnorm_logits, counts, dcounts, N, V);
    ce_dlogits(dlogits, dnorm_logits, N, V);
    ce_dlogit_maxes(dlogit_maxes, dnorm_logits, N, V);
    ce_dlogits_add_max(dlogits, logits, dlogit_maxes, N, V);
    return loss;
}

// ---- AdamW ------------------------------------------------------------------------------
// torch 1.13's _single_tensor_adamw, element by element. Its kernels, as built for AVX2,
// evaluate add_(g, alpha) as fmadd(g, alpha, m), addcmul_ as a contracted
// fma(value*g, g, v), div_ by a Python float as a true division, and addcdiv_ as
// p + (value*m)/denom: the same operations here, with fmaf where torch fuses.

typedef struct {
    float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step;
} AdamScalars;

static AdamScalars adam_scalars(double lr, double beta1, double beta2, double eps, double wd,
                                long t) {
    double bc1 = 1.0 - pow(beta1, (double)t);
    double bc2 = 1.0 - pow(beta2, (double)t);
    double step_size = lr / bc1;
    return (AdamScalars){
        .decay = (float)(1.0 - lr * wd),
        .beta1 = (float)beta1,
        .one_minus_beta1 = (float)(1.0 - beta1),
        .beta2 = (float)beta2,
        .one_minus_beta2 = (float)(1.0 - beta2),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = (float)eps,
        .neg_step = (float)(-step_size),
    };
}

static void adamw_range(float *p, const float *g, float *m, float *v, size_t i0, size_t i1,
                        const AdamScalars *s) {
    const float decay = s->decay, b1 = s->beta1, omb1 = s->one_minus_beta1, b2 = s->beta2;
    const float omb2 = s->one_minus_beta2, bc2s = s->bc2_sqrt, eps = s->eps, ns = s->neg_step;
    #pragma omp simd
    for (size_t i = i0; i < i1; i++) {
        float gi = g[i];
        float mi = fmaf(gi, omb1, m[i] * b1);
        float vi = fmaf(omb2 * gi, gi, v[i] * b2);
        float denom = sqrtf(vi) / bc2s + eps;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay + (ns * mi) / denom;
    }
}

// Element-wise, no sums: any split gives the same bits; chunks of ADAM_CHUNK elements.
#define ADAM_CHUNK 16384
void adamw_update(float *p, const float *g, float *m, float *v, size_t n, double lr,
                  double beta1, double beta2, double eps, double weight_decay, long t) {
    AdamScalars s = adam_scalars(lr, beta1, beta2, eps, weight_decay, t);
    if (!fork_pays((long)n) || n <= ADAM_CHUNK) {
        adamw_range(p, g, m, v, 0, n, &s);
        return;
    }
    long chunks = (long)((n + ADAM_CHUNK - 1) / ADAM_CHUNK);
    #pragma omp parallel for schedule(static)
    for (long c = 0; c < chunks; c++) {
        size_t i0 = (size_t)c * ADAM_CHUNK, i1 = i0 + ADAM_CHUNK < n ? i0 + ADAM_CHUNK : n;
        adamw_range(p, g, m, v, i0, i1, &s);
    }
}

void adamw_update_atomic(float *p, const float *g, float *m, float *v, float *denom, size_t n,
                         double lr, double beta1, double beta2, double eps,
                         double weight_decay, long t) {
    AdamScalars s = adam_scalars(lr, beta1, beta2, eps, weight_decay, t);
    // param.mul_(1 - lr * weight_decay)
    for (size_t i = 0; i < n; i++) p[i] = p[i] * s.decay;
    // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    for (size_t i = 0; i < n; i++) m[i] = fmaf(g[i], s.one_minus_beta1, m[i] * s.beta1);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    for (size_t i = 0; i < n; i++) v[i] = fmaf(s.one_minus_beta2 * g[i], g[i], v[i] * s.beta2);
    // denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    for (size_t i = 0; i < n; i++) denom[i] = sqrtf(v[i]) / s.bc2_sqrt + s.eps;
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    for (size_t i = 0; i < n; i++) p[i] = p[i] + (s.neg_step * m[i]) / denom[i];
}

// ---- token + position embedding ---------------------------------------------------------

// Positions [p0, p1), p = b*T + t.
static void embed_rows(float *out, const int *idx, const float *wte, const float *wpe, int p0,
                       int p1, int T, int C) {
    for (int p = p0; p < p1; p++) {
        const float *te = wte + (size_t)idx[p] * C, *pe = wpe + (size_t)(p % T) * C;
        float *o = out + (size_t)p * C;
        #pragma omp simd
        for (int c = 0; c < C; c++) o[c] = te[c] + pe[c];
    }
}

void embedding_pos_forward(float *out, const int *idx, const float *wte, const float *wpe, int B,
                           int T, int C) {
    int n = B * T;
    if (!fork_pays((long)n * C)) {
        embed_rows(out, idx, wte, wpe, 0, n, T, C);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        embed_rows(out, idx, wte, wpe, part_start(n, k, nt), part_start(n, k + 1, nt), T, C);
    }
}

// dwpe rows [t0, t1): each row summed over b in order.
static void dwpe_rows(float *dwpe, const float *dout, int t0, int t1, int B, int T, int C) {
    for (int t = t0; t < t1; t++) {
        float *d = dwpe + (size_t)t * C;
        for (int c = 0; c < C; c++) d[c] = 0.0f;
        for (int b = 0; b < B; b++) {
            const float *src = dout + ((size_t)b * T + t) * C;
            #pragma omp simd
            for (int c = 0; c < C; c++) d[c] += src[c];
        }
    }
}

void embedding_pos_backward(float *dwte, float *dwpe, const float *dout, const int *idx, int B,
                            int T, int C, int V) {
    embedding_backward(dwte, dout, idx, B, T, C, V);  // row-owned scatter-add, (b,t) order
    if (!fork_pays((long)B * T * C)) {
        dwpe_rows(dwpe, dout, 0, T, B, T, C);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        dwpe_rows(dwpe, dout, part_start(T, k, nt), part_start(T, k + 1, nt), B, T, C);
    }
}

void bias_tanh_forward(float *h, const float *bias, int N, int M) {
    #pragma omp parallel for schedule(static) if (fork_pays((long)N * M))
    for (int i = 0; i < N; i++) {
        float *r = h + (size_t)i * M;
        for (int j = 0; j < M; j++) r[j] = tanhf(r[j] + bias[j]);
    }
}

// Rows in order, one pass: the column sums are the same whatever the thread count (one
// thread runs it; the work is a few thousand values at makemore.py's sizes).
void tanh_bias_backward(float *dpre, float *dbias, const float *dh, const float *h, int N, int M) {
    for (int j = 0; j < M; j++) dbias[j] = 0.0f;
    for (int i = 0; i < N; i++) {
        const float *hr = h + (size_t)i * M, *dr = dh + (size_t)i * M;
        float *pr = dpre + (size_t)i * M;
        #pragma omp simd
        for (int j = 0; j < M; j++) {
            pr[j] = (1.0f - hr[j] * hr[j]) * dr[j];
            dbias[j] += pr[j];
        }
    }
}
