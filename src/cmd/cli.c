// cli.c: strict flag parsing (see cli.h).
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    say(c->cmd, "%s (see 'makemore %s --help')", msg, c->cmd);
    exit(EXIT_USAGE);
}

void cli_unknown(const Cli *c) {
    if (c->flag[0] == '-')
        cli_fail(c, "unknown flag '%s'", c->flag);
    cli_fail(c, "unexpected argument '%s' (all arguments are --flag VALUE pairs)", c->flag);
}

void cli_die(const char *cmd, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(cmd, fmt, ap);
    va_end(ap);
    exit(status);
}

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
            // "--out --steps 5": the value was forgotten, not a file named "--steps".
            if (strncmp(c->value, "--", 2) == 0 && c->value[2] != '\0')
                cli_fail(c, "%s needs a value, got the flag '%s' (write %s=%s if you mean it)",
                         name, c->value, name, c->value);
        }
    } else {
        return 0;
    }
    c->flag = name;
    if (takes_value && c->value[0] == '\0') cli_fail(c, "%s needs a non-empty value", name);
    return 1;
}

// Decimal integers only: an optional '-', then digits (no blanks, no '+', no hex).
static int decimal_start(const char *s, int allow_minus) {
    if (allow_minus && *s == '-') s++;
    return *s >= '0' && *s <= '9';
}

long cli_long(const Cli *c, long lo, long hi) {
    const char *s = c->value;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!decimal_start(s, 1) || end == s || *end != '\0')
        cli_fail(c, "%s: '%s' is not an integer (allowed: %ld..%ld)", c->flag, s, lo, hi);
    if (errno == ERANGE || v < lo || v > hi)
        cli_fail(c, "%s: %s is out of range (allowed: %ld..%ld)", c->flag, s, lo, hi);
    return v;
}

uint64_t cli_u64(const Cli *c) {
    const char *s = c->value;
    char *end;
    errno = 0;
    if (!decimal_start(s, 0))
        cli_fail(c, "%s: '%s' is not a non-negative integer (allowed: 0..18446744073709551615)", c->flag, s);
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0')
        cli_fail(c, "%s: '%s' is not a non-negative integer (allowed: 0..18446744073709551615)", c->flag, s);
    if (errno == ERANGE)
        cli_fail(c, "%s: %s is out of range (allowed: 0..18446744073709551615)", c->flag, s);
    return (uint64_t)v;
}

// The value as a finite decimal number, or a usage error saying what is allowed.
static double read_decimal(const Cli *c, const char *allowed) {
    const char *s = c->value;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    // Decimal notation only ("0.1", "-2", "1e-3", ".5"): no blanks, leading '+', hex,
    // inf or nan.
    const char *m = s + (*s == '-');
    int plain = strspn(s, "0123456789.eE+-") == strlen(s) &&
                (decimal_start(m, 0) || (m[0] == '.' && decimal_start(m + 1, 0)));
    if (end == s || *end != '\0' || !isfinite(v) || !plain)
        cli_fail(c, "%s: '%s' is not a finite decimal number (allowed: %s)", c->flag, s, allowed);
    if (errno == ERANGE)
        cli_fail(c, "%s: %s is out of range (allowed: %s)", c->flag, s, allowed);
    return v;
}

double cli_double(const Cli *c, double lo, double hi) {
    char allowed[64];
    snprintf(allowed, sizeof allowed, "%g..%g", lo, hi);
    double v = read_decimal(c, allowed);
    if (v < lo || v > hi) cli_fail(c, "%s: %s is out of range (allowed: %s)", c->flag, c->value, allowed);
    return v;
}

double cli_positive(const Cli *c, double hi) {
    char allowed[64];
    snprintf(allowed, sizeof allowed, "greater than 0, at most %g", hi);
    double v = read_decimal(c, allowed);
    if (!(v > 0) || v > hi)
        cli_fail(c, "%s: %s is out of range (allowed: %s)", c->flag, c->value, allowed);
    return v;
}

float cli_positive_float(const Cli *c, double hi) {
    char allowed[96];
    snprintf(allowed, sizeof allowed, "at least %.9g (the smallest normal float), at most %g",
             (double)FLT_MIN, hi);
    double v = read_decimal(c, allowed);
    float f = (float)v;  // the value used is the float: it is what must be in range
    if (!(v > 0) || v > hi)
        cli_fail(c, "%s: %s is out of range (allowed: %s)", c->flag, c->value, allowed);
    if (!(f >= FLT_MIN))
        cli_fail(c, "%s: %s is out of range: as a float it is %g (allowed: %s)", c->flag,
                 c->value, (double)f, allowed);
    return f;
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

