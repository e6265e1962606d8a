// sample.c: the lecture's sampling loop, with temperature and top-k.
#include "sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void wordset_build(WordSet *s, char **words, int n) {
    s->n = n;
    s->w = xcalloc((size_t)(n > 0 ? n : 1), sizeof(char *));
    if (n > 0) memcpy(s->w, words, (size_t)n * sizeof(char *));
    qsort(s->w, (size_t)n, sizeof(char *), cmp_str);
}

int wordset_has(const WordSet *s, const char *word) {
    return s && s->n && bsearch(&word, s->w, (size_t)s->n, sizeof(char *), cmp_str) != NULL;
}

void wordset_free(WordSet *s) {
    xfree(s->w);
    s->w = NULL;
    s->n = 0;
}

// Index drawn from softmax(logits / temperature) over the top_k largest logits.
static int draw(const float *logits, int V, float temperature, int top_k, Rng *rng) {
    double p[256];
    float cut = -INFINITY;
    if (top_k > 0 && top_k < V) {  // the k-th largest logit is the cut-off
        float sorted[256];
        memcpy(sorted, logits, (size_t)V * sizeof(float));
        for (int i = 0; i < top_k; i++)  // partial selection sort, V <= 256
            for (int j = i + 1; j < V; j++)
                if (sorted[j] > sorted[i]) {
                    float t = sorted[i];
                    sorted[i] = sorted[j];
                    sorted[j] = t;
                }
        cut = sorted[top_k - 1];
    }
    float mx = -INFINITY;
    for (int v = 0; v < V; v++) mx = logits[v] > mx ? logits[v] : mx;
    double sum = 0;
    for (int v = 0; v < V; v++) {
        p[v] = logits[v] >= cut ? exp(((double)logits[v] - mx) / temperature) : 0.0;
        sum += p[v];
    }
    double u = rng_uniform(rng) * sum, acc = 0;
    int last = 0;
    for (int v = 0; v < V; v++) {
        if (p[v] == 0.0) continue;
        acc += p[v];
        last = v;
        if (u < acc) return v;
    }
    return last;  // u landed on the rounding slack at the top
}

void sample_word(char *out, const Model *m, const Vocab *v, Rng *rng, float temperature,
                 int top_k) {
    const Config *c = &m->cfg;
    int context[64] = {0};  // T <= 64 (checked where configs are made)
    float logits[256];
    float *scratch = xcalloc((size_t)(c->T * c->E + 2 * c->H), sizeof(float));
    int len = 0;
    while (len < MAX_WORD_LEN) {
        model_logits(m, logits, context, 1, scratch);
        int ix = draw(logits, c->V, temperature, top_k, rng);
        if (ix == 0) break;
        out[len++] = v->itos[ix];
        memmove(context, context + 1, (size_t)(c->T - 1) * sizeof(int));
        context[c->T - 1] = ix;
    }
    out[len] = '\0';
    xfree(scratch);
}

void sample_print(FILE *f, const Model *m, const Vocab *v, Rng *rng, int n, float temperature,
                  int top_k, const WordSet *train, const WordSet *heldout) {
    char word[MAX_WORD_LEN + 1];
    for (int i = 0; i < n; i++) {
        sample_word(word, m, v, rng, temperature, top_k);
        const char *mark = "";
        if (train || heldout)
            mark = wordset_has(train, word)     ? "  (in training words)"
                   : wordset_has(heldout, word) ? "  (held-out word)"
                                                : "  (new)";
        fprintf(f, "%s%s\n", word, mark);
    }
}
