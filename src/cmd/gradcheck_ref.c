// gradcheck_ref.c: reading a --ref file of `makemore gradcheck` (the lecture's cell with
// its gradients, e.g. from tests/torch_reference.py): the sizes from its shapes, the
// parameters and batch checked and copied into a GcProblem, its tensors read by name.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"


// Shapes equal once every size-1 dim is dropped ([H] ~ [1,H], [B] ~ [B,1]).
static int same_squeezed(const int64_t *a, int na, const int64_t *b, int nb) {
    int i = 0, j = 0;
    for (;;) {
        while (i < na && a[i] == 1) i++;
        while (j < nb && b[j] == 1) j++;
        if (i == na || j == nb) return i == na && j == nb;
        if (a[i++] != b[j++]) return 0;
    }
}

static void shape_str(char *buf, size_t len, const int64_t *s, int nd) {
    size_t u = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < nd && u < len; d++)
        u += (size_t)snprintf(buf + u, len - u, "%s%lld", d ? "," : "", (long long)s[d]);
    if (u < len) snprintf(buf + u, len - u, "]");
}

// The tensor `name`, float32 or float64, of the expected shape (up to size-1 dims).
const StTensor *gc_ref_float(const StFile *f, const char *path, const char *name,
                                  const int64_t *shape, int nd, Err *err) {
    const StTensor *t = st_find(f, name);
    char want[64], got[64];
    shape_str(want, sizeof want, shape, nd);
    if (!t) return err_set(err, "%s: no tensor \"%s\" (expected %s)", path, name, want), NULL;
    if (t->dtype != ST_F32 && t->dtype != ST_F64)
        return err_set(err, "%s: tensor \"%s\" must be F32 or F64", path, name), NULL;
    if (!same_squeezed(t->shape, t->ndim, shape, nd)) {
        shape_str(got, sizeof got, t->shape, t->ndim);
        return err_set(err, "%s: tensor \"%s\" has shape %s, expected %s", path, name, got, want),
               NULL;
    }
    return t;
}

double gc_elem_f(const StTensor *t, size_t i) {
    if (t->dtype == ST_F32) {
        float v;
        memcpy(&v, (const char *)t->data + 4 * i, 4);
        return v;
    }
    double v;
    memcpy(&v, (const char *)t->data + 8 * i, 8);
    return v;
}

static int64_t elem_i(const StTensor *t, size_t i) {
    if (t->dtype == ST_I32) {
        int32_t v;
        memcpy(&v, (const char *)t->data + 4 * i, 4);
        return v;
    }
    int64_t v;
    memcpy(&v, (const char *)t->data + 8 * i, 8);
    return v;
}

static int size_ok(const char *what, int64_t v, int64_t lo, int64_t hi, const char *path,
                   Err *err) {
    if (v < lo || v > hi)
        return err_set(err, "%s: %s = %lld is out of range (allowed: %lld..%lld)", path, what,
                       (long long)v, (long long)lo, (long long)hi);
    return 0;
}

int gc_sizes_ok(Config *c, int B, const char *path, Err *err) {
    long te = (long)c->T * c->E;
    if ((long)B * c->H > GC_MAX_NUMEL || (long)B * c->V > GC_MAX_NUMEL || (long)B * te > GC_MAX_NUMEL ||
        te * c->H > GC_MAX_NUMEL || (long)c->H * c->V > GC_MAX_NUMEL || (long)c->V * c->E > GC_MAX_NUMEL)
        return err_set(err, "%s: B=%d T=%d E=%d H=%d V=%d makes a tensor larger than %ld elements",
                       path, B, c->T, c->E, c->H, c->V, GC_MAX_NUMEL);
    return 0;
}

// Parameters and batch of a --ref file into pr; sizes from the shapes, bn_var and eps from
// the metadata.
int gc_ref_problem(GcProblem *pr, const StFile *f, const char *path, Err *err) {
    memset(pr, 0, sizeof *pr);
    const StTensor *C = st_find(f, "C"), *W1 = st_find(f, "W1"), *Xb = st_find(f, "Xb"),
                   *Yb = st_find(f, "Yb");
    if (!C || !W1 || !Xb || !Yb)
        return err_set(err, "%s: needs the tensors C, W1, b1, W2, b2, bngain, bnbias, Xb, Yb "
                       "(missing %s)", path, !C ? "C" : !W1 ? "W1" : !Xb ? "Xb" : "Yb");
    if (C->ndim != 2 || W1->ndim != 2 || Xb->ndim != 2 || Yb->ndim != 1)
        return err_set(err, "%s: C, W1, Xb must be 2-D and Yb 1-D", path);
    if ((Xb->dtype != ST_I32 && Xb->dtype != ST_I64) || (Yb->dtype != ST_I32 && Yb->dtype != ST_I64))
        return err_set(err, "%s: Xb and Yb must be I32 or I64", path);
    int64_t V = C->shape[0], E = C->shape[1], B = Xb->shape[0], T = Xb->shape[1];
    if (size_ok("batch (Xb.shape[0])", B, 2, GC_MAX_BATCH, path, err) ||
        size_ok("block (Xb.shape[1])", T, 1, GC_MAX_BLOCK, path, err) ||
        size_ok("vocab (C.shape[0])", V, 2, GC_MAX_VOCAB, path, err) ||
        size_ok("embd (C.shape[1])", E, 1, GC_MAX_EMBD, path, err) ||
        size_ok("hidden (W1.shape[1])", W1->shape[1], 1, GC_MAX_HIDDEN, path, err))
        return -1;
    if (W1->shape[0] != T * E)
        return err_set(err, "%s: W1.shape[0] = %lld, expected block*embd = %lld", path,
                       (long long)W1->shape[0], (long long)(T * E));
    if (Yb->shape[0] != B)
        return err_set(err, "%s: Yb has %lld entries, Xb %lld rows", path, (long long)Yb->shape[0],
                       (long long)B);
    Config cfg = {.V = (int)V, .T = (int)T, .E = (int)E, .H = (int)W1->shape[1], .bessel = 1};
    const char *bn = st_meta_get(f, "bn_var");
    if (bn && strcmp(bn, "biased") == 0) cfg.bessel = 0;
    else if (bn && strcmp(bn, "unbiased") != 0)
        return err_set(err, "%s: metadata bn_var = \"%s\" (allowed: unbiased, biased)", path, bn);
    const char *eps = st_meta_get(f, "eps");
    if (eps) {
        char *end;
        double e = strtod(eps, &end);
        if (end == eps || *end || fabs(e - 1e-5) > 1e-12)
            return err_set(err, "%s: metadata eps = \"%s\": the engine's batchnorm uses 1e-05",
                           path, eps);
    }
    if (gc_sizes_ok(&cfg, (int)B, path, err)) return -1;
    gc_problem_alloc(pr, &cfg, (int)B);
    float *pdata[NUM_PARAMS] = {pr->p.C, pr->p.W1, pr->p.b1, pr->p.W2, pr->p.b2, pr->p.bngain,
                                pr->p.bnbias};
    for (int k = 0; k < NUM_PARAMS; k++) {
        int nd, shape[2];
        param_shape(&cfg, k, &nd, shape);
        int64_t s64[2] = {shape[0], nd > 1 ? shape[1] : 0};
        const StTensor *t = gc_ref_float(f, path, PARAM_NAMES[k], s64, nd, err);
        if (!t) return -1;
        for (size_t i = 0; i < st_numel(t); i++) {
            double v = gc_elem_f(t, i);
            if (!isfinite(v))
                return err_set(err, "%s: %s[%zu] is not finite", path, PARAM_NAMES[k], i);
            pdata[k][i] = (float)v;
        }
    }
    for (size_t i = 0; i < (size_t)(B * T + B); i++) {
        int64_t v = i < (size_t)(B * T) ? elem_i(Xb, i) : elem_i(Yb, i - (size_t)(B * T));
        if (v < 0 || v >= V)
            return err_set(err, "%s: %s[%zu] = %lld is not a vocabulary index (0..%lld)", path,
                           i < (size_t)(B * T) ? "Xb" : "Yb",
                           i < (size_t)(B * T) ? i : i - (size_t)(B * T), (long long)v,
                           (long long)(V - 1));
        if (i < (size_t)(B * T)) pr->Xb[i] = (int)v;
        else pr->Yb[i - (size_t)(B * T)] = (int)v;
    }
    return 0;
}

