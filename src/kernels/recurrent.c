// recurrent.c: makemore.py's RNN and GRU cells over a whole sequence, forward and
// backpropagation through time (recurrent_kernels.h).
//
// The shape of both: the input projections of all T steps are one GEMM over the B*T rows
// before the recurrence; the recurrence multiplies only the hidden half of each weight,
// one small GEMM per step on the rows of that step (batch-major buffers, the step's rows
// strided by T*n: blas_sgemm's leading dimensions); after the backward's recurrence every
// weight gradient is one GEMM over the B*T rows (the stacked h_{t-1} or r*h_{t-1} the
// forward saved, against the stacked pre-activation gradients), and so is dx.
//
// Threads: the recurrence is cut into rec_blocks() blocks of batch rows, a number fixed
// by the sizes alone; each block runs every time step of its rows on one thread (one fork
// per sequence, not per step), its GEMMs on that thread (blas_sgemm). The whole-batch GEMMs
// go through gemm() (tiled by shape). Every sum over the batch (biases, dstart) runs in
// row order on one thread. So the results are bit-identical at any thread count.
#include "recurrent_kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "blas.h"
#include "common.h"
#include "linear.h"
#include "vecmath.h"

// The recurrence forks when its per-step products add up to this many multiply-adds (the
// GEMM layer's fork threshold, blas.c), into blocks of at least this many rows.
#define REC_FORK_MIN_MACS (1L << 22)
#define REC_BLOCK_MIN_ROWS 32
#define REC_MAX_BLOCKS 16

// Blocks of batch rows for a recurrence whose steps multiply by `width` columns of n_h.
static int rec_blocks(int B, int T, int n_h, int width) {
    if ((long)B * T * n_h * width < REC_FORK_MIN_MACS) return 1;
    int nb = B / REC_BLOCK_MIN_ROWS;
    return nb < 1 ? 1 : nb > REC_MAX_BLOCKS ? REC_MAX_BLOCKS : nb;
}

static inline int block_start(int B, int i, int n) { return (int)((long)B * i / n); }

// fn(ctx, b0, b1) on each of nb blocks of [0, B): forked when there are threads to take
// them, else in order on this thread (the same bits: a block's result does not depend on
// the thread that runs it).
typedef void (*BlockFn)(const void *ctx, int b0, int b1);
static void run_blocks(BlockFn fn, const void *ctx, int B, int nb) {
    if (nb == 1 || omp_get_max_threads() == 1) {
        for (int i = 0; i < nb; i++) fn(ctx, block_start(B, i, nb), block_start(B, i + 1, nb));
        return;
    }
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < nb; i++) fn(ctx, block_start(B, i, nb), block_start(B, i + 1, nb));
}

// out[c,r] = in[r,c], in [R,C] with row stride ld_in
static void transpose(float *out, const float *in, int R, int C, int ld_in) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) out[(size_t)c * R + r] = in[(size_t)r * ld_in + c];
}

// out[j] = sum over rows b of x[b * ld + j], b in order
static void column_sum(float *out, const float *x, int rows, size_t ld, int n) {
    for (int j = 0; j < n; j++) out[j] = 0.0f;
    for (int b = 0; b < rows; b++) {
        const float *row = x + (size_t)b * ld;
        #pragma omp simd
        for (int j = 0; j < n; j++) out[j] += row[j];
    }
}

static inline float sigmoidf(float a) { return 1.0f / (1.0f + expf(-a)); }

// ======================================================================================
// RNN
// ======================================================================================

typedef struct {
    float *hidden, *hprev, *dpre, *carry;
    const float *x, *W, *b, *start, *dhidden, *WhT;
    int T, n_in, n_h;
} RnnCtx;

size_t rnn_state_floats(int B, int T, int n_h) { return (size_t)B * T * n_h; }

size_t rnn_scratch_floats(int B, int T, int n_in, int n_h) {
    (void)n_in;
    return (size_t)B * T * n_h + (size_t)B * n_h + (size_t)n_h * n_h + n_h;
}

// Rows [b0, b1): hidden holds x . W_x; per step add h_{t-1} . W_h, then h = tanh(. + b).
static void rnn_forward_block(const void *vc, int b0, int b1) {
    const RnnCtx *c = vc;
    const int T = c->T, n_h = c->n_h, rows = b1 - b0;
    const size_t ld = (size_t)T * n_h;
    const float *Wh = c->W + (size_t)c->n_in * n_h;
    for (int b = b0; b < b1; b++) memcpy(c->hprev + b * ld, c->start, (size_t)n_h * sizeof(float));
    for (int t = 0; t < T; t++) {
        size_t o = (size_t)b0 * ld + (size_t)t * n_h;  // row (b0, t)
        blas_sgemm(0, 0, rows, n_h, n_h, 1.0f, c->hprev + o, (int)ld, Wh, n_h, 1.0f,
                   c->hidden + o, (int)ld);
        for (int b = b0; b < b1; b++) {
            float *h = c->hidden + (size_t)b * ld + (size_t)t * n_h;
            #pragma omp simd
            for (int j = 0; j < n_h; j++) h[j] = tanhf(h[j] + c->b[j]);
            if (t + 1 < T)
                memcpy(c->hprev + (size_t)b * ld + (size_t)(t + 1) * n_h, h,
                       (size_t)n_h * sizeof(float));
        }
    }
}

void rnn_forward(float *hidden, float *state, const float *x, const float *W, const float *b,
                 const float *start, int B, int T, int n_in, int n_h) {
    RnnCtx c = {.hidden = hidden, .hprev = state, .x = x, .W = W, .b = b, .start = start,
                .T = T, .n_in = n_in, .n_h = n_h};
    gemm(0, 0, B * T, n_h, n_in, 1.0f, x, W, 0.0f, hidden);  // every step's x_t . W_x
    run_blocks(rnn_forward_block, &c, B, rec_blocks(B, T, n_h, n_h));
}

// One position of B rows (sampling's decode), as rnn_forward_block's step t.
size_t rnn_step_floats(int B, int n_h) { return (size_t)B * n_h; }

void rnn_forward_step(float *h, float *state, const float *x, const float *W, const float *b,
                      const float *start, int t, int B, int n_in, int n_h) {
    float *hprev = state;  // [B,n_h]
    if (t == 0)
        for (int r = 0; r < B; r++) memcpy(hprev + (size_t)r * n_h, start, (size_t)n_h * sizeof(float));
    gemm(0, 0, B, n_h, n_in, 1.0f, x, W, 0.0f, h);  // x_t . W_x
    blas_sgemm(0, 0, B, n_h, n_h, 1.0f, hprev, n_h, W + (size_t)n_in * n_h, n_h, 1.0f, h, n_h);
    for (int r = 0; r < B; r++) {
        float *hr = h + (size_t)r * n_h;
        #pragma omp simd
        for (int j = 0; j < n_h; j++) hr[j] = tanhf(hr[j] + b[j]);
    }
    memcpy(hprev, h, (size_t)B * n_h * sizeof(float));  // h_t: the next step's h_{t-1}
}

// Rows [b0, b1), from the last step: dpre_t = (dhidden_t + dh_t) * (1 - h_t^2), then
// dh_{t-1} = dpre_t . W_h^T into the carry (not at t = 0: dstart is summed afterwards).
static void rnn_backward_block(const void *vc, int b0, int b1) {
    const RnnCtx *c = vc;
    const int T = c->T, n_h = c->n_h, rows = b1 - b0;
    const size_t ld = (size_t)T * n_h;
    for (int t = T - 1; t >= 0; t--) {
        for (int b = b0; b < b1; b++) {
            size_t o = (size_t)b * ld + (size_t)t * n_h;
            const float *dhid = c->dhidden + o, *h = c->hidden + o;
            const float *carry = c->carry + (size_t)b * n_h;
            float *dp = c->dpre + o;
            if (t == T - 1) {
                #pragma omp simd
                for (int j = 0; j < n_h; j++) dp[j] = dhid[j] * (1.0f - h[j] * h[j]);
            } else {
                #pragma omp simd
                for (int j = 0; j < n_h; j++) dp[j] = (dhid[j] + carry[j]) * (1.0f - h[j] * h[j]);
            }
        }
        if (t > 0)
            blas_sgemm(0, 0, rows, n_h, n_h, 1.0f, c->dpre + (size_t)b0 * ld + (size_t)t * n_h,
                       (int)ld, c->WhT, n_h, 0.0f, c->carry + (size_t)b0 * n_h, n_h);
    }
}

void rnn_backward(float *dx, float *dW, float *db, float *dstart, float *scratch,
                  const float *dhidden, const float *hidden, const float *state, const float *x,
                  const float *W, int B, int T, int n_in, int n_h) {
    const int N = B * T;
    float *dpre = scratch, *carry = dpre + (size_t)N * n_h, *WhT = carry + (size_t)B * n_h;
    float *sum0 = WhT + (size_t)n_h * n_h;
    const float *hprev = state, *Wh = W + (size_t)n_in * n_h;
    transpose(WhT, Wh, n_h, n_h, n_h);
    RnnCtx c = {.hidden = (float *)hidden, .dpre = dpre, .carry = carry, .dhidden = dhidden,
                .WhT = WhT, .T = T, .n_in = n_in, .n_h = n_h};
    run_blocks(rnn_backward_block, &c, B, rec_blocks(B, T, n_h, n_h));
    // dstart = sum_b dpre_0[b] . W_h^T = (sum_b dpre_0[b]) . W_h^T
    column_sum(sum0, dpre, B, (size_t)T * n_h, n_h);
    blas_sgemv_t(n_h, n_h, 1.0f, WhT, sum0, 0.0f, dstart);
    bias_backward(db, dpre, N, n_h);
    gemm(1, 0, n_in, n_h, N, 1.0f, x, dpre, 0.0f, dW);                          // W_x
    gemm(1, 0, n_h, n_h, N, 1.0f, hprev, dpre, 0.0f, dW + (size_t)n_in * n_h);  // W_h
    if (dx) gemm(0, 1, N, n_in, n_h, 1.0f, dpre, W, 0.0f, dx);
}

// ======================================================================================
// GRU
// ======================================================================================

typedef struct {
    float *hidden, *zr, *hbar, *hprev, *rh;  // the forward's outputs and state
    float *dzr, *dhb, *carry, *drh;          // the backward's scratch
    const float *start, *dhidden, *Wh_zr, *WhzrT, *WhbT;
    const GruWeights *w;
    int T, n_in, n_h;
} GruCtx;

// The state's regions (gru_state_floats), in the header's order.
typedef struct {
    float *zr, *hbar, *hprev, *rh, *Wx_zr, *Wh_zr;
} GruState;

static GruState gru_state(float *s, int B, int T, int n_in, int n_h) {
    const size_t N = (size_t)B * T;
    GruState g;
    g.zr = s;
    g.hbar = g.zr + N * 2 * n_h;
    g.hprev = g.hbar + N * n_h;
    g.rh = g.hprev + N * n_h;
    g.Wx_zr = g.rh + N * n_h;
    g.Wh_zr = g.Wx_zr + (size_t)n_in * 2 * n_h;
    return g;
}

size_t gru_state_floats(int B, int T, int n_in, int n_h) {
    return (size_t)B * T * 5 * n_h + (size_t)(n_in + n_h) * 2 * n_h;
}

size_t gru_scratch_floats(int B, int T, int n_in, int n_h) {
    return (size_t)B * T * 3 * n_h        // dzr, dhb
           + (size_t)B * 2 * n_h          // carry, drh
           + (size_t)3 * n_h * n_h        // WhzrT [2n_h, n_h], WhbT [n_h, n_h]
           + (size_t)(n_in + n_h) * 2 * n_h  // the z|r weight gradient, side by side
           + (size_t)2 * n_h;             // a column sum
}

// Rows [b0, b1). zr holds x . [Wz_x | Wr_x] and hbar x . Wh_x. Per step: z|r += h_{t-1} .
// [Wz_h | Wr_h]; pass 1: r = sigmoid(. + br), rh = r * h_{t-1}; hbar += rh . Wh_h; pass 2:
// z = sigmoid(. + bz), hbar = tanh(. + bh), h = (1 - z) h_{t-1} + z hbar.
static void gru_forward_block(const void *vc, int b0, int b1) {
    const GruCtx *c = vc;
    const GruWeights *w = c->w;
    const int T = c->T, n_h = c->n_h, rows = b1 - b0;
    const size_t ld = (size_t)T * n_h, ld2 = 2 * ld;
    const float *Whb_h = w->Wh + (size_t)c->n_in * n_h;
    for (int b = b0; b < b1; b++) memcpy(c->hprev + b * ld, c->start, (size_t)n_h * sizeof(float));
    for (int t = 0; t < T; t++) {
        size_t o = (size_t)b0 * ld + (size_t)t * n_h, o2 = 2 * o;  // row (b0, t)
        blas_sgemm(0, 0, rows, 2 * n_h, n_h, 1.0f, c->hprev + o, (int)ld, c->Wh_zr, 2 * n_h,
                   1.0f, c->zr + o2, (int)ld2);
        for (int b = b0; b < b1; b++) {
            size_t p = (size_t)b * ld + (size_t)t * n_h;
            float *r = c->zr + 2 * p + n_h, *rh = c->rh + p;
            const float *hp = c->hprev + p;
            #pragma omp simd
            for (int j = 0; j < n_h; j++) {
                r[j] = sigmoidf(r[j] + w->br[j]);
                rh[j] = r[j] * hp[j];
            }
        }
        blas_sgemm(0, 0, rows, n_h, n_h, 1.0f, c->rh + o, (int)ld, Whb_h, n_h, 1.0f,
                   c->hbar + o, (int)ld);
        for (int b = b0; b < b1; b++) {
            size_t p = (size_t)b * ld + (size_t)t * n_h;
            float *z = c->zr + 2 * p, *hb = c->hbar + p, *h = c->hidden + p;
            const float *hp = c->hprev + p;
            #pragma omp simd
            for (int j = 0; j < n_h; j++) {
                z[j] = sigmoidf(z[j] + w->bz[j]);
                hb[j] = tanhf(hb[j] + w->bh[j]);
                h[j] = (1.0f - z[j]) * hp[j] + z[j] * hb[j];
            }
            if (t + 1 < T) memcpy(c->hprev + p + n_h, h, (size_t)n_h * sizeof(float));
        }
    }
}

void gru_forward(float *hidden, float *state, const float *x, const GruWeights *w,
                 const float *start, int B, int T, int n_in, int n_h) {
    GruState s = gru_state(state, B, T, n_in, n_h);
    const int N = B * T;
    // z's and r's weights side by side: [Wz | Wr] row by row, the x rows then the h rows
    for (int i = 0; i < n_in + n_h; i++) {
        float *dst = i < n_in ? s.Wx_zr + (size_t)i * 2 * n_h : s.Wh_zr + (size_t)(i - n_in) * 2 * n_h;
        memcpy(dst, w->Wz + (size_t)i * n_h, (size_t)n_h * sizeof(float));
        memcpy(dst + n_h, w->Wr + (size_t)i * n_h, (size_t)n_h * sizeof(float));
    }
    gemm(0, 0, N, 2 * n_h, n_in, 1.0f, x, s.Wx_zr, 0.0f, s.zr);  // every step's x_t . [Wz_x|Wr_x]
    gemm(0, 0, N, n_h, n_in, 1.0f, x, w->Wh, 0.0f, s.hbar);      // every step's x_t . Wh_x
    GruCtx c = {.hidden = hidden, .zr = s.zr, .hbar = s.hbar, .hprev = s.hprev, .rh = s.rh,
                .start = start, .Wh_zr = s.Wh_zr, .w = w, .T = T, .n_in = n_in, .n_h = n_h};
    run_blocks(gru_forward_block, &c, B, rec_blocks(B, T, n_h, 3 * n_h));
}

// One position of B rows (sampling's decode), as gru_forward_block's step t: z and r each
// x_t . W_x then + h_{t-1} . W_h (the forward's two GEMMs on [Wz | Wr] side by side give
// each column the same sums), r's pass, hbar = x_t . Wh_x + (r*h_{t-1}) . Wh_h, the blend.
size_t gru_step_floats(int B, int n_h) { return 4 * (size_t)B * n_h; }

void gru_forward_step(float *h, float *state, const float *x, const GruWeights *w,
                      const float *start, int t, int B, int n_in, int n_h) {
    const size_t Bh = (size_t)B * n_h, xrows = (size_t)n_in * n_h;  // W_h = W + xrows
    float *hprev = state, *z = hprev + Bh, *r = z + Bh, *rh = r + Bh;  // [B,n_h] each
    if (t == 0)
        for (int b = 0; b < B; b++) memcpy(hprev + (size_t)b * n_h, start, (size_t)n_h * sizeof(float));
    gemm(0, 0, B, n_h, n_in, 1.0f, x, w->Wz, 0.0f, z);
    blas_sgemm(0, 0, B, n_h, n_h, 1.0f, hprev, n_h, w->Wz + xrows, n_h, 1.0f, z, n_h);
    gemm(0, 0, B, n_h, n_in, 1.0f, x, w->Wr, 0.0f, r);
    blas_sgemm(0, 0, B, n_h, n_h, 1.0f, hprev, n_h, w->Wr + xrows, n_h, 1.0f, r, n_h);
    for (int b = 0; b < B; b++) {
        float *rb = r + (size_t)b * n_h, *rhb = rh + (size_t)b * n_h;
        const float *hp = hprev + (size_t)b * n_h;
        #pragma omp simd
        for (int j = 0; j < n_h; j++) {
            rb[j] = sigmoidf(rb[j] + w->br[j]);
            rhb[j] = rb[j] * hp[j];
        }
    }
    gemm(0, 0, B, n_h, n_in, 1.0f, x, w->Wh, 0.0f, h);  // hbar's pre-activation
    blas_sgemm(0, 0, B, n_h, n_h, 1.0f, rh, n_h, w->Wh + xrows, n_h, 1.0f, h, n_h);
    for (int b = 0; b < B; b++) {
        float *zb = z + (size_t)b * n_h, *hb = h + (size_t)b * n_h;
        const float *hp = hprev + (size_t)b * n_h;
        #pragma omp simd
        for (int j = 0; j < n_h; j++) {
            zb[j] = sigmoidf(zb[j] + w->bz[j]);
            float hbar = tanhf(hb[j] + w->bh[j]);
            hb[j] = (1.0f - zb[j]) * hp[j] + zb[j] * hbar;
        }
    }
    memcpy(hprev, h, Bh * sizeof(float));  // h_t: the next step's h_{t-1}
}

// Rows [b0, b1), from the last step, with dh = dhidden_t + the carry (dh_t from step t+1):
//   pass A:  dhb_t = dh z (1 - hbar^2)      (hbar's pre-activation gradient)
//            dz_t  = dh (hbar - h_{t-1}) z (1 - z)
//            carry = dh (1 - z)              (the blend's direct path to h_{t-1})
//   GEMM:    drh = dhb_t . Wh_h^T            (the gradient of r * h_{t-1})
//   pass B:  dr_t = drh h_{t-1} r (1 - r);   carry += drh r
//   GEMM:    carry += [dz_t | dr_t] . [Wz_h | Wr_h]^T   (t > 0; t = 0 is summed for dstart)
static void gru_backward_block(const void *vc, int b0, int b1) {
    const GruCtx *c = vc;
    const int T = c->T, n_h = c->n_h, rows = b1 - b0;
    const size_t ld = (size_t)T * n_h, ld2 = 2 * ld;
    for (int t = T - 1; t >= 0; t--) {
        for (int b = b0; b < b1; b++) {
            size_t p = (size_t)b * ld + (size_t)t * n_h;
            const float *z = c->zr + 2 * p, *hb = c->hbar + p, *hp = c->hprev + p;
            const float *dhid = c->dhidden + p;
            float *dz = c->dzr + 2 * p, *dhb = c->dhb + p, *carry = c->carry + (size_t)b * n_h;
            const int last = t == T - 1;
            #pragma omp simd
            for (int j = 0; j < n_h; j++) {
                float dh = last ? dhid[j] : dhid[j] + carry[j];
                dhb[j] = dh * z[j] * (1.0f - hb[j] * hb[j]);
                dz[j] = dh * (hb[j] - hp[j]) * z[j] * (1.0f - z[j]);
                carry[j] = dh * (1.0f - z[j]);
            }
        }
        size_t o = (size_t)b0 * ld + (size_t)t * n_h;
        blas_sgemm(0, 0, rows, n_h, n_h, 1.0f, c->dhb + o, (int)ld, c->WhbT, n_h, 0.0f,
                   c->drh + (size_t)b0 * n_h, n_h);
        for (int b = b0; b < b1; b++) {
            size_t p = (size_t)b * ld + (size_t)t * n_h;
            const float *r = c->zr + 2 * p + n_h, *hp = c->hprev + p;
            const float *drh = c->drh + (size_t)b * n_h;
            float *dr = c->dzr + 2 * p + n_h, *carry = c->carry + (size_t)b * n_h;
            #pragma omp simd
            for (int j = 0; j < n_h; j++) {
                dr[j] = drh[j] * hp[j] * r[j] * (1.0f - r[j]);
                carry[j] += drh[j] * r[j];
            }
        }
        if (t > 0)
            blas_sgemm(0, 0, rows, n_h, 2 * n_h, 1.0f, c->dzr + 2 * o, (int)ld2, c->WhzrT, n_h,
                       1.0f, c->carry + (size_t)b0 * n_h, n_h);
    }
}

void gru_backward(float *dx, const GruGrads *g, float *dstart, float *scratch,
                  const float *dhidden, const float *state, const float *x, const GruWeights *w,
                  int B, int T, int n_in, int n_h) {
    GruState s = gru_state((float *)state, B, T, n_in, n_h);
    const int N = B * T;
    float *dzr = scratch, *dhb = dzr + (size_t)N * 2 * n_h, *carry = dhb + (size_t)N * n_h;
    float *drh = carry + (size_t)B * n_h, *WhzrT = drh + (size_t)B * n_h;
    float *WhbT = WhzrT + (size_t)2 * n_h * n_h, *dWzr = WhbT + (size_t)n_h * n_h;
    float *sum = dWzr + (size_t)(n_in + n_h) * 2 * n_h;
    const float *Whb_h = w->Wh + (size_t)n_in * n_h;
    transpose(WhzrT, s.Wh_zr, n_h, 2 * n_h, 2 * n_h);
    transpose(WhbT, Whb_h, n_h, n_h, n_h);
    GruCtx c = {.zr = s.zr, .hbar = s.hbar, .hprev = s.hprev, .rh = s.rh, .dzr = dzr,
                .dhb = dhb, .carry = carry, .drh = drh, .dhidden = dhidden, .WhzrT = WhzrT,
                .WhbT = WhbT, .w = w, .T = T, .n_in = n_in, .n_h = n_h};
    run_blocks(gru_backward_block, &c, B, rec_blocks(B, T, n_h, 3 * n_h));
    // dstart = sum_b (the carry after step 0's pass B) + (sum_b [dz_0 | dr_0]) . [Wz_h|Wr_h]^T
    column_sum(dstart, carry, B, (size_t)n_h, n_h);
    column_sum(sum, dzr, B, (size_t)T * 2 * n_h, 2 * n_h);
    blas_sgemv_t(2 * n_h, n_h, 1.0f, WhzrT, sum, 1.0f, dstart);
    // biases: column sums of [dz | dr] and of dhb over the B*T rows
    bias_backward(sum, dzr, N, 2 * n_h);
    memcpy(g->dbz, sum, (size_t)n_h * sizeof(float));
    memcpy(g->dbr, sum + n_h, (size_t)n_h * sizeof(float));
    bias_backward(g->dbh, dhb, N, n_h);
    // weights: [x | h_{t-1}]^T . [dz | dr] side by side, then split; [x | r*h_{t-1}]^T . dhb
    gemm(1, 0, n_in, 2 * n_h, N, 1.0f, x, dzr, 0.0f, dWzr);
    gemm(1, 0, n_h, 2 * n_h, N, 1.0f, s.hprev, dzr, 0.0f, dWzr + (size_t)n_in * 2 * n_h);
    for (int i = 0; i < n_in + n_h; i++) {
        memcpy(g->dWz + (size_t)i * n_h, dWzr + (size_t)i * 2 * n_h, (size_t)n_h * sizeof(float));
        memcpy(g->dWr + (size_t)i * n_h, dWzr + (size_t)i * 2 * n_h + n_h,
               (size_t)n_h * sizeof(float));
    }
    gemm(1, 0, n_in, n_h, N, 1.0f, x, dhb, 0.0f, g->dWh);
    gemm(1, 0, n_h, n_h, N, 1.0f, s.rh, dhb, 0.0f, g->dWh + (size_t)n_in * n_h);
    if (dx) {
        gemm(0, 1, N, n_in, 2 * n_h, 1.0f, dzr, s.Wx_zr, 0.0f, dx);
        gemm(0, 1, N, n_in, n_h, 1.0f, dhb, w->Wh, 1.0f, dx);
    }
}
