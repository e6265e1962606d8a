// fuzz_wisdom.c: libFuzzer target for the wisdom file (wisdom.h: "makemore-wisdom-1", one
// "KEY<TAB>VALUE" line per entry, "crc32c XXXXXXXX"), as `train` and `makemore plan` read
// and write it through wisdom_open. The input is the file: written to a private temporary
// directory (made once) and opened there, then once more sealed (its last line, when it is a
// checksum line, replaced by the right one, else the right one added), so that the accepted
// path, which the checksum guards, is reached too. A file not read must say why (a note); a
// file read holds exactly the bytes between its header and checksum, and wisdom_each and
// wisdom_get agree on them; a store keeps every entry and adds its own, a forget takes it
// away again; a file that is not wisdom (its first line) is refused and left byte for byte.
// Built by `make fuzz`; replayed over the corpus by tests/test_fuzz_regressions.c.
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "crc32c.h"
#include "wisdom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_common.h"

#define WF_HEADER "makemore-wisdom-1\n"
#define WF_MAX 4096  // a wisdom file of plans is a few KB
#define WF_VALUE "B=4,TE=6,H=8,V=5:fwd1=blas,fwd2=blas,dx2=blas_t,dw2=blas_t,dx1=blas,dw1=blas"

static char wf_dir[4096], wf_file[4200], wf_lock[4300];

static void wf_cleanup(void) {
    unlink(wf_file);
    unlink(wf_lock);
    rmdir(wf_dir);
}

// The file's path in a directory of this process's own, made on the first call: under
// $TMPDIR, else /dev/shm (each store syncs the file: in memory that costs nothing), else /tmp.
static const char *wf_path(void) {
    if (wf_dir[0]) return wf_file;
    const char *t = getenv("TMPDIR");
    const char *bases[] = {t && *t ? t : "/dev/shm", "/dev/shm", "/tmp"};
    for (int i = 0; i < 3 && !wf_dir[0]; i++) {
        snprintf(wf_dir, sizeof wf_dir, "%s/makemore-fuzz-wisdom-XXXXXX", bases[i]);
        if (!mkdtemp(wf_dir)) wf_dir[0] = '\0';
    }
    if (!wf_dir[0]) abort();
    snprintf(wf_file, sizeof wf_file, "%s/wisdom", wf_dir);
    snprintf(wf_lock, sizeof wf_lock, "%s.lock", wf_file);
    atexit(wf_cleanup);
    return wf_file;
}

static void wf_write(const char *path, const uint8_t *p, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) abort();
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k <= 0) abort();
        p += k;
        n -= (size_t)k;
    }
    if (close(fd) != 0) abort();
}

// The file's bytes (malloc'd, NUL after them) and their count.
static char *wf_slurp(const char *path, size_t *n) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) abort();
    char *b = malloc((size_t)st.st_size + 1);
    if (!b || read(fd, b, (size_t)st.st_size) != st.st_size) abort();
    close(fd);
    b[st.st_size] = '\0';
    *n = (size_t)st.st_size;
    return b;
}

// Where the last line starts (after the last line end before the final byte; 0: none).
static size_t wf_last_line(const uint8_t *p, size_t n) {
    for (size_t i = n > 0 ? n - 1 : 0; i > 0; i--)
        if (p[i - 1] == '\n') return i;
    return 0;
}

// Whether the bytes are a wisdom file as wisdom.h describes it, written out on its own:
// the header, lines of a non-empty key, a tab and a non-empty value (no NUL), then
// "crc32c " and 8 hex digits of the CRC-32C of every byte before that line.
static int wf_valid(const uint8_t *p, size_t n) {
    const size_t hl = strlen(WF_HEADER);
    if (n < hl || memcmp(p, WF_HEADER, hl)) return 0;
    size_t last = wf_last_line(p, n);
    if (last < hl || n - last != 16 || memcmp(p + last, "crc32c ", 7) || p[n - 1] != '\n') return 0;
    char hex[9];
    memcpy(hex, p + last + 7, 8);
    hex[8] = '\0';
    if (strspn(hex, "0123456789abcdefABCDEF") != 8 || strtoul(hex, NULL, 16) != crc32c(0, p, last)) return 0;
    for (size_t i = hl; i < last; ) {
        size_t e = i;
        while (p[e] != '\n') e++;  // the line before `last` ends with one
        const uint8_t *tab = memchr(p + i, '\t', e - i);
        if (memchr(p + i, '\0', e - i) || !tab || tab == p + i || tab + 1 == p + e) return 0;
        i = e + 1;
    }
    return 1;
}

typedef struct {
    const Wisdom *w;
    char *seen;  // the entries visited so far, "KEY\tVALUE\n" each
    size_t n, cap;
    int count;
} WfSeen;

// One entry of wisdom_each: a key of one line without a tab, a value of one line, both
// non-empty; wisdom_get gives the value of the key's first entry.
static void wf_visit(void *ctx, const char *key, const char *value) {
    WfSeen *s = ctx;
    size_t kl = strlen(key), vl = strlen(value);
    if (kl == 0 || vl == 0 || strpbrk(key, "\t\n") || strchr(value, '\n')) abort();
    if (s->n + kl + vl + 3 > s->cap) {
        s->cap = 2 * (s->n + kl + vl + 3);
        s->seen = realloc(s->seen, s->cap);
        if (!s->seen) abort();
    }
    s->n += (size_t)sprintf(s->seen + s->n, "%s\t%s\n", key, value);
    const char *first = NULL;
    for (const char *p = s->seen; p < s->seen + s->n; p = strchr(p, '\n') + 1)
        if (!strncmp(p, key, kl) && p[kl] == '\t') {
            first = p + kl + 1;
            break;
        }
    char got[8192];
    if (!first || wisdom_get(s->w, key, got, sizeof got) != 1) abort();
    size_t fl = (size_t)(strchr(first, '\n') - first);
    if (strlen(got) != fl || memcmp(got, first, fl)) abort();
    s->count++;
}

// Opens the file at path; it must be read (with its entries those of text) or not read
// with a note, as expected says (1 read, 0 not, -1 either). Returns the text read, or NULL.
static char *wf_open_check(Wisdom *w, const char *path, int expected) {
    Err err = {{0}};
    if (wisdom_open(w, path, &err) != 0) abort();  // a directory of its own: the lock is free
    if (!w->text) {
        if (expected == 1 || w->note[0] == '\0' || !printable_line(w->note)) abort();
        return NULL;
    }
    if (expected == 0 || w->note[0] || w->foreign) abort();
    WfSeen s = {.w = w};
    int k = wisdom_each(w, wf_visit, &s);
    if (k != s.count || s.n != strlen(w->text) || (s.n && memcmp(s.seen, w->text, s.n))) abort();
    free(s.seen);
    return strdup(w->text);
}

// One pass over the file's bytes.
static void wf_check(const uint8_t *data, size_t size) {
    const char *path = wf_path();
    const size_t hl = strlen(WF_HEADER);
    const int foreign = size < hl || memcmp(data, WF_HEADER, hl) != 0;
    wf_write(path, data, size);
    Wisdom w;
    Err err = {{0}};
    char *text = wf_open_check(&w, path, wf_valid(data, size) ? 1 : -1);
    if (!!w.foreign != foreign) abort();
    if (foreign) {  // refused, and never written
        if (text || wisdom_put(&w, "k", "v", &err) == 0 || err.msg[0] == '\0' || !printable_line(err.msg))
            abort();
        if (wisdom_forget(&w, NULL, &err) != -1) abort();
        wisdom_close(&w);
        size_t n;
        char *now = wf_slurp(path, &n);
        if (n != size || (n && memcmp(now, data, n))) abort();
        free(now);
        return;
    }
    if (text) {  // read: exactly the bytes between the header and the checksum line
        size_t last = wf_last_line(data, size);
        char hex[9] = "";
        if (last < hl || size - last != 16 || memcmp(data + last, "crc32c ", 7)) abort();
        memcpy(hex, data + last + 7, 8);
        if (strtoul(hex, NULL, 16) != crc32c(0, data, last) || strlen(text) != last - hl ||
            memcmp(text, data + hl, last - hl))
            abort();
    }
    // A key of its own (no entry holds it, not even inside its key), stored then forgotten.
    const char *old = text ? text : "";
    char key[128];
    for (unsigned i = 0;; i++) {
        snprintf(key, sizeof key, "cpu=fuzz;threads=1;B=4,TE=6,H=8,V=5;ops=%08x", i);
        if (!strstr(old, key)) break;
    }
    char got[sizeof WF_VALUE];
    if (wisdom_put(&w, key, WF_VALUE, &err) != 0 || wisdom_get(&w, key, got, sizeof got) != 1 ||
        strcmp(got, WF_VALUE))
        abort();
    wisdom_close(&w);
    size_t want_n = strlen(old) + strlen(key) + sizeof WF_VALUE + 2;
    char *want = malloc(want_n);
    if (!want) abort();
    snprintf(want, want_n, "%s%s\t%s\n", old, key, WF_VALUE);
    size_t n;
    char *bytes = wf_slurp(path, &n);  // the header, the entries, their checksum
    char *again = wf_open_check(&w, path, 1);
    if (!again || strcmp(again, want) || !wf_valid((const uint8_t *)bytes, n) || n != hl + strlen(want) + 16 ||
        memcmp(bytes, WF_HEADER, hl) || memcmp(bytes + hl, want, strlen(want)))
        abort();
    if (wisdom_forget(&w, key, &err) != 1) abort();
    wisdom_close(&w);
    char *back = wf_open_check(&w, path, 1);
    if (!back || strcmp(back, old)) abort();
    wisdom_close(&w);
    free(back);
    free(bytes);
    free(again);
    free(want);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > WF_MAX) return 0;
    wf_check(data, size);
    // Sealed: the same bytes with the checksum line they need.
    uint8_t sealed[WF_MAX + 32];
    size_t last = wf_last_line(data, size), n = size;
    if (size - last >= 7 && !memcmp(data + last, "crc32c ", 7)) n = last;
    memcpy(sealed, data, n);
    if (n > 0 && sealed[n - 1] != '\n') sealed[n++] = '\n';
    n += (size_t)snprintf((char *)sealed + n, 32, "crc32c %08x\n", (unsigned)crc32c(0, sealed, n));
    if (n != size || memcmp(sealed, data, n)) wf_check(sealed, n);
    return 0;
}
