// test_data.c: the words parser (every rule, table-driven), vocabulary, examples as
// the lecture's build_dataset, split bounds against Python's int(0.8*n), and the
// lecture's split of names.txt (path from env NAMES, default data/names.txt).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "crc32c.h"
#include "data.h"

static int parse(Words *w, const char *bytes, size_t len, Err *err) {
    return words_parse(w, bytes, len, "t.txt", err);
}
#define PARSE_LIT(w, lit, err) parse((w), (lit), sizeof(lit) - 1, (err))

// ---- rejected inputs ----------------------------------------------------------

typedef struct {
    const char *bytes;
    size_t len;
    const char *fragment;  // must occur in the message
} BadCase;
#define BAD(lit, frag) {lit, sizeof(lit) - 1, frag}

static void test_parse_rejects(void) {
    // Line 4 is MAX_WORD_LEN + 1 bytes long.
    static char long_line[6 + MAX_WORD_LEN + 2] = "a\nb\nc\n";
    memset(long_line + 6, 'x', MAX_WORD_LEN + 1);
    long_line[6 + MAX_WORD_LEN + 1] = '\n';
    const BadCase cases[] = {
        BAD("", "t.txt: no words"),
        BAD("\n\n\r\n\n", "t.txt: no words"),
        BAD("\r", "t.txt: no words"),
        BAD("ab\ncd.e\n", "t.txt:2: word contains '.'"),
        BAD(".\n", "t.txt:1: word contains '.'"),
        BAD("ab\nc\0d\n", "t.txt:2: NUL byte at column 2"),
        BAD("\0", "t.txt:1: NUL byte at column 1"),
        BAD("a\tb\n", "t.txt:1: non-printable byte 0x09 at column 2"),
        BAD("ab\n\ncd\rx\n", "t.txt:3: non-printable byte 0x0d at column 3"),  // lone CR mid-line
        BAD("ab\r\r\n", "t.txt:1: non-printable byte 0x0d at column 3"),        // CR CR LF
        BAD("ok\na\x7f\n", "t.txt:2: non-printable byte 0x7f"),
        BAD("a\x1b[0m\n", "t.txt:1: non-printable byte 0x1b"),
        BAD("a\n\x01", "t.txt:2: non-printable byte 0x01"),
        {long_line, sizeof long_line, "t.txt:4: line of 257 bytes, longer than the 256 allowed"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Words w;
        Err err = {{0}};
        int rc = parse(&w, cases[i].bytes, cases[i].len, &err);
        CHECK(rc == -1, "case %zu accepted", i);
        CHECK(strstr(err.msg, cases[i].fragment) != NULL, "case %zu: message \"%s\" lacks \"%s\"",
              i, err.msg, cases[i].fragment);
        CHECK(w.buf == NULL && w.w == NULL && w.n == 0, "case %zu left allocations", i);
    }
    // The message says what is allowed.
    Words w;
    Err err = {{0}};
    PARSE_LIT(&w, "a\tb", &err);
    CHECK(strstr(err.msg, "allowed: printable ASCII 0x20-0x7e except '.', and bytes 0x80-0xff"),
          "no 'allowed' part: %s", err.msg);
}

// ---- accepted inputs ----------------------------------------------------------

static int words_equal(const Words *w, const char *const *want, int n) {
    if (w->n != n) return 0;
    for (int i = 0; i < n; i++)
        if (strcmp(w->w[i], want[i]) != 0) return 0;
    return 1;
}

static void expect_words(const char *bytes, size_t len, const char *const *want, int n, int max_len) {
    Words w;
    Err err = {{0}};
    int rc = parse(&w, bytes, len, &err);
    CHECK(rc == 0, "rejected: %s", err.msg);
    if (rc) return;
    CHECK(words_equal(&w, want, n), "%d words, first \"%s\"", w.n, w.n ? w.w[0] : "");
    CHECK(w.max_len == max_len, "max_len %d, want %d", w.max_len, max_len);
    words_free(&w);
}
#define EXPECT_WORDS(lit, max_len, ...)                                                        \
    expect_words(lit, sizeof(lit) - 1, (const char *const[]){__VA_ARGS__},                     \
                 (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), max_len)

static void test_parse_accepts(void) {
    EXPECT_WORDS("emma\nolivia\n", 6, "emma", "olivia");
    EXPECT_WORDS("emma\r\nolivia\r\n", 6, "emma", "olivia");  // CRLF
    EXPECT_WORDS("emma\nolivia", 6, "emma", "olivia");        // no final newline
    EXPECT_WORDS("emma\r\nolivia\r", 6, "emma", "olivia");    // CR at the very end
    EXPECT_WORDS("\n\nemma\n\r\n\nbo\n\n", 4, "emma", "bo");  // blank lines skipped
    EXPECT_WORDS("mary ann\n x \n", 8, "mary ann", " x ");   // spaces are kept verbatim
    EXPECT_WORDS("zo\xc3\xab\nk~!\n", 4, "zo\xc3\xab", "k~!");  // UTF-8 and punctuation

    char line[MAX_WORD_LEN + 2];  // exactly MAX_WORD_LEN bytes is allowed
    memset(line, 'q', MAX_WORD_LEN);
    line[MAX_WORD_LEN] = '\n';
    line[MAX_WORD_LEN + 1] = '\0';
    Words w;
    Err err = {{0}};
    CHECK(parse(&w, line, MAX_WORD_LEN + 1, &err) == 0, "a %d-byte word rejected: %s", MAX_WORD_LEN,
          err.msg);
    CHECK(w.n == 1 && w.max_len == MAX_WORD_LEN, "n %d max_len %d", w.n, w.max_len);
    words_free(&w);
}

// ---- files ----------------------------------------------------------------------

static void write_file(const char *path, const char *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(bytes, 1, len, f);
    fclose(f);
}

static void test_load_errors(void) {
    char dir[] = "/tmp/test_data_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[64];
    Words w;
    Err err = {{0}};

    snprintf(path, sizeof path, "%s/missing.txt", dir);
    CHECK(words_load(&w, path, &err) == -1, "missing file accepted");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "No such file"), "message: %s", err.msg);

    CHECK(words_load(&w, dir, &err) == -1, "directory accepted");
    CHECK(strstr(err.msg, dir) && strstr(err.msg, "is a directory"), "message: %s", err.msg);

    snprintf(path, sizeof path, "%s/empty.txt", dir);
    write_file(path, "", 0);
    CHECK(words_load(&w, path, &err) == -1, "empty file accepted");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "no words"), "message: %s", err.msg);

    snprintf(path, sizeof path, "%s/dot.txt", dir);
    write_file(path, "anna\nbob\nc.d\n", 13);
    CHECK(words_load(&w, path, &err) == -1, "dotted word accepted");
    char want[96];
    snprintf(want, sizeof want, "%s:3: word contains '.'", path);
    CHECK(strstr(err.msg, want) != NULL, "message: %s", err.msg);
    unlink(path);

    snprintf(path, sizeof path, "%s/ok.txt", dir);
    write_file(path, "anna\r\nbob", 9);
    CHECK(words_load(&w, path, &err) == 0, "rejected: %s", err.msg);
    CHECK(w.n == 2 && strcmp(w.w[1], "bob") == 0, "loaded %d words", w.n);
    words_free(&w);
    unlink(path);
    snprintf(path, sizeof path, "%s/empty.txt", dir);
    unlink(path);

    // A FIFO (no writer: a blocking open would wait forever) and a device: refused at once.
    snprintf(path, sizeof path, "%s/fifo", dir);
    CHECK(mkfifo(path, 0600) == 0, "mkfifo");
    CHECK(words_load(&w, path, &err) == -1, "FIFO accepted");
    CHECK(strstr(err.msg, path) && strstr(err.msg, "not a regular file"), "message: %s", err.msg);
    unlink(path);
    CHECK(words_load(&w, "/dev/zero", &err) == -1, "/dev/zero accepted");
    CHECK(strstr(err.msg, "/dev/zero: not a regular file"), "message: %s", err.msg);
    rmdir(dir);
}

// A UTF-8 byte-order mark opening the file is no letter: the words and vocabulary of the
// same file without it; the fingerprint covers every byte; a BOM elsewhere is bytes.
static void test_bom(void) {
    static const char with[] = "\xef\xbb\xbf" "ab\r\nba\r\nb\r\n", without[] = "ab\r\nba\r\nb\r\n";
    Words a, b;
    Err err = {{0}};
    CHECK(PARSE_LIT(&a, with, &err) == 0, "rejected: %s", err.msg);
    CHECK(PARSE_LIT(&b, without, &err) == 0, "rejected: %s", err.msg);
    Vocab va, vb;
    vocab_build(&va, &a);
    vocab_build(&vb, &b);
    CHECK(a.n == 3 && strcmp(a.w[0], "ab") == 0 && strcmp(a.w[2], "b") == 0, "words: %d, first '%s'", a.n,
          a.n ? a.w[0] : "");
    CHECK(va.V == 3 && vb.V == 3 && memcmp(va.itos, vb.itos, 3) == 0, "vocabulary %d (%.*s), without the BOM %d",
          va.V, va.V, va.itos, vb.V);
    CHECK(a.file_bytes == sizeof with - 1 && a.file_crc == crc32c(0, with, sizeof with - 1),
          "fingerprint %llu bytes", (unsigned long long)a.file_bytes);
    words_free(&a);
    words_free(&b);
    static const char later[] = "ab\n\xef\xbb\xbf" "ba\n";  // on line 2: three bytes >= 0x80
    CHECK(PARSE_LIT(&a, later, &err) == 0, "rejected: %s", err.msg);
    vocab_build(&va, &a);
    CHECK(a.n == 2 && strlen(a.w[1]) == 5 && va.V == 6, "words %d, second %zu bytes, vocabulary %d", a.n,
          a.n > 1 ? strlen(a.w[1]) : 0, va.V);
    words_free(&a);
    static const char only[] = "\xef\xbb\xbf\n\n";
    CHECK(PARSE_LIT(&a, only, &err) == -1 && strstr(err.msg, "no words"), "a BOM alone: %s", err.msg);
}

// ---- vocabulary and examples ----------------------------------------------------

static void test_vocab(void) {
    Words w;
    Err err = {{0}};
    CHECK(PARSE_LIT(&w, "zo\xc3\xab\nbob\nemme\n", &err) == 0, "%s", err.msg);
    Vocab v;
    vocab_build(&v, &w);
    // sorted(set(''.join(words))) over bytes: b e m o z 0xab 0xc3, after '.'
    const char want[] = ".bemoz\xab\xc3";
    CHECK(v.V == 8, "V = %d", v.V);
    CHECK(memcmp(v.itos, want, 8) == 0, "itos differs");
    for (int i = 0; i < v.V; i++)
        CHECK(v.stoi[(unsigned char)v.itos[i]] == i, "stoi[itos[%d]] = %d", i,
              v.stoi[(unsigned char)v.itos[i]]);
    CHECK(v.stoi['a'] == -1 && v.stoi[0] == -1, "bytes outside the vocabulary must map to -1");
    CHECK(vocab_check(&v, &w, "t.txt", &err) == 0, "%s", err.msg);
    words_free(&w);

    CHECK(PARSE_LIT(&w, "bob\nabe\n", &err) == 0, "%s", err.msg);
    CHECK(vocab_check(&v, &w, "other.txt", &err) == -1, "byte 'a' is not in the vocabulary");
    CHECK(strstr(err.msg, "other.txt: word 2") && strstr(err.msg, "0x61"), "message: %s", err.msg);
    words_free(&w);
}

static void test_examples_small(void) {
    Words w;
    Err err = {{0}};
    CHECK(PARSE_LIT(&w, "emma\nbo\n", &err) == 0, "%s", err.msg);
    Vocab v;
    vocab_build(&v, &w);  // . a b e m o -> 0..5
    Examples ex;
    examples_build(&ex, &w, 0, 2, &v, 3);
    // Python: the lecture's build_dataset(['emma','bo']) with block_size 3:
    //   X = [[0,0,0],[0,0,3],[0,3,4],[3,4,4],[4,4,1],[0,0,0],[0,0,2],[0,2,5]]
    //   Y = [3,4,4,1,0,2,5,0]
    const int X[8][3] = {{0, 0, 0}, {0, 0, 3}, {0, 3, 4}, {3, 4, 4}, {4, 4, 1}, {0, 0, 0}, {0, 0, 2}, {0, 2, 5}};
    const int Y[8] = {3, 4, 4, 1, 0, 2, 5, 0};
    CHECK(ex.n == 8 && ex.T == 3, "n %d T %d", ex.n, ex.T);
    if (ex.n == 8) {
        CHECK(memcmp(ex.X, X, sizeof X) == 0, "X differs");
        CHECK(memcmp(ex.Y, Y, sizeof Y) == 0, "Y differs");
    }
    examples_free(&ex);

    examples_build(&ex, &w, 1, 2, &v, 1);  // T = 1, the second word only
    const int X1[3] = {0, 2, 5}, Y1[3] = {2, 5, 0};
    CHECK(ex.n == 3 && memcmp(ex.X, X1, sizeof X1) == 0 && memcmp(ex.Y, Y1, sizeof Y1) == 0,
          "T=1 examples differ");
    examples_free(&ex);
    examples_build(&ex, &w, 1, 1, &v, 3);  // an empty range
    CHECK(ex.n == 0, "empty range gave %d examples", ex.n);
    examples_free(&ex);
    words_free(&w);
}

// ---- split ------------------------------------------------------------------------

static void test_split_bounds_match_python(void) {
    // python3: sum(int(0.8*n) for n in range(1,100001)), the same with 0.9
    long long s1 = 0, s2 = 0;
    for (int n = 1; n <= 100000; n++) {
        int n1, n2;
        split_bounds(n, &n1, &n2);
        s1 += n1;
        s2 += n2;
    }
    CHECK(s1 == 4000000000LL, "sum int(0.8 n) = %lld", s1);
    CHECK(s2 == 4500000000LL, "sum int(0.9 n) = %lld", s2);
    // python3: [(int(0.8*n), int(0.9*n)) for n in (32033, 6, 9, 2**31-1)]
    //   -> [(25626, 28829), (4, 5), (7, 8), (1717986917, 1932735282)]
    const int ns[4] = {32033, 6, 9, 2147483647};
    const int want[4][2] = {{25626, 28829}, {4, 5}, {7, 8}, {1717986917, 1932735282}};
    for (int i = 0; i < 4; i++) {
        int n1, n2;
        split_bounds(ns[i], &n1, &n2);
        CHECK(n1 == want[i][0] && n2 == want[i][1], "n=%d: %d %d", ns[i], n1, n2);
    }
}

static void test_split_too_small(void) {
    Words w;
    Err err = {{0}};
    CHECK(PARSE_LIT(&w, "a\nb\nc\nd\ne\n", &err) == 0, "%s", err.msg);
    Vocab v;
    vocab_build(&v, &w);
    Split s;
    // 5 words: int(4.0) = 4, int(4.5) = 4: the validation split is empty.
    CHECK(split_build(&s, &w, &v, 3, 42, &err) == -1, "5 words accepted");
    CHECK(strstr(err.msg, "5 words") && strstr(err.msg, "4 / 0 / 1"), "message: %s", err.msg);
    CHECK(strcmp(w.w[0], "a") == 0 && strcmp(w.w[4], "e") == 0, "failed split shuffled the words");
    words_free(&w);

    CHECK(PARSE_LIT(&w, "a\nb\nc\nd\ne\nf\n", &err) == 0, "%s", err.msg);
    vocab_build(&v, &w);
    CHECK(split_build(&s, &w, &v, 3, 42, &err) == 0, "6 words rejected: %s", err.msg);
    CHECK(s.n_words[0] == 4 && s.n_words[1] == 1 && s.n_words[2] == 1, "%d %d %d", s.n_words[0],
          s.n_words[1], s.n_words[2]);
    split_free(&s);
    words_free(&w);
}

static long long weighted_x(const Examples *ex) {
    long long sum = 0;
    for (long i = 0; i < ex->n; i++)
        for (int j = 0; j < ex->T; j++) sum += (long long)(i % 101) * (j + 1) * ex->X[i * ex->T + j];
    return sum;
}
static long long sum_y(const Examples *ex) {
    long long sum = 0;
    for (long i = 0; i < ex->n; i++) sum += ex->Y[i];
    return sum;
}

// The lecture's split of names.txt. Expected figures from python3 running the
// lecture's code (random.seed(42); random.shuffle(words); build_dataset on
// words[:n1], words[n1:n2], words[n2:]) with, per split: len(X), sum(Y),
// sum((i%101)*(j+1)*X[i][j]).
static void test_split_names(void) {
    const char *path = getenv("NAMES");
    if (!path || !*path) path = "data/names.txt";
    Words w;
    Err err = {{0}};
    if (words_load(&w, path, &err)) {
        CHECK(0, "cannot read the dataset (set NAMES or run `make data/names.txt`): %s", err.msg);
        return;
    }
    CHECK(w.n == 32033 && w.max_len == 15, "%d words, longest %d", w.n, w.max_len);
    Vocab v;
    vocab_build(&v, &w);
    CHECK(v.V == 27 && memcmp(v.itos, ".abcdefghijklmnopqrstuvwxyz", 27) == 0, "V = %d", v.V);
    Split s;
    CHECK(split_build(&s, &w, &v, 3, 42, &err) == 0, "%s", err.msg);
    const char *first[5] = {"yuheng", "diondre", "xavien", "jori", "juanluis"};
    for (int i = 0; i < 5; i++) CHECK(strcmp(w.w[i], first[i]) == 0, "word %d is %s", i, w.w[i]);
    CHECK(strcmp(w.w[w.n - 1], "yovani") == 0, "last word %s", w.w[w.n - 1]);
    CHECK(s.n_words[0] == 25626 && s.n_words[1] == 3203 && s.n_words[2] == 3204, "words %d %d %d",
          s.n_words[0], s.n_words[1], s.n_words[2]);
    const Examples *parts[3] = {&s.train, &s.val, &s.test};
    const int n[3] = {182625, 22655, 22866};
    const long long ys[3] = {1688642, 209217, 211375};
    const long long xs[3] = {453033082, 56244822, 56563551};
    for (int k = 0; k < 3; k++) {
        CHECK(parts[k]->n == n[k], "split %d: %d examples, want %d", k, parts[k]->n, n[k]);
        CHECK(sum_y(parts[k]) == ys[k], "split %d: sum Y %lld", k, sum_y(parts[k]));
        CHECK(weighted_x(parts[k]) == xs[k], "split %d: weighted X %lld", k, weighted_x(parts[k]));
    }
    split_free(&s);
    words_free(&w);
}

TEST_MAIN {
    TEST_SETUP();
    RUN_TEST(test_parse_rejects);
    RUN_TEST(test_parse_accepts);
    RUN_TEST(test_load_errors);
    RUN_TEST(test_bom);
    RUN_TEST(test_vocab);
    RUN_TEST(test_examples_small);
    RUN_TEST(test_split_bounds_match_python);
    RUN_TEST(test_split_too_small);
    RUN_TEST(test_split_names);
    return check_summary();
}
