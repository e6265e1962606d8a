// train_opts.h: `makemore train`'s flags, as one table (flags.h): parsed and checked in
// full before any work, held against a resumed checkpoint, turned back into the command
// that continues a stopped run, and passed on by `makemore sweep`.
#ifndef MAKEMORE_TRAIN_OPTS_H
#define MAKEMORE_TRAIN_OPTS_H

#include <stdint.h>

#include "checkpoint.h"
#include "common.h"
#include "flags.h"
#include "net.h"

#define TRAIN_DEFAULT_INTERRUPT_PATH "makemore-interrupted.safetensors"

typedef struct TrainOpts {
    const char *data, *out, *log, *resume;
    const char *plan;  // --plan FILE
    int gemm;          // --gemm: GEMM_MODE_*, -1 not given
    int arch;          // NetArch
    int bn_stats;      // BnStats
    int bn_var;        // 0 unbiased (B-1), 1 biased (B)
    int optim;         // Optim
    int norm;          // Norm
    int init;          // InitKind
    int layers, heads, embd, hidden, block, batch, threads, samples, print_every;
    long steps, decay_step, save_every;
    const char *diag;  // --diag DIR: the diagnostics' CSV files (diag.h), or NULL
    long diag_every;   // --diag-every N
    float lr, lr2, weight_decay;
    uint64_t seed, split_seed;
    int accept_unchecked;
    unsigned char given[FLAGS_MAX];  // which rows of the table were on the command line
    int eval_every;       // --eval-every N: every N steps the held-out loss (val; makemore.py's
                          // types: test) on the inference path, and the best model by it
                          // goes to `best` (0: none). makemore.py's command line: its
                          // evaluate() of train and test (makemore_lines).
    // makemore.py's behaviours (its command line, makemore_cli.c, sets them):
    int sample_every;     // every N steps: 10 samples, sorted as makemore.py sorts them
    const char *best;     // the best model's path (makemore.py's model.pt; train --eval-every:
                          // --out)
    int makemore_lines;   // makemore.py's progress lines ("step N | loss X | step time Yms")
    int top_k;            // sampling's top-k (0: all)
    const char *resume_cmd;  // the command that continues a stopped run, when not train's
} TrainOpts;

// The table (its defaults: the mlp recipe's, then each architecture's).
const FlagTable *train_flags(void);
// 1 when the row named name was given.
int train_opts_given(const TrainOpts *o, const char *name);

// Parses argv (argv[0] is "train"): the architecture first (it sets the defaults), then
// every flag, then the checks that need several (wavenet has no --layers, --save-every
// needs --out, ...). FLAGS_OK, FLAGS_HELP (the caller prints train_usage) or FLAGS_ERROR
// with err naming the flag and what is allowed.
int train_opts_parse(TrainOpts *o, int argc, char **argv, Err *err);
void train_usage(void);
// The model the flags describe, for a vocabulary of V.
NetConfig train_opts_model(const TrainOpts *o, int V);
// With --resume: every model and schedule flag given must agree with the checkpoint
// (config c, state ts); only --steps may differ. 0, or -1 with err naming the flag and
// both values.
int train_opts_check_resume(const TrainOpts *o, const NetConfig *c, const TrainState *ts, Err *err);
// The command that continues a stopped run from ckpt, every path shell-quoted, with every
// flag the checkpoint does not record. Caller frees.
char *train_opts_continue_command(const TrainOpts *o, const char *ckpt);

#endif
