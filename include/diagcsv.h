// diagcsv.h: the diagnostics' CSV files read back (`makemore plot`; their headers and rows:
// outfile.h's DIAG_*, train_diag.h). A file is its header line, then rows of fields
// separated by commas, each field checked against its column's type:
//   'i'  an integer 0 .. 10^15 (a step, a layer, a count)
//   'n'  a number as strtod reads it, nan and inf included
//   's'  1 .. 63 printable ASCII bytes, no comma
// A torn last line (no newline: a file a run is appending to) is left out.
#ifndef MAKEMORE_DIAGCSV_H
#define MAKEMORE_DIAGCSV_H

#include <stddef.h>

#include "common.h"
#include "outfile.h"

#define DIAGCSV_MAX_BYTES ((size_t)1 << 30)  // a file larger is refused

extern const char *const DIAG_TYPES[DIAG_N_FILES];  // each file's column types ("iissnnn", ...)

typedef struct {
    int nrows, ncols;
    char *text;    // the rows, each field NUL-terminated in place
    char **field;  // [nrows * ncols]
    double *num;   // [nrows * ncols]: the 'i' and 'n' fields' values (NaN for 's')
} DiagCsv;

// Parses len bytes of text (need not be NUL-terminated) under `header` (its newline
// included) and column `types`. 0, or -1 with err naming `what` (the path) and the line.
int diagcsv_parse(DiagCsv *c, const char *text, size_t len, const char *header,
                  const char *types, const char *what, Err *err);
// Reads and parses path (infile_open: a regular file). A missing file reads as no rows.
int diagcsv_read(DiagCsv *c, const char *path, const char *header, const char *types, Err *err);
// Field (row, col) as text or as a number.
static inline const char *diagcsv_str(const DiagCsv *c, int row, int col) {
    return c->field[(size_t)row * c->ncols + col];
}
static inline double diagcsv_num(const DiagCsv *c, int row, int col) {
    return c->num[(size_t)row * c->ncols + col];
}
void diagcsv_free(DiagCsv *c);

#endif
