// model.c: the lecture's parameters for exercises 1-3, read off the layer table (net.c).
#include "model.h"

#include <string.h>

#include "common.h"
#include "net.h"

const char *const PARAM_NAMES[NUM_PARAMS] = {"C", "W1", "b1", "W2", "b2", "bngain", "bnbias"};

// The table of the MLP with one hidden layer: its first NUM_PARAMS tensors are the
// parameters above, in that order (net.c's build_tensors).
static const Net *table(const Config *c) {
    static Net n;
    NetConfig nc = {.arch = ARCH_MLP, .V = c->V, .T = c->T, .E = c->E, .H = c->H, .layers = 1,
                    .bessel = c->bessel, .bn_stats = BN_STATS_CALIBRATE, .momentum = 0.1f};
    net_build(&n, &nc, 1);
    for (int i = 0; i < NUM_PARAMS; i++)
        if (strcmp(n.tensor[i].name, PARAM_NAMES[i]) || n.tensor[i].is_stat)
            die(EXIT_RUNTIME, "model.c: tensor %d of the table is %s, not %s", i, n.tensor[i].name,
                PARAM_NAMES[i]);
    return &n;
}

void param_shape(const Config *c, int i, int *ndim, int shape[2]) {
    const NetTensor *t = &table(c)->tensor[i];
    *ndim = t->ndim;
    shape[0] = t->shape[0];
    shape[1] = t->ndim == 2 ? t->shape[1] : 0;
}

size_t param_numel(const Config *c, int i) { return table(c)->tensor[i].numel; }

size_t params_total(const Config *c) {
    const Net *n = table(c);
    return n->tensor[NUM_PARAMS - 1].off + n->tensor[NUM_PARAMS - 1].numel;
}

void params_point(Params *p, float *mem, const Config *c) {
    const Net *n = table(c);
    float **ptrs[NUM_PARAMS] = {&p->C, &p->W1, &p->b1, &p->W2, &p->b2, &p->bngain, &p->bnbias};
    for (int i = 0; i < NUM_PARAMS; i++) *ptrs[i] = mem + n->tensor[i].off;
}
