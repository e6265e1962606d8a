// sweep.h: `makemore sweep`: many trainings at once, one pinned single-thread
// `makemore train` process per run (seeds x a grid of flag values), with a table,
// mean +- sd per configuration, a CSV and one checkpoint and log per run.
#ifndef MAKEMORE_SWEEP_H
#define MAKEMORE_SWEEP_H

#include "common.h"

int sweep_main(int argc, char **argv);  // argv[0] = "sweep"

// The sweep's command line read as sweep_main reads it, and nothing run (its fuzz target,
// tests/fuzz/fuzz_sweep.c): FLAGS_OK with *runs (seeds x grid), FLAGS_HELP, or
// FLAGS_ERROR with err (one line naming the flag, the value and what is allowed).
int sweep_parse_args(int argc, char **argv, long *runs, Err *err);

#endif
