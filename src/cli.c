// cli.c: strict flag parsing (see cli.h).
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

void cli_init(Cli *c, const char *cmd, int argc, char **argv) {
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->argc = argc;
    c->argv = argv;
    c->i = 0;
}

int cli_next(Cli *c) {
    c->i++;
    if (c->i >= c->argc) return 0;
    c->flag = c->argv[c->i];
    c->value = NULL;
    return 1;
}

void cli_fail(const Cli *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "makemore %s: ", c->cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'makemore %s --help')\n", c->cmd);
    va_end(ap);
    exit(EXIT_USAGE);
}

void cli_unknown(const Cli *c) { cli_fail(c, "unknown argument '%s'", c->flag); }

int cli_is(Cli *c, const char *name, int takes_value) {
    size_t n = strlen(name);
    if (strncmp(c->flag, name, n) != 0) return 0;
    if (c->flag[n] == '=') {
        if (!takes_value) cli_fail(c, "%s takes no value", name);
        c->value = c->flag + n + 1;
    } else if (c->flag[n] == '\0') {
        if (takes_value) {
            if (c->i + 1 >= c->argc) cli_fail(c, "%s needs a value", name);
            c->value = c->argv[++c->i];
        }
    } else {
        return 0;
    }
    c->flag = name;
    return 1;
}

long cli_long(const Cli *c, long lo, long hi) {
    const char *s = c->value;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0')
        cli_fail(c, "%s: '%s' is not an integer (allowed: %ld..%ld)", c->flag, s, lo, hi);
    if (errno == ERANGE || v < lo || v > hi)
        cli_fail(c, "%s: %s is out of range (allowed: %ld..%ld)", c->flag, s, lo, hi);
    return v;
}

uint64_t cli_u64(const Cli *c) {
    const char *s = c->value;
    char *end;
    errno = 0;
    if (*s == '-' || *s == '+' || *s == ' ')
        cli_fail(c, "%s: '%s' is not a non-negative integer (allowed: 0..18446744073709551615)", c->flag, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0')
        cli_fail(c, "%s: '%s' is not a non-negative integer (allowed: 0..18446744073709551615)", c->flag, s);
    if (errno == ERANGE)
        cli_fail(c, "%s: %s is out of range (allowed: 0..18446744073709551615)", c->flag, s);
    return (uint64_t)v;
}

double cli_double(const Cli *c, double lo, double hi) {
    const char *s = c->value;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v))
        cli_fail(c, "%s: '%s' is not a finite number (allowed: %g..%g)", c->flag, s, lo, hi);
    if (errno == ERANGE || v < lo || v > hi)
        cli_fail(c, "%s: %s is out of range (allowed: %g..%g)", c->flag, s, lo, hi);
    return v;
}

int cli_choice(const Cli *c, const char *const *choices) {
    for (int k = 0; choices[k]; k++)
        if (strcmp(c->value, choices[k]) == 0) return k;
    char allowed[256] = "";
    for (int k = 0; choices[k]; k++) {
        if (k) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, choices[k], sizeof allowed - strlen(allowed) - 1);
    }
    cli_fail(c, "%s: '%s' is not allowed (allowed: %s)", c->flag, c->value, allowed);
}
