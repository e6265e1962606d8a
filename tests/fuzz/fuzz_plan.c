// fuzz_plan.c: libFuzzer target for the GEMM plan's text form (gemm_plan_parse), as
// `train --plan FILE` reads it (the file's first line, its CR or LF cut) and as a resumed
// checkpoint's stored plan is read. The text is held against three runs' plans (the
// lecture's MLP, a 3-block MLP, a WaveNet; small sizes, so a kernel a plan asks for is
// made cheaply). A rejection must come with a message; an accepted plan must hold a
// valid kind for every op and read back from its own text form to the same kinds.
// Built by `make fuzz`; replayed over the corpus by tests/test_fuzz_regressions.c.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "gemm_plan.h"
#include "net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// The runs whose plans the text is held against (their sizes head the seed plans).
static Net *plan_nets(int *n) {
    static Net nets[3];
    static int ready;
    static const NetConfig cfgs[3] = {
        {.arch = ARCH_MLP, .V = 5, .T = 3, .E = 2, .H = 8, .layers = 1, .bessel = 1, .momentum = 0.1f},
        {.arch = ARCH_MLP, .V = 5, .T = 2, .E = 3, .H = 6, .layers = 3, .bessel = 1, .momentum = 0.1f},
        {.arch = ARCH_WAVENET, .V = 5, .T = 4, .E = 2, .H = 6, .bessel = 1, .momentum = 0.1f}};
    if (!ready) {
        for (int i = 0; i < 3; i++) {
            NetConfig c = cfgs[i];
            Err err;
            if (net_config_check(&c, &err) != 0) abort();
            net_alloc(&nets[i], &c, 4);
        }
        ready = 1;
    }
    *n = 3;
    return nets;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char text[GEMM_PLAN_TEXT_MAX + 2];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;  // what fgets reads at most
    memcpy(text, data, n);
    text[n] = '\0';
    text[strcspn(text, "\r\n")] = '\0';  // train_gemm.c's read_plan_file
    int nets;
    Net *net = plan_nets(&nets);
    for (int k = 0; k < nets; k++) {
        GemmPlan *p = &net[k].plan;
        gemm_plan_force(p, GEMM_BLAS);  // the fixed path, as net_alloc leaves it
        char msg[512] = "";
        if (gemm_plan_parse(p, text, msg, sizeof msg) != 0) {
            if (msg[0] == '\0' || strlen(msg) >= sizeof msg - 1 || !strchr(msg, ' ')) abort();
            continue;
        }
        GemmKind kinds[GEMM_PLAN_MAX_OPS];
        for (int i = 0; i < p->n; i++) {
            if ((unsigned)p->op[i].kind >= GEMM_N_KINDS) abort();
            kinds[i] = p->op[i].kind;
        }
        char again[GEMM_PLAN_TEXT_MAX];
        gemm_plan_format(p, again, sizeof again);
        gemm_plan_force(p, GEMM_BLAS);
        if (gemm_plan_parse(p, again, msg, sizeof msg) != 0) abort();  // its own text reads back
        for (int i = 0; i < p->n; i++)
            if (p->op[i].kind != kinds[i]) abort();
    }
    return 0;
}
