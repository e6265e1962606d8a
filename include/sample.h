// sample.h: drawing words from a trained model, as the lecture's sampling loop.
#ifndef MAKEMORE_SAMPLE_H
#define MAKEMORE_SAMPLE_H

#include <stdio.h>

#include "data.h"
#include "net.h"
#include "rng.h"

// A sorted set of words, for marking samples as seen in training / held out / new.
typedef struct {
    char **w;  // sorted pointers (not owned)
    int n;
} WordSet;

void wordset_build(WordSet *s, char **words, int n);  // copies the pointer array, sorts it
int wordset_has(const WordSet *s, const char *word);
void wordset_free(WordSet *s);

// Index drawn from softmax(logits[V] / temperature) over the top_k largest (<= 0: all);
// -1 when a logit is not finite (the model's forward overflows).
int sample_draw(const float *logits, int V, float temperature, int top_k, Rng *rng);

// The sampling loop for any model: logits(model, context [T], logits [V], scratch) gives
// the inference logits of one context. Starts from '.'*T, draws with sample_draw, stops at
// '.' or after MAX_WORD_LEN symbols; out holds MAX_WORD_LEN + 1 bytes. 0, or -1 when a
// logit was not finite (out then holds the word so far).
typedef void (*SampleLogitsFn)(const void *model, const int *context, float *logits, float *scratch);
int sample_word_with(char *out, SampleLogitsFn logits, const void *model, float *scratch, int T,
                     int V, const Vocab *v, Rng *rng, float temperature, int top_k);

// One word: start from '.'*T, draw from softmax(logits / temperature) restricted to the
// top_k largest (top_k <= 0: all), stop at '.' or after MAX_WORD_LEN symbols.
// out holds MAX_WORD_LEN + 1 bytes. n must hold inference statistics (calibrated or running).
void sample_word(char *out, const Net *n, const Vocab *v, Rng *rng, float temperature, int top_k);

// makemore.py's generate() for its types (n->seq): count words at once in batches, each
// from the start token, T - 1 tokens drawn (softmax(logits / temperature) over the top_k
// largest; top_k <= 0: all), cropped at the first 0 (the stop token). out[i] holds
// MAX_WORD_LEN + 1 bytes. Returns 0, or -1 when a logit is not finite (a model whose forward
// overflows; nothing is drawn from it).
int sample_seq_words(const Net *n, const Vocab *v, Rng *rng, int count, float temperature,
                     int top_k, char (*out)[MAX_WORD_LEN + 1]);

// n words, one a line, each marked "(in training words)", "(held-out word)" or "(new)"
// when the sets are given (either may be NULL). 0, or -1 when a logit was not finite (the
// words before it printed; the caller fails). A failed write stops it (the caller checks
// the stream).
int sample_print(FILE *f, const Net *m, const Vocab *v, Rng *rng, int n, float temperature,
                 int top_k, const WordSet *train, const WordSet *heldout);

#endif
