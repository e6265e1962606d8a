// data.h: the words file, the vocabulary, the lecture's split and its examples.
#ifndef MAKEMORE_DATA_H
#define MAKEMORE_DATA_H

#include <stdint.h>

#include "common.h"
#include "rng.h"

#define MAX_WORD_LEN 256   // longer lines are an error (names are short; this guards memory)

// 1 if byte c may appear in a word: printable ASCII 0x20..0x7e except '.', and 0x80..0xff
// (UTF-8 names train byte-wise). The checkpoint loader applies the same rule to itos.
int word_byte_allowed(unsigned char c);

// Words in file order, blank lines skipped, CR of CRLF stripped.
typedef struct {
    char *buf;      // all words, NUL-separated (one allocation)
    char **w;       // n pointers into buf
    int n;
    int max_len;    // longest word, in bytes
    uint64_t file_bytes;  // the file's fingerprint: its size and CRC-32C (crc32c.h)
    uint32_t file_crc;
} Words;

// Vocabulary as the lecture: itos[0] = '.', the terminator; then the sorted distinct bytes.
typedef struct {
    int V;
    char itos[256];
    int stoi[256];  // -1 for bytes outside the vocabulary
} Vocab;

// Examples, in one of two forms:
//  - the lecture's build_dataset(words) with context length T (ty = 1): for each word,
//    context starts as T zeros ('.'); for each ch in word + '.': X row = context,
//    Y = stoi[ch], context shifts left by one and appends Y;
//  - makemore.py's CharDataset (ty = T, T = the longest word + 1): one row per word,
//    X = [0, w1 .. wn, 0 ...] and Y = [w1 .. wn, 0, -1 ...]; a target of -1 is a position
//    the loss ignores.
typedef struct {
    int *X;  // [n, T]
    int *Y;  // [n, ty]
    int n;
    int T;
    int ty;  // targets per example: 1 or T
    // The same examples packed for batch sampling: row i is X[i, 0..T-1] then Y[i, ..], one
    // byte each (-1 as 255). 180k examples take 730 KB: the random rows a batch draws come
    // from L2 instead of two L3 lines each. NULL for Examples made by hand, or when a value
    // does not fit a byte; examples_sample_batch then reads X and Y.
    uint8_t *rows;  // [n, T+ty]
} Examples;

typedef enum {
    SPLIT_LECTURE,   // 80 / 10 / 10 by words after Python's random.shuffle (split_seed)
    SPLIT_MAKEMORE,  // makemore.py's: test = min(1000, 10%) of the words by a seeded
                     // permutation (the engine's generator), train = the rest; no val
} SplitKind;

typedef struct {
    Examples train, val, test;   // val is empty (n = 0) in makemore.py's split
    int n_words[3];
    SplitKind kind;
} Split;

// Reads path. Errors (file, line and what is allowed): missing / unreadable / a
// directory, a FIFO or device (refused at once, never waited on), no words, a word
// containing '.', NUL or a non-printable byte, a line longer than MAX_WORD_LEN. A UTF-8
// byte-order mark opening the file is skipped.
int words_load(Words *out, const char *path, Err *err);
// Same rules on an in-memory buffer (used by the fuzzer); name is used in messages.
int words_parse(Words *out, const char *data, size_t len, const char *name, Err *err);
void words_free(Words *w);

void vocab_build(Vocab *v, const Words *w);

// Xb[B, T], Yb[B, ty]: B examples drawn uniformly with replacement from ex (one
// rng_below each, in order: the batch is a function of the generator's state alone).
void examples_sample_batch(int *Xb, int *Yb, const Examples *ex, int B, Rng *rng);
// 0 when every byte of every word is in v; else -1 naming the word's index and byte.
int vocab_check(const Vocab *v, const Words *w, const char *name, Err *err);

// Python: random.seed(seed); random.shuffle(words). Permutes w->w in place.
void words_shuffle(Words *w, uint64_t seed);

// Examples from words [lo, hi): the lecture's (context T).
void examples_build(Examples *ex, const Words *w, int lo, int hi, const Vocab *v, int T);
// makemore.py's sequences of words idx[0..n) (T >= the longest word + 1).
void sequences_build(Examples *ex, const Words *w, const int *idx, int n, const Vocab *v, int T);
// (Re)builds ex->rows from X and Y (every index must be < 256). examples_build calls it.
void examples_pack(Examples *ex);
void examples_free(Examples *ex);

// The split's word boundaries for n words: n1 = int(0.8 n), n2 = int(0.9 n) exactly as
// Python computes them (train = [0, n1), val = [n1, n2), test = [n2, n)).
void split_bounds(int n, int *n1, int *n2);

// The lecture's split: shuffle with split_seed, n1 = int(0.8 n), n2 = int(0.9 n).
// Fails when a split would be empty (fewer than 6 words), or when a word has a byte
// outside v; w is left untouched then.
int split_build(Split *s, Words *w, const Vocab *v, int T, uint64_t split_seed, Err *err);
void split_free(Split *s);

// makemore.py's split: test = min(1000, int(0.1 n)) words, drawn by a permutation of the
// engine's generator seeded with seed (Fisher-Yates), train = the rest (both in the
// permutation's order; w is reordered so, the train words first, as split_build does);
// sequences of length T. Fails when a part would be empty (fewer than 10 words) or a word
// is longer than T - 1; w is left untouched then.
int split_build_makemore(Split *s, Words *w, const Vocab *v, int T, uint64_t seed, Err *err);

// makemore.py's preprocessing: every word stripped of ASCII blanks at both ends, the words
// left empty dropped (in place; max_len updated).
void words_strip(Words *w);

// A words file ready to train or evaluate on: its words, vocabulary and split.
typedef struct {
    Words words;
    Vocab vocab;
    Split split;
} Dataset;

// What dataset_load could not do (err says what, naming the file).
typedef enum {
    DATASET_OK,
    DATASET_WORDS,      // the file could not be read or parsed
    DATASET_VOCAB,      // a byte outside the fixed vocabulary
    DATASET_TOO_LARGE,  // its examples would take more than half the machine's memory
    DATASET_SPLIT,      // the split failed (no examples in a part)
} DatasetStatus;

// Loads path, builds the vocabulary (or checks the words against fixed_vocab, a model's),
// checks that the examples of context T fit in half the machine's memory, and splits it
// as the lecture (split_seed). On failure nothing is left allocated.
DatasetStatus dataset_load(Dataset *d, const char *path, int T, uint64_t split_seed,
                           const Vocab *fixed_vocab, Err *err);
// The same in makemore.py's form: words stripped, its split (seed), sequences of length T,
// or (T = 0) of the longest word + 1 (makemore.py's block_size). A word longer than T - 1
// fails (DATASET_SPLIT) naming it.
DatasetStatus dataset_load_makemore(Dataset *d, const char *path, int T, uint64_t seed,
                                    const Vocab *fixed_vocab, Err *err);
void dataset_free(Dataset *d);

#endif
