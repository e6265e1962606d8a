// model.c: parameters, the fused training step, calibration and evaluation.
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "dist.h"
#include "kernels.h"
#include "linear.h"
#include "syncbn.h"

const char *const PARAM_NAMES[NUM_PARAMS] = {"C", "W1", "b1", "W2", "b2", "bngain", "bnbias"};

void param_shape(const Config *c, int i, int *ndim, int shape[2]) {
    *ndim = 2;
    shape[1] = 0;
    switch (i) {
    case P_C:      shape[0] = c->V;        shape[1] = c->E; break;
    case P_W1:     shape[0] = c->T * c->E; shape[1] = c->H; break;
    case P_B1:     *ndim = 1; shape[0] = c->H; break;
    case P_W2:     shape[0] = c->H;        shape[1] = c->V; break;
    case P_B2:     *ndim = 1; shape[0] = c->V; break;
    case P_BNGAIN:
    case P_BNBIAS: shape[0] = 1;           shape[1] = c->H; break;
    default:       *ndim = 0; shape[0] = 0; break;
    }
}

size_t param_numel(const Config *c, int i) {
    int ndim, shape[2];
    param_shape(c, i, &ndim, shape);
    return ndim == 1 ? (size_t)shape[0] : (size_t)shape[0] * (size_t)shape[1];
}

size_t params_total(const Config *c) {
    size_t n = 0;
    for (int i = 0; i < NUM_PARAMS; i++) n += param_numel(c, i);
    return n;
}

void params_point(Params *p, float *mem, const Config *c) {
    float **ptrs[NUM_PARAMS] = {&p->C, &p->W1, &p->b1, &p->W2, &p->b2, &p->bngain, &p->bnbias};
    for (int i = 0; i < NUM_PARAMS; i++) {
        *ptrs[i] = mem;
        mem += param_numel(c, i);
    }
}

static void acts_alloc(Acts *a, const Config *c, int B) {
    size_t BT = (size_t)B * c->T, BH = (size_t)B * c->H, BV = (size_t)B * c->V;
    a->B = B;
    a->Xb = xcalloc(BT, sizeof(int));
    a->Yb = xcalloc((size_t)B, sizeof(int));
    a->embcat = xcalloc(BT * c->E, sizeof(float));
    a->hprebn = xcalloc(BH, sizeof(float));
    a->bnmeani = xcalloc((size_t)c->H, sizeof(float));
    a->bnvar = xcalloc((size_t)c->H, sizeof(float));
    a->bnvar_inv = xcalloc((size_t)c->H, sizeof(float));
    a->bnraw = xcalloc(BH, sizeof(float));
    a->h = xcalloc(BH, sizeof(float));
    a->logits = xcalloc(BV, sizeof(float));
    a->dlogits = xcalloc(BV, sizeof(float));
    a->dh = xcalloc(BH, sizeof(float));
    a->dhprebn = xcalloc(BH, sizeof(float));
    a->dembcat = xcalloc(BT * c->E, sizeof(float));
}

static void acts_free(Acts *a) {
    void *all[] = {a->Xb, a->Yb, a->embcat, a->hprebn, a->bnmeani, a->bnvar, a->bnvar_inv,
                   a->bnraw, a->h, a->logits, a->dlogits, a->dh, a->dhprebn, a->dembcat};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) xfree(all[i]);
    memset(a, 0, sizeof *a);
}

void model_alloc(Model *m, const Config *c, int B) {
    memset(m, 0, sizeof *m);
    m->cfg = *c;
    m->num_params = params_total(c);
    m->params_memory = xcalloc(m->num_params, sizeof(float));
    m->grads_memory = xcalloc(m->num_params, sizeof(float));
    params_point(&m->params, m->params_memory, c);
    params_point(&m->grads, m->grads_memory, c);
    m->bnmean = xcalloc((size_t)c->H, sizeof(float));
    m->bnvar = xcalloc((size_t)c->H, sizeof(float));
    for (int j = 0; j < c->H; j++) m->bnvar[j] = 1.0f;
    acts_alloc(&m->acts, c, B);
    char sizes[96];
    snprintf(sizes, sizeof sizes, "B=%d,TE=%d,H=%d,V=%d", B, c->T * c->E, c->H, c->V);
    GemmPlan *p = &m->plan;
    int TE = c->T * c->E, H = c->H, V = c->V;
    gemm_plan_begin(p, sizes);
    gemm_plan_add(p, "fwd1", 0, 0, B, H, TE, 0.0f, GEMM_BLAS);
    gemm_plan_add(p, "fwd2", 0, 0, B, V, H, 1.0f, GEMM_BLAS);
    gemm_plan_add(p, "dx2", 0, 1, B, H, V, 0.0f, GEMM_BLAS_T);
    gemm_plan_add(p, "dw2", 1, 0, H, V, B, 1.0f, GEMM_BLAS_T);
    gemm_plan_add(p, "dx1", 0, 1, B, TE, H, 0.0f, GEMM_BLAS);
    gemm_plan_add(p, "dw1", 1, 0, TE, H, B, 1.0f, GEMM_BLAS);
}

void model_free(Model *m) {
    xfree(m->params_memory);
    xfree(m->grads_memory);
    xfree(m->bnmean);
    xfree(m->bnvar);
    acts_free(&m->acts);
    gemm_plan_free(&m->plan);
    memset(m, 0, sizeof *m);
}

static void fill_normal(float *x, size_t n, float scale, float shift, Rng *rng) {
    for (size_t i = 0; i < n; i++) x[i] = rng_normal(rng) * scale + shift;
}

// The lecture's initialisation. bnbias is non-zero on purpose (zeros hide backward bugs).
void model_init_weights(Model *m, Rng *rng) {
    const Config *c = &m->cfg;
    Params *p = &m->params;
    fill_normal(p->C, param_numel(c, P_C), 1.0f, 0.0f, rng);
    fill_normal(p->W1, param_numel(c, P_W1), (5.0f / 3.0f) / sqrtf((float)(c->T * c->E)), 0.0f, rng);
    fill_normal(p->b1, param_numel(c, P_B1), 0.1f, 0.0f, rng);
    fill_normal(p->W2, param_numel(c, P_W2), 0.1f, 0.0f, rng);
    fill_normal(p->b2, param_numel(c, P_B2), 0.1f, 0.0f, rng);
    fill_normal(p->bngain, param_numel(c, P_BNGAIN), 0.1f, 1.0f, rng);
    fill_normal(p->bnbias, param_numel(c, P_BNBIAS), 0.1f, 0.0f, rng);
    for (int j = 0; j < c->H; j++) {
        m->bnmean[j] = 0.0f;
        m->bnvar[j] = 1.0f;
    }
}

// ---- the training step (fused path) ------------------------------------------------

float model_forward(Model *m, const int *Xb, const int *Yb) {
    const Config *c = &m->cfg;
    Acts *a = &m->acts;
    const Params *p = &m->params;
    int B = a->B;
    if (a->Xb != Xb) memcpy(a->Xb, Xb, (size_t)B * c->T * sizeof(int));
    if (a->Yb != Yb) memcpy(a->Yb, Yb, (size_t)B * sizeof(int));
    embedding_forward(a->embcat, p->C, a->Xb, B, c->T, c->E);                    // (B,T*E)
    // hprebn = embcat . W1 (+ b1, added on the fly by the batchnorm's passes)
    gemm_op_run(&m->plan.op[GOP_FWD1], 1.0f, a->embcat, p->W1, a->hprebn);        // (B,H)
    if (dist_size() > 1) {  // DIST: batch statistics over every rank's rows (syncbn.h)
        for (int r = 0; r < B; r++)
            for (int j = 0; j < c->H; j++) a->hprebn[(size_t)r * c->H + j] += p->b1[j];
        syncbn_tanh_forward(a->h, a->bnraw, a->bnmeani, a->bnvar, a->bnvar_inv, a->hprebn,
                            p->bngain, p->bnbias, B, c->H, c->bessel);
    } else {
        batchnorm_tanh_forward_bias(a->h, a->bnraw, a->bnmeani, a->bnvar, a->bnvar_inv,
                                    a->hprebn, p->b1, p->bngain, p->bnbias, B, c->H, c->bessel);
    }
    linear_forward_op(&m->plan.op[GOP_FWD2], a->logits, a->h, p->W2, p->b2);       // (B,V)
    a->loss = ce_forward_backward_fused(a->dlogits, a->logits, a->Yb, B, c->V);
    return a->loss;
}

void model_backward(Model *m) {
    const Config *c = &m->cfg;
    Acts *a = &m->acts;
    const Params *p = &m->params;
    Params *g = &m->grads;
    int B = a->B, TE = c->T * c->E;
    // dlogits was left by the fused cross-entropy in model_forward.
    linear_backward(a->dh, g->W2, g->b2, a->dlogits, a->h, p->W2, B, c->H, c->V);
    if (dist_size() > 1)  // DIST: the closed form's two column sums over every rank's rows
        syncbn_tanh_backward(a->dhprebn, g->bngain, g->bnbias, a->dh, a->h, a->bnraw,
                             a->bnvar_inv, p->bngain, B, c->H, c->bessel);
    else
        bn_tanh_backward_fused(a->dhprebn, g->bngain, g->bnbias, a->dh, a->h, a->bnraw,
                               a->bnvar_inv, p->bngain, B, c->H, c->bessel);
    linear_backward(a->dembcat, g->W1, g->b1, a->dhprebn, a->embcat, p->W1, B, TE, c->H);
    embedding_backward(g->C, a->dembcat, a->Xb, B, c->T, c->E, c->V);
}

void model_sgd(Model *m, float lr) {
    float *w = m->params_memory;
    const float *g = m->grads_memory;
    long n = (long)m->num_params;
    if (!par_worth(n)) {  // a plain loop: an if(0) parallel region still costs a fork's setup
        #pragma omp simd
        for (long i = 0; i < n; i++) w[i] -= lr * g[i];
        return;
    }
    #pragma omp parallel for simd schedule(static)
    for (long i = 0; i < n; i++) w[i] -= lr * g[i];
}

static void sgd_update(float *w, const float *g, size_t n, float lr) {
    #pragma omp simd
    for (size_t i = 0; i < n; i++) w[i] -= lr * g[i];
}

// model_backward + model_sgd in one pass: the two big weight gradients never hit memory,
// each is added onto its weights by the GEMM that computes it (alpha = -lr, beta = 1),
// right after the input-gradient GEMM that still needs the old weights. The small
// tensors (C, biases, bngain, bnbias) take their gradient through m->grads.
void model_backward_sgd(Model *m, float lr) {
    const Config *c = &m->cfg;
    Acts *a = &m->acts;
    Params *p = &m->params, *g = &m->grads;
    int B = a->B;
    const GemmOp *op = m->plan.op;
    linear_backward_sgd_op(&op[GOP_DX2], &op[GOP_DW2], a->dh, p->W2, g->b2, a->dlogits, a->h, lr);
    bn_tanh_backward_fused(a->dhprebn, g->bngain, g->bnbias, a->dh, a->h, a->bnraw,
                           a->bnvar_inv, p->bngain, B, c->H, c->bessel);
    linear_backward_sgd_op(&op[GOP_DX1], &op[GOP_DW1], a->dembcat, p->W1, g->b1, a->dhprebn,
                           a->embcat, lr);
    embedding_backward(g->C, a->dembcat, a->Xb, B, c->T, c->E, c->V);
    const int small[] = {P_C, P_B1, P_B2, P_BNGAIN, P_BNBIAS};
    float *pw[NUM_PARAMS] = {p->C, p->W1, p->b1, p->W2, p->b2, p->bngain, p->bnbias};
    float *pg[NUM_PARAMS] = {g->C, g->W1, g->b1, g->W2, g->b2, g->bngain, g->bnbias};
    for (int k = 0; k < 5; k++) sgd_update(pw[small[k]], pg[small[k]], param_numel(c, small[k]), lr);
}

float model_train_step(Model *m, const Examples *ex, float lr, Rng *rng) {
    Acts *a = &m->acts;
    examples_sample_batch(a->Xb, a->Yb, ex, a->B, rng);
    float loss = model_forward(m, a->Xb, a->Yb);
    model_backward_sgd(m, lr);
    return loss;
}

// ---- inference mode ----------------------------------------------------------------

enum { EVAL_CHUNK = 4096 };

// hprebn[n,H] for n contexts, via scratch embcat[n,T*E].
static void hprebn_forward(const Model *m, float *hprebn, float *embcat, const int *X, int n) {
    const Config *c = &m->cfg;
    embedding_forward(embcat, m->params.C, X, n, c->T, c->E);
    linear_forward(hprebn, embcat, m->params.W1, m->params.b1, n, c->T * c->E, c->H);
}

// Two passes over the split in chunks (mean, then squared deviations), in double,
// unbiased as torch.var: the lecture's calibration after training.
void model_calibrate(Model *m, const Examples *ex) {
    const Config *c = &m->cfg;
    int H = c->H;
    float *embcat = xcalloc((size_t)EVAL_CHUNK * c->T * c->E, sizeof(float));
    float *hprebn = xcalloc((size_t)EVAL_CHUNK * H, sizeof(float));
    double *sum = xcalloc((size_t)H, sizeof(double)), *sq = xcalloc((size_t)H, sizeof(double));
    for (int pass = 0; pass < 2; pass++) {
        for (int i0 = 0; i0 < ex->n; i0 += EVAL_CHUNK) {
            int n = ex->n - i0 < EVAL_CHUNK ? ex->n - i0 : EVAL_CHUNK;
            hprebn_forward(m, hprebn, embcat, ex->X + (size_t)i0 * c->T, n);
            for (int b = 0; b < n; b++)
                for (int j = 0; j < H; j++) {
                    double x = hprebn[(size_t)b * H + j];
                    if (pass == 0) sum[j] += x;
                    else sq[j] += (x - sum[j]) * (x - sum[j]);
                }
        }
        if (pass == 0)
            for (int j = 0; j < H; j++) sum[j] /= ex->n;  // sum now holds the mean
    }
    for (int j = 0; j < H; j++) {
        m->bnmean[j] = (float)sum[j];
        m->bnvar[j] = (float)(ex->n > 1 ? sq[j] / (ex->n - 1) : 0.0);
    }
    xfree(embcat);
    xfree(hprebn);
    xfree(sum);
    xfree(sq);
}

void model_logits(const Model *m, float *logits, const int *X, int n, float *scratch) {
    const Config *c = &m->cfg;
    float *embcat = scratch, *hprebn = scratch + (size_t)n * c->T * c->E;
    float *h = hprebn + (size_t)n * c->H;
    hprebn_forward(m, hprebn, embcat, X, n);
    batchnorm_tanh_forward_eval(h, hprebn, m->bnmean, m->bnvar, m->params.bngain,
                                m->params.bnbias, n, c->H);
    linear_forward(logits, h, m->params.W2, m->params.b2, n, c->H, c->V);
}

double model_eval_loss(const Model *m, const Examples *ex) {
    const Config *c = &m->cfg;
    float *scratch = xcalloc((size_t)EVAL_CHUNK * (c->T * c->E + 2 * c->H), sizeof(float));
    float *logits = xcalloc((size_t)EVAL_CHUNK * c->V, sizeof(float));
    double total = 0.0;
    for (int i0 = 0; i0 < ex->n; i0 += EVAL_CHUNK) {
        int n = ex->n - i0 < EVAL_CHUNK ? ex->n - i0 : EVAL_CHUNK;
        model_logits(m, logits, ex->X + (size_t)i0 * c->T, n, scratch);
        total += ce_loss_sum(logits, ex->Y + i0, n, c->V);
    }
    xfree(scratch);
    xfree(logits);
    return ex->n ? total / ex->n : 0.0;
}
