// model.c: the lecture's parameters for exercises 1-3, on the layer table (net.h).
#include "model.h"

#include <string.h>

#include "net.h"

const char *const PARAM_NAMES[NUM_PARAMS] = {"C", "W1", "b1", "W2", "b2", "bngain", "bnbias"};

void param_shape(const Config *c, int i, int *ndim, int shape[2]) {
    static const int two_d[NUM_PARAMS] = {1, 1, 0, 1, 0, 1, 1};
    const int rows[NUM_PARAMS] = {c->V, c->T * c->E, c->H, c->H, c->V, 1, 1};
    const int cols[NUM_PARAMS] = {c->E, c->H, 0, c->V, 0, c->H, c->H};
    *ndim = two_d[i] ? 2 : 1;
    shape[0] = rows[i];
    shape[1] = cols[i];
}

size_t param_numel(const Config *c, int i) {
    int nd, s[2];
    param_shape(c, i, &nd, s);
    return (size_t)s[0] * (size_t)(nd == 2 ? s[1] : 1);
}

size_t params_total(const Config *c) {
    size_t n = 0;
    for (int i = 0; i < NUM_PARAMS; i++) n += param_numel(c, i);
    return n;
}

int model_table(Net *n, const Config *c, Err *err) {
    NetConfig nc = {.arch = ARCH_MLP, .V = c->V, .T = c->T, .E = c->E, .H = c->H, .layers = 1,
                    .bessel = c->bessel, .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f};
    net_build(n, &nc, 1);
    for (int i = 0; i < NUM_PARAMS; i++) {
        const NetTensor *t = &n->tensor[i];
        int nd, s[2];
        param_shape(c, i, &nd, s);
        if (strcmp(t->name, PARAM_NAMES[i]) || t->is_stat || t->ndim != nd || t->shape[0] != s[0] ||
            (nd == 2 && t->shape[1] != s[1]))
            return err_set(err, "the layer table's tensor %d is %s, not the lecture's %s", i,
                           t->name, PARAM_NAMES[i]);
    }
    return 0;
}

void params_point(Params *p, float *mem, const Net *n) {
    float **ptrs[NUM_PARAMS] = {&p->C, &p->W1, &p->b1, &p->W2, &p->b2, &p->bngain, &p->bnbias};
    for (int i = 0; i < NUM_PARAMS; i++) *ptrs[i] = mem + n->tensor[i].off;
}
