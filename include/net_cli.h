// net_cli.h: the MLP family's commands (train, eval, sample, gradcheck --arch) and the
// router that sends a command line to them or to the lecture model's commands.
#ifndef MAKEMORE_NET_CLI_H
#define MAKEMORE_NET_CLI_H

#include "data.h"
#include "net.h"
#include "rng.h"

// 1 when `makemore <cmd> argv...` is for the layer table: train with --arch wavenet,
// --layers N != 1, --bn-stats running, or --resume of a Net file; eval/sample whose
// --model is a Net file; gradcheck with --arch. Else 0 (model.c's commands).
int net_route(const char *cmd, int argc, char **argv);
int net_train_main(int argc, char **argv);
int net_eval_main(int argc, char **argv);
int net_sample_main(int argc, char **argv);
int net_gradcheck_main(int argc, char **argv);
// One word as sample_word does, from a Net in inference mode.
void net_sample_word(char *out, const Net *n, const Vocab *v, Rng *rng, float temperature,
                     int top_k);

#endif
