// cli.h: flag parsing for the subcommands. Every value is checked in full (no trailing
// junk, no overflow, inside its range); a bad one exits with EXIT_USAGE and a message
// naming the subcommand, the flag, the value and what is allowed.
#ifndef MAKEMORE_CLI_H
#define MAKEMORE_CLI_H

#include <stdint.h>

typedef struct {
    const char *cmd;  // "train", "sample", ... (for messages)
    int argc;
    char **argv;
    int i;            // index of the flag being read
    const char *flag; // the flag matched last
    const char *value;
} Cli;

void cli_init(Cli *c, const char *cmd, int argc, char **argv);  // argv[0] is the subcommand
// Next argument; returns 0 when none are left. Sets c->flag.
int cli_next(Cli *c);
// 1 when c->flag is `name` (also "--name=value" forms); reads its value when the flag takes one.
int cli_is(Cli *c, const char *name, int takes_value);
long cli_long(const Cli *c, long lo, long hi);
uint64_t cli_u64(const Cli *c);
double cli_double(const Cli *c, double lo, double hi);  // decimal notation, finite, lo..hi
double cli_positive(const Cli *c, double hi);             // decimal, 0 < value <= hi
// As cli_positive, checked after the conversion to float: FLT_MIN <= (float)value <= hi
// (1e-50 passes "> 0" but is 0 as a float).
float cli_positive_float(const Cli *c, double hi);
// value must be one of the NULL-terminated choices; returns its index.
int cli_choice(const Cli *c, const char *const *choices);
void cli_unknown(const Cli *c) __attribute__((noreturn));
void cli_fail(const Cli *c, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
// A runtime failure (or a usage error found after parsing) of subcommand cmd:
// "makemore <cmd>: <message>" on stderr, exit(status).
void cli_die(const char *cmd, int status, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));


#endif
