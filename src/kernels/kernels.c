// kernels.c: forward kernels and the fused backward kernels (exercises 2 and 3, the
// embedding scatter-add). Derivations: docs/DERIVATIONS.md.
//
// Threading: each kernel forks only when par_worth(work) says the fork pays for itself;
// otherwise it runs as a plain call on the calling thread. Reductions never use
// OpenMP's reduction clause (its combine order is not fixed): the rows are cut into a
// number of parts fixed by the problem's size alone, never by the thread count, threads
// take whole parts, and the parts' partial sums are combined in part order; or each output
// is owned by one thread. Results are bit-identical at any thread count.
#include "kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "common.h"
#include "vecmath.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

// Reductions over more rows than par_worth's threshold are cut into this many parts.
#define RED_PARTS 16

// ---- embedding --------------------------------------------------------------------

// Serial paths are plain calls, not `parallel if (0)` regions: with GCC 12 an if(0)
// region still goes through libgomp and costs several times a short loop (bench/).
static int fork_pays(long work) { return par_worth(work) && omp_get_max_threads() > 1; }

// Positions [p0, p1), p = b*T + t. Rows are short (E = 10 in the lecture, 24 in the
// WaveNet): with AVX-512 each row is one masked load and store per 16 floats, not a call
// to memcpy (which GCC makes of the plain loop) for 40 bytes: 0.29 -> 0.07 us per batch
// at 96 x 10.
static void gather_rows(float *embcat, const float *C, const int *Xb, int p0, int p1, int E) {
#if defined(__AVX512F__)
    const int full = E / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (E - full)) - 1u);
    for (int p = p0; p < p1; p++) {
        const float *src = C + (size_t)Xb[p] * E;
        float *dst = embcat + (size_t)p * E;
        for (int e = 0; e < full; e += 16) _mm512_storeu_ps(dst + e, _mm512_loadu_ps(src + e));
        if (tail) _mm512_mask_storeu_ps(dst + full, tail, _mm512_maskz_loadu_ps(tail, src + full));
    }
#else
    for (int p = p0; p < p1; p++) {
        const float *src = C + (size_t)Xb[p] * E;
        float *dst = embcat + (size_t)p * E;
        for (int e = 0; e < E; e++) dst[e] = src[e];
    }
#endif
}

void embedding_forward(float *embcat, const float *C, const int *Xb, int B, int T, int E) {
    if (!fork_pays((long)B * T * E)) {
        gather_rows(embcat, C, Xb, 0, B * T, E);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        gather_rows(embcat, C, Xb, (int)((long)B * T * k / nt), (int)((long)B * T * (k + 1) / nt), E);
    }
}

void embedding_backward_serial(float *dC, const float *dembcat, const int *Xb, int B, int T,
                               int E, int V) {
    memset(dC, 0, (size_t)V * E * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int ix = Xb[b * T + t];
            for (int e = 0; e < E; e++) dC[(size_t)ix * E + e] += dembcat[((size_t)b * T + t) * E + e];
        }
}

// The serial scatter-add with dC's rows in 16-float vectors (on the stack: at most
// SCATTER_VECS of them) while the positions add into them, then written out once: no
// position waits on the store of the one before it that hit the same row (a batch of 96
// positions hits 27 rows). Each row sums its positions in (b,t) order: the serial loop's
// bits. Without AVX-512, or for a table too large, the serial loop itself.
#define SCATTER_VECS 512
static void scatter_add_rows(float *dC, const float *dembcat, const int *Xb, int n, int E, int V) {
#if defined(__AVX512F__)
    const int nv = (E + 15) / 16;
    if ((long)V * nv <= SCATTER_VECS) {
        __m512 acc[SCATTER_VECS];
        for (int i = 0; i < V * nv; i++) acc[i] = _mm512_setzero_ps();
        for (int p = 0; p < n; p++) {
            __m512 *row = acc + (size_t)Xb[p] * nv;
            const float *src = dembcat + (size_t)p * E;
            for (int k = 0; k < nv; k++) {
                int left = E - 16 * k;
                __mmask16 m = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
                row[k] = _mm512_add_ps(row[k], _mm512_maskz_loadu_ps(m, src + 16 * k));
            }
        }
        for (int v = 0; v < V; v++)
            for (int k = 0; k < nv; k++) {
                int left = E - 16 * k;
                __mmask16 m = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
                _mm512_mask_storeu_ps(dC + (size_t)v * E + 16 * k, m, acc[(size_t)v * nv + k]);
            }
        return;
    }
#endif
    embedding_backward_serial(dC, dembcat, Xb, n, 1, E, V);
}

// Row ownership: thread k owns rows [v0, v1) of dC and scans every position, adding
// only its own rows. Each row is summed in (b,t) order, exactly as the serial loop,
// so the result is bit-identical to it whatever the thread count.
void embedding_backward(float *dC, const float *dembcat, const int *Xb, int B, int T, int E,
                        int V) {
    if (!fork_pays((long)B * T * E)) {
        scatter_add_rows(dC, dembcat, Xb, B * T, E, V);
        return;
    }
    #pragma omp parallel
    {
        int nt = omp_get_num_threads(), k = omp_get_thread_num();
        int v0 = (int)((long)V * k / nt), v1 = (int)((long)V * (k + 1) / nt);
        memset(dC + (size_t)v0 * E, 0, (size_t)(v1 - v0) * E * sizeof(float));
        for (int p = 0; p < B * T; p++) {
            int ix = Xb[p];
            if (ix < v0 || ix >= v1) continue;
            float *row = dC + (size_t)ix * E;
            const float *src = dembcat + (size_t)p * E;
            for (int e = 0; e < E; e++) row[e] += src[e];
        }
    }
}

// ---- batchnorm + tanh forward ----------------------------------------------------
//
// The batch is cut into bn_parts(B, H) row ranges (contiguous memory: what the prefetchers
// follow), a number that depends on B and H alone. Column sums are per part, combined in
// part order, so a result never depends on the thread count or on scheduling. Each part
// keeps its partial sums in its own first row(s) of an output written last (bnraw here,
// dhprebn in the backward), so the step allocates nothing; hence at most B/2 parts.

// Row index where part t of n starts.
static inline int row_start(int B, int t, int n) { return (int)((long)B * t / n); }

static int bn_parts(int B, int H) {
    if (!par_worth((long)B * H)) return 1;
    return RED_PARTS < B / 2 ? RED_PARTS : B / 2;
}

// Threads for a region over n parts: no more than there are parts.
static int team_for(int n) {
    int t = omp_get_max_threads();
    return t < n ? t : n;
}

// Column blocks held in registers across the rows. GCC's vector extensions (clang has them
// too): each lane runs the scalar loop's operations on its element in the same order
// (no contraction: ISO C mode), lowered to the machine's widest vectors. A wide block is
// COL_VECS vectors of 16 floats (with AVX-512 a quarter of the register file per operand,
// elsewhere half as many); what is left of a row goes in blocks of 16, then 8, then
// column by column.
typedef float vcol __attribute__((vector_size(64)));
typedef float vcol_u __attribute__((vector_size(64), aligned(4), may_alias));
typedef float vcol8 __attribute__((vector_size(32)));
typedef float vcol8_u __attribute__((vector_size(32), aligned(4), may_alias));
#if defined(__AVX512F__)
#define COL_VECS 4
#else
#define COL_VECS 2
#endif
#define COL_BLOCK (COL_VECS * 16)
#define ALWAYS_INLINE static inline __attribute__((always_inline))

// Sums of a block of NV vectors of VL columns from column j, in registers over rows
// [r0, r1): each column summed in row order, as the plain loop sums it (the same bits).
#define COLUMN_BLOCK_SUMS(name, vt, vt_u, VL, NV)                                             \
    ALWAYS_INLINE void name(float *out, const float *x, const float *bias, const float *mean,   \
                            int r0, int r1, int H, int j) {                                     \
        vt acc[NV], bj[NV], mj[NV];                                                             \
        for (int k = 0; k < NV; k++) {                                                          \
            acc[k] = (vt){0};                                                                   \
            bj[k] = bias ? (vt)*(const vt_u *)(bias + j + k * VL) : (vt){0};                       \
            mj[k] = mean ? (vt)*(const vt_u *)(mean + j + k * VL) : (vt){0};                       \
        }                                                                                       \
        for (int b = r0; b < r1; b++) {                                                         \
            const float *row = x + (size_t)b * H + j;                                           \
            for (int k = 0; k < NV; k++) {                                                      \
                vt v = *(const vt_u *)(row + k * VL);                                           \
                if (bias) v = v + bj[k];                                                        \
                if (mean) {                                                                     \
                    vt d = v - mj[k];                                                           \
                    acc[k] += d * d;                                                            \
                } else {                                                                        \
                    acc[k] += v;                                                                \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        for (int k = 0; k < NV; k++) *(vt_u *)(out + j + k * VL) = acc[k];                      \
    }
COLUMN_BLOCK_SUMS(column_sums_wide, vcol, vcol_u, 16, COL_VECS)
COLUMN_BLOCK_SUMS(column_sums_16, vcol, vcol_u, 16, 1)
COLUMN_BLOCK_SUMS(column_sums_8, vcol8, vcol8_u, 8, 1)

// out[j] = sum over rows [r0, r1) of x[b,j], or of (x[b,j] - mean[j])^2 when mean is given;
// x[b,j] + bias[j] in place of x[b,j] when bias is given (the linear layer's bias, added
// on the fly rather than in a pass of its own).
ALWAYS_INLINE void column_sums_as(float *out, const float *x, const float *bias,
                                  const float *mean, int r0, int r1, int H) {
    int j = 0;
    for (; j + COL_BLOCK <= H; j += COL_BLOCK) column_sums_wide(out, x, bias, mean, r0, r1, H, j);
    for (; j + 16 <= H; j += 16) column_sums_16(out, x, bias, mean, r0, r1, H, j);
    for (; j + 8 <= H; j += 8) column_sums_8(out, x, bias, mean, r0, r1, H, j);
    for (; j < H; j++) {
        float acc = 0.0f;
        for (int b = r0; b < r1; b++) {
            float v = bias ? x[(size_t)b * H + j] + bias[j] : x[(size_t)b * H + j];
            if (mean) {
                float d = v - mean[j];
                acc += d * d;
            } else {
                acc += v;
            }
        }
        out[j] = acc;
    }
}

static void column_sums(float *out, const float *x, const float *bias, const float *mean, int r0,
                        int r1, int H) {
    if (mean && bias) column_sums_as(out, x, bias, mean, r0, r1, H);
    else if (mean) column_sums_as(out, x, NULL, mean, r0, r1, H);
    else if (bias) column_sums_as(out, x, bias, NULL, r0, r1, H);
    else column_sums_as(out, x, NULL, NULL, r0, r1, H);
}

// out[j] = the n parts' partial sums (row row_start(t) of part, t in order) / divisor
static void combine_sums(float *out, const float *part, int B, int H, int n, float divisor) {
    #pragma omp for schedule(static)
    for (int j = 0; j < H; j++) {
        float s = 0.0f;
        for (int t = 0; t < n; t++) s += part[(size_t)row_start(B, t, n) * H + j];
        out[j] = s / divisor;
    }
}

// Rows [r0, r1) of one block of columns [j, j + COL_BLOCK), the block's five vectors of
// parameters in registers: bnraw = ((hprod + bias) - mean) * inv; h = bngain * bnraw + bnbias
// (hpreact; tanh follows over the whole run).
ALWAYS_INLINE void bn_block_rows(float *h, float *bnraw, const float *mean, const float *inv,
                                 const float *hprebn, const float *bias, const float *bngain,
                                 const float *bnbias, int r0, int r1, int H, int j) {
    vcol bj[COL_VECS], mj[COL_VECS], ij[COL_VECS], gj[COL_VECS], cj[COL_VECS];
    for (int k = 0; k < COL_VECS; k++) {
        int c = j + k * 16;
        bj[k] = bias ? (vcol)*(const vcol_u *)(bias + c) : (vcol){0};
        mj[k] = *(const vcol_u *)(mean + c);
        ij[k] = *(const vcol_u *)(inv + c);
        gj[k] = *(const vcol_u *)(bngain + c);
        cj[k] = *(const vcol_u *)(bnbias + c);
    }
    for (int b = r0; b < r1; b++) {
        size_t o = (size_t)b * H + j;
        for (int k = 0; k < COL_VECS; k++) {
            vcol v = *(const vcol_u *)(hprebn + o + k * 16);
            if (bias) v = v + bj[k];
            vcol raw = (v - mj[k]) * ij[k];
            *(vcol_u *)(bnraw + o + k * 16) = raw;
            *(vcol_u *)(h + o + k * 16) = gj[k] * raw + cj[k];
        }
    }
}

// Rows [r0, r1): bnraw = (hprebn - mean) * inv; h = tanh(bngain * bnraw + bnbias).
ALWAYS_INLINE void bn_forward_rows_as(float *h, float *bnraw, const float *mean, const float *inv,
                                      const float *hprebn, const float *bias, const float *bngain,
                                      const float *bnbias, int r0, int r1, int H) {
    int j0 = 0;
    for (; j0 + COL_BLOCK <= H; j0 += COL_BLOCK)
        bn_block_rows(h, bnraw, mean, inv, hprebn, bias, bngain, bnbias, r0, r1, H, j0);
    for (int b = r0; b < r1 && j0 < H; b++) {
        size_t o = (size_t)b * H;
        #pragma omp simd
        for (int j = j0; j < H; j++) {
            float v = bias ? hprebn[o + j] + bias[j] : hprebn[o + j];
            float raw = (v - mean[j]) * inv[j];
            bnraw[o + j] = raw;
            h[o + j] = bngain[j] * raw + bnbias[j];  // hpreact
        }
    }
    float *x = h + (size_t)r0 * H;  // tanh in place, one contiguous run (libmvec's tanhf)
    size_t n = (size_t)(r1 - r0) * H;
    #pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] = tanhf(x[i]);
}

static void bn_forward_rows(float *h, float *bnraw, const float *mean, const float *inv,
                            const float *hprebn, const float *bias, const float *bngain,
                            const float *bnbias, int r0, int r1, int H) {
    if (bias) bn_forward_rows_as(h, bnraw, mean, inv, hprebn, bias, bngain, bnbias, r0, r1, H);
    else bn_forward_rows_as(h, bnraw, mean, inv, hprebn, NULL, bngain, bnbias, r0, r1, H);
}

static void invert_variance(float *bnvar_inv, const float *bnvar, int j0, int j1) {
    for (int j = j0; j < j1; j++) bnvar_inv[j] = 1.0f / sqrtf(bnvar[j] + BN_EPS);
}

void batchnorm_tanh_forward(float *h, float *bnraw, float *bnmeani, float *bnvar,
                            float *bnvar_inv, const float *hprebn, const float *bngain,
                            const float *bnbias, int B, int H, int bessel) {
    batchnorm_tanh_forward_bias(h, bnraw, bnmeani, bnvar, bnvar_inv, hprebn, NULL, bngain,
                                bnbias, B, H, bessel);
}

void batchnorm_tanh_forward_bias(float *h, float *bnraw, float *bnmeani, float *bnvar,
                                 float *bnvar_inv, const float *hprod, const float *bias,
                                 const float *bngain, const float *bnbias, int B, int H,
                                 int bessel) {
    const float *hprebn = hprod;  // + bias, on the fly
    const float n_var = (float)(bessel ? B - 1 : B);
    int parts = bn_parts(B, H);
    if (parts == 1) {
        column_sums(bnmeani, hprebn, bias, NULL, 0, B, H);
        for (int j = 0; j < H; j++) bnmeani[j] /= (float)B;
        column_sums(bnvar, hprebn, bias, bnmeani, 0, B, H);
        for (int j = 0; j < H; j++) bnvar[j] /= n_var;
        invert_variance(bnvar_inv, bnvar, 0, H);
        bn_forward_rows(h, bnraw, bnmeani, bnvar_inv, hprebn, bias, bngain, bnbias, 0, B, H);
        return;
    }
    // Part p's partial sums live in row row_start(p) of bnraw until its rows are written.
    #pragma omp parallel num_threads(team_for(parts))
    {
        #pragma omp for schedule(static)
        for (int p = 0; p < parts; p++) {
            int r0 = row_start(B, p, parts), r1 = row_start(B, p + 1, parts);
            column_sums(bnraw + (size_t)r0 * H, hprebn, bias, NULL, r0, r1, H);
        }
        combine_sums(bnmeani, bnraw, B, H, parts, (float)B);  // (ends with a barrier)
        #pragma omp for schedule(static)
        for (int p = 0; p < parts; p++) {
            int r0 = row_start(B, p, parts), r1 = row_start(B, p + 1, parts);
            column_sums(bnraw + (size_t)r0 * H, hprebn, bias, bnmeani, r0, r1, H);
        }
        combine_sums(bnvar, bnraw, B, H, parts, n_var);
        #pragma omp single
        invert_variance(bnvar_inv, bnvar, 0, H);
        #pragma omp for schedule(static)
        for (int p = 0; p < parts; p++)
            bn_forward_rows(h, bnraw, bnmeani, bnvar_inv, hprebn, bias, bngain, bnbias,
                            row_start(B, p, parts), row_start(B, p + 1, parts), H);
    }
}

void batchnorm_tanh_forward_eval(float *h, const float *hprebn, const float *bnmean,
                                 const float *bnvar, const float *bngain,
                                 const float *bnbias, int B, int H) {
    #pragma omp parallel for schedule(static)  // only evaluation and sampling come here
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)b * H;
        #pragma omp simd
        for (int j = 0; j < H; j++)
            h[o + j] = tanhf(bngain[j] * (hprebn[o + j] - bnmean[j]) / sqrtf(bnvar[j] + BN_EPS) +
                             bnbias[j]);
    }
}

// ---- cross-entropy ---------------------------------------------------------------

// Rows [r0, r1) of exercise 2: dlogits = (softmax(logits) - onehot(Yb)) / B.
// Returns the rows' summed loss -log softmax(logits)[b, Yb[b]].
// Rows are short (V = 27), so the exponentials run as one vector loop over a block of
// up to CE_ROWS rows laid end to end, not row by row with a scalar tail each time. A row's
// maximum and its sum are chains of V dependent operations (the sum in column order, as
// the lecture's counts.sum(1)); CE_GROUP rows run their chains side by side, so the
// chains' latencies overlap rather than add up.
#define CE_ROWS 64
#define CE_GROUP 8
static double ce_rows(float *dlogits, const float *logits, const int *Yb, int r0, int r1, int V,
                      float inv_B) {
    double loss = 0.0;
    for (int c0 = r0; c0 < r1; c0 += CE_ROWS) {
        int c1 = c0 + CE_ROWS < r1 ? c0 + CE_ROWS : r1;
        float row_max[CE_ROWS], row_sum[CE_ROWS];
        int b = c0;
        for (; b + CE_GROUP <= c1; b += CE_GROUP) {
            const float *x = logits + (size_t)b * V;
            float mx[CE_GROUP];
            for (int g = 0; g < CE_GROUP; g++) mx[g] = x[(size_t)g * V];
            for (int v = 1; v < V; v++)
                for (int g = 0; g < CE_GROUP; g++) {
                    float y = x[(size_t)g * V + v];
                    mx[g] = y > mx[g] ? y : mx[g];
                }
            for (int g = 0; g < CE_GROUP; g++) row_max[b - c0 + g] = mx[g];
        }
        for (; b < c1; b++) {
            const float *x = logits + (size_t)b * V;
            float mx = x[0];
            for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
            row_max[b - c0] = mx;
        }
        for (b = c0; b < c1; b++) {
            const float *x = logits + (size_t)b * V;
            float *d = dlogits + (size_t)b * V, mx = row_max[b - c0];
            #pragma omp simd
            for (int v = 0; v < V; v++) d[v] = x[v] - mx;  // norm_logits
        }
        float *block = dlogits + (size_t)c0 * V;
        size_t n = (size_t)(c1 - c0) * V;
        #pragma omp simd
        for (size_t i = 0; i < n; i++) block[i] = expf(block[i]);  // counts
        for (b = c0; b + CE_GROUP <= c1; b += CE_GROUP) {
            const float *d = dlogits + (size_t)b * V;
            float sum[CE_GROUP] = {0};
            for (int v = 0; v < V; v++)
                for (int g = 0; g < CE_GROUP; g++) sum[g] += d[(size_t)g * V + v];  // counts_sum
            for (int g = 0; g < CE_GROUP; g++) row_sum[b - c0 + g] = sum[g];
        }
        for (; b < c1; b++) {
            const float *d = dlogits + (size_t)b * V;
            float sum = 0.0f;
            for (int v = 0; v < V; v++) sum += d[v];  // counts_sum
            row_sum[b - c0] = sum;
        }
        for (b = c0; b < c1; b++) {
            float *d = dlogits + (size_t)b * V, sum = row_sum[b - c0];
            const float *x = logits + (size_t)b * V;
            float scale = inv_B / sum;
            #pragma omp simd
            for (int v = 0; v < V; v++) d[v] *= scale;
            d[Yb[b]] -= inv_B;
            loss += logf(sum) - (x[Yb[b]] - row_max[b - c0]);
        }
    }
    return loss;
}

// Rows cut into a number of parts fixed by B and V; partial losses combined in part order.
static double ce_all_rows(float *dlogits, const float *logits, const int *Yb, int B, int V) {
    const float inv_B = 1.0f / (float)B;
    int parts = par_worth((long)B * V * 8) ? (B < RED_PARTS ? B : RED_PARTS) : 1;
    if (parts == 1) return ce_rows(dlogits, logits, Yb, 0, B, V, inv_B);
    double partial[RED_PARTS];
    #pragma omp parallel for schedule(static) num_threads(team_for(parts))
    for (int p = 0; p < parts; p++)
        partial[p] = ce_rows(dlogits, logits, Yb, row_start(B, p, parts),
                             row_start(B, p + 1, parts), V, inv_B);
    double total = 0.0;
    for (int p = 0; p < parts; p++) total += partial[p];
    return total;
}

void ce_backward_fused(float *dlogits, const float *logits, const int *Yb, int B, int V) {
    ce_all_rows(dlogits, logits, Yb, B, V);
}

float ce_forward_backward_fused(float *dlogits, const float *logits, const int *Yb, int B,
                                int V) {
    return (float)(ce_all_rows(dlogits, logits, Yb, B, V) / B);
}

double ce_loss_sum(const float *logits, const int *Yb, int B, int V) {
    double total = 0.0;
    for (int b = 0; b < B; b++) {
        const float *x = logits + (size_t)b * V;
        float mx = x[0];
        for (int v = 1; v < V; v++) mx = x[v] > mx ? x[v] : mx;
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)x[v] - mx);
        total += log(sum) - ((double)x[Yb[b]] - mx);
    }
    return total;
}

// ---- batchnorm backward (exercise 3) -------------------------------------------
//
// When h is non-NULL the input is dh and dhpreact = (1 - h^2) * dh is formed on the fly
// (tanh fused in); else the input is dhpreact itself. Two passes over the rows: the
// column sums sum_b dhpreact (= dbnbias) and sum_b dhpreact * bnraw (= dbngain), then
// dhprebn. Threads: row ranges as in the forward; partials in dhprebn's first two rows
// of each thread's range.

static inline float upstream(const float *din, const float *h, size_t i) {
    return h ? (1.0f - h[i] * h[i]) * din[i] : din[i];
}

// The gradient at the batchnorm's output, a vector at index at: din, through the tanh when h
// is given ((1 - h^2) din, as the plain loop forms it).
#define BN_DOUT(vt, vt_u, din, h, at)                                                           \
    ((h) ? (vt)((1.0f - *(const vt_u *)((h) + (at)) * *(const vt_u *)((h) + (at))) *          \
                *(const vt_u *)((din) + (at)))                                                  \
         : (vt)*(const vt_u *)((din) + (at)))

// Both sums of a block of NV vectors of VL columns from column j, in registers over rows
// [r0, r1), each column in row order (the plain loop's bits).
#define BN_BACKWARD_BLOCK_SUMS(name, vt, vt_u, VL, NV)                                        \
    ALWAYS_INLINE void name(float *sum_d, float *sum_draw, const float *din, const float *h,    \
                            const float *bnraw, int r0, int r1, int H, int j) {                 \
        vt sd[NV], sr[NV];                                                                      \
        for (int k = 0; k < NV; k++) sd[k] = sr[k] = (vt){0};                                   \
        for (int b = r0; b < r1; b++) {                                                         \
            size_t o = (size_t)b * H + j;                                                       \
            for (int k = 0; k < NV; k++) {                                                      \
                vt d = BN_DOUT(vt, vt_u, din, h, o + k * VL);                                     \
                sd[k] += d;                                                                     \
                sr[k] += d * *(const vt_u *)(bnraw + o + k * VL);                               \
            }                                                                                   \
        }                                                                                       \
        for (int k = 0; k < NV; k++) {                                                          \
            *(vt_u *)(sum_d + j + k * VL) = sd[k];                                              \
            *(vt_u *)(sum_draw + j + k * VL) = sr[k];                                           \
        }                                                                                       \
    }
BN_BACKWARD_BLOCK_SUMS(bn_backward_sums_wide, vcol, vcol_u, 16, COL_VECS)
BN_BACKWARD_BLOCK_SUMS(bn_backward_sums_16, vcol, vcol_u, 16, 1)
BN_BACKWARD_BLOCK_SUMS(bn_backward_sums_8, vcol8, vcol8_u, 8, 1)

ALWAYS_INLINE void bn_backward_sums_as(float *sum_d, float *sum_draw, const float *din,
                                       const float *h, const float *bnraw, int r0, int r1, int H) {
    int j = 0;
    for (; j + COL_BLOCK <= H; j += COL_BLOCK)
        bn_backward_sums_wide(sum_d, sum_draw, din, h, bnraw, r0, r1, H, j);
    for (; j + 16 <= H; j += 16) bn_backward_sums_16(sum_d, sum_draw, din, h, bnraw, r0, r1, H, j);
    for (; j + 8 <= H; j += 8) bn_backward_sums_8(sum_d, sum_draw, din, h, bnraw, r0, r1, H, j);
    for (; j < H; j++) {
        float sd = 0.0f, sr = 0.0f;
        for (int b = r0; b < r1; b++) {
            size_t i = (size_t)b * H + j;
            float d = upstream(din, h, i);
            sd += d;
            sr += d * bnraw[i];
        }
        sum_d[j] = sd;
        sum_draw[j] = sr;
    }
}

static void bn_backward_sums(float *sum_d, float *sum_draw, const float *din, const float *h,
                             const float *bnraw, int r0, int r1, int H) {
    if (h) bn_backward_sums_as(sum_d, sum_draw, din, h, bnraw, r0, r1, H);
    else bn_backward_sums_as(sum_d, sum_draw, din, NULL, bnraw, r0, r1, H);
}

// dhprebn = bngain*bnvar_inv/B * (B*d - sum_d - k*bnraw*sum_draw) for a block of NV vectors
// of VL columns from column j over rows [r0, r1), the three per-column factors in registers
// (each formed as the plain loop forms it).
#define BN_BACKWARD_BLOCK_ROWS(name, vt, vt_u, VL, NV)                                        \
    ALWAYS_INLINE void name(float *dhprebn, const float *sum_d, const float *sum_draw,           \
                            const float *din, const float *h, const float *bnraw,               \
                            const float *bnvar_inv, const float *bngain, int B, int H, int r0,  \
                            int r1, float kb, int j) {                                          \
        vt scale[NV], sd[NV], ksr[NV];                                                          \
        for (int k = 0; k < NV; k++) {                                                          \
            int c = j + k * VL;                                                                 \
            scale[k] = *(const vt_u *)(bngain + c) * *(const vt_u *)(bnvar_inv + c) / (float)B; \
            sd[k] = *(const vt_u *)(sum_d + c);                                                 \
            ksr[k] = kb * *(const vt_u *)(sum_draw + c);                                        \
        }                                                                                       \
        for (int b = r0; b < r1; b++) {                                                         \
            size_t o = (size_t)b * H + j;                                                       \
            for (int k = 0; k < NV; k++) {                                                      \
                vt d = BN_DOUT(vt, vt_u, din, h, o + k * VL);                                     \
                vt raw = *(const vt_u *)(bnraw + o + k * VL);                                   \
                *(vt_u *)(dhprebn + o + k * VL) = scale[k] * ((float)B * d - sd[k] - raw * ksr[k]); \
            }                                                                                   \
        }                                                                                       \
    }
BN_BACKWARD_BLOCK_ROWS(bn_backward_rows_wide, vcol, vcol_u, 16, COL_VECS)
BN_BACKWARD_BLOCK_ROWS(bn_backward_rows_16, vcol, vcol_u, 16, 1)
BN_BACKWARD_BLOCK_ROWS(bn_backward_rows_8, vcol8, vcol8_u, 8, 1)

// dhprebn = bngain*bnvar_inv/B * (B*d - sum_d - k*bnraw*sum_draw), rows [r0, r1)
ALWAYS_INLINE void bn_backward_rows_as(float *dhprebn, const float *sum_d, const float *sum_draw,
                                       const float *din, const float *h, const float *bnraw,
                                       const float *bnvar_inv, const float *bngain, int B, int H,
                                       int r0, int r1, int bessel) {
    const float k = bessel ? (float)B / (float)(B - 1) : 1.0f;
    int j = 0;
    for (; j + COL_BLOCK <= H; j += COL_BLOCK)
        bn_backward_rows_wide(dhprebn, sum_d, sum_draw, din, h, bnraw, bnvar_inv, bngain, B, H,
                              r0, r1, k, j);
    for (; j + 16 <= H; j += 16)
        bn_backward_rows_16(dhprebn, sum_d, sum_draw, din, h, bnraw, bnvar_inv, bngain, B, H, r0,
                            r1, k, j);
    for (; j + 8 <= H; j += 8)
        bn_backward_rows_8(dhprebn, sum_d, sum_draw, din, h, bnraw, bnvar_inv, bngain, B, H, r0,
                           r1, k, j);
    for (int b = r0; b < r1 && j < H; b++) {
        size_t o = (size_t)b * H;
        for (int c = j; c < H; c++) {
            float scale = bngain[c] * bnvar_inv[c] / (float)B;
            dhprebn[o + c] = scale * ((float)B * upstream(din, h, o + c) - sum_d[c] -
                                      bnraw[o + c] * (k * sum_draw[c]));
        }
    }
}

static void bn_backward_rows(float *dhprebn, const float *sum_d, const float *sum_draw,
                             const float *din, const float *h, const float *bnraw,
                             const float *bnvar_inv, const float *bngain, int B, int H, int r0,
                             int r1, int bessel) {
    if (h)
        bn_backward_rows_as(dhprebn, sum_d, sum_draw, din, h, bnraw, bnvar_inv, bngain, B, H, r0,
                            r1, bessel);
    else
        bn_backward_rows_as(dhprebn, sum_d, sum_draw, din, NULL, bnraw, bnvar_inv, bngain, B, H,
                            r0, r1, bessel);
}

static void bn_backward(float *dhprebn, float *dbngain, float *dbnbias, const float *din,
                        const float *h, const float *bnraw, const float *bnvar_inv,
                        const float *bngain, int B, int H, int bessel) {
    int parts = bn_parts(B, H);
    if (parts == 1) {
        bn_backward_sums(dbnbias, dbngain, din, h, bnraw, 0, B, H);
        bn_backward_rows(dhprebn, dbnbias, dbngain, din, h, bnraw, bnvar_inv, bngain, B, H, 0, B,
                         bessel);
        return;
    }
    // Part p's two partial sums live in rows r0 and r0 + 1 of dhprebn (r1 - r0 >= 2).
    #pragma omp parallel num_threads(team_for(parts))
    {
        #pragma omp for schedule(static)
        for (int p = 0; p < parts; p++) {
            int r0 = row_start(B, p, parts), r1 = row_start(B, p + 1, parts);
            float *part_d = dhprebn + (size_t)r0 * H;
            bn_backward_sums(part_d, part_d + H, din, h, bnraw, r0, r1, H);
        }
        #pragma omp for schedule(static)
        for (int j = 0; j < H; j++) {
            float sd = 0.0f, sr = 0.0f;
            for (int u = 0; u < parts; u++) {
                const float *p = dhprebn + (size_t)row_start(B, u, parts) * H;
                sd += p[j];
                sr += p[H + j];
            }
            dbnbias[j] = sd;
            dbngain[j] = sr;
        }
        #pragma omp for schedule(static)
        for (int p = 0; p < parts; p++)
            bn_backward_rows(dhprebn, dbnbias, dbngain, din, h, bnraw, bnvar_inv, bngain, B, H,
                             row_start(B, p, parts), row_start(B, p + 1, parts), bessel);
    }
}

void bn_backward_fused(float *dhprebn, float *dbngain, float *dbnbias, const float *dhpreact,
                       const float *bnraw, const float *bnvar_inv, const float *bngain, int B,
                       int H, int bessel) {
    bn_backward(dhprebn, dbngain, dbnbias, dhpreact, NULL, bnraw, bnvar_inv, bngain, B, H, bessel);
}

void bn_tanh_backward_fused(float *dhprebn, float *dbngain, float *dbnbias, const float *dh,
                            const float *h, const float *bnraw, const float *bnvar_inv,
                            const float *bngain, int B, int H, int bessel) {
    bn_backward(dhprebn, dbngain, dbnbias, dh, h, bnraw, bnvar_inv, bngain, B, H, bessel);
}
