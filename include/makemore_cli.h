// makemore_cli.h: makemore.py's own command line, `makemore -i names.txt -o out --type
// transformer ...`: its flags meaning what they mean there, its work directory, its
// progress, evaluation, best model and samples; the engine's training run underneath.
#ifndef MAKEMORE_MAKEMORE_CLI_H
#define MAKEMORE_MAKEMORE_CLI_H

// 1 when argv[1] is one of makemore.py's flags (the command line is in its form).
int makemore_cli_form(int argc, char **argv);
// argv[0] is the program; every other argument is one of makemore.py's flags.
int makemore_cli_main(int argc, char **argv);
void makemore_cli_usage(void);

#endif
