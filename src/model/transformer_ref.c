// transformer_ref.c: the float64 twin of makemore.py's Transformer (mm_ref.h): GPT-2 blocks
// x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)), then ln_f and lm_head (no bias), on token +
// position embeddings. Plain loops in double, its own forward and a hand-written backward;
// parameters in PyTorch's layouts (an nn.Linear weight [out, in]: out = in . W^T + b).
#include "mm_ref.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

// The tensors of layer l start at 2 + 12*l, in this order; ln_f and lm_head follow the last.
enum {
    L_LN1_W, L_LN1_B, L_ATTN_W, L_ATTN_B, L_APROJ_W, L_APROJ_B,
    L_LN2_W, L_LN2_B, L_FC_W, L_FC_B, L_MPROJ_W, L_MPROJ_B, L_PER_LAYER
};

static int add_tensor(MmTensorInfo *out, int max, int n, const char *name, int ndim, int s0,
                      int s1) {
    if (n < max) {
        snprintf(out[n].name, MM_NAME_MAX, "%s", name);
        out[n].ndim = ndim;
        out[n].shape[0] = s0;
        out[n].shape[1] = ndim == 2 ? s1 : 0;
    }
    return n + 1;
}

int mm_ref_transformer_tensors(const MmConfig *c, MmTensorInfo *out, int max) {
    const int V = c->V, T = c->T, C = c->n_embd;
    int n = 0;
    char name[MM_NAME_MAX];
    n = add_tensor(out, max, n, "transformer.wte.weight", 2, V, C);
    n = add_tensor(out, max, n, "transformer.wpe.weight", 2, T, C);
    static const struct {
        const char *suffix;
        int ndim, rows, cols;  // in units of C
    } layer[L_PER_LAYER] = {
        {"ln_1.weight", 1, 1, 0},      {"ln_1.bias", 1, 1, 0},
        {"attn.c_attn.weight", 2, 3, 1}, {"attn.c_attn.bias", 1, 3, 0},
        {"attn.c_proj.weight", 2, 1, 1}, {"attn.c_proj.bias", 1, 1, 0},
        {"ln_2.weight", 1, 1, 0},      {"ln_2.bias", 1, 1, 0},
        {"mlp.c_fc.weight", 2, 4, 1},  {"mlp.c_fc.bias", 1, 4, 0},
        {"mlp.c_proj.weight", 2, 1, 4}, {"mlp.c_proj.bias", 1, 1, 0},
    };
    for (int l = 0; l < c->n_layer; l++)
        for (int k = 0; k < L_PER_LAYER; k++) {
            snprintf(name, sizeof name, "transformer.h.%d.%s", l, layer[k].suffix);
            n = add_tensor(out, max, n, name, layer[k].ndim, layer[k].rows * C, layer[k].cols * C);
        }
    n = add_tensor(out, max, n, "transformer.ln_f.weight", 1, C, 0);
    n = add_tensor(out, max, n, "transformer.ln_f.bias", 1, C, 0);
    n = add_tensor(out, max, n, "lm_head.weight", 2, V, C);
    return n;
}

// ---- building blocks, double ----------------------------------------------------------------

// out[N,O] = in[N,I] . W^T + b      W [O,I], b [O] or NULL
static void linear(double *out, const double *in, const double *W, const double *b, int N, int I,
                   int O) {
    for (int i = 0; i < N; i++)
        for (int o = 0; o < O; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < I; k++) s += in[(size_t)i * I + k] * W[(size_t)o * I + k];
            out[(size_t)i * O + o] = s;
        }
}

// din = dout . W (overwritten); dW += dout^T . in; db += sum_i dout (db may be NULL)
static void linear_backward(double *din, double *dW, double *db, const double *dout,
                            const double *in, const double *W, int N, int I, int O) {
    for (int i = 0; i < N; i++)
        for (int k = 0; k < I; k++) {
            double s = 0.0;
            for (int o = 0; o < O; o++) s += dout[(size_t)i * O + o] * W[(size_t)o * I + k];
            din[(size_t)i * I + k] = s;
        }
    for (int o = 0; o < O; o++)
        for (int k = 0; k < I; k++) {
            double s = 0.0;
            for (int i = 0; i < N; i++) s += dout[(size_t)i * O + o] * in[(size_t)i * I + k];
            dW[(size_t)o * I + k] += s;
        }
    if (db)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < N; i++) db[o] += dout[(size_t)i * O + o];
}

// out = (x - mean) * rstd * w + b over C; mean, rstd [N] saved
static void layernorm(double *out, double *mean, double *rstd, const double *x, const double *w,
                      const double *b, int N, int C) {
    for (int i = 0; i < N; i++) {
        const double *r = x + (size_t)i * C;
        double m = 0.0, v = 0.0;
        for (int j = 0; j < C; j++) m += r[j];
        m /= C;
        for (int j = 0; j < C; j++) v += (r[j] - m) * (r[j] - m);
        v /= C;
        double s = 1.0 / sqrt(v + 1e-5);
        for (int j = 0; j < C; j++) out[(size_t)i * C + j] = (r[j] - m) * s * w[j] + b[j];
        mean[i] = m;
        rstd[i] = s;
    }
}

// dx += d(layernorm)/dx . dout; dw += sum_i dout*xhat; db += sum_i dout
static void layernorm_backward(double *dx, double *dw, double *db, const double *dout,
                               const double *x, const double *w, const double *mean,
                               const double *rstd, int N, int C) {
    for (int i = 0; i < N; i++) {
        const double *r = x + (size_t)i * C, *d = dout + (size_t)i * C;
        double a = 0.0, bsum = 0.0;
        for (int j = 0; j < C; j++) {
            double xhat = (r[j] - mean[i]) * rstd[i];
            a += d[j] * w[j];
            bsum += d[j] * w[j] * xhat;
            dw[j] += d[j] * xhat;
            db[j] += d[j];
        }
        a /= C;
        bsum /= C;
        for (int j = 0; j < C; j++) {
            double xhat = (r[j] - mean[i]) * rstd[i];
            dx[(size_t)i * C + j] += rstd[i] * (d[j] * w[j] - a - xhat * bsum);
        }
    }
}

static const double GELU_K = 0.7978845608028654;  // sqrt(2/pi)

static double gelu(double x) {
    return 0.5 * x * (1.0 + tanh(GELU_K * (x + 0.044715 * x * x * x)));
}
static double gelu_grad(double x) {
    double th = tanh(GELU_K * (x + 0.044715 * x * x * x));
    return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_K * (1.0 + 3.0 * 0.044715 * x * x);
}

// y [B,T,C] from qkv [B,T,3C]; att [B,nh,T,T] saved (0 above the diagonal)
static void attention(double *y, double *att, const double *qkv, int B, int T, int C, int nh) {
    const int hs = C / nh;
    const double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            double *a = att + ((size_t)b * nh + h) * T * T;
            for (int t = 0; t < T; t++) {
                const double *q = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                double mx = -INFINITY;
                for (int s = 0; s < T; s++) {
                    if (s > t) {
                        a[t * T + s] = 0.0;
                        continue;
                    }
                    const double *k = qkv + ((size_t)b * T + s) * 3 * C + C + h * hs;
                    double dot = 0.0;
                    for (int d = 0; d < hs; d++) dot += q[d] * k[d];
                    a[t * T + s] = dot * scale;
                    if (a[t * T + s] > mx) mx = a[t * T + s];
                }
                double sum = 0.0;
                for (int s = 0; s <= t; s++) sum += a[t * T + s] = exp(a[t * T + s] - mx);
                for (int s = 0; s <= t; s++) a[t * T + s] /= sum;
                double *yo = y + ((size_t)b * T + t) * C + h * hs;
                for (int d = 0; d < hs; d++) {
                    double acc = 0.0;
                    for (int s = 0; s <= t; s++)
                        acc += a[t * T + s] * qkv[((size_t)b * T + s) * 3 * C + 2 * C + h * hs + d];
                    yo[d] = acc;
                }
            }
        }
}

// dqkv [B,T,3C] (overwritten) from dy [B,T,C]
static void attention_backward(double *dqkv, const double *dy, const double *att,
                               const double *qkv, int B, int T, int C, int nh) {
    const int hs = C / nh;
    const double scale = 1.0 / sqrt((double)hs);
    memset(dqkv, 0, (size_t)B * T * 3 * C * sizeof(double));
    double *datt = xcalloc((size_t)T, sizeof(double));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            const double *a = att + ((size_t)b * nh + h) * T * T;
            for (int t = 0; t < T; t++) {
                const double *g = dy + ((size_t)b * T + t) * C + h * hs;
                double dot = 0.0;
                for (int s = 0; s <= t; s++) {  // datt = dy v^T; dv += att^T dy
                    const double *v = qkv + ((size_t)b * T + s) * 3 * C + 2 * C + h * hs;
                    double *dv = dqkv + ((size_t)b * T + s) * 3 * C + 2 * C + h * hs;
                    double acc = 0.0;
                    for (int d = 0; d < hs; d++) {
                        acc += g[d] * v[d];
                        dv[d] += a[t * T + s] * g[d];
                    }
                    datt[s] = acc;
                    dot += a[t * T + s] * acc;
                }
                const double *q = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                double *dq = dqkv + ((size_t)b * T + t) * 3 * C + h * hs;
                for (int s = 0; s <= t; s++) {  // softmax, then the scaled q.k
                    double dpre = a[t * T + s] * (datt[s] - dot) * scale;
                    const double *k = qkv + ((size_t)b * T + s) * 3 * C + C + h * hs;
                    double *dk = dqkv + ((size_t)b * T + s) * 3 * C + C + h * hs;
                    for (int d = 0; d < hs; d++) {
                        dq[d] += dpre * k[d];
                        dk[d] += dpre * q[d];
                    }
                }
            }
        }
    xfree(datt);
}

// ---- the model -------------------------------------------------------------------------------

typedef struct {  // one block's saved activations
    double *x, *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *y, *xmid, *ln2, *ln2_mean, *ln2_rstd,
        *fc, *h;
} LayerActs;

double mm_ref_transformer_loss(const MmConfig *c, const double *const *P, const int *X,
                               const int *Y, int B, double *const *G) {
    const int V = c->V, T = c->T, C = c->n_embd, L = c->n_layer, nh = c->n_head;
    const int N = B * T;
    const size_t NC = (size_t)N * C, att_n = (size_t)B * nh * T * T;
    // x, ln1, y, xmid, ln2 [N,C]; qkv [N,3C]; att; fc, h [N,4C]; two means and rstds [N]
    const size_t per_layer = 5 * NC + 3 * NC + att_n + 8 * NC + 4 * (size_t)N;
    double *mem = xcalloc(per_layer * L + 2 * NC + 2 * (size_t)N + (size_t)N * V, sizeof(double));
    LayerActs *la = xcalloc((size_t)L, sizeof(LayerActs));
    double *p = mem;
#define TAKE(n) (p += (n), p - (n))
    for (int l = 0; l < L; l++) {
        LayerActs *a = &la[l];
        a->x = TAKE(NC); a->ln1 = TAKE(NC); a->qkv = TAKE(3 * NC); a->att = TAKE(att_n);
        a->y = TAKE(NC); a->xmid = TAKE(NC); a->ln2 = TAKE(NC); a->fc = TAKE(4 * NC);
        a->h = TAKE(4 * NC); a->ln1_mean = TAKE(N); a->ln1_rstd = TAKE(N);
        a->ln2_mean = TAKE(N); a->ln2_rstd = TAKE(N);
    }
    double *xL = TAKE(NC), *lnf = TAKE(NC), *lnf_mean = TAKE(N), *lnf_rstd = TAKE(N);
    double *logits = TAKE((size_t)N * V);
#undef TAKE
    const double *wte = P[0], *wpe = P[1];
    const int F = 2 + L_PER_LAYER * L;  // ln_f.weight; ln_f.bias and lm_head.weight follow

    // forward
    double *x0 = L > 0 ? la[0].x : xL;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++)
            x0[(size_t)i * C + j] = wte[(size_t)X[i] * C + j] + wpe[(size_t)(i % T) * C + j];
    for (int l = 0; l < L; l++) {
        LayerActs *a = &la[l];
        const double *const *W = P + 2 + L_PER_LAYER * l;
        double *xnext = l + 1 < L ? la[l + 1].x : xL;
        layernorm(a->ln1, a->ln1_mean, a->ln1_rstd, a->x, W[L_LN1_W], W[L_LN1_B], N, C);
        linear(a->qkv, a->ln1, W[L_ATTN_W], W[L_ATTN_B], N, C, 3 * C);
        attention(a->y, a->att, a->qkv, B, T, C, nh);
        linear(a->xmid, a->y, W[L_APROJ_W], W[L_APROJ_B], N, C, C);
        for (size_t k = 0; k < NC; k++) a->xmid[k] += a->x[k];
        layernorm(a->ln2, a->ln2_mean, a->ln2_rstd, a->xmid, W[L_LN2_W], W[L_LN2_B], N, C);
        linear(a->fc, a->ln2, W[L_FC_W], W[L_FC_B], N, C, 4 * C);
        for (size_t k = 0; k < 4 * NC; k++) a->h[k] = gelu(a->fc[k]);
        linear(xnext, a->h, W[L_MPROJ_W], W[L_MPROJ_B], N, 4 * C, C);
        for (size_t k = 0; k < NC; k++) xnext[k] += a->xmid[k];
    }
    layernorm(lnf, lnf_mean, lnf_rstd, xL, P[F], P[F + 1], N, C);
    linear(logits, lnf, P[F + 2], NULL, N, C, V);
    double *dlogits = G ? xcalloc((size_t)N * V, sizeof(double)) : NULL;
    double loss = mm_ref_ce(logits, Y, N, V, dlogits);
    if (!G) {
        xfree(la);
        xfree(mem);
        return loss;
    }

    // backward: dx is the residual stream's gradient, d(loss)/d(x) at the current depth
    int n_tensors = mm_ref_transformer_tensors(c, NULL, 0);
    {
        MmTensorInfo *all = xcalloc((size_t)n_tensors, sizeof(MmTensorInfo));
        mm_ref_transformer_tensors(c, all, n_tensors);
        for (int t = 0; t < n_tensors; t++) {
            size_t numel = (size_t)all[t].shape[0] * (all[t].ndim == 2 ? all[t].shape[1] : 1);
            memset(G[t], 0, numel * sizeof(double));
        }
        xfree(all);
    }
    double *dx = xcalloc(NC, sizeof(double)), *dtmp = xcalloc(NC, sizeof(double));
    double *dbig = xcalloc(4 * NC, sizeof(double)), *dqkv = xcalloc(3 * NC, sizeof(double));
    linear_backward(dtmp, G[F + 2], NULL, dlogits, lnf, P[F + 2], N, C, V);  // dlnf
    layernorm_backward(dx, G[F], G[F + 1], dtmp, xL, P[F], lnf_mean, lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; l--) {
        LayerActs *a = &la[l];
        const double *const *W = P + 2 + L_PER_LAYER * l;
        double *const *dW = G + 2 + L_PER_LAYER * l;
        // x_next = xmid + c_proj(gelu(c_fc(ln_2(xmid)))): dx flows to xmid unchanged, plus
        linear_backward(dbig, dW[L_MPROJ_W], dW[L_MPROJ_B], dx, a->h, W[L_MPROJ_W], N, 4 * C, C);
        for (size_t k = 0; k < 4 * NC; k++) dbig[k] *= gelu_grad(a->fc[k]);
        linear_backward(dtmp, dW[L_FC_W], dW[L_FC_B], dbig, a->ln2, W[L_FC_W], N, C, 4 * C);
        layernorm_backward(dx, dW[L_LN2_W], dW[L_LN2_B], dtmp, a->xmid, W[L_LN2_W], a->ln2_mean,
                           a->ln2_rstd, N, C);
        // xmid = x + c_proj(attn(c_attn(ln_1(x))))
        linear_backward(dtmp, dW[L_APROJ_W], dW[L_APROJ_B], dx, a->y, W[L_APROJ_W], N, C, C);
        attention_backward(dqkv, dtmp, a->att, a->qkv, B, T, C, nh);
        linear_backward(dtmp, dW[L_ATTN_W], dW[L_ATTN_B], dqkv, a->ln1, W[L_ATTN_W], N, C, 3 * C);
        layernorm_backward(dx, dW[L_LN1_W], dW[L_LN1_B], dtmp, a->x, W[L_LN1_W], a->ln1_mean,
                           a->ln1_rstd, N, C);
    }
    for (int i = 0; i < N; i++)  // x0 = wte[X] + wpe[t]
        for (int j = 0; j < C; j++) {
            G[0][(size_t)X[i] * C + j] += dx[(size_t)i * C + j];
            G[1][(size_t)(i % T) * C + j] += dx[(size_t)i * C + j];
        }
    xfree(dx); xfree(dtmp); xfree(dbig); xfree(dqkv); xfree(dlogits);
    xfree(la);
    xfree(mem);
    return loss;
}
