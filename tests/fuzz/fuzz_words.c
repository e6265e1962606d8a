// fuzz_words.c: libFuzzer target for the words parser (words_parse), followed by what
// training does with an accepted file: the vocabulary, the vocabulary check and the
// lecture's split with its examples. Every rejection must come with a one-line message.
// Built by `make fuzz` (clang -fsanitize=fuzzer,address,undefined); the same function is
// replayed over the seed corpus and the regression inputs by tests/test_fuzz_regressions.c.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Words w;
    Err err = {{0}};
    if (words_parse(&w, (const char *)data, size, "fuzz", &err) != 0) {
        // A rejection names the input and says something, on one line.
        if (strncmp(err.msg, "fuzz", 4) != 0 || !printable_line(err.msg)) abort();
        return 0;
    }
    if (w.n < 1 || w.max_len < 1 || w.max_len > MAX_WORD_LEN) abort();
    for (int i = 0; i < w.n; i++) {
        size_t n = strlen(w.w[i]);
        if (n == 0 || n > (size_t)w.max_len) abort();
        for (size_t k = 0; k < n; k++)
            if (!word_byte_allowed((unsigned char)w.w[i][k])) abort();
    }
    Vocab v;
    vocab_build(&v, &w);
    if (v.V < 2 || v.V > 256 || v.itos[0] != '.') abort();
    if (vocab_check(&v, &w, "fuzz", &err) != 0) abort();
    Split s;
    if (split_build(&s, &w, &v, 3, 42, &err) == 0) {
        for (int k = 0; k < 3; k++) {
            const Examples *ex = k == 0 ? &s.train : k == 1 ? &s.val : &s.test;
            if (ex->n < 2) abort();  // a non-empty word and its '.'
            for (int i = 0; i < ex->n; i++)
                if (ex->Y[i] < 0 || ex->Y[i] >= v.V) abort();
        }
        split_free(&s);
    } else if (w.n >= 6) {
        abort();  // 6 or more words always split 80/10/10 into non-empty parts
    }
    words_free(&w);
    return 0;
}
