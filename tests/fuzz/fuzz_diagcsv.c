// fuzz_diagcsv.c: libFuzzer target for the diagnostics' CSV reader (diagcsv_parse, what
// `makemore plot` reads): the first byte picks the file (acts.csv ... val.csv, outfile.h's
// DIAG_FILES), the rest is its content. A rejection must come with a one-line message
// naming the input; an accepted file must hold what its columns promise: every row its
// fields, each name 1..63 printable bytes without a comma, each whole number >= 0.
// Built by `make fuzz`; replayed over the corpus by tests/test_fuzz_regressions.c.
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "diagcsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const int k = data[0] % DIAG_N_FILES;
    DiagCsv c;
    Err err = {{0}};
    if (diagcsv_parse(&c, (const char *)data + 1, size - 1, DIAG_HEADERS[k], DIAG_TYPES[k], "fuzz",
                      &err) != 0) {
        if (strncmp(err.msg, "fuzz", 4) != 0 || !printable_line(err.msg)) abort();
        return 0;
    }
    const char *types = DIAG_TYPES[k];
    if (c.ncols != (int)strlen(types) || c.nrows < 0) abort();
    for (int r = 0; r < c.nrows; r++)
        for (int j = 0; j < c.ncols; j++) {
            const char *f = diagcsv_str(&c, r, j);
            double v = diagcsv_num(&c, r, j);
            size_t n = strlen(f);
            if (n == 0) abort();
            if (types[j] == 's' && (n > 63 || strchr(f, ',') || !printable_line(f) || !isnan(v))) abort();
            if (types[j] == 'i' && !(v >= 0 && v < 1e16)) abort();
        }
    diagcsv_free(&c);
    return 0;
}
