// data.c: the words file, the vocabulary, the lecture's split and its examples.
//
// Which bytes a word may hold: printable ASCII 0x20..0x7e except '.' (the
// terminator, vocabulary index 0), and every byte 0x80..0xff, so UTF-8 names load
// and train byte-wise (a multi-byte letter becomes several vocabulary entries;
// UTF-8 validity is not checked). Rejected: NUL, the other control bytes 0x01..0x1f
// (tab included; a CR is accepted only as the CR of a CRLF line end, or as the last
// byte of the file), and 0x7f. Words are kept verbatim: spaces inside or around a
// word are part of it. A blank line is an empty one (after the CR strip) and is skipped.
// A UTF-8 byte-order mark (EF BB BF) opening the file is skipped: an editor's encoding
// mark, not three letters (the fingerprint still covers it).
//
// Error messages: "<name>:<line>: <what>, <what is allowed>" for a bad line,
// "<name>: <what>" for the file as a whole.
#include "data.h"

#include "crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "rng.h"

// A words file larger than this is refused (word counts are ints; names.txt is 229 kB).
#define MAX_WORDS_FILE_BYTES ((size_t)1 << 30)

#define ALLOWED_BYTES "allowed: printable ASCII 0x20-0x7e except '.', and bytes 0x80-0xff"

int word_byte_allowed(unsigned char c) { return (c >= 0x20 && c <= 0x7e && c != '.') || c >= 0x80; }

// Checks one line (CR already stripped); 0 if it is a valid word (or blank).
static int check_line(const char *line, size_t len, const char *name, int line_no, Err *err) {
    if (len > MAX_WORD_LEN)
        return err_set(err, "%s:%d: line of %zu bytes, longer than the %d allowed", name, line_no,
                       len, MAX_WORD_LEN);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];
        if (word_byte_allowed(c)) continue;
        if (c == '.')
            return err_set(err, "%s:%d: word contains '.', the terminator (" ALLOWED_BYTES ")",
                           name, line_no);
        if (c == 0)
            return err_set(err, "%s:%d: NUL byte at column %zu (" ALLOWED_BYTES ")", name,
                           line_no, i + 1);
        return err_set(err, "%s:%d: non-printable byte 0x%02x at column %zu (" ALLOWED_BYTES ")",
                       name, line_no, c, i + 1);
    }
    return 0;
}

// Calls back for each line of data: start, length without the line end (LF, or the
// CRLF pair, or a CR that ends the buffer), 1-based line number.
typedef int (*LineFn)(void *ctx, const char *line, size_t len, int line_no);

static int for_each_line(const char *data, size_t len, LineFn fn, void *ctx) {
    size_t pos = 0;
    int line_no = 0;
    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        size_t line_len = end - pos;
        if (line_len > 0 && data[end - 1] == '\r') line_len--;
        line_no++;
        if (fn(ctx, data + pos, line_len, line_no)) return -1;
        pos = nl ? end + 1 : len;
    }
    return 0;
}

typedef struct {
    const char *name;
    Err *err;
    int n_words;
    size_t bytes;  // sum of word lengths
} Survey;

static int survey_line(void *ctx, const char *line, size_t len, int line_no) {
    Survey *s = ctx;
    if (check_line(line, len, s->name, line_no, s->err)) return -1;
    if (len > 0) {
        s->n_words++;
        s->bytes += len;
    }
    return 0;
}

typedef struct {
    Words *w;
    char *next;  // where the next word goes in w->buf
} Store;

static int store_line(void *ctx, const char *line, size_t len, int line_no) {
    (void)line_no;
    Store *s = ctx;
    if (len == 0) return 0;
    memcpy(s->next, line, len);
    s->next[len] = '\0';
    s->w->w[s->w->n++] = s->next;
    s->next += len + 1;
    if ((int)len > s->w->max_len) s->w->max_len = (int)len;
    return 0;
}

int words_parse(Words *out, const char *data, size_t len, const char *name, Err *err) {
    memset(out, 0, sizeof *out);
    const char *file = data;  // the fingerprint covers every byte of the file
    size_t file_len = len;
    if (len >= 3 && !memcmp(data, "\xef\xbb\xbf", 3)) data += 3, len -= 3;  // a UTF-8 BOM: no letters
    if (len > MAX_WORDS_FILE_BYTES)
        return err_set(err, "%s: %zu bytes, more than the %zu a words file may have", name, len,
                       MAX_WORDS_FILE_BYTES);
    // First pass validates and counts, so the second can allocate exactly.
    Survey s = {name, err, 0, 0};
    if (for_each_line(data, len, survey_line, &s)) return -1;
    if (s.n_words == 0)
        return err_set(err, "%s: no words (the file is empty or has only blank lines)", name);
    out->buf = malloc(s.bytes + (size_t)s.n_words);
    out->w = malloc((size_t)s.n_words * sizeof *out->w);
    if (!out->buf || !out->w) {
        words_free(out);
        return err_set(err, "%s: out of memory for %d words", name, s.n_words);
    }
    Store store = {out, out->buf};
    for_each_line(data, len, store_line, &store);
    out->file_bytes = file_len;  // the fingerprint: what a checkpoint records of its words
    out->file_crc = crc32c(0, file, file_len);
    return 0;
}

// Reads a whole file into a malloc'd buffer; refuses directories, FIFOs and devices
// (infile_open: at once, never blocking) and huge files.
static int read_file(const char *path, char **data, size_t *len, Err *err) {
    int fd = infile_open(NULL, path, err);
    if (fd < 0) return -1;
    struct stat st;
    int have_stat = fstat(fd, &st) == 0;
    if (have_stat && S_ISDIR(st.st_mode)) {
        close(fd);
        return err_set(err, "%s: is a directory, expected a words file (one word per line)", path);
    }
    // A regular file too large is refused before reading it; a stream (pipe, device) is
    // read into at most MAX_WORDS_FILE_BYTES + 1 bytes, enough to know it is too large.
    if (have_stat && S_ISREG(st.st_mode) && (uint64_t)st.st_size > MAX_WORDS_FILE_BYTES) {
        close(fd);
        return err_set(err, "%s: %llu bytes, more than the %zu a words file may have", path,
                       (unsigned long long)st.st_size, MAX_WORDS_FILE_BYTES);
    }
    size_t cap = 1 << 16, used = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (used == cap) {
            if (cap > MAX_WORDS_FILE_BYTES) break;
            size_t next = cap * 2 > MAX_WORDS_FILE_BYTES ? MAX_WORDS_FILE_BYTES + 1 : cap * 2;
            char *bigger = realloc(buf, next);
            if (!bigger) break;
            buf = bigger;
            cap = next;
        }
        ssize_t got = read(fd, buf + used, cap - used);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return err_set(err, "%s: cannot read: %s", path, strerror(e));
        }
        if (got == 0) {
            close(fd);
            *data = buf;
            *len = used;
            return 0;
        }
        used += (size_t)got;
    }
    free(buf);
    close(fd);
    return err_set(err, "%s: too large or out of memory (a words file may have %zu bytes)", path,
                   MAX_WORDS_FILE_BYTES);
}

int words_load(Words *out, const char *path, Err *err) {
    memset(out, 0, sizeof *out);
    char *data = NULL;
    size_t len = 0;
    if (read_file(path, &data, &len, err)) return -1;
    int rc = words_parse(out, data, len, path, err);
    free(data);
    return rc;
}

void words_free(Words *w) {
    free(w->buf);
    free(w->w);
    memset(w, 0, sizeof *w);
}

// ---- vocabulary ---------------------------------------------------------------

void vocab_build(Vocab *v, const Words *w) {
    unsigned char seen[256] = {0};
    for (int i = 0; i < w->n; i++)
        for (const unsigned char *p = (const unsigned char *)w->w[i]; *p; p++) seen[*p] = 1;
    seen['.'] = 0;  // the terminator is always index 0, never among the letters
    memset(v->itos, 0, sizeof v->itos);
    for (int c = 0; c < 256; c++) v->stoi[c] = -1;
    v->itos[0] = '.';
    v->stoi['.'] = 0;
    v->V = 1;
    for (int c = 1; c < 256; c++)  // ascending unsigned byte order = sorted(set(...))
        if (seen[c]) {
            v->itos[v->V] = (char)c;
            v->stoi[c] = v->V++;
        }
}

int vocab_check(const Vocab *v, const Words *w, const char *name, Err *err) {
    for (int i = 0; i < w->n; i++)
        for (const unsigned char *p = (const unsigned char *)w->w[i]; *p; p++)
            if (*p == '.' || v->stoi[*p] < 0)
                return err_set(err,
                               "%s: word %d (\"%.64s\") has byte 0x%02x, which is not in the "
                               "model's vocabulary of %d",
                               name, i + 1, w->w[i], *p, v->V);
    return 0;
}

// ---- split and examples ---------------------------------------------------------

void words_shuffle(Words *w, uint64_t seed) {
    PyRandom r;
    pyrandom_seed(&r, seed);
    pyrandom_shuffle(&r, w->w, (size_t)w->n, sizeof *w->w);
}

// Python's int(0.8 * n) and int(0.9 * n). The doubles 0.8 and 0.9 are slightly above
// the decimals and a product's fraction is a multiple of 0.1 (>= 0.1 from the next
// integer), so the float product truncates to floor(8n / 10) and floor(9n / 10):
// checked equal for every n in 1..2^31-1 against the double computation, and against
// python3 for 1..100000 (tests/test_data.c).
void split_bounds(int n, int *n1, int *n2) {
    *n1 = (int)((long long)n * 8 / 10);
    *n2 = (int)((long long)n * 9 / 10);
}

void examples_build(Examples *ex, const Words *w, int lo, int hi, const Vocab *v, int T) {
    size_t n = 0;
    for (int i = lo; i < hi; i++) n += strlen(w->w[i]) + 1;  // each letter and the final '.'
    ex->n = (int)n;
    ex->T = T;
    ex->ty = 1;
    ex->X = xcalloc(n * (size_t)T, sizeof *ex->X);
    ex->Y = xcalloc(n, sizeof *ex->Y);
    int *ctx = xcalloc((size_t)T, sizeof *ctx);
    size_t row = 0;
    for (int i = lo; i < hi; i++) {
        memset(ctx, 0, (size_t)T * sizeof *ctx);  // context starts as T '.'s
        for (const unsigned char *p = (const unsigned char *)w->w[i];; p++) {
            int ix = *p ? v->stoi[*p] : 0;  // the word's NUL stands for the final '.'
            memcpy(ex->X + row * (size_t)T, ctx, (size_t)T * sizeof *ctx);
            ex->Y[row++] = ix;
            memmove(ctx, ctx + 1, (size_t)(T - 1) * sizeof *ctx);
            ctx[T - 1] = ix;
            if (!*p) break;
        }
    }
    xfree(ctx);
    ex->rows = NULL;
    examples_pack(ex);
}

void sequences_build(Examples *ex, const Words *w, const int *idx, int n, const Vocab *v, int T) {
    ex->n = n;
    ex->T = T;
    ex->ty = T;
    ex->X = xcalloc((size_t)n * T + 1, sizeof *ex->X);
    ex->Y = xcalloc((size_t)n * T + 1, sizeof *ex->Y);
    for (int i = 0; i < n; i++) {
        const unsigned char *word = (const unsigned char *)w->w[idx[i]];
        int len = (int)strlen((const char *)word);
        int *x = ex->X + (size_t)i * T, *y = ex->Y + (size_t)i * T;
        for (int t = 0; t < T; t++) {  // x = [0, w...] then 0; y = [w..., 0] then -1
            x[t] = t == 0 || t > len ? 0 : v->stoi[word[t - 1]];
            y[t] = t < len ? v->stoi[word[t]] : t == len ? 0 : -1;
        }
    }
    ex->rows = NULL;
    examples_pack(ex);
}

void examples_pack(Examples *ex) {
    size_t n = (size_t)ex->n, T = (size_t)ex->T, ty = ex->ty > 0 ? (size_t)ex->ty : 1;
    xfree(ex->rows);
    ex->rows = NULL;
    for (size_t i = 0; i < n * T; i++)
        if (ex->X[i] < 0 || ex->X[i] > 255) return;
    for (size_t i = 0; i < n * ty; i++)
        if (ex->Y[i] < -1 || ex->Y[i] > 254) return;
    ex->rows = xcalloc(n * (T + ty), 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t *r = ex->rows + i * (T + ty);
        for (size_t t = 0; t < T; t++) r[t] = (uint8_t)ex->X[i * T + t];
        for (size_t k = 0; k < ty; k++) r[T + k] = (uint8_t)ex->Y[i * ty + k];  // -1 as 255
    }
}

void examples_free(Examples *ex) {
    xfree(ex->X);
    xfree(ex->Y);
    xfree(ex->rows);
    memset(ex, 0, sizeof *ex);
}

int split_build(Split *s, Words *w, const Vocab *v, int T, uint64_t split_seed, Err *err) {
    memset(s, 0, sizeof *s);
    if (T < 1) return err_set(err, "context length %d: must be at least 1", T);
    if (vocab_check(v, w, "words", err)) return -1;
    int n1, n2;
    split_bounds(w->n, &n1, &n2);
    if (n1 == 0 || n2 == n1 || w->n == n2)
        return err_set(err,
                       "%d words split 80/10/10 as %d / %d / %d: every split needs at least one "
                       "word (give at least 6 words)",
                       w->n, n1, n2 - n1, w->n - n2);
    words_shuffle(w, split_seed);
    examples_build(&s->train, w, 0, n1, v, T);
    examples_build(&s->val, w, n1, n2, v, T);
    examples_build(&s->test, w, n2, w->n, v, T);
    s->n_words[0] = n1;
    s->n_words[1] = n2 - n1;
    s->n_words[2] = w->n - n2;
    return 0;
}

void split_free(Split *s) {
    examples_free(&s->train);
    examples_free(&s->val);
    examples_free(&s->test);
    memset(s, 0, sizeof *s);
}

// Two passes: the B draws first (the generator's sequence as one pass would draw it),
// each row's cache line fetched as it is drawn, then the copies. The rows are random
// lines of a 730 KB table that the step's own data push out of L2; fetched together,
// their misses overlap instead of stalling one copy at a time. Between the passes a
// draw waits in its example's first target slot, Yb[b * ty] (overwritten by the copy).
void examples_sample_batch(int *Xb, int *Yb, const Examples *ex, int B, Rng *rng) {
    const int T = ex->T, ty = ex->ty > 0 ? ex->ty : 1;
    for (int b = 0; b < B; b++) {
        uint32_t i = rng_below(rng, (uint32_t)ex->n);
        Yb[b * ty] = (int)i;
        if (ex->rows) {
            __builtin_prefetch(ex->rows + (size_t)i * (T + ty));
        } else {
            __builtin_prefetch(ex->X + (size_t)i * T);
            __builtin_prefetch(ex->Y + (size_t)i * ty);
        }
    }
    for (int b = 0; b < B; b++) {
        size_t i = (uint32_t)Yb[b * ty];
        if (ex->rows) {  // the packed copy: one short row
            const uint8_t *r = ex->rows + i * (T + ty);
            for (int t = 0; t < T; t++) Xb[b * T + t] = r[t];
            for (int k = 0; k < ty; k++) Yb[b * ty + k] = r[T + k] == 255 ? -1 : r[T + k];
        } else {
            for (int t = 0; t < T; t++) Xb[b * T + t] = ex->X[i * T + t];
            for (int k = 0; k < ty; k++) Yb[b * ty + k] = ex->Y[i * ty + k];
        }
    }
}

// ---- makemore.py's form ----------------------------------------------------------------

static int is_blank(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

void words_strip(Words *w) {
    int kept = 0;
    w->max_len = 0;
    for (int i = 0; i < w->n; i++) {
        char *p = w->w[i];
        while (*p && is_blank((unsigned char)*p)) p++;
        size_t len = strlen(p);
        while (len > 0 && is_blank((unsigned char)p[len - 1])) p[--len] = '\0';
        if (!len) continue;
        w->w[kept++] = p;
        if ((int)len > w->max_len) w->max_len = (int)len;
    }
    w->n = kept;
}

int split_build_makemore(Split *s, Words *w, const Vocab *v, int T, uint64_t seed, Err *err) {
    memset(s, 0, sizeof *s);
    s->kind = SPLIT_MAKEMORE;
    if (vocab_check(v, w, "words", err)) return -1;
    int n = w->n, k = (int)((long long)n / 10);
    if (k > 1000) k = 1000;
    if (k < 1)
        return err_set(err, "%d words: makemore.py's test split takes min(1000, 10%%) of them, "
                       "none of %d (give at least 10 words)", n, n);
    for (int i = 0; i < n; i++)
        if ((int)strlen(w->w[i]) > T - 1)
            return err_set(err, "word %d (%d bytes) is longer than the model's block of %d - 1 "
                           "(give the words file the model was trained on)", i + 1,
                           (int)strlen(w->w[i]), T);
    int *perm = xcalloc((size_t)n, sizeof *perm);
    for (int i = 0; i < n; i++) perm[i] = i;
    Rng r;
    rng_seed(&r, seed);
    for (int i = n - 1; i > 0; i--) {  // Fisher-Yates
        int j = (int)rng_below(&r, (uint32_t)(i + 1)), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    char **shuffled = xcalloc((size_t)n, sizeof(char *));  // the words in the split's order:
    for (int i = 0; i < n; i++) shuffled[i] = w->w[perm[i]];  // train first, then test
    memcpy(w->w, shuffled, (size_t)n * sizeof(char *));
    xfree(shuffled);
    for (int i = 0; i < n; i++) perm[i] = i;
    sequences_build(&s->train, w, perm, n - k, v, T);
    sequences_build(&s->test, w, perm + n - k, k, v, T);
    s->val = (Examples){.T = T, .ty = T};
    s->n_words[0] = n - k;
    s->n_words[2] = k;
    xfree(perm);
    return 0;
}

// The words' vocabulary: fixed_vocab checked against them, or built from them.
static DatasetStatus dataset_vocab(Dataset *d, const char *path, const Vocab *fixed_vocab, Err *err) {
    if (!fixed_vocab) {
        vocab_build(&d->vocab, &d->words);
        return DATASET_OK;
    }
    d->vocab = *fixed_vocab;
    return vocab_check(&d->vocab, &d->words, path, err) != 0 ? DATASET_VOCAB : DATASET_OK;
}

// examples of `ints` ints each must fit in half the machine's memory.
static DatasetStatus dataset_fits(const char *path, double examples, double ints, const char *what,
                                  Err *err) {
    double have = machine_memory(), bytes = 4.0 * examples * ints;
    if (have <= 0 || bytes <= 0.5 * have) return DATASET_OK;
    err_set(err, "%s: %.0f %s need %.1f GiB, more than half this machine's %.1f GiB of memory",
            path, examples, what, bytes / (1 << 30), have / (1 << 30));
    return DATASET_TOO_LARGE;
}

// The split's outcome: a failure's message names the file; the words freed on any failure.
static DatasetStatus dataset_done(Dataset *d, DatasetStatus st, int split_failed, const char *path,
                                  Err *err) {
    if (split_failed) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        err_set(err, "%s: %s", path, why);
        st = DATASET_SPLIT;
    }
    if (st != DATASET_OK) words_free(&d->words);
    return st;
}

DatasetStatus dataset_load(Dataset *d, const char *path, int T, uint64_t split_seed,
                           const Vocab *fixed_vocab, Err *err) {
    memset(d, 0, sizeof *d);
    if (words_load(&d->words, path, err) != 0) return DATASET_WORDS;
    DatasetStatus st = dataset_vocab(d, path, fixed_vocab, err);
    // The examples take (block + 1) ints per letter and word end: a huge words file with
    // a long block must fail here, not in the kernel's OOM killer.
    double examples = 0;
    for (int i = 0; st == DATASET_OK && i < d->words.n; i++) examples += (double)strlen(d->words.w[i]) + 1;
    char what[64];
    snprintf(what, sizeof what, "examples with a block of %d", T);
    if (st == DATASET_OK) st = dataset_fits(path, examples, T + 1, what, err);
    int failed = st == DATASET_OK && split_build(&d->split, &d->words, &d->vocab, T, split_seed, err) != 0;
    return dataset_done(d, st, failed, path, err);
}

DatasetStatus dataset_load_makemore(Dataset *d, const char *path, int T, uint64_t seed,
                                    const Vocab *fixed_vocab, Err *err) {
    memset(d, 0, sizeof *d);
    if (words_load(&d->words, path, err) != 0) return DATASET_WORDS;
    words_strip(&d->words);
    DatasetStatus st = DATASET_OK;
    if (d->words.n == 0) {
        err_set(err, "%s: no words (only blank ones)", path);
        st = DATASET_WORDS;
    } else {
        st = dataset_vocab(d, path, fixed_vocab, err);
    }
    if (T == 0) T = d->words.max_len + 1;  // makemore.py's block_size
    char what[64];
    snprintf(what, sizeof what, "sequences of %d", T);
    if (st == DATASET_OK) st = dataset_fits(path, d->words.n, 2.0 * T, what, err);
    int failed = st == DATASET_OK && split_build_makemore(&d->split, &d->words, &d->vocab, T, seed, err) != 0;
    return dataset_done(d, st, failed, path, err);
}

void dataset_free(Dataset *d) {
    split_free(&d->split);
    words_free(&d->words);
}
