// train_opts.h: `makemore train`'s flags: parsed and checked in full before any work,
// held against a resumed checkpoint, and turned back into the command that continues a
// stopped run.
#ifndef MAKEMORE_TRAIN_OPTS_H
#define MAKEMORE_TRAIN_OPTS_H

#include <stdint.h>

#include "checkpoint.h"
#include "net.h"

#define TRAIN_DEFAULT_INTERRUPT_PATH "makemore-interrupted.safetensors"

// Flags that define the model and the schedule: with --resume they must agree with the
// checkpoint (only --steps may differ: it extends or shortens the run).
enum { F_ARCH, F_LAYERS, F_BNSTATS, F_BLOCK, F_EMBD, F_HIDDEN, F_BATCH, F_BNVAR, F_STEPS, F_LR,
       F_LR2, F_DECAY, F_SEED, F_SPLIT_SEED, F_THREADS, NUM_F };

typedef struct {
    const char *data, *out, *log, *resume;
    const char *plan;  // --plan FILE
    int gemm;          // --gemm: GEMM_MODE_*, -1 not given
    NetArch arch;
    BnStats bn_stats;
    int layers, embd, hidden, block, batch, bessel, threads, samples, print_every;
    long steps, decay_step, save_every;
    float lr, lr2;
    uint64_t seed, split_seed;
    int given[NUM_F];  // which of those flags were on the command line
    int accept_unchecked;
} TrainOpts;

// Parses argv (argv[0] is "train"): the architecture first (it sets the defaults), then
// every flag; --help prints the usage and exits 0, a bad flag or value exits 2 naming it.
void train_opts_parse(TrainOpts *o, int argc, char **argv);
// The model the flags describe, for a vocabulary of V.
NetConfig train_opts_model(const TrainOpts *o, int V);
// With --resume: every model and schedule flag given must agree with the checkpoint
// (config c, state ts); only --steps may differ. Exits 2 naming the flag and both values.
void train_opts_check_resume(const TrainOpts *o, const NetConfig *c, const TrainState *ts);
// Before any work: no output is an input, every output is writable the way it will be
// written and ours to take, and none is written by another run now (locked). Exits on
// failure (2 usage, 1 a file).
void train_opts_check_outputs(const TrainOpts *o);
// The command that continues a stopped run from ckpt, every path shell-quoted, with every
// flag the checkpoint does not record. Caller frees.
char *train_opts_continue_command(const TrainOpts *o, const char *ckpt);

#endif
