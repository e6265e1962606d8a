// train.h: the subcommands (each gets argv with argv[0] = its own name).
#ifndef MAKEMORE_TRAIN_H
#define MAKEMORE_TRAIN_H

int train_main(int argc, char **argv);
struct TrainOpts;
// A training run of parsed, checked options (train_main's, or makemore.py's command line's,
// makemore_cli.c): claims its outputs, trains, reports. Returns the exit status.
int train_run(struct TrainOpts *o);
int sample_main(int argc, char **argv);
int plan_main(int argc, char **argv);  // plan.c: the wisdom
int eval_main(int argc, char **argv);
int plot_main(int argc, char **argv);  // plot.c: the pictures of train --diag DIR

#endif
