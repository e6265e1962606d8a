// cli.c: strict command-line values and the one exit of a failed command (cli.h).
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_init(Cli *c, const char *cmd, int argc, char **argv) {
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->argc = argc;
    c->argv = argv;
}

int cli_next(Cli *c) {
    c->i++;
    if (c->i >= c->argc) return 0;
    c->flag = c->argv[c->i];
    c->value = NULL;
    return 1;
}

int cli_unknown(const Cli *c, Err *err) {
    if (c->flag[0] == '-') return err_set(err, "unknown flag '%s'", c->flag);
    return err_set(err, "unexpected argument '%s' (all arguments are --flag VALUE pairs)", c->flag);
}

int cli_is(Cli *c, const char *name, int takes_value, Err *err) {
    size_t n = strlen(name);
    if (strncmp(c->flag, name, n) != 0) return 0;
    if (c->flag[n] == '=') {
        if (!takes_value) return err_set(err, "%s takes no value", name);
        c->value = c->flag + n + 1;
    } else if (c->flag[n] == '\0') {
        if (takes_value) {
            if (c->i + 1 >= c->argc) return err_set(err, "%s needs a value", name);
            c->value = c->argv[++c->i];
            // "--out --steps 5": the value was forgotten, not a file named "--steps".
            if (strncmp(c->value, "--", 2) == 0 && c->value[2] != '\0')
                return err_set(err, "%s needs a value, got the flag '%s' (write %s=%s if you "
                               "mean it)", name, c->value, name, c->value);
        }
    } else {
        return 0;
    }
    c->flag = name;
    if (takes_value && c->value[0] == '\0') return err_set(err, "%s needs a non-empty value", name);
    return 1;
}

// Decimal integers only: an optional '-', then digits (no blanks, no '+', no hex).
static int decimal_start(const char *s, int allow_minus) {
    if (allow_minus && *s == '-') s++;
    return *s >= '0' && *s <= '9';
}

int cli_long(const char *flag, const char *s, long lo, long hi, long *out, Err *err) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!decimal_start(s, 1) || end == s || *end != '\0')
        return err_set(err, "%s: '%s' is not an integer (allowed: %ld..%ld)", flag, s, lo, hi);
    if (errno == ERANGE || v < lo || v > hi)
        return err_set(err, "%s: %s is out of range (allowed: %ld..%ld)", flag, s, lo, hi);
    *out = v;
    return 0;
}

int cli_u64(const char *flag, const char *s, uint64_t *out, Err *err) {
    static const char allowed[] = "allowed: 0..18446744073709551615";
    char *end;
    errno = 0;
    if (!decimal_start(s, 0))
        return err_set(err, "%s: '%s' is not a non-negative integer (%s)", flag, s, allowed);
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end != '\0')
        return err_set(err, "%s: '%s' is not a non-negative integer (%s)", flag, s, allowed);
    if (errno == ERANGE) return err_set(err, "%s: %s is out of range (%s)", flag, s, allowed);
    *out = (uint64_t)v;
    return 0;
}

// The value as a finite decimal number ("0.1", "-2", "1e-3", ".5": no blanks, leading
// '+', hex, inf or nan), or an error saying what is allowed.
static int read_decimal(const char *flag, const char *s, const char *allowed, double *out,
                        Err *err) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    const char *m = s + (*s == '-');
    int plain = strspn(s, "0123456789.eE+-") == strlen(s) &&
                (decimal_start(m, 0) || (m[0] == '.' && decimal_start(m + 1, 0)));
    if (end == s || *end != '\0' || !isfinite(v) || !plain)
        return err_set(err, "%s: '%s' is not a finite decimal number (allowed: %s)", flag, s, allowed);
    if (errno == ERANGE) return err_set(err, "%s: %s is out of range (allowed: %s)", flag, s, allowed);
    *out = v;
    return 0;
}

int cli_double(const char *flag, const char *s, double lo, double hi, double *out, Err *err) {
    char allowed[64];
    snprintf(allowed, sizeof allowed, "%g..%g", lo, hi);
    double v;
    if (read_decimal(flag, s, allowed, &v, err)) return -1;
    if (v < lo || v > hi) return err_set(err, "%s: %s is out of range (allowed: %s)", flag, s, allowed);
    *out = v;
    return 0;
}

int cli_positive_float(const char *flag, const char *s, double hi, float *out, Err *err) {
    char allowed[96];
    snprintf(allowed, sizeof allowed, "at least %.9g (the smallest normal float), at most %g",
             (double)FLT_MIN, hi);
    double v;
    if (read_decimal(flag, s, allowed, &v, err)) return -1;
    float f = (float)v;  // the value used is the float: it is what must be in range
    if (!(v > 0) || v > hi) return err_set(err, "%s: %s is out of range (allowed: %s)", flag, s, allowed);
    if (!(f >= FLT_MIN))
        return err_set(err, "%s: %s is out of range: as a float it is %g (allowed: %s)", flag, s,
                       (double)f, allowed);
    *out = f;
    return 0;
}

int cli_choice(const char *flag, const char *s, const char *const *choices, int *out, Err *err) {
    for (int k = 0; choices[k]; k++)
        if (strcmp(s, choices[k]) == 0) {
            *out = k;
            return 0;
        }
    char allowed[256] = "";
    for (int k = 0; choices[k]; k++) {
        if (k) strncat(allowed, ", ", sizeof allowed - strlen(allowed) - 1);
        strncat(allowed, choices[k], sizeof allowed - strlen(allowed) - 1);
    }
    return err_set(err, "%s: '%s' is not allowed (allowed: %s)", flag, s, allowed);
}

void cmd_fail(const char *cmd, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (status == EXIT_USAGE && cmd)
        say(cmd, "%s (see 'makemore %s --help')", msg, cmd);
    else if (status == EXIT_USAGE)  // makemore.py's form
        say(NULL, "%s (see 'makemore --input-file FILE --help')", msg);
    else
        say(cmd, "%s", msg);
    exit(status);
}

void cmd_fail_err(const char *cmd, int status, const Err *err) { cmd_fail(cmd, status, "%s", err->msg); }

static int stdout_failed_errno;  // the errno of the first write to fd 1 that failed

static ssize_t stdout_write(void *cookie, const char *buf, size_t n) {
    (void)cookie;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(STDOUT_FILENO, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (!stdout_failed_errno) stdout_failed_errno = w < 0 ? errno : EIO;
            return 0;  // fopencookie's "error"
        }
        done += (size_t)w;
    }
    return (ssize_t)n;
}

void cmd_stdout_track(void) {
    FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){.write = stdout_write});
    if (!f) return;  // stdout as it is: a failure then reads as EIO
    setvbuf(f, NULL, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, BUFSIZ);
    fflush(stdout);
    stdout = f;
}

int cmd_stdout_errno(void) {
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    return stdout_failed_errno ? stdout_failed_errno : errno ? errno : EIO;
}

int cmd_stdout_done(const char *cmd, int status) {
    int e = cmd_stdout_errno();
    if (e) cmd_fail(cmd, EXIT_RUNTIME, "writing to stdout failed (%s); the output is incomplete", strerror(e));
    return status;
}
