// test_fuzz_regressions.c: the fuzz targets as plain tests, so that `make test` (and
// `make test SANITIZE=1`, under ASan + UBSan) replays, without clang or libFuzzer:
//  - the seed corpora tests/fuzz/corpus_{words,checkpoint,plan,sweep,diagcsv,wisdom}/,
//  - every input in tests/fuzz/regressions/{words,checkpoint,plan,sweep,diagcsv,wisdom}/ (a
//    crash the fuzzers find goes there once fixed),
//  - every truncation of each diagcsv seed, under each of the six files' headers,
//  - every truncation of a wisdom file of three entries (each also sealed by the target),
//  - every truncation, and every byte of a checkpoint seed overwritten (0x00, 0xff and
//    the byte + 1), through the checkpoint target.
// The targets abort() on a broken invariant (a rejection without a one-line message, an
// accepted model that is not usable); a sanitizer report or an abort fails this binary.
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define LLVMFuzzerTestOneInput fuzz_words_one
#include "fuzz/fuzz_words.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_checkpoint_one
#include "fuzz/fuzz_checkpoint.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_plan_one
#include "fuzz/fuzz_plan.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_sweep_one
#include "fuzz/fuzz_sweep.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_diagcsv_one
#include "fuzz/fuzz_diagcsv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_wisdom_one
#include "fuzz/fuzz_wisdom.c"
#undef LLVMFuzzerTestOneInput

typedef int (*Target)(const uint8_t *, size_t);

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *b = malloc(cap);
    for (size_t got; b && (got = fread(b + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap) {
            uint8_t *bigger = realloc(b, cap *= 2);
            if (!bigger) free(b);
            b = bigger;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

// Runs target on every regular file of dir; returns how many (-1 if dir is missing).
static int replay_dir(const char *dir, Target target) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len;
        uint8_t *data = read_all(path, &len);
        CHECK(data != NULL, "cannot read %s", path);
        if (!data) continue;
        target(data, len);
        free(data);
        n++;
    }
    closedir(d);
    return n;
}

static void test_words_corpus(void) {
    int n = replay_dir("tests/fuzz/corpus_words", fuzz_words_one);
    CHECK(n >= 5, "tests/fuzz/corpus_words: %d inputs (run from the repository root)", n);
    int r = replay_dir("tests/fuzz/regressions/words", fuzz_words_one);
    printf("  %d seeds, %d regressions\n", n, r < 0 ? 0 : r);
}

static void test_checkpoint_corpus(void) {
    int n = replay_dir("tests/fuzz/corpus_checkpoint", fuzz_checkpoint_one);
    CHECK(n >= 5, "tests/fuzz/corpus_checkpoint: %d inputs (run from the repository root)", n);
    int r = replay_dir("tests/fuzz/regressions/checkpoint", fuzz_checkpoint_one);
    printf("  %d seeds, %d regressions\n", n, r < 0 ? 0 : r);
}

// The diagnostics' CSV seeds: each replayed, then every truncation of it under each file's
// header (its first byte chooses the file).
static void test_diagcsv_corpus(void) {
    int n = replay_dir("tests/fuzz/corpus_diagcsv", fuzz_diagcsv_one);
    CHECK(n >= 6, "tests/fuzz/corpus_diagcsv: %d inputs (run from the repository root)", n);
    int r = replay_dir("tests/fuzz/regressions/diagcsv", fuzz_diagcsv_one);
    const char *names[] = {"acts", "grads", "hist", "params", "loss", "val", "acts_nan_torn"};
    size_t cuts = 0;
    for (int i = 0; i < 7; i++) {
        char path[128];
        snprintf(path, sizeof path, "tests/fuzz/corpus_diagcsv/%s", names[i]);
        size_t len;
        uint8_t *seed = read_all(path, &len);
        CHECK(seed != NULL && len > 1, "%s missing", path);
        if (!seed) continue;
        DiagCsv c;
        Err err;
        const int k = seed[0] % DIAG_N_FILES;
        CHECK(diagcsv_parse(&c, (const char *)seed + 1, len - 1, DIAG_HEADERS[k], DIAG_TYPES[k], path,
                            &err) == 0 && c.nrows > 0, "the seed %s is refused: %s", path, err.msg);
        if (c.text) diagcsv_free(&c);
        for (size_t cut = 1; cut < len; cut++)
            for (int f = 0; f < DIAG_N_FILES; f++, cuts++) {
                seed[0] = (uint8_t)f;
                fuzz_diagcsv_one(seed, cut);
            }
        free(seed);
    }
    printf("  %d seeds, %d regressions, %zu truncations\n", n, r < 0 ? 0 : r, cuts);
}

// The plan seeds: every one through the target; two made for the lecture's run with the
// kinds every build has (blas, blas_t), one with CRLF and its ops in another order, are
// accepted.
static void test_plan_corpus(void) {
    int n = replay_dir("tests/fuzz/corpus_plan", fuzz_plan_one);
    CHECK(n >= 5, "tests/fuzz/corpus_plan: %d inputs (run from the repository root)", n);
    int r = replay_dir("tests/fuzz/regressions/plan", fuzz_plan_one);
    static const char *const good[] = {"lecture_blas", "lecture_crlf_any_order"};
    int nets;
    Net *net = plan_nets(&nets);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char path[256], msg[512] = "";
        snprintf(path, sizeof path, "tests/fuzz/corpus_plan/%s", good[i]);
        size_t len;
        uint8_t *text = read_all(path, &len);
        CHECK(text != NULL, "cannot read %s", path);
        if (!text) continue;
        char line[GEMM_PLAN_TEXT_MAX];
        snprintf(line, sizeof line, "%.*s", (int)len, (const char *)text);
        line[strcspn(line, "\r\n")] = '\0';
        CHECK(gemm_plan_parse(&net[0].plan, line, msg, sizeof msg) == 0, "%s refused: %s", path, msg);
        free(text);
    }
    printf("  %d seeds, %d regressions\n", n, r < 0 ? 0 : r);
}

// The sweep's argument seeds (NUL-separated), and the regressions; two of them by hand:
// a seed list with a blank (' 1') and a negative one ('-5') are usage errors.
static void test_sweep_corpus(void) {
    int n = replay_dir("tests/fuzz/corpus_sweep", fuzz_sweep_one);
    CHECK(n >= 5, "tests/fuzz/corpus_sweep: %d inputs (run from the repository root)", n);
    int r = replay_dir("tests/fuzz/regressions/sweep", fuzz_sweep_one);
    static const char *const bad[] = {" 1", "-5", "1-", "3-1", "1,,2", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"sweep", "--seeds", (char *)bad[i], NULL};
        long runs;
        Err err = {{0}};
        CHECK(sweep_parse_args(3, argv, &runs, &err) == FLAGS_ERROR && strstr(err.msg, "--seeds"),
              "--seeds '%s': %s", bad[i], err.msg);
    }
    char *ok[] = {"sweep", "--seeds", "1-3,7", "--grid", "lr=0.1,0.05", "--steps", "10", NULL};
    long runs = 0;
    Err err = {{0}};
    CHECK(sweep_parse_args(7, ok, &runs, &err) == FLAGS_OK && runs == 8, "runs %ld: %s", runs, err.msg);
    printf("  %d seeds, %d regressions\n", n, r < 0 ? 0 : r);
}

static void count_entry(void *ctx, const char *key, const char *value) {
    (void)key, (void)value;
    ++*(int *)ctx;
}

// The wisdom seeds through the target, and the regressions; by hand, how each seed reads
// (its entries; -1: damaged, a note; -2: not wisdom, foreign); then every truncation of the
// seed of three entries through the target, which also seals each.
static void test_wisdom_corpus(void) {
    int n = replay_dir("tests/fuzz/corpus_wisdom", fuzz_wisdom_one);
    CHECK(n >= 5, "tests/fuzz/corpus_wisdom: %d inputs (run from the repository root)", n);
    int r = replay_dir("tests/fuzz/regressions/wisdom", fuzz_wisdom_one);
    static const struct {
        const char *name;
        int entries;
    } seeds[] = {{"valid_1", 1}, {"valid_3", 3}, {"valid_empty", 0}, {"bad_checksum", -1},
                 {"no_tab", -1}, {"header_only", -1}, {"foreign", -2}, {"empty", -2}};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fuzz/corpus_wisdom/%s", seeds[i].name);
        size_t len;
        uint8_t *seed = read_all(path, &len);
        CHECK(seed != NULL, "cannot read %s", path);
        if (!seed) continue;
        wf_write(wf_path(), seed, len);
        Wisdom w;
        Err err = {{0}};
        CHECK(wisdom_open(&w, wf_path(), &err) == 0, "%s: %s", path, err.msg);
        int k = 0;
        if (w.text) wisdom_each(&w, count_entry, &k);
        const int got = w.text ? k : w.foreign ? -2 : -1;
        CHECK(got == seeds[i].entries, "%s reads as %d (wanted %d): %s", path, got, seeds[i].entries, w.note);
        wisdom_close(&w);
        free(seed);
    }
    const char *cut_seed = "tests/fuzz/corpus_wisdom/valid_3";
    size_t len;
    uint8_t *seed = read_all(cut_seed, &len);
    CHECK(seed != NULL && len > 100, "%s missing", cut_seed);
    size_t cuts = 0;
    for (size_t cut = 0; seed && cut <= len; cut++, cuts++) fuzz_wisdom_one(seed, cut);
    free(seed);
    printf("  %d seeds, %d regressions, %zu truncations\n", n, r < 0 ? 0 : r, cuts);
}

// Loads the bytes as a checkpoint (through a memfd); 0 when accepted.
static int load_bytes(const uint8_t *p, size_t len, unsigned flags, Err *err) {
    int fd = memfd_create("mut", 0);
    if (fd < 0 || write_all_fd(fd, p, len) != 0) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    Net m;
    Vocab v;
    int rc = net_load_flags(&m, &v, NULL, NULL, path, 1, flags, err);
    if (rc == 0) net_free(&m);
    close(fd);
    return rc;
}

// A seed checkpoint loads; each of its truncations and one-byte corruptions is either
// rejected with a message or loads as a usable model: the target checks both. For the
// seed without checksums (loaded with NET_ACCEPT_UNCHECKED) some corruptions load (a
// byte inside a float's mantissa, a padding space); for the checksummed seed, loaded
// strictly, none may.
static void mutations_of(const char *seed_path, unsigned flags, int must_reject_all) {
    size_t len;
    uint8_t *seed = read_all(seed_path, &len);
    CHECK(seed != NULL && len > 100, "%s missing", seed_path);
    if (!seed) return;
    Err err;
    CHECK(load_bytes(seed, len, flags, &err) == 0, "the seed does not load: %s", err.msg);
    uint8_t *copy = malloc(len);
    for (size_t cut = 0; cut < len; cut++) fuzz_checkpoint_one(seed, cut);
    size_t accepted = 0;
    for (size_t i = 0; i < len; i++) {
        const uint8_t values[3] = {0x00, 0xff, (uint8_t)(seed[i] + 1)};
        for (int k = 0; k < 3; k++) {
            if (values[k] == seed[i]) continue;
            memcpy(copy, seed, len);
            copy[i] = values[k];
            accepted += load_bytes(copy, len, flags, &err) == 0;
            fuzz_checkpoint_one(copy, len);
        }
    }
    printf("  %s: %zu truncations, %zu one-byte corruptions (%zu still load)\n", seed_path, len,
           3 * len, accepted);
    if (must_reject_all) CHECK(accepted == 0, "%zu corruptions of a checksummed file loaded", accepted);
    free(copy);
    free(seed);
}

// The lecture's model in the earlier format (makemore-mlp-1), and a WaveNet in the
// layer table's (makemore-net-1).
static void test_checkpoint_mutations(void) {
    mutations_of("tests/fuzz/corpus_checkpoint/unbiased_b1", NET_ACCEPT_UNCHECKED, 0);
    mutations_of("tests/fuzz/corpus_checkpoint/wavenet_net1", NET_ACCEPT_UNCHECKED, 0);
}

static void test_checksummed_mutations(void) {
    mutations_of("tests/fuzz/corpus_checkpoint/checksummed_b2", 0, 1);
    mutations_of("tests/fuzz/corpus_checkpoint/wavenet_checksummed", 0, 1);
}

TEST_MAIN {
    TEST_SETUP();
    RUN_TEST(test_words_corpus);
    RUN_TEST(test_diagcsv_corpus);
    RUN_TEST(test_wisdom_corpus);
    RUN_TEST(test_checkpoint_corpus);
    RUN_TEST(test_plan_corpus);
    RUN_TEST(test_sweep_corpus);
    RUN_TEST(test_checkpoint_mutations);
    RUN_TEST(test_checksummed_mutations);
    return check_summary();
}
