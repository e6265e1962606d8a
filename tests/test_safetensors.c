// test_safetensors.c: round trip of the four dtypes and metadata; a file written by
// an independent Python writer (tests/data/make_python_st.py); every truncation of
// a valid file; a table of corrupt headers; atomic saves that fail halfway.
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "safetensors.h"

#define FIXTURE "tests/data/python.safetensors"

static char tmpdir[64];

static void make_tmpdir(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_st_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        exit(1);
    }
}

// Number of entries in dir other than . and .. (temporary files left behind show here).
static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static uint8_t *read_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

// ---- the sample tensors -------------------------------------------------------

static const float f32v[6] = {0.5f, -1.25f, 3.0f, 1e-3f, -0.0f, 65504.0f};
static const double f64v[3] = {1.0 / 3, -2.5e300, 5e-324};
static const int32_t i32v[4] = {1, -2, INT32_MAX, INT32_MIN};
static const int64_t i64v[2] = {((int64_t)1 << 62) + 1, INT64_MIN};
static const float scalarv = 7.0f;

static int sample_tensors(StTensor *t) {
    t[0] = (StTensor){"emb", ST_F32, 2, {2, 3}, f32v};
    t[1] = (StTensor){"big", ST_F64, 1, {3}, f64v};
    t[2] = (StTensor){"idx", ST_I32, 2, {2, 2}, i32v};
    t[3] = (StTensor){"long", ST_I64, 1, {2}, i64v};
    t[4] = (StTensor){"scalar", ST_F32, 0, {0}, &scalarv};
    t[5] = (StTensor){"empty", ST_F32, 2, {0, 4}, NULL};
    return 6;
}

// Checks that f holds the sample tensors (by name, whatever the file order).
static void check_sample(const StFile *f) {
    StTensor want[6];
    int n = sample_tensors(want);
    CHECK(f->n_tensors == n, "%d tensors", f->n_tensors);
    for (int i = 0; i < n; i++) {
        const StTensor *t = st_find(f, want[i].name);
        CHECK(t != NULL, "tensor %s missing", want[i].name);
        if (!t) continue;
        CHECK(t->dtype == want[i].dtype, "%s dtype %d", want[i].name, t->dtype);
        CHECK(t->ndim == want[i].ndim, "%s ndim %d", want[i].name, t->ndim);
        for (int d = 0; d < want[i].ndim; d++)
            CHECK(t->shape[d] == want[i].shape[d], "%s dim %d = %lld", want[i].name, d,
                  (long long)t->shape[d]);
        size_t bytes = st_numel(&want[i]) * st_dtype_size(want[i].dtype);
        CHECK(st_numel(t) * st_dtype_size(t->dtype) == bytes, "%s size", want[i].name);
        CHECK(bytes == 0 || memcmp(t->data, want[i].data, bytes) == 0, "%s data differs",
              want[i].name);
    }
    CHECK(st_find(f, "absent") == NULL, "st_find invents a tensor");
    CHECK(st_find(f, "__metadata__") == NULL, "__metadata__ is not a tensor");
}

static void test_dtype_sizes(void) {
    CHECK(st_dtype_size(ST_F32) == 4 && st_dtype_size(ST_I32) == 4, "4-byte dtypes");
    CHECK(st_dtype_size(ST_F64) == 8 && st_dtype_size(ST_I64) == 8, "8-byte dtypes");
    StTensor scalar = {"s", ST_F32, 0, {0}, NULL}, m = {"m", ST_F32, 3, {2, 3, 4}, NULL};
    CHECK(st_numel(&scalar) == 1 && st_numel(&m) == 24, "numel");
}

static void test_round_trip(void) {
    StTensor t[6];
    int n = sample_tensors(t);
    const StMeta meta[3] = {{"format", "makemore-mlp-1"},
                            {"itos", ".abc\"\\\n\t\xc3\xa9"},  // escapes and UTF-8
                            {"empty", ""}};
    char path[128];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    Err err = {{0}};
    CHECK(st_save(path, t, n, meta, 3, &err) == 0, "save: %s", err.msg);
    CHECK(dir_entries(tmpdir) == 1, "temporary file left: %d entries", dir_entries(tmpdir));

    // Layout: header length a multiple of 8, tensors back to back in the given order.
    size_t len = 0;
    uint8_t *raw = read_bytes(path, &len);
    uint64_t hlen = 0;
    for (int i = 0; raw && len >= 8 && i < 8; i++) hlen |= (uint64_t)raw[i] << (8 * i);
    CHECK(hlen % 8 == 0 && 8 + hlen <= len, "header length %llu", (unsigned long long)hlen);
    const size_t data_bytes = sizeof f32v + sizeof f64v + sizeof i32v + sizeof i64v + 4;
    CHECK(len == 8 + hlen + data_bytes, "file of %zu bytes", len);
    if (raw && len == 8 + hlen + data_bytes)
        CHECK(memcmp(raw + 8 + hlen, f32v, sizeof f32v) == 0, "first tensor not at offset 0");
    CHECK(raw && raw[8] == '{' && raw[8 + hlen - 1] != '\0', "header text");
    free(raw);

    StFile f;
    CHECK(st_load(&f, path, &err) == 0, "load: %s", err.msg);
    check_sample(&f);
    CHECK(f.n_meta == 5 && f.checked, "%d metadata (3 and the 2 checksums), checked %d",
          f.n_meta, f.checked);
    for (int i = 0; i < 3; i++) {
        const char *v = st_meta_get(&f, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0, "metadata %s = %s", meta[i].key, v ? v : "NULL");
    }
    CHECK(st_meta_get(&f, "absent") == NULL, "st_meta_get invents a key");
    st_free(&f);
    CHECK(f.buf == NULL && f.n_tensors == 0, "st_free leaves state");

    // No metadata, no tensors: a valid file too.
    CHECK(st_save(path, NULL, 0, NULL, 0, &err) == 0, "empty save: %s", err.msg);
    CHECK(st_load(&f, path, &err) == 0 && f.n_tensors == 0 && f.n_meta == 2 && f.checked,
          "empty load: %s", err.msg);
    st_free(&f);
    unlink(path);
}

// The fixture written by Python's struct + json (tests/data/make_python_st.py).
static void test_python_file(void) {
    StFile f;
    Err err = {{0}};
    if (st_load(&f, FIXTURE, &err)) {
        CHECK(0, "cannot load the fixture (run from the repository root): %s", err.msg);
        return;
    }
    check_sample(&f);
    const char *note = st_meta_get(&f, "note");
    CHECK(note && strcmp(note, "h\xc3\xa9llo \"quoted\"\n") == 0, "note = %s", note ? note : "NULL");
    CHECK(st_meta_get(&f, "format") && strcmp(st_meta_get(&f, "format"), "pt") == 0, "format");
    st_free(&f);
}

// Every proper prefix of a valid file is invalid (the offsets must cover the data
// exactly), and so is the file with a byte appended; each fails cleanly.
static void test_truncations(void) {
    size_t len = 0;
    uint8_t *raw = read_bytes(FIXTURE, &len);
    CHECK(raw && len > 100, "fixture unreadable");
    if (!raw) return;
    int accepted = 0, unnamed = 0;
    for (size_t cut = 0; cut < len; cut++) {
        StFile f;
        Err err = {{0}};
        if (st_parse(&f, raw, cut, "cut.st", &err) == 0) {
            accepted++;
            st_free(&f);
        } else if (strncmp(err.msg, "cut.st: ", 8) != 0) {
            unnamed++;
        }
    }
    CHECK(accepted == 0, "%d truncations accepted", accepted);
    CHECK(unnamed == 0, "%d messages do not start with the name", unnamed);
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, raw, len);
    longer[len] = 0;
    StFile f;
    Err err = {{0}};
    CHECK(st_parse(&f, longer, len + 1, "x", &err) == -1, "trailing byte accepted");
    CHECK(strstr(err.msg, "cover 84 of the 85 data bytes"), "message: %s", err.msg);
    CHECK(st_parse(&f, raw, len, "x", &err) == 0, "the whole file: %s", err.msg);
    st_free(&f);
    free(longer);
    free(raw);
}

// ---- corrupt headers ----------------------------------------------------------

// A file: 8-byte length (of header, or `claimed` when non-zero), header, data_len zero bytes.
static uint8_t *make_file(const char *header, uint64_t claimed, size_t data_len, size_t *len) {
    size_t hlen = strlen(header);
    *len = 8 + hlen + data_len;
    uint8_t *b = calloc(*len, 1);
    uint64_t n = claimed ? claimed : hlen;
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(n >> (8 * i));
    memcpy(b + 8, header, hlen);
    return b;
}

typedef struct {
    const char *header;
    size_t data_len;
    const char *fragment;  // expected in the message
} BadHeader;

#define T1(fields) "{\"a\":{" fields "}}"
#define OK_A "\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"

static void test_corrupt_headers(void) {
    const BadHeader cases[] = {
        {"", 0, "not valid JSON"},
        {"{\"a\":", 4, "not valid JSON"},
        {"[1,2]", 0, "not a JSON object"},
        {"\"str\"", 0, "not valid JSON"},  // jansson wants an array or object
        {"{\"a\":1}", 4, "\"a\": entry is not an object"},
        {T1("\"dtype\":\"F32\",\"shape\":[1]"), 4, "exactly the fields dtype, shape, data_offsets"},
        {T1(OK_A ",\"extra\":1"), 4, "exactly the fields"},
        {T1("\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]"), 4, "dtype is not a string"},
        {T1("\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]"), 4, "dtype \"BF16\" is not supported"},
        {T1("\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]"), 4, "dtype \"f32\""},
        {T1("\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]"), 4, "shape is not an array"},
        {T1("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]"), 4, "at most 4 dims"},
        {T1("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4, "dim 0 is not a non-negative"},
        {T1("\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]"), 4, "dim 0 is not"},
        {T1("\"dtype\":\"F32\",\"shape\":[1,\"2\"],\"data_offsets\":[0,4]"), 4, "dim 1 is not"},
        {T1("\"dtype\":\"F32\",\"shape\":[0,-1],\"data_offsets\":[0,0]"), 0, "dim 1 is not"},
        {T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":4"), 4, "data_offsets is not"},
        {T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]"), 8, "data_offsets is not"},
        {T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]"), 4, "data_offsets is not"},
        {T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]"), 4, "data_offsets is not"},
        {T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]"), 4, "reversed"},
        {T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]"), 4, "outside the 4 data bytes"},
        {T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]"), 4, "not valid JSON"},
        {T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]"), 4, "does not match the 4 bytes"},
        {T1("\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,4]"), 4, "does not match"},
        // 2^21 * 2^21 * 2^21 floats = 2^65 bytes: the product overflows 64 bits.
        {T1("\"dtype\":\"F32\",\"shape\":[2097152,2097152,2097152],\"data_offsets\":[0,4]"), 4, "overflows"},
        {T1("\"dtype\":\"I64\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]"), 0, "overflows"},
        {"{\"a\":{" OK_A "},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 8,
         "\"b\": data starts at 2, expected 4 (overlaps"},
        {"{\"a\":{" OK_A "},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "data starts at 0, expected 4 (overlaps"},
        {"{\"a\":{" OK_A "},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
         "data starts at 8, expected 4 (a gap)"},
        {T1("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]"), 8, "expected 0 (a gap)"},
        {T1(OK_A), 8, "cover 4 of the 8 data bytes"},
        {"{\"a\":{" OK_A "},\"a\":{" OK_A "}}", 4, "duplicate"},
        {"{\"__metadata__\":[]}", 0, "__metadata__ is not an object"},
        {"{\"__metadata__\":{\"k\":\"v\",\"n\":3}}", 0, "metadata \"n\" is not a string"},
        {"{\"__metadata__\":{\"k\":null}}", 0, "metadata \"k\" is not a string"},
        {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate"},
        {"{\"a\\u0000b\":{" OK_A "}}", 4, "not valid JSON"},
        {"{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, "not valid JSON"},
        {"{} x", 0, "not valid JSON"},
        {"{\"a\":{" OK_A "}}\xff", 4, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *b = make_file(cases[i].header, 0, cases[i].data_len, &len);
        StFile f;
        Err err = {{0}};
        int rc = st_parse(&f, b, len, "bad.st", &err);
        CHECK(rc == -1, "case %zu (%s) accepted", i, cases[i].header);
        if (rc == 0) st_free(&f);
        CHECK(strncmp(err.msg, "bad.st: ", 8) == 0 && strstr(err.msg, cases[i].fragment),
              "case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].fragment);
        CHECK(f.buf == NULL && f.tensors == NULL, "case %zu: failed parse leaves memory", i);
        free(b);
    }
    // The valid neighbours of those cases parse: the table tests what it means to.
    const BadHeader good[] = {{T1(OK_A), 4, ""},
                              {T1("\"dtype\":\"F32\",\"shape\":[0,2097152,2097152,2097152],\"data_offsets\":[0,0]"), 0, ""},
                              {"{\"a\":{" OK_A "},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, ""},
                              {"{\"__metadata__\":{}}  ", 0, ""}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t len;
        uint8_t *b = make_file(good[i].header, 0, good[i].data_len, &len);
        StFile f;
        Err err = {{0}};
        CHECK(st_parse(&f, b, len, "good.st", &err) == 0, "good case %zu rejected: %s", i, err.msg);
        st_free(&f);
        free(b);
    }
}

static void test_bad_lengths(void) {
    StFile f;
    Err err = {{0}};
    const uint8_t seven[7] = {0};
    CHECK(st_parse(&f, seven, 7, "s.st", &err) == -1 && strstr(err.msg, "s.st: 7 bytes, too short"),
          "message: %s", err.msg);
    CHECK(st_parse(&f, seven, 0, "s.st", &err) == -1 && strstr(err.msg, "0 bytes"), "message: %s",
          err.msg);
    size_t len;
    uint8_t *b = make_file("{}", 3, 0, &len);  // claims 3 header bytes, has 2
    CHECK(st_parse(&f, b, len, "s.st", &err) == -1 && strstr(err.msg, "header length 3 is larger"),
          "message: %s", err.msg);
    free(b);
    b = make_file("{}", UINT64_MAX, 0, &len);  // absurd: must not overflow 8 + N
    CHECK(st_parse(&f, b, len, "s.st", &err) == -1 && strstr(err.msg, "header length"), "message: %s",
          err.msg);
    free(b);
    b = make_file("{}", (uint64_t)200 << 20, 0, &len);
    CHECK(st_parse(&f, b, len, "s.st", &err) == -1 && strstr(err.msg, "limit"), "message: %s", err.msg);
    free(b);
    CHECK(st_load(&f, "/nonexistent/x.st", &err) == -1 && strstr(err.msg, "/nonexistent/x.st") &&
              strstr(err.msg, "No such file"),
          "message: %s", err.msg);
    CHECK(st_load(&f, tmpdir, &err) == -1 && strstr(err.msg, "is a directory"), "message: %s",
          err.msg);
    // A FIFO without a writer (a blocking open would wait forever) and a device: at once.
    char fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo.st", tmpdir);
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo);
    CHECK(st_load(&f, fifo, &err) == -1 && strstr(err.msg, "fifo.st: not a regular file"), "message: %s",
          err.msg);
    unlink(fifo);
    CHECK(st_load(&f, "/dev/zero", &err) == -1 && strstr(err.msg, "not a regular file"), "message: %s",
          err.msg);
}

// ---- writing errors and atomicity ---------------------------------------------

static void test_save_rejects_bad_input(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/bad.safetensors", tmpdir);
    const float x[2] = {1, 2};
    Err err = {{0}};
    StTensor dup[2] = {{"w", ST_F32, 1, {2}, x}, {"w", ST_F32, 1, {2}, x}};
    CHECK(st_save(path, dup, 2, NULL, 0, &err) == -1 && strstr(err.msg, "tensor 1 (\"w\")"),
          "duplicate names: %s", err.msg);
    StTensor reserved = {"__metadata__", ST_F32, 1, {2}, x};
    CHECK(st_save(path, &reserved, 1, NULL, 0, &err) == -1, "reserved name accepted");
    StTensor negative = {"n", ST_F32, 1, {-2}, x};
    CHECK(st_save(path, &negative, 1, NULL, 0, &err) == -1, "negative dim accepted");
    StTensor nodata = {"n", ST_F32, 1, {2}, NULL};
    CHECK(st_save(path, &nodata, 1, NULL, 0, &err) == -1, "NULL data accepted");
    StTensor bad_utf8 = {"\xff", ST_F32, 1, {2}, x};
    CHECK(st_save(path, &bad_utf8, 1, NULL, 0, &err) == -1, "invalid UTF-8 name accepted");
    StMeta dup_meta[2] = {{"k", "1"}, {"k", "2"}};
    CHECK(st_save(path, NULL, 0, dup_meta, 2, &err) == -1 && strstr(err.msg, "\"k\""),
          "duplicate metadata: %s", err.msg);
    CHECK(dir_entries(tmpdir) == 0, "a rejected save left %d files", dir_entries(tmpdir));
}

static void test_save_atomic(void) {
    const float x[2] = {1, 2};
    StTensor small = {"w", ST_F32, 1, {2}, x};
    Err err = {{0}};

    // A missing directory: fails, names the path, creates nothing.
    char path[160];
    snprintf(path, sizeof path, "%s/no/such/dir/m.safetensors", tmpdir);
    CHECK(st_save(path, &small, 1, NULL, 0, &err) == -1, "save into a missing directory");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "No such file"), "message: %s", err.msg);
    CHECK(dir_entries(tmpdir) == 0, "%d files left", dir_entries(tmpdir));

    // A good file, then a save that fails in the middle of writing (file size
    // limit): the old file is intact and no temporary is left beside it.
    snprintf(path, sizeof path, "%s/m.safetensors", tmpdir);
    CHECK(st_save(path, &small, 1, NULL, 0, &err) == 0, "%s", err.msg);
    size_t len0 = 0;
    uint8_t *before = read_bytes(path, &len0);
    enum { BIG = 1 << 16 };
    float *big = calloc(BIG, sizeof *big);
    StTensor large = {"w", ST_F32, 1, {BIG}, big};
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);  // get EFBIG instead of the signal
    setrlimit(RLIMIT_FSIZE, &lim);
    int rc = st_save(path, &large, 1, NULL, 0, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    CHECK(rc == -1, "a save past the file size limit succeeded");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "too large"), "message: %s", err.msg);
    size_t len1 = 0;
    uint8_t *after = read_bytes(path, &len1);
    CHECK(before && after && len0 == len1 && memcmp(before, after, len0) == 0,
          "the existing file changed");
    CHECK(dir_entries(tmpdir) == 1, "%d files in the directory", dir_entries(tmpdir));
    free(before);
    free(after);

    // The target is a directory: the write succeeds, the rename fails; no temporary left.
    char sub[160];
    snprintf(sub, sizeof sub, "%s/adir", tmpdir);
    mkdir(sub, 0755);
    CHECK(st_save(sub, &large, 1, NULL, 0, &err) == -1, "save over a directory succeeded");
    CHECK(strstr(err.msg, sub) && strstr(err.msg, "directory"), "message: %s", err.msg);
    CHECK(dir_entries(tmpdir) == 2, "%d files in the directory", dir_entries(tmpdir));
    rmdir(sub);

    // A successful save replaces the old file.
    CHECK(st_save(path, &large, 1, NULL, 0, &err) == 0, "%s", err.msg);
    StFile f;
    CHECK(st_load(&f, path, &err) == 0 && f.n_tensors == 1 && f.tensors[0].shape[0] == BIG,
          "replacement not loaded: %s", err.msg);
    st_free(&f);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode %o", st.st_mode & 0777);
    unlink(path);
    free(big);
}

TEST_MAIN {
    TEST_SETUP();
    make_tmpdir();
    RUN_TEST(test_dtype_sizes);
    RUN_TEST(test_round_trip);
    RUN_TEST(test_python_file);
    RUN_TEST(test_truncations);
    RUN_TEST(test_corrupt_headers);
    RUN_TEST(test_bad_lengths);
    RUN_TEST(test_save_rejects_bad_input);
    RUN_TEST(test_save_atomic);
    rmdir(tmpdir);
    return check_summary();
}
