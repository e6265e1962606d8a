// diagcsv.c: the diagnostics' CSV files read back (diagcsv.h).
#include "diagcsv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const DIAG_TYPES[DIAG_N_FILES] = {"iissnnn", "iisnn", "iisnnn", "issinnnn", "iin", "in"};

void diagcsv_free(DiagCsv *c) {
    free(c->text);
    free(c->field);
    free(c->num);
    memset(c, 0, sizeof *c);
}

// Field f of type t: 0 and its value (NaN for text), or -1.
static int field_ok(const char *f, char t, double *v) {
    size_t n = strlen(f);
    *v = NAN;
    if (t == 's') {
        if (n == 0 || n > 63) return -1;
        for (size_t k = 0; k < n; k++)
            if (f[k] < 0x20 || f[k] > 0x7e || f[k] == ',') return -1;
        return 0;
    }
    if (t == 'i') {
        if (n == 0 || n > 15 || strspn(f, "0123456789") != n) return -1;
        *v = strtod(f, NULL);
        return 0;
    }
    if (n == 0 || n > 40 || strspn(f, "0123456789+-.eEinfatyINFATY") != n) return -1;
    char *end;
    errno = 0;
    *v = strtod(f, &end);
    return *end == '\0' ? 0 : -1;
}

// The rows from `p` on (the header already checked): fields split in place and checked.
static int parse_rows(DiagCsv *c, char *p, const char *end, const char *types, const char *what,
                      Err *err) {
    int rows = 0;
    for (const char *q = p; q < end; q++) rows += *q == '\n';
    c->field = calloc((size_t)rows * c->ncols + 1, sizeof *c->field);
    c->num = calloc((size_t)rows * c->ncols + 1, sizeof *c->num);
    if (!c->field || !c->num) return err_set(err, "%s: out of memory (%d rows)", what, rows);
    for (int r = 0; r < rows; r++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        *nl = '\0';
        for (int k = 0; k < c->ncols; k++) {
            char *comma = k + 1 < c->ncols ? strchr(p, ',') : NULL;
            if (k + 1 < c->ncols && !comma)
                return err_set(err, "%s line %d: %d fields (expected %d)", what, r + 2, k + 1, c->ncols);
            if (comma) *comma = '\0';
            size_t at = (size_t)r * c->ncols + k;
            c->field[at] = p;
            if (field_ok(p, types[k], &c->num[at]))
                return err_set(err, "%s line %d: field %d is not %s", what, r + 2, k + 1,
                               types[k] == 's' ? "a name (1..63 printable bytes)"
                               : types[k] == 'i' ? "a whole number >= 0" : "a number");
            p = comma ? comma + 1 : nl + 1;  // the last field runs to the line's end
        }
        c->nrows++;
    }
    return 0;
}

int diagcsv_parse(DiagCsv *c, const char *text, size_t len, const char *header,
                  const char *types, const char *what, Err *err) {
    memset(c, 0, sizeof *c);
    c->ncols = (int)strlen(types);
    const size_t hl = strlen(header);
    if (len < hl || memcmp(text, header, hl))
        return err_set(err, "%s: not a makemore diagnostics file (its first line is not \"%.*s\")",
                       what, (int)hl - 1, header);
    size_t keep = len;
    while (keep > hl && text[keep - 1] != '\n') keep--;  // a torn last line is left out
    if (memchr(text, '\0', keep))
        return err_set(err, "%s: holds a NUL byte (not a makemore diagnostics file)", what);
    c->text = malloc(keep - hl + 1);
    if (!c->text) return err_set(err, "%s: out of memory (%zu bytes)", what, keep);
    memcpy(c->text, text + hl, keep - hl);
    c->text[keep - hl] = '\0';
    if (parse_rows(c, c->text, c->text + (keep - hl), types, what, err)) {
        diagcsv_free(c);
        return -1;
    }
    return 0;
}

int diagcsv_read(DiagCsv *c, const char *path, const char *header, const char *types, Err *err) {
    memset(c, 0, sizeof *c);
    c->ncols = (int)strlen(types);
    if (access(path, F_OK) != 0 && errno == ENOENT) return 0;
    int fd = infile_open(NULL, path, err);
    if (fd < 0) return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (ssize_t got = 1; buf && got > 0;) {
        if (n == cap) {
            char *grown = cap < DIAGCSV_MAX_BYTES ? realloc(buf, cap *= 2) : NULL;
            if (!grown) break;
            buf = grown;
        }
        got = read(fd, buf + n, cap - n);
        if (got < 0 && errno == EINTR) got = 1;
        else if (got > 0) n += (size_t)got;
        else if (got < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return err_set(err, "%s: cannot read: %s", path, strerror(e));
        }
    }
    close(fd);
    if (!buf || n == cap) {  // the growth stopped: past the limit, or no memory
        free(buf);
        return err_set(err, "%s: larger than %zu MiB, or out of memory", path, DIAGCSV_MAX_BYTES >> 20);
    }
    int rc = diagcsv_parse(c, buf, n, header, types, path, err);
    free(buf);
    return rc;
}
