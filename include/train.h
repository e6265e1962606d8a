// train.h: the subcommands (each gets argv with argv[0] = its own name).
#ifndef MAKEMORE_TRAIN_H
#define MAKEMORE_TRAIN_H

int train_main(int argc, char **argv);
int sample_main(int argc, char **argv);
int eval_main(int argc, char **argv);

#endif
