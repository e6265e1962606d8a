// sweep.h: `makemore sweep`: many trainings at once, one pinned single-thread
// `makemore train` process per run (seeds x a grid of flag values), with a table,
// mean +- sd per configuration, a CSV and one checkpoint and log per run.
#ifndef MAKEMORE_SWEEP_H
#define MAKEMORE_SWEEP_H

int sweep_main(int argc, char **argv);  // argv[0] = "sweep"

#endif
