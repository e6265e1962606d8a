// safetensors.c: the safetensors format with jansson.
//
// File: u64 little-endian N, N bytes of JSON header, data. The header is an object
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//  "__metadata__": {"key": "value", ...}} with offsets relative to the first data byte.
// We write tensors in the order given, back to back, and pad the header with spaces
// to a multiple of 8 bytes (as the reference implementation does). The reader treats
// its input as hostile (it is fuzzed): every length, offset, type and product is
// checked before use, and, as the format's specification asks, the offsets must
// cover the data exactly (sorted by offset: no gap, no overlap, nothing after).
#include "safetensors.h"

#include "crc32c.h"
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes host-order data as little-endian: a little-endian host is required"
#endif

#define ST_MAX_HEADER ((uint64_t)100 << 20)  // 100 MB: far beyond any real header
#define CRC_PLACEHOLDER "00000000"
#define CRC_HEADER_PATTERN "\"" ST_CRC_HEADER_KEY "\":\""

// ---- checksums ------------------------------------------------------------------
// Two CRC-32C values in the metadata, 8 lowercase hex digits each:
//  - crc32c_data: the data section (every tensor's bytes);
//  - crc32c_header: the first 8 + N bytes (length prefix, header JSON, padding) as they
//    are with this value's own 8 digits read as "00000000".
// So one changed byte anywhere in the file changes one of the two (or the stored value
// itself). The writer is jansson's compact dump, where "crc32c_header":" can occur only
// as that key (quotes inside strings are escaped); the reader requires it exactly once.

// Position of the 8 digits of crc32c_header in the header text, or NULL (absent or twice).
static const uint8_t *crc_digits(const uint8_t *header, size_t len) {
    const size_t plen = sizeof CRC_HEADER_PATTERN - 1;
    const uint8_t *found = NULL;
    for (const uint8_t *p = header; p && (size_t)(header + len - p) >= plen + 8;) {
        p = memmem(p, (size_t)(header + len - p), CRC_HEADER_PATTERN, plen);
        if (!p) break;
        if (found) return NULL;
        found = p + plen;
        p++;
    }
    return found;
}

// CRC of the first head_len bytes of the file with the digits at `digits` as zeros.
static uint32_t header_crc(const uint8_t *file, size_t head_len, const uint8_t *digits) {
    size_t at = (size_t)(digits - file);
    uint32_t c = crc32c(0, file, at);
    c = crc32c(c, CRC_PLACEHOLDER, 8);
    return crc32c(c, digits + 8, head_len - at - 8);
}

static int parse_hex32(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    if (s[8]) return -1;
    *out = v;
    return 0;
}

static const char *const DTYPE_NAMES[] = {"F32", "F64", "I32", "I64"};
enum { N_DTYPES = 4 };

size_t st_dtype_size(StDtype d) { return (d == ST_F64 || d == ST_I64) ? 8 : 4; }

size_t st_numel(const StTensor *t) {
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (size_t)t->shape[i];
    return n;
}

// numel * dtype size in *bytes, or -1 when a dim is negative or the product
// exceeds `limit` (checked at each step, so it cannot overflow). A zero dim
// anywhere makes the tensor empty, whatever the order of the dims.
static int tensor_bytes(const int64_t *shape, int ndim, StDtype dtype, uint64_t limit,
                        uint64_t *bytes) {
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return -1;
    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) {
            *bytes = 0;
            return 0;
        }
    uint64_t b = st_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (b > limit / d) return -1;
        b *= d;
    }
    if (b > limit) return -1;
    *bytes = b;
    return 0;
}

// ---- writing ------------------------------------------------------------------

// The header JSON for the tensors and metadata (caller frees), or NULL with err set.
static char *header_json(const char *path, const StTensor *tensors, int n_tensors,
                         const StMeta *meta, int n_meta, uint32_t data_crc, Err *err) {
    json_t *root = json_object();
    if (!root) goto oom;
    {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, "__metadata__", m)) goto oom;
        char hex[9];
        snprintf(hex, sizeof hex, "%08x", data_crc);
        if (json_object_set_new(m, ST_CRC_DATA_KEY, json_string(hex)) ||
            json_object_set_new(m, ST_CRC_HEADER_KEY, json_string(CRC_PLACEHOLDER)))
            goto oom;
        for (int i = 0; i < n_meta; i++) {
            if (!meta[i].key || !meta[i].value) {
                err_set(err, "%s: metadata entry %d has no key or value", path, i);
                goto fail;
            }
            if (strncmp(meta[i].key, "crc32c_", 7) == 0) {
                err_set(err, "%s: metadata \"%.64s\": keys starting crc32c_ are the file's own",
                        path, meta[i].key);
                goto fail;
            }
            json_t *v = json_string(meta[i].value);
            if (!v || json_object_get(m, meta[i].key) || json_object_set_new(m, meta[i].key, v)) {
                json_decref(v);
                err_set(err, "%s: metadata \"%.64s\": duplicate key, or key/value not UTF-8", path,
                        meta[i].key);
                goto fail;
            }
        }
    }
    uint64_t offset = 0;
    for (int i = 0; i < n_tensors; i++) {
        const StTensor *t = &tensors[i];
        uint64_t bytes;
        if (!t->name || strcmp(t->name, "__metadata__") == 0 || json_object_get(root, t->name) ||
            (unsigned)t->dtype >= N_DTYPES || t->ndim < 0 || t->ndim > ST_MAX_DIMS ||
            tensor_bytes(t->shape, t->ndim, t->dtype, INT64_MAX - offset, &bytes) ||
            (bytes > 0 && !t->data)) {
            err_set(err, "%s: tensor %d (\"%.64s\"): bad name (missing, duplicate, reserved), "
                         "dtype, shape or data", path, i, t->name ? t->name : "");
            goto fail;
        }
        json_t *shape = json_array();
        json_t *info = json_pack("{s:s, s:o, s:[I,I]}", "dtype", DTYPE_NAMES[t->dtype], "shape",
                                 shape, "data_offsets", (json_int_t)offset,
                                 (json_int_t)(offset + bytes));
        if (!info) goto oom;
        if (json_object_set_new(root, t->name, info)) {
            err_set(err, "%s: tensor name \"%.64s\" is not UTF-8", path, t->name);
            goto fail;
        }
        for (int d = 0; d < t->ndim; d++)
            if (json_array_append_new(shape, json_integer(t->shape[d]))) goto oom;
        offset += bytes;
    }
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text) goto oom;
    json_decref(root);
    return text;
oom:
    err_set(err, "%s: out of memory building the header", path);
fail:
    json_decref(root);
    return NULL;
}

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n; }

// Writes the whole file to an open stream; 0 or -1 with errno set.
static int write_stream(FILE *f, const char *header, size_t header_len, const StTensor *tensors,
                        int n_tensors) {
    size_t padded = (header_len + 7) / 8 * 8;
    uint8_t len_le[8];
    for (int i = 0; i < 8; i++) len_le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    static const char spaces[8] = "        ";
    if (!write_all(f, len_le, 8) || !write_all(f, header, header_len) ||
        !write_all(f, spaces, padded - header_len))
        return -1;
    for (int i = 0; i < n_tensors; i++)
        if (!write_all(f, tensors[i].data, st_numel(&tensors[i]) * st_dtype_size(tensors[i].dtype)))
            return -1;
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) return -1;
    return 0;
}

// After the rename, make the directory entry durable too (best effort).
static void sync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

// The path of the temp file st_save is writing, for st_remove_temp_signal_safe: set
// while the file exists, cleared once it is renamed or removed.
static char active_tmp[4096];
static volatile sig_atomic_t active_tmp_set;

void st_remove_temp_signal_safe(void) {
    if (active_tmp_set) unlink(active_tmp);  // async-signal-safe
}

static uint32_t data_crc_of(const StTensor *tensors, int n_tensors) {
    uint32_t c = 0;
    for (int i = 0; i < n_tensors; i++)
        if (tensors[i].data) c = crc32c(c, tensors[i].data, st_numel(&tensors[i]) * st_dtype_size(tensors[i].dtype));
    return c;
}

// Fills in crc32c_header's digits (header is the JSON text, padded to `padded` bytes).
static int seal_header(char *header, size_t header_len, size_t padded) {
    uint8_t *file = malloc(8 + padded);
    if (!file) return -1;
    for (int i = 0; i < 8; i++) file[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(file + 8, header, header_len);
    memset(file + 8 + header_len, ' ', padded - header_len);
    const uint8_t *digits = crc_digits(file + 8, header_len);
    if (!digits) {
        free(file);
        return -1;
    }
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", header_crc(file, 8 + padded, digits));
    memcpy(header + (digits - file - 8), hex, 8);
    free(file);
    return 0;
}

void st_meta_ints(StMeta *meta, char (*text)[ST_META_TEXT], const char *const *keys,
                  const int *vals, int n) {
    for (int i = 0; i < n; i++) {
        snprintf(text[i], sizeof text[i], "%d", vals[i]);
        meta[i] = (StMeta){keys[i], text[i]};
    }
}

int st_save(const char *path, const StTensor *tensors, int n_tensors, const StMeta *meta,
            int n_meta, Err *err) {
    // The first pass checks every name, dtype and shape, so that the data checksum reads
    // only what the tensors really hold; the second has the checksum.
    char *header = header_json(path, tensors, n_tensors, meta, n_meta, 0, err);
    if (!header) return -1;
    free(header);
    header = header_json(path, tensors, n_tensors, meta, n_meta, data_crc_of(tensors, n_tensors), err);
    if (!header) return -1;
    size_t header_len = strlen(header);
    if (seal_header(header, header_len, (header_len + 7) / 8 * 8)) {
        free(header);
        return err_set(err, "%s: out of memory sealing the header", path);
    }
    size_t tmp_len = strlen(path) + sizeof ".tmpXXXXXX";
    char *tmp = malloc(tmp_len);
    if (!tmp || tmp_len > sizeof active_tmp) {
        free(header);
        free(tmp);
        return err_set(err, "%s: out of memory, or a path too long", path);
    }
    snprintf(tmp, tmp_len, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(header);
        free(tmp);
        return err_set(err, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    memcpy(active_tmp, tmp, tmp_len);  // the name a signal handler removes
    active_tmp_set = 1;
    fchmod(fd, 0644);  // mkstemp makes it 0600; a model file is not secret
    FILE *f = fdopen(fd, "wb");
    int rc = f ? write_stream(f, header, header_len, tensors, n_tensors) : -1;
    // Test hook: a save that takes this many ms more (tests/test_reliability.sh signals
    // a run while its temp file exists).
    const char *slow = getenv("MAKEMORE_TEST_SLOW_SAVE_MS");
    if (slow && rc == 0) usleep((useconds_t)atoi(slow) * 1000u);
    int e = errno;
    if (f) {
        if (fclose(f) != 0 && rc == 0) {
            rc = -1;
            e = errno;
        }
    } else {
        close(fd);
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -1;
        e = errno;
    }
    if (rc != 0) {
        unlink(tmp);
        err_set(err, "%s: cannot write: %s", path, strerror(e));
    }
    active_tmp_set = 0;
    if (rc == 0) sync_parent_dir(path);
    free(header);
    free(tmp);
    return rc;
}

// ---- reading ------------------------------------------------------------------

static int dtype_from_name(const char *s, StDtype *d) {
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(s, DTYPE_NAMES[i]) == 0) {
            *d = (StDtype)i;
            return 0;
        }
    return -1;
}

// Copies s into the string arena; returns the copy.
static char *arena_put(char **next, const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = memcpy(*next, s, n);
    *next += n;
    return copy;
}

// Parses one tensor entry (info) into t; begin/end are its data offsets.
static int parse_tensor(StTensor *t, const char *key, json_t *info, uint64_t data_len,
                        uint64_t offsets[2], const char *name, Err *err) {
    if (!json_is_object(info))
        return err_set(err, "%s: tensor \"%.64s\": entry is not an object", name, key);
    json_t *dtype = json_object_get(info, "dtype"), *shape = json_object_get(info, "shape"),
           *offs = json_object_get(info, "data_offsets");
    if (!dtype || !shape || !offs || json_object_size(info) != 3)
        return err_set(err, "%s: tensor \"%.64s\": needs exactly the fields dtype, shape, "
                            "data_offsets", name, key);
    if (!json_is_string(dtype))
        return err_set(err, "%s: tensor \"%.64s\": dtype is not a string", name, key);
    if (dtype_from_name(json_string_value(dtype), &t->dtype))
        return err_set(err, "%s: tensor \"%.64s\": dtype \"%.32s\" is not supported (F32, F64, "
                            "I32, I64)", name, key, json_string_value(dtype));
    if (!json_is_array(shape) || json_array_size(shape) > ST_MAX_DIMS)
        return err_set(err, "%s: tensor \"%.64s\": shape is not an array of at most %d dims",
                       name, key, ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    for (int d = 0; d < t->ndim; d++) {
        json_t *dim = json_array_get(shape, (size_t)d);
        if (!json_is_integer(dim) || json_integer_value(dim) < 0)
            return err_set(err, "%s: tensor \"%.64s\": dim %d is not a non-negative integer",
                           name, key, d);
        t->shape[d] = json_integer_value(dim);
    }
    for (int d = t->ndim; d < ST_MAX_DIMS; d++) t->shape[d] = 0;
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !json_is_integer(json_array_get(offs, 0)) || !json_is_integer(json_array_get(offs, 1)) ||
        json_integer_value(json_array_get(offs, 0)) < 0 ||
        json_integer_value(json_array_get(offs, 1)) < 0)
        return err_set(err, "%s: tensor \"%.64s\": data_offsets is not [begin, end] of "
                            "non-negative integers", name, key);
    offsets[0] = (uint64_t)json_integer_value(json_array_get(offs, 0));
    offsets[1] = (uint64_t)json_integer_value(json_array_get(offs, 1));
    if (offsets[0] > offsets[1] || offsets[1] > data_len)
        return err_set(err, "%s: tensor \"%.64s\": data_offsets [%llu, %llu] outside the %llu "
                            "data bytes or reversed", name, key, (unsigned long long)offsets[0],
                       (unsigned long long)offsets[1], (unsigned long long)data_len);
    uint64_t bytes;
    if (tensor_bytes(t->shape, t->ndim, t->dtype, data_len, &bytes) ||
        bytes != offsets[1] - offsets[0])
        return err_set(err, "%s: tensor \"%.64s\": shape x dtype size overflows or does not "
                            "match the %llu bytes of data_offsets", name, key,
                       (unsigned long long)(offsets[1] - offsets[0]));
    return 0;
}

typedef struct {
    uint64_t begin, end;
    int index;
} Span;

static int span_cmp(const void *a, const void *b) {
    const Span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->index - y->index;
}

// The spans, sorted, must tile [0, data_len) exactly.
static int check_coverage(Span *spans, int n, uint64_t data_len, const StFile *f,
                          const char *name, Err *err) {
    qsort(spans, (size_t)n, sizeof *spans, span_cmp);
    uint64_t pos = 0;
    for (int i = 0; i < n; i++) {
        if (spans[i].begin != pos)
            return err_set(err, "%s: tensor \"%.64s\": data starts at %llu, expected %llu (%s)",
                           name, f->tensors[spans[i].index].name,
                           (unsigned long long)spans[i].begin, (unsigned long long)pos,
                           spans[i].begin < pos ? "overlaps the previous tensor" : "a gap");
        pos = spans[i].end;
    }
    if (pos != data_len)
        return err_set(err, "%s: tensors cover %llu of the %llu data bytes", name,
                       (unsigned long long)pos, (unsigned long long)data_len);
    return 0;
}

// Bytes needed to store every key (and metadata value) as C strings.
static int arena_size(json_t *root, size_t *total, const char *name, Err *err) {
    const char *key;
    json_t *value;
    size_t n = 0;
    json_object_foreach(root, key, value) {
        n += strlen(key) + 1;
        if (strcmp(key, "__metadata__") != 0) continue;
        if (!json_is_object(value))
            return err_set(err, "%s: __metadata__ is not an object", name);
        const char *mkey;
        json_t *mval;
        json_object_foreach(value, mkey, mval) {
            if (!json_is_string(mval))
                return err_set(err, "%s: metadata \"%.64s\" is not a string", name, mkey);
            n += strlen(mkey) + 1 + strlen(json_string_value(mval)) + 1;
        }
    }
    *total = n;
    return 0;
}

static int parse_header(StFile *f, json_t *root, uint64_t data_len, const uint8_t *data,
                        const char *name, Err *err) {
    size_t strings_len = 0;
    if (arena_size(root, &strings_len, name, err)) return -1;
    json_t *meta = json_object_get(root, "__metadata__");
    size_t n_meta = meta ? json_object_size(meta) : 0;
    size_t n_tensors = json_object_size(root) - (meta ? 1 : 0);
    f->strings = malloc(strings_len + 1);
    f->tensors = calloc(n_tensors + 1, sizeof *f->tensors);
    f->meta = calloc(n_meta + 1, sizeof *f->meta);
    f->begin = calloc(n_tensors + 1, sizeof *f->begin);
    Span *spans = calloc(n_tensors + 1, sizeof *spans);
    if (!f->strings || !f->tensors || !f->meta || !f->begin || !spans) {
        free(spans);
        return err_set(err, "%s: out of memory for %zu tensors", name, n_tensors);
    }
    char *next = f->strings;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            const char *mkey;
            json_t *mval;
            json_object_foreach(value, mkey, mval) {
                f->meta[f->n_meta].key = arena_put(&next, mkey);
                f->meta[f->n_meta++].value = arena_put(&next, json_string_value(mval));
            }
            continue;
        }
        StTensor *t = &f->tensors[f->n_tensors];
        uint64_t offsets[2] = {0, 0};
        if (parse_tensor(t, key, value, data_len, offsets, name, err)) {
            free(spans);
            return -1;
        }
        t->name = arena_put(&next, key);
        t->data = data ? data + offsets[0] : NULL;
        f->begin[f->n_tensors] = offsets[0];
        spans[f->n_tensors] = (Span){offsets[0], offsets[1], f->n_tensors};
        f->n_tensors++;
    }
    int rc = check_coverage(spans, f->n_tensors, data_len, f, name, err);
    free(spans);
    return rc;
}

// The checksums, when the file has them: both keys or neither (a renamed key is a
// corruption), the header's now, the data's when `data` is given. f->checked = 1 when
// both were present (and the data's, if checked, matched).
static int verify_checksums(StFile *f, const uint8_t *head, size_t head_len, const uint8_t *data,
                            size_t data_len, const char *name, Err *err) {
    const char *sh = st_meta_get(f, ST_CRC_HEADER_KEY), *sd = st_meta_get(f, ST_CRC_DATA_KEY);
    f->checked = 0;
    if (!sh && !sd) {
        for (int i = 0; i < f->n_meta; i++)
            if (strncmp(f->meta[i].key, "crc32c", 6) == 0)
                return err_set(err, "%s: metadata \"%.64s\": an unknown checksum key (the file "
                                    "is corrupt)", name, f->meta[i].key);
        return 0;
    }
    uint32_t want_h, want_d;
    if (!sh || !sd || parse_hex32(sh, &want_h) || parse_hex32(sd, &want_d))
        return err_set(err, "%s: checksum metadata damaged (\"" ST_CRC_HEADER_KEY "\" and \""
                            ST_CRC_DATA_KEY "\" must both be 8 lowercase hex digits): the file "
                            "is corrupt", name);
    const uint8_t *digits = crc_digits(head + 8, head_len - 8);
    if (!digits || memcmp(digits, sh, 8) != 0)
        return err_set(err, "%s: checksum mismatch in the header (its \"" ST_CRC_HEADER_KEY
                            "\" entry is not where the writer puts it): the file is corrupt or "
                            "was edited", name);
    uint32_t got = header_crc(head, head_len, digits);
    if (got != want_h)
        return err_set(err, "%s: checksum mismatch in the header (crc32c %08x, stored %08x): "
                            "the file is corrupt or was edited", name, got, want_h);
    f->want_data_crc = want_d;
    if (data) {
        got = crc32c(0, data, data_len);
        if (got != want_d)
            return err_set(err, "%s: checksum mismatch in the tensor data (crc32c %08x, stored "
                                "%08x): the file is corrupt or was edited", name, got, want_d);
    }
    f->checked = 1;
    return 0;
}

// The 8-byte length prefix of a file of len bytes: the header's length, or -1.
static int header_length(const uint8_t *buf, uint64_t len, uint64_t *header_len,
                         const char *name, Err *err) {
    if (len < 8)
        return err_set(err, "%s: %llu bytes, too short for the 8-byte header length", name,
                       (unsigned long long)len);
    uint64_t h = 0;
    for (int i = 0; i < 8; i++) h |= (uint64_t)buf[i] << (8 * i);
    if (h > ST_MAX_HEADER || h > len - 8)
        return err_set(err, "%s: header length %llu is larger than the file (%llu bytes) or the "
                            "%llu-byte limit: not a safetensors file, or truncated", name,
                       (unsigned long long)h, (unsigned long long)len,
                       (unsigned long long)ST_MAX_HEADER);
    *header_len = h;
    return 0;
}

// Parses the header at buf + 8 (header_len bytes) for a file of file_len bytes; data
// is the data section when in memory, else NULL (tensor data pointers stay NULL).
static int parse_json(StFile *f, const uint8_t *buf, uint64_t header_len, uint64_t file_len,
                      const uint8_t *data, const char *name, Err *err) {
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)header_len, JSON_REJECT_DUPLICATES,
                              &jerr);
    if (!root)
        return err_set(err, "%s: header is not valid JSON (%s, at byte %d)", name, jerr.text,
                       jerr.position);
    int rc = json_is_object(root)
                 ? parse_header(f, root, file_len - 8 - header_len, data, name, err)
                 : err_set(err, "%s: header is not a JSON object", name);
    json_decref(root);
    return rc;
}

// Parses buf (len bytes, owned: stored in f or freed on failure).
static int parse_owned(StFile *f, uint8_t *buf, size_t len, const char *name, Err *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->buf = buf;
    f->len = len;
    uint64_t header_len = 0;
    int rc = header_length(buf, len, &header_len, name, err);
    if (!rc) rc = parse_json(f, buf, header_len, len, buf + 8 + header_len, name, err);
    if (!rc)
        rc = verify_checksums(f, buf, 8 + header_len, buf + 8 + header_len, len - 8 - header_len,
                              name, err);
    if (rc) st_free(f);
    return rc;
}

int st_parse(StFile *f, const uint8_t *data, size_t len, const char *name, Err *err) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return err_set(err, "%s: out of memory for %zu bytes", name, len);
    if (len) memcpy(copy, data, len);
    int rc = parse_owned(f, copy, len, name, err);
    if (rc) err_make_printable(err);
    return rc;
}

static int read_fully(int fd, uint8_t *p, size_t n, const char *path, Err *err) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0)
            return err_set(err, "%s: cannot read: %s", path, r < 0 ? strerror(errno) : "file shrank");
        got += (size_t)r;
    }
    return 0;
}

static int open_header(StFile *f, const char *path, Err *err) {
    memset(f, 0, sizeof *f);
    f->fd = infile_open(NULL, path, err);  // a FIFO or device: refused at once, never blocking
    if (f->fd < 0) return -1;
    struct stat st;
    if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return err_set(err, "%s: not a regular file", path);
    uint64_t len = (uint64_t)st.st_size, header_len = 0;
    uint8_t prefix[8];
    if (len >= 8 && read_fully(f->fd, prefix, 8, path, err)) return -1;
    if (header_length(prefix, len, &header_len, path, err)) return -1;
    // Only the header is read now; its offsets must tile exactly the rest of the file's
    // real size, so a file that lies about its size is refused before its data is read.
    f->buf = malloc(8 + header_len);
    if (!f->buf) return err_set(err, "%s: out of memory for the header", path);
    memcpy(f->buf, prefix, 8);
    if (read_fully(f->fd, f->buf + 8, header_len, path, err)) return -1;
    f->len = 8 + header_len;
    f->data_len = len - 8 - header_len;
    if (parse_json(f, f->buf, header_len, len, NULL, path, err)) return -1;
    return verify_checksums(f, f->buf, 8 + header_len, NULL, 0, path, err);
}

int st_open(StFile *f, const char *path, Err *err) {
    int rc = open_header(f, path, err);
    if (rc) {
        err_make_printable(err);
        st_free(f);
    }
    return rc;
}

int st_read_data(StFile *f, const char *path, Err *err) {
    size_t head = f->len;
    if (f->data_len > SIZE_MAX - head) return err_set(err, "%s: too large", path);
    uint8_t *buf = realloc(f->buf, head + f->data_len + 1);
    if (!buf) {
        err_set(err, "%s: out of memory for %llu bytes of data", path, (unsigned long long)f->data_len);
        err_make_printable(err);
        return -1;
    }
    f->buf = buf;
    if (read_fully(f->fd, buf + head, f->data_len, path, err)) {
        err_make_printable(err);
        return -1;
    }
    close(f->fd);
    f->fd = -1;
    f->len = head + f->data_len;
    if (f->checked && crc32c(0, buf + head, f->data_len) != f->want_data_crc) {
        err_set(err, "%s: checksum mismatch in the tensor data (crc32c %08x, stored %08x): the "
                     "file is corrupt or was edited", path, crc32c(0, buf + head, f->data_len),
                f->want_data_crc);
        err_make_printable(err);
        return -1;
    }
    for (int i = 0; i < f->n_tensors; i++) f->tensors[i].data = buf + head + f->begin[i];
    return 0;
}

int st_load(StFile *f, const char *path, Err *err) {
    if (st_open(f, path, err)) return -1;
    if (st_read_data(f, path, err)) {
        st_free(f);
        return -1;
    }
    return 0;
}

void st_free(StFile *f) {
    if (f->fd > 0) close(f->fd);
    free(f->buf);
    free(f->begin);
    free(f->tensors);
    free(f->meta);
    free(f->strings);
    memset(f, 0, sizeof *f);
}

const StTensor *st_find(const StFile *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *st_meta_get(const StFile *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}
