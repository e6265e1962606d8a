// sample.c: the lecture's sampling loop, with temperature and top-k.
#include "sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "common.h"
#include "kernels.h"

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
int sample_draw(const float *logits, int V, float temperature, int top_k, Rng *rng) {
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
    for (int v = 0; v < V; v++) {
        if (!isfinite(logits[v])) return -1;  // a forward that overflows: eval refuses it too
        mx = logits[v] > mx ? logits[v] : mx;
    }
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

int sample_word_with(char *out, SampleLogitsFn logits_of, const void *model, float *scratch, int T,
                     int V, const Vocab *v, Rng *rng, float temperature, int top_k) {
    int context[64] = {0};  // T <= 64 (checked where configs are made)
    float logits[256];
    int len = 0;
    while (len < MAX_WORD_LEN) {
        logits_of(model, context, logits, scratch);
        int ix = sample_draw(logits, V, temperature, top_k, rng);
        if (ix <= 0) {
            out[len] = '\0';
            return ix;
        }
        out[len++] = v->itos[ix];
        memmove(context, context + 1, (size_t)(T - 1) * sizeof(int));
        context[T - 1] = ix;
    }
    out[len] = '\0';
    return 0;
}

static void net_logits_one(const void *n, const int *context, float *logits, float *scratch) {
    net_logits(n, logits, context, 1, scratch);
}

void sample_word(char *out, const Net *n, const Vocab *v, Rng *rng, float temperature, int top_k) {
    float *scratch = xcalloc(net_scratch_floats(n, 1), sizeof(float));
    sample_word_with(out, net_logits_one, n, scratch, n->cfg.T, n->cfg.V, v, rng, temperature, top_k);
    xfree(scratch);
}

int sample_seq_words(const Net *n, const Vocab *v, Rng *rng, int count, float temperature,
                     int top_k, char (*out)[MAX_WORD_LEN + 1]) {
    const int T = n->cfg.T, V = n->cfg.V, m = count < 64 ? (count > 0 ? count : 1) : 64;
    Net view;
    net_view(&view, n, m);
    int rc = 0, threads = threads_get();
    threads_set(1);  // at most 64 short rows a forward: below every fork's threshold, and
                     // OpenMP's idle threads would spin through the whole loop
    for (int i0 = 0; i0 < count && rc == 0; i0 += m) {
        int k = count - i0 < m ? count - i0 : m, done[64] = {0}, left = k;
        memset(view.Xb, 0, (size_t)m * T * sizeof(int));  // every row starts at the start token
        for (size_t j = 0; j < (size_t)m * T; j++) view.Yb[j] = -1;
        for (int t = 0; t + 1 < T && rc == 0 && left > 0; t++) {  // until every word has ended
            for (int b = 0; b < m; b++) view.Yb[(size_t)b * T + t] = 0;  // positions <= t run
            net_forward(&view, view.Xb, view.Yb, 0);
            for (int b = 0; b < k; b++) {
                if (done[b]) continue;
                const float *row = net_seq_logits(&view, b, t);
                for (int c = 0; c < V; c++)
                    if (!isfinite(row[c])) rc = -1;
                if (rc) break;
                float scaled[256];
                for (int c = 0; c < V; c++) scaled[c] = row[c];
                int ix = sample_draw(scaled, V, temperature, top_k, rng);
                view.Xb[(size_t)b * T + t + 1] = ix;
                done[b] = ix == 0;
                left -= done[b];
            }
        }
        for (int b = 0; b < k; b++) {
            int len = 0;
            for (int t = 1; t < T && len < MAX_WORD_LEN; t++) {
                int ix = view.Xb[(size_t)b * T + t];
                if (ix == 0) break;
                out[i0 + b][len++] = v->itos[ix];
            }
            out[i0 + b][len] = '\0';
        }
    }
    threads_set(threads);
    view.params = NULL;
    net_free(&view);
    return rc;
}

// Words are drawn one symbol at a time, each from the previous: one row per forward, far
// below any kernel's fork threshold, yet OpenBLAS and OpenMP still wake their threads for
// it (92% of the time was libgomp's spinning). So the loop runs on one thread, with its
// scratch allocated once and matrix-vector products (net_infer.c).
static const char *mark_of(const char *word, const WordSet *train, const WordSet *heldout) {
    if (!train && !heldout) return "";
    return wordset_has(train, word) ? "  (in training words)"
           : wordset_has(heldout, word) ? "  (held-out word)" : "  (new)";
}

int sample_print(FILE *f, const Net *m, const Vocab *v, Rng *rng, int n, float temperature,
                 int top_k, const WordSet *train, const WordSet *heldout) {
    int rc = 0;
    char word[MAX_WORD_LEN + 1];
    if (m->seq) {  // makemore.py's types: a batch of words at a time
        static char words[256][MAX_WORD_LEN + 1];
        for (int i0 = 0; i0 < n; i0 += 256) {
            int k = n - i0 < 256 ? n - i0 : 256;
            if ((rc = sample_seq_words(m, v, rng, k, temperature, top_k, words)) != 0) return rc;
            for (int i = 0; i < k; i++)
                if (fprintf(f, "%s%s\n", words[i], mark_of(words[i], train, heldout)) < 0) return 0;
        }
        return 0;
    }
    float *scratch = xcalloc(net_scratch_floats(m, 1), sizeof(float));
    int threads = threads_get();
    threads_set(1);
    // A long run shows its progress on a terminal (stderr), four times a second.
    const int live = n >= 100000 && isatty(STDERR_FILENO);
    double last = now_seconds();
    for (int i = 0; i < n; i++) {
        if (live && (i & 1023) == 0 && now_seconds() - last > 0.25) {
            last = now_seconds();
            fprintf(stderr, "\r  sampled %d of %d words   ", i, n);
        }
        if ((rc = sample_word_with(word, net_logits_one, m, scratch, m->cfg.T, m->cfg.V, v, rng,
                                   temperature, top_k)) != 0)
            break;
        if (fprintf(f, "%s%s\n", word, mark_of(word, train, heldout)) < 0) break;  // a closed stdout: the caller says so
    }
    if (live) fputs("\r\033[K", stderr);
    threads_set(threads);
    xfree(scratch);
    return rc;
}
