// net_ref.c: the Net's float64 twin, the referee of the gradient check and of the tests.
// Plain loops in double over the same layer table; batchnorm's backward is the chain
// rule through mean, variance and (var + eps)^-1/2 one step at a time (the atomic form),
// not exercise 3's closed form the fused float32 kernel uses, so the two are independent.
#include "net_ref.h"
#include "kernels.h"

#include <math.h>
#include <string.h>

#include "common.h"

typedef struct {
    double *out, *dout, *raw, *inv, *mean, *var;
} RefAct;

static void linear_fwd(double *out, const double *in, const double *W, const double *b, int N,
                       int I, int O) {
    for (int r = 0; r < N; r++)
        for (int o = 0; o < O; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < I; i++) s += in[(size_t)r * I + i] * W[(size_t)i * O + o];
            out[(size_t)r * O + o] = s;
        }
}

// dW += in^T dout; db += column sums; din = dout W^T
static void linear_bwd(double *din, double *dW, double *db, const double *dout, const double *in,
                       const double *W, int N, int I, int O) {
    for (int r = 0; r < N; r++)
        for (int o = 0; o < O; o++) {
            double d = dout[(size_t)r * O + o];
            if (db) db[o] += d;
            for (int i = 0; i < I; i++) dW[(size_t)i * O + o] += in[(size_t)r * I + i] * d;
        }
    for (int r = 0; r < N; r++)
        for (int i = 0; i < I; i++) {
            double s = 0.0;
            for (int o = 0; o < O; o++) s += dout[(size_t)r * O + o] * W[(size_t)i * O + o];
            din[(size_t)r * I + i] = s;
        }
}

static void bn_fwd(RefAct *a, const double *x, const double *g, const double *b, int N, int H,
                   int bessel) {
    for (int j = 0; j < H; j++) {
        double mu = 0.0, v = 0.0;
        for (int r = 0; r < N; r++) mu += x[(size_t)r * H + j];
        mu /= N;
        for (int r = 0; r < N; r++) v += (x[(size_t)r * H + j] - mu) * (x[(size_t)r * H + j] - mu);
        v /= bessel ? N - 1 : N;
        a->mean[j] = mu;
        a->var[j] = v;
        a->inv[j] = 1.0 / sqrt(v + (double)BN_EPS);
        for (int r = 0; r < N; r++) {
            size_t k = (size_t)r * H + j;
            a->raw[k] = (x[k] - mu) * a->inv[j];
            a->out[k] = tanh(g[j] * a->raw[k] + b[j]);
        }
    }
}

// hpreact = g*raw + b, raw = diff*inv, inv = (var+eps)^-1/2, var = sum diff^2 / n,
// diff = x - mean: each step's adjoint in turn.
static void bn_bwd(double *dx, double *dg, double *db, const RefAct *a, const double *x,
                   const double *g, int N, int H, int bessel) {
    double nv = bessel ? N - 1 : N;
    for (int j = 0; j < H; j++) {
        double dinv = 0.0;
        for (int r = 0; r < N; r++) {
            size_t k = (size_t)r * H + j;
            double dpre = (1.0 - a->out[k] * a->out[k]) * a->dout[k];
            dg[j] += dpre * a->raw[k];
            db[j] += dpre;
            dinv += dpre * g[j] * (x[k] - a->mean[j]);
        }
        double dvar = dinv * -0.5 * pow(a->var[j] + (double)BN_EPS, -1.5), dmean = 0.0;
        for (int r = 0; r < N; r++) {
            size_t k = (size_t)r * H + j;
            double dpre = (1.0 - a->out[k] * a->out[k]) * a->dout[k];
            double ddiff = dpre * g[j] * a->inv[j] + dvar * 2.0 * (x[k] - a->mean[j]) / nv;
            dx[k] = ddiff;
            dmean -= ddiff;
        }
        for (int r = 0; r < N; r++) dx[(size_t)r * H + j] += dmean / N;
    }
}

static void alloc_acts(RefAct *a, const Net *n, int B) {
    for (int l = 0; l < n->n_layers; l++) {
        const Layer *L = &n->layer[l];
        size_t sz = (size_t)B * L->rows * L->cols;
        if (L->kind == L_FLATTEN) {  // the same doubles, seen with another shape
            a[l] = a[l - 1];
            continue;
        }
        memset(&a[l], 0, sizeof a[l]);
        a[l].out = xcalloc(sz, sizeof(double));
        a[l].dout = xcalloc(sz, sizeof(double));
        if (L->kind == L_BN_TANH) {
            a[l].raw = xcalloc(sz, sizeof(double));
            a[l].inv = xcalloc((size_t)L->cols, sizeof(double));
            a[l].mean = xcalloc((size_t)L->cols, sizeof(double));
            a[l].var = xcalloc((size_t)L->cols, sizeof(double));
        }
    }
}

static void free_acts(RefAct *a, const Net *n) {
    for (int l = 0; l < n->n_layers; l++) {
        if (n->layer[l].kind == L_FLATTEN) continue;
        void *all[] = {a[l].out, a[l].dout, a[l].raw, a[l].inv, a[l].mean, a[l].var};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
    }
}

static double ref_forward(RefAct *a, const Net *n, const double *P, const int *Xb, const int *Yb,
                          int B) {
    const NetConfig *c = &n->cfg;
    double loss = 0.0;
    for (int l = 0; l < n->n_layers; l++) {
        const Layer *L = &n->layer[l];
        const double *in = l ? a[l - 1].out : NULL;
        const double *W = L->w >= 0 ? P + n->tensor[L->w].off : NULL;
        const double *b = L->b >= 0 ? P + n->tensor[L->b].off : NULL;
        int N = B * L->rows;
        switch (L->kind) {
        case L_EMBED:
            for (int p = 0; p < B * c->T; p++)
                for (int e = 0; e < c->E; e++) a[l].out[(size_t)p * c->E + e] = W[(size_t)Xb[p] * c->E + e];
            break;
        default: break;
        case L_FLATTEN: break;
        case L_LINEAR: linear_fwd(a[l].out, in, W, b, N, L->in_cols, L->cols); break;
        case L_BN_TANH: bn_fwd(&a[l], in, W, b, N, L->cols, c->bessel); break;
        case L_TANH:  // the linear layer before it added the bias
            for (size_t k = 0; k < (size_t)N * L->cols; k++) a[l].out[k] = tanh(in[k]);
            break;
        case L_LINEAR_OUT:
            linear_fwd(a[l].out, in, W, b, B, L->in_cols, c->V);
            for (int r = 0; r < B; r++) {  // softmax, the loss and dlogits
                const double *x = a[l].out + (size_t)r * c->V;
                double mx = x[0], s = 0.0;
                for (int v = 1; v < c->V; v++) mx = x[v] > mx ? x[v] : mx;
                for (int v = 0; v < c->V; v++) s += exp(x[v] - mx);
                loss += (log(s) + mx - x[Yb[r]]) / B;
                for (int v = 0; v < c->V; v++)
                    a[l].dout[(size_t)r * c->V + v] = (exp(x[v] - mx) / s - (v == Yb[r])) / B;
            }
            break;
        }
    }
    return loss;
}

static void ref_backward(RefAct *a, const Net *n, const double *P, const int *Xb, int B, double *G) {
    const NetConfig *c = &n->cfg;
    memset(G, 0, n->num_params * sizeof(double));
    for (int l = n->n_layers - 1; l >= 0; l--) {
        const Layer *L = &n->layer[l];
        const double *W = L->w >= 0 ? P + n->tensor[L->w].off : NULL;
        double *dW = L->w >= 0 ? G + n->tensor[L->w].off : NULL;
        double *db = L->b >= 0 ? G + n->tensor[L->b].off : NULL;
        int N = B * L->rows;
        switch (L->kind) {
        case L_LINEAR_OUT:
        case L_LINEAR:
            linear_bwd(a[l - 1].dout, dW, db, a[l].dout, a[l - 1].out, W, N, L->in_cols, L->cols);
            break;
        case L_BN_TANH:
            bn_bwd(a[l - 1].dout, dW, db, &a[l], a[l - 1].out, W, N, L->cols, c->bessel);
            break;
        case L_TANH:
            for (size_t k = 0; k < (size_t)N * L->cols; k++)
                a[l - 1].dout[k] = (1.0 - a[l].out[k] * a[l].out[k]) * a[l].dout[k];
            break;
        default: break;
        case L_FLATTEN: break;
        case L_EMBED:
            for (int p = 0; p < B * c->T; p++)
                for (int e = 0; e < c->E; e++)
                    dW[(size_t)Xb[p] * c->E + e] += a[l].dout[(size_t)p * c->E + e];
            break;
        }
    }
}

double net_ref_pass(const Net *n, const double *params, const int *Xb, const int *Yb, int B,
                    double *grads, double *const *outs, double *const *douts) {
    RefAct a[NET_MAX_LAYERS];
    alloc_acts(a, n, B);
    double loss = ref_forward(a, n, params, Xb, Yb, B);
    if (grads) ref_backward(a, n, params, Xb, B, grads);
    for (int l = 0; l < n->n_layers; l++) {
        size_t sz = (size_t)B * n->layer[l].rows * n->layer[l].cols * sizeof(double);
        if (outs && outs[l]) memcpy(outs[l], a[l].out, sz);
        if (douts && douts[l] && grads) memcpy(douts[l], a[l].dout, sz);
    }
    free_acts(a, n);
    return loss;
}

double net_ref_loss(const Net *n, const double *params, const int *Xb, const int *Yb, int B,
                    double *grads) {
    return net_ref_pass(n, params, Xb, Yb, B, grads, NULL, NULL);
}
