// fuzz_checkpoint.c: libFuzzer target for the checkpoint loader: the input is a whole
// file, handed to net_load_flags() (checksums, safetensors framing, the JSON header through
// jansson, the metadata, every tensor's dtype/shape/offsets/values). It is passed as a
// memfd (/proc/self/fd/N), so the loader runs exactly as on a real file. An accepted
// file must describe a model that the rest of the program can use: the vocabulary
// consistent with the config, finite parameters, a sane training state.
// Built by `make fuzz`; replayed over the corpus by tests/test_fuzz_regressions.c.
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "checkpoint.h"
#include "common.h"
#include "net.h"
#include "net_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_common.h"

static int write_all_fd(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int fd = memfd_create("fuzz-checkpoint", 0);
    if (fd < 0 || write_all_fd(fd, data, size) != 0) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

    Net m;
    Vocab v;
    TrainState ts;
    int has_ts = -1;
    Err err = {{0}};
    // Files without checksums are accepted (so the fuzzer reaches every check behind the
    // checksum); a file with them must match them (the seed checksummed_b2).
    int rc = net_load_flags(&m, &v, &ts, &has_ts, path, 1, NET_ACCEPT_UNCHECKED, &err);
    close(fd);
    if (rc != 0) {
        if (strncmp(err.msg, path, strlen(path)) != 0 || !printable_line(err.msg)) abort();
        return 0;
    }
    const NetConfig *c = &m.cfg;
    if (c->V != v.V || v.V < 2 || v.V > 256 || v.itos[0] != '.' || v.stoi['.'] != 0) abort();
    for (int i = 0; i < v.V; i++)
        if (v.stoi[(unsigned char)v.itos[i]] != i) abort();
    if (c->T < 1 || c->E < 1 || c->H < 1 || c->layers < 1) abort();
    size_t total = 0;
    for (int i = 0; i < m.n_tensors; i++) total += m.tensor[i].is_stat ? 0 : m.tensor[i].numel;
    if (m.num_params != total) abort();
    for (size_t i = 0; i < m.num_params; i++)
        if (!isfinite(m.params[i])) abort();
    for (int i = 0; i < m.n_tensors; i++) {
        const NetTensor *t = &m.tensor[i];
        const float *x = net_tensor(&m, i);
        for (size_t k = 0; t->is_stat && k < t->numel; k++)
            if (!isfinite(x[k]) || (!strncmp(t->name, "bnvar", 5) && x[k] < 0)) abort();
    }
    if (has_ts != 0 && has_ts != 1) abort();
    if (has_ts && (ts.step < 0 || ts.step > ts.steps || ts.batch < 1 || !isfinite(ts.lr) ||
                   !isfinite(ts.lr2)))
        abort();
    // The model is usable: one inference-mode forward over a context of '.'s.
    int *X = calloc((size_t)c->T, sizeof *X);
    float *logits = calloc((size_t)c->V, sizeof *logits);
    float *scratch = calloc(net_scratch_floats(&m, 1), sizeof *scratch);
    if (!X || !logits || !scratch) abort();
    net_logits(&m, logits, X, 1, scratch);
    for (int i = 0; i < c->V; i++)
        if (!isfinite(logits[i])) abort();
    free(X);
    free(logits);
    free(scratch);
    net_free(&m);
    return 0;
}
