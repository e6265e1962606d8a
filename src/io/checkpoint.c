// checkpoint.c: what every makemore file holds besides its tensors (net_io.c writes and
// reads the model itself): the vocabulary and the training state, as metadata strings.
//
// itos = the vocabulary, itos[0..V-1], where each byte is written as the Unicode code point
// of the same value (so bytes >= 0x80 make valid UTF-8 JSON: Python reads it back with
// s.encode("latin-1"); for an ASCII vocabulary it is the plain string). With a TrainState:
// step, steps, decay_step, batch, calibrated (decimal), seed, split_seed (unsigned
// decimal), lr, lr2 ("%.9g", which round-trips a float), rng (4 x 16 hex digits joined by
// ','); optionally data_bytes and data_crc32c (the words file), gemm_plan, ranks.
#include "checkpoint.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

// ---- the vocabulary string ----------------------------------------------------

// itos bytes -> UTF-8 with one code point per byte (Latin-1); out holds 2*V+1.
static void itos_encode(char *out, const Vocab *v) {
    for (int i = 0; i < v->V; i++) {
        unsigned char b = (unsigned char)v->itos[i];
        if (b < 0x80) {
            *out++ = (char)b;
        } else {
            *out++ = (char)(0xc0 | (b >> 6));
            *out++ = (char)(0x80 | (b & 0x3f));
        }
    }
    *out = '\0';
}

// The inverse: code points U+0001..U+00FF back to bytes. Returns the byte count,
// or -1 for a code point above U+00FF (or malformed UTF-8). out holds 256 bytes.
static int itos_decode(unsigned char *out, const char *s) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned b = *p;
        if (b >= 0x80) {  // only 0xc2/0xc3 + continuation encode U+0080..U+00FF
            if ((b != 0xc2 && b != 0xc3) || (p[1] & 0xc0) != 0x80) return -1;
            b = ((b & 0x1f) << 6) | (p[1] & 0x3f);
            p++;
        }
        if (n == 256) return -1;
        out[n++] = (unsigned char)b;
    }
    return n;
}

// '.' first, then distinct bytes in ascending order, each one a word may hold.
static int vocab_well_formed(const unsigned char *itos, int V) {
    if (V < 2 || V > 256 || itos[0] != '.') return 0;
    for (int i = 1; i < V; i++)
        if (!word_byte_allowed(itos[i]) || (i > 1 && itos[i] <= itos[i - 1])) return 0;
    return 1;
}

int checkpoint_vocab_ok(const Vocab *v) {
    return vocab_well_formed((const unsigned char *)v->itos, v->V);
}

// ---- saving --------------------------------------------------------------------

enum { MAX_META = 24 };  // the training state's keys, with room

typedef struct {
    StMeta meta[MAX_META];
    char text[MAX_META][ST_META_TEXT];  // numbers as text
    int n;
} MetaList;

static void meta_add(MetaList *l, const char *key, const char *value) {
    l->meta[l->n++] = (StMeta){key, value};
}

static void meta_addf(MetaList *l, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void meta_addf(MetaList *l, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text[l->n], sizeof l->text[l->n], fmt, ap);
    va_end(ap);
    meta_add(l, key, l->text[l->n]);
}

static void meta_train_state(MetaList *l, const TrainState *ts) {
    meta_addf(l, "step", "%ld", ts->step);
    meta_addf(l, "steps", "%ld", ts->steps);
    meta_addf(l, "decay_step", "%ld", ts->decay_step);
    meta_addf(l, "lr", "%.9g", (double)ts->lr);
    meta_addf(l, "lr2", "%.9g", (double)ts->lr2);
    meta_addf(l, "batch", "%d", ts->batch);
    meta_addf(l, "seed", "%llu", (unsigned long long)ts->seed);
    meta_addf(l, "split_seed", "%llu", (unsigned long long)ts->split_seed);
    meta_addf(l, "rng", "%016llx,%016llx,%016llx,%016llx", (unsigned long long)ts->rng[0],
              (unsigned long long)ts->rng[1], (unsigned long long)ts->rng[2],
              (unsigned long long)ts->rng[3]);
    meta_addf(l, "calibrated", "%d", ts->calibrated ? 1 : 0);
    if (ts->has_data_fp) {
        meta_addf(l, "data_bytes", "%llu", (unsigned long long)ts->data_bytes);
        meta_addf(l, "data_crc32c", "%08x", (unsigned)ts->data_crc);
    }
    if (ts->gemm_plan[0]) meta_add(l, "gemm_plan", ts->gemm_plan);
    if (ts->ranks > 1) meta_addf(l, "ranks", "%d", ts->ranks);  // data-parallel (dist.h)
    if (ts->weight_decay != 0.0f) meta_addf(l, "weight_decay", "%.9g", (double)ts->weight_decay);
    if (ts->best_loss >= 0) meta_addf(l, "best_loss", "%.17g", ts->best_loss);
}

// ---- loading: metadata -----------------------------------------------------------

typedef struct {
    const StFile *f;
    const char *path;
    Err *err;
} Reader;

// The value of a required key, or NULL with the error set.
static const char *meta_need(Reader *r, const char *key) {
    const char *s = st_meta_get(r->f, key);
    if (!s) err_set(r->err, "%s: metadata \"%s\" is missing", r->path, key);
    return s;
}

// Strict decimal: an optional '-' then 1..18 digits (so no overflow), nothing else;
// the value must lie in [lo, hi].
static int meta_long(Reader *r, const char *key, long lo, long hi, long *out) {
    const char *s = meta_need(r, key);
    if (!s) return -1;
    const char *p = s + (*s == '-');
    int digits = 0;
    long long mag = 0;
    for (; *p >= '0' && *p <= '9' && digits < 18; p++, digits++) mag = mag * 10 + (*p - '0');
    long long value = *s == '-' ? -mag : mag;
    if (*p || digits == 0 || value < lo || value > hi)
        return err_set(r->err, "%s: metadata \"%s\" = \"%.40s\": expected an integer in %ld..%ld",
                       r->path, key, s, lo, hi);
    *out = (long)value;
    return 0;
}

static int meta_int(Reader *r, const char *key, int lo, int hi, int *out) {
    long v;
    if (meta_long(r, key, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

// Strict unsigned decimal that fits 64 bits.
static int meta_u64(Reader *r, const char *key, uint64_t *out) {
    const char *s = meta_need(r, key);
    if (!s) return -1;
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) break;
        v = v * 10 + d;
    }
    if (*p || p == s)
        return err_set(r->err, "%s: metadata \"%s\" = \"%.40s\": expected an unsigned 64-bit "
                               "integer", r->path, key, s);
    *out = v;
    return 0;
}

// A finite float, the whole string ("%.9g" as written).
static int meta_float(Reader *r, const char *key, float *out) {
    const char *s = meta_need(r, key);
    if (!s) return -1;
    char *end;
    float v = strtof(s, &end);
    int starts_ok = *s == '-' || *s == '.' || (*s >= '0' && *s <= '9');  // no blanks, '+'
    if (!starts_ok || end == s || *end || !isfinite(v))
        return err_set(r->err, "%s: metadata \"%s\" = \"%.40s\": expected a finite number",
                       r->path, key, s);
    *out = v;
    return 0;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "xxxxxxxxxxxxxxxx,xxxxxxxxxxxxxxxx,xxxxxxxxxxxxxxxx,xxxxxxxxxxxxxxxx", not all zero.
static int meta_rng(Reader *r, uint64_t out[4]) {
    const char *s = meta_need(r, "rng");
    if (!s) return -1;
    int ok = strlen(s) == 4 * 16 + 3;
    for (int w = 0; ok && w < 4; w++) {
        uint64_t v = 0;
        for (int i = 0; ok && i < 16; i++) {
            int d = hex_digit(s[w * 17 + i]);
            ok = d >= 0;
            v = v << 4 | (uint64_t)(d & 0xf);
        }
        if (w < 3) ok = ok && s[w * 17 + 16] == ',';
        out[w] = v;
    }
    if (!ok || (out[0] | out[1] | out[2] | out[3]) == 0)
        return err_set(r->err, "%s: metadata \"rng\" = \"%.80s\": expected four 16-hex-digit words "
                               "joined by ',', not all zero", r->path, s);
    return 0;
}

// The vocabulary from metadata "itos": V symbols, '.' then distinct ascending bytes.
static int read_vocab(Reader *r, int V, Vocab *v) {
    const char *itos = meta_need(r, "itos");
    if (!itos) return -1;
    unsigned char bytes[256];
    int n = itos_decode(bytes, itos);
    if (n != V || !vocab_well_formed(bytes, n))
        return err_set(r->err, "%s: metadata \"itos\": expected %d characters, '.' then distinct "
                               "ascending bytes a word may hold (0x20-0x7e except '.', "
                               "0x80-0xff), got %d", r->path, V, n);
    v->V = n;
    memset(v->itos, 0, sizeof v->itos);
    for (int i = 0; i < 256; i++) v->stoi[i] = -1;
    for (int i = 0; i < n; i++) {
        v->itos[i] = (char)bytes[i];
        v->stoi[bytes[i]] = i;
    }
    return 0;
}

static const char *const TRAIN_KEYS[] = {"step", "steps", "decay_step", "lr", "lr2", "batch",
                                         "seed", "split_seed", "rng", "calibrated"};
enum { N_TRAIN_KEYS = sizeof TRAIN_KEYS / sizeof TRAIN_KEYS[0] };

// 1 if the file holds a training state, 0 if none; -1 if it holds part of one.
static int has_train_keys(Reader *r) {
    int present = 0;
    for (int i = 0; i < N_TRAIN_KEYS; i++) present += st_meta_get(r->f, TRAIN_KEYS[i]) != NULL;
    if (present == 0) return 0;
    if (present == N_TRAIN_KEYS) return 1;
    for (int i = 0; i < N_TRAIN_KEYS; i++)
        if (!st_meta_get(r->f, TRAIN_KEYS[i]))
            return err_set(r->err, "%s: partial training state: metadata \"%s\" is missing",
                           r->path, TRAIN_KEYS[i]);
    return -1;
}

static int read_train_state(Reader *r, TrainState *ts) {
    const long big = 1L << 50;
    int calibrated;
    if (meta_long(r, "steps", 0, big, &ts->steps) || meta_long(r, "step", 0, ts->steps, &ts->step) ||
        meta_long(r, "decay_step", 0, big, &ts->decay_step) || meta_float(r, "lr", &ts->lr) ||
        meta_float(r, "lr2", &ts->lr2) || meta_int(r, "batch", 1, 1 << 24, &ts->batch) ||
        meta_u64(r, "seed", &ts->seed) || meta_u64(r, "split_seed", &ts->split_seed) ||
        meta_rng(r, ts->rng) || meta_int(r, "calibrated", 0, 1, &calibrated))
        return -1;
    ts->calibrated = calibrated;
    ts->ranks = 1;
    ts->weight_decay = 0.0f;
    ts->best_loss = -1.0;
    const char *best = st_meta_get(r->f, "best_loss");
    if (best) {
        char *end;
        ts->best_loss = strtod(best, &end);
        if (end == best || *end || !(ts->best_loss >= 0) || !isfinite(ts->best_loss))
            return err_set(r->err, "%s: metadata \"best_loss\" = \"%.40s\": expected a finite "
                           "number >= 0", r->path, best);
    }
    if (st_meta_get(r->f, "weight_decay") && meta_float(r, "weight_decay", &ts->weight_decay)) return -1;
    if (!(ts->weight_decay >= 0.0f && ts->weight_decay <= 1000.0f))
        return err_set(r->err, "%s: metadata \"weight_decay\": expected 0..1000", r->path);
    if (st_meta_get(r->f, "ranks") && meta_int(r, "ranks", 1, 1 << 20, &ts->ranks)) return -1;
    // Optional: the GEMM plan the run used (its text is checked where it is used).
    const char *plan = st_meta_get(r->f, "gemm_plan");
    ts->gemm_plan[0] = '\0';
    if (plan && strlen(plan) >= sizeof ts->gemm_plan)
        return err_set(r->err, "%s: metadata \"gemm_plan\" is %zu bytes long (allowed: < %zu)",
                       r->path, strlen(plan), sizeof ts->gemm_plan);
    if (plan) strcpy(ts->gemm_plan, plan);
    // The words file's fingerprint (optional: files written before it existed lack it).
    ts->has_data_fp = 0;
    const char *bytes = st_meta_get(r->f, "data_bytes"), *crc = st_meta_get(r->f, "data_crc32c");
    if (!bytes && !crc) return 0;
    char *end = NULL;
    unsigned long v = 0;
    if (crc && strlen(crc) == 8 && strspn(crc, "0123456789abcdef") == 8) v = strtoul(crc, &end, 16);
    if (!bytes || !end || *end || meta_u64(r, "data_bytes", &ts->data_bytes))
        return err_set(r->err, "%s: metadata \"data_bytes\" / \"data_crc32c\" (the words file's "
                               "fingerprint): both must be present, a size and 8 hex digits",
                       r->path);
    ts->data_crc = (uint32_t)v;
    ts->has_data_fp = 1;
    return 0;
}

int checkpoint_words_match(const TrainState *ts, const Words *w) {
    return !ts->has_data_fp || (ts->data_bytes == w->file_bytes && ts->data_crc == w->file_crc);
}

void checkpoint_words_record(TrainState *ts, const Words *w) {
    ts->has_data_fp = 1;
    ts->data_bytes = w->file_bytes;
    ts->data_crc = w->file_crc;
}

// ---- shared with the MLP family's files (net_io.c) ----------------------------------
// The vocabulary and the training state, the metadata every makemore file holds, so a
// Net checkpoint writes and validates them exactly as this file does.

int checkpoint_meta_common(StMeta *meta, char (*text)[ST_META_TEXT], int room, const Vocab *v,
                           const TrainState *ts, char *itos_buf) {
    MetaList l = {.n = 0};
    itos_encode(itos_buf, v);
    meta_add(&l, "itos", itos_buf);
    if (ts) meta_train_state(&l, ts);
    if (l.n > room) return -1;
    for (int i = 0; i < l.n; i++) {
        memcpy(text[i], l.text[i], sizeof text[i]);
        meta[i].key = l.meta[i].key;
        meta[i].value = l.meta[i].value == l.text[i] ? text[i] : l.meta[i].value;
    }
    return l.n;
}

int checkpoint_read_common(const StFile *f, const char *path, int V, Vocab *v, TrainState *ts,
                           int *has_ts, Err *err) {
    Reader r = {f, path, err};
    if (read_vocab(&r, V, v)) return -1;
    int has = has_train_keys(&r);
    if (has < 0) return -1;
    if (has && read_train_state(&r, ts)) return -1;
    ts->has_split_seed = has;
    if (!has && st_meta_get(f, "words_split_seed")) {  // a plain model file's split
        if (meta_u64(&r, "words_split_seed", &ts->split_seed)) return -1;
        ts->has_split_seed = 1;
    }
    *has_ts = has;
    return 0;
}

int checkpoint_meta_int(const StFile *f, const char *path, const char *key, int lo, int hi,
                        int *out, Err *err) {
    Reader r = {f, path, err};
    return meta_int(&r, key, lo, hi, out);
}
