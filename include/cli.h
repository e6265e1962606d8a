// cli.h: reading a command line strictly, and the one way a command fails.
//
// Values are checked in full (no trailing junk, no overflow, inside the range); a bad one
// is an error naming the flag, the value and what is allowed. Nothing here exits but
// cmd_fail, which every command calls to end with one escaped line and a status.
#ifndef MAKEMORE_CLI_H
#define MAKEMORE_CLI_H

#include <stdint.h>

#include "common.h"

typedef struct {
    const char *cmd;  // "train", "sample", ... (for messages)
    int argc;
    char **argv;
    int i;            // index of the argument being read
    const char *flag; // the flag matched last
    const char *value;
} Cli;

void cli_init(Cli *c, const char *cmd, int argc, char **argv);  // argv[0] is the subcommand
// Next argument; 0 when none are left. Sets c->flag.
int cli_next(Cli *c);
// 1 when c->flag is `name` (or "name=value"), its value read into c->value when the flag
// takes one; 0 when it is another flag; -1 with err when it is this flag used wrongly
// (a value given to a switch, a missing or empty value, a flag where the value belongs).
int cli_is(Cli *c, const char *name, int takes_value, Err *err);
// "unknown flag '--x'" or "unexpected argument 'x' ...": always -1.
int cli_unknown(const Cli *c, Err *err);

// Values. Each returns 0 and stores the value, or -1 with err.
int cli_long(const char *flag, const char *s, long lo, long hi, long *out, Err *err);
int cli_u64(const char *flag, const char *s, uint64_t *out, Err *err);
int cli_double(const char *flag, const char *s, double lo, double hi, double *out, Err *err);
// 0 < value <= hi, checked after the conversion to float: FLT_MIN <= (float)value.
int cli_positive_float(const char *flag, const char *s, double hi, float *out, Err *err);
// s must be one of the NULL-terminated choices; stores its index.
int cli_choice(const char *flag, const char *s, const char *const *choices, int *out, Err *err);

// The end of a command that failed: "makemore <cmd>: <message>" on stderr as one escaped
// line (say(), common.h), then exit(status). A usage error (EXIT_USAGE) adds where to read
// the command's flags. Every command failure goes through here; nothing below src/cmd/
// exits (but xcalloc on exhausted memory).
void cmd_fail(const char *cmd, int status, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));
// cmd_fail with err's message.
void cmd_fail_err(const char *cmd, int status, const Err *err) __attribute__((noreturn));

// Every write is checked, stdout's too. cmd_stdout_track (first thing in main) puts stdout
// through a stream of the same buffering over fd 1 that keeps the errno of the first write
// that failed (stdio itself forgets it once the buffer is dropped) and writes on after
// EINTR. cmd_stdout_errno flushes stdout: 0, or that errno (ENOSPC, EIO, EPIPE where
// SIGPIPE is ignored; EIO when unknown).
void cmd_stdout_track(void);
int cmd_stdout_errno(void);
// The end of a command's output: returns status when stdout took it all, else fails with
// one line naming the error ("writing to stdout failed (No space left on device); the
// output is incomplete"), exit 1. Every command that prints returns through it.
int cmd_stdout_done(const char *cmd, int status);

#endif
