// fuzz_sweep.c: libFuzzer target for `makemore sweep`'s command line (sweep_parse_args:
// --seeds lists and ranges, --grid KEY=V1,V2 items checked by train's own flag table, the
// train flags passed on, the flags the sweep sets itself). The input is the argument
// list, NUL-separated (argv[0] is "sweep"). A rejection must come with a one-line
// message naming something; an accepted line names 1 to 10 000 runs.
// Built by `make fuzz`; replayed over the corpus by tests/test_fuzz_regressions.c.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "flags.h"
#include "sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_common.h"

enum { SWEEP_FUZZ_MAX_ARGS = 128 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[SWEEP_FUZZ_MAX_ARGS + 2];
    int argc = 0;
    static char sweep[] = "sweep";
    argv[argc++] = sweep;
    for (char *p = buf; p < buf + size && argc <= SWEEP_FUZZ_MAX_ARGS; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    long runs = -1;
    Err err = {{0}};
    int rc = sweep_parse_args(argc, argv, &runs, &err);
    if (rc == FLAGS_ERROR) {
        // Escaped as say() escapes it, it is one printable line that says something.
        char line[4 * sizeof err.msg];
        escape_line(line, sizeof line, err.msg);
        if (strlen(err.msg) < 10 || !printable_line(line)) abort();
    } else if (rc == FLAGS_OK) {
        if (runs < 1 || runs > 10000) abort();
    } else if (rc != FLAGS_HELP) {
        abort();
    }
    free(buf);
    return 0;
}
