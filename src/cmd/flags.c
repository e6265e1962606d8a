// flags.c: the flag tables' parser, help and synopsis (flags.h).
#include "flags.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define FIELD(opts, f, type) ((type *)((char *)(opts) + (f)->off))
#define CFIELD(opts, f, type) ((const type *)((const char *)(opts) + (f)->off))

// The value s of row f, named in messages as the user wrote the flag (name or alias).
static int set_as(const Flag *f, const char *name, void *opts, const char *s, Err *err) {
    long l;
    double d;
    switch (f->type) {
    case FT_SWITCH: *FIELD(opts, f, int) = 1; return 0;
    case FT_INT:
        if (cli_long(name, s, (long)f->lo, (long)f->hi, &l, err)) return -1;
        *FIELD(opts, f, int) = (int)l;
        return 0;
    case FT_LONG: return cli_long(name, s, (long)f->lo, (long)f->hi, FIELD(opts, f, long), err);
    case FT_U64: return cli_u64(name, s, FIELD(opts, f, uint64_t), err);
    case FT_FLOAT: return cli_positive_float(name, s, f->hi, FIELD(opts, f, float), err);
    case FT_DOUBLE:
        if (cli_double(name, s, f->lo, f->hi, &d, err)) return -1;
        *FIELD(opts, f, double) = d;
        return 0;
    case FT_FLOAT_0:
        if (cli_double(name, s, f->lo, f->hi, &d, err)) return -1;
        *FIELD(opts, f, float) = (float)d;
        return 0;
    case FT_CHOICE: return cli_choice(name, s, f->choices, FIELD(opts, f, int), err);
    case FT_STRING:
        if (!*s) return err_set(err, "%s needs a non-empty value", name);
        *FIELD(opts, f, const char *) = s;
        return 0;
    }
    return err_set(err, "%s: unknown flag type", name);
}

int flags_set(const Flag *f, void *opts, const char *s, Err *err) { return set_as(f, f->name, opts, s, err); }

int flags_find(const FlagTable *t, const char *name) {
    for (int i = 0; i < t->n; i++) {
        const Flag *f = &t->flag[i];
        if (!strcmp(name, f->name) || !strcmp(name, f->name + 2) || (f->alias && !strcmp(name, f->alias)))
            return i;
    }
    return -1;
}

int flags_parse(const FlagTable *t, void *opts, unsigned char given[FLAGS_MAX], int argc,
                char **argv, Err *err) {
    Cli c;
    cli_init(&c, t->cmd, argc, argv);
    memset(given, 0, FLAGS_MAX);
    while (cli_next(&c)) {
        int r;
        if ((r = cli_is(&c, "--help", 0, err)) || (r = cli_is(&c, "-h", 0, err)))
            return r < 0 ? FLAGS_ERROR : FLAGS_HELP;
        int row = -1;
        for (int i = 0; i < t->n && row < 0; i++) {
            const Flag *f = &t->flag[i];
            int takes = f->type != FT_SWITCH;
            if ((r = cli_is(&c, f->name, takes, err)) == 0 && f->alias) r = cli_is(&c, f->alias, takes, err);
            if (r < 0) return FLAGS_ERROR;
            if (r > 0) row = i;
        }
        if (row < 0) return cli_unknown(&c, err);
        const Flag *f = &t->flag[row];
        given[row] = 1;  // given twice: the last one counts, as a shell user expects
        if (set_as(f, c.flag, opts, c.value, err)) return FLAGS_ERROR;
    }
    return FLAGS_OK;
}

void flags_format(const Flag *f, const void *opts, char *buf, size_t len) {
    switch (f->type) {
    case FT_SWITCH: snprintf(buf, len, "%s", *CFIELD(opts, f, int) ? "yes" : "no"); return;
    case FT_INT: snprintf(buf, len, "%d", *CFIELD(opts, f, int)); return;
    case FT_LONG: snprintf(buf, len, "%ld", *CFIELD(opts, f, long)); return;
    case FT_U64: snprintf(buf, len, "%" PRIu64, *CFIELD(opts, f, uint64_t)); return;
    case FT_FLOAT:
    case FT_FLOAT_0: {  // the shortest decimal that reads back as the same float
        float v = *CFIELD(opts, f, float);
        for (int p = 6; p <= 9; p++) {
            snprintf(buf, len, "%.*g", p, (double)v);
            if ((float)strtod(buf, NULL) == v) break;
        }
        return;
    }
    case FT_DOUBLE: {  // the shortest decimal that reads back as the same double
        double v = *CFIELD(opts, f, double);
        for (int p = 6; p <= 17; p++) {
            snprintf(buf, len, "%.*g", p, v);
            if (strtod(buf, NULL) == v) break;
        }
        return;
    }
    case FT_CHOICE: snprintf(buf, len, "%s", f->choices[*CFIELD(opts, f, int)]); return;
    case FT_STRING: {
        const char *s = *CFIELD(opts, f, char *);
        snprintf(buf, len, "%s", s ? s : "");
        return;
    }
    }
    snprintf(buf, len, "?");
}

int flags_same(const Flag *f, const void *a, const void *b) {
    char x[512], y[512];
    flags_format(f, a, x, sizeof x);
    flags_format(f, b, y, sizeof y);
    return !strcmp(x, y);
}

// A default worth showing: a string row without one, a choice with -1 (none chosen) or
// an integer sentinel below its range show nothing.
static int has_default(const Flag *f, const void *opts) {
    switch (f->type) {
    case FT_SWITCH: return 0;
    case FT_STRING: return *CFIELD(opts, f, char *) != NULL;
    case FT_CHOICE: return *CFIELD(opts, f, int) >= 0;
    case FT_INT: return *CFIELD(opts, f, int) >= f->lo;
    case FT_LONG: return *CFIELD(opts, f, long) >= f->lo;
    default: return 1;
    }
}

// "[--arch mlp|wavenet]", "[--layers 1]", "[--log FILE]", "[--accept-unchecked]"
static void synopsis_item(char *buf, size_t len, const Flag *f, const void *defaults) {
    const char *name = f->alias ? f->alias : f->name;
    if (f->type == FT_SWITCH) {
        snprintf(buf, len, "[%s]", f->name);
    } else if (f->type == FT_CHOICE) {
        size_t n = (size_t)snprintf(buf, len, "[%s ", f->name);
        for (int k = 0; f->choices[k] && n < len; k++)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", k ? "|" : "", f->choices[k]);
        if (n < len) snprintf(buf + n, len - n, "]");
    } else if (!(f->roles & FL_META) && has_default(f, defaults)) {
        char v[128];
        flags_format(f, defaults, v, sizeof v);
        snprintf(buf, len, "[%s %s]", name, v);
    } else {
        snprintf(buf, len, "[%s %s]", name, f->meta);
    }
}

static int skipped(const char *name, const char *const *skip) {
    for (int i = 0; skip && skip[i]; i++)
        if (!strcmp(skip[i], name)) return 1;
    return 0;
}

void flags_synopsis(FILE *out, const FlagTable *t, const char *lead, int pad, const char *fixed,
                    const char *const *skip) {
    const int width = 92;
    fputs("  ", out);
    int col = fprintf(out, "%-*s", pad, lead);
    int indent = col + 1, first = 1;
    if (fixed) {
        col += fprintf(out, " %s", fixed);
        first = 0;
    }
    for (int i = 0; i < t->n; i++) {
        const Flag *f = &t->flag[i];
        if (skipped(f->name, skip)) continue;
        char item[256];
        synopsis_item(item, sizeof item, f, t->defaults[0].opts);
        int len = (int)strlen(item);
        if (!first && col + 1 + len > width) {
            fprintf(out, "\n  %*s", indent - 1, "");
            col = indent - 1;
        }
        col += fprintf(out, " %s", item);
        first = 0;
    }
    fputc('\n', out);
}

// "(default 200; wavenet 128; 1..16384)"
static void help_tail(char *buf, size_t len, const FlagTable *t, const Flag *f) {
    size_t n = 0;
    const void *d0 = t->defaults[0].opts;
    char v[256];
    if (has_default(f, d0) && !(f->roles & FL_META)) {
        flags_format(f, d0, v, sizeof v);
        n += (size_t)snprintf(buf + n, len - n, "default %s", v);
        for (int k = 1; k < t->n_defaults && n < len; k++) {
            const FlagDefaults *dk = &t->defaults[k];
            if (flags_same(f, d0, dk->opts)) continue;
            int named = 0, whole = dk->group != NULL;  // a group whose members agree: once
            for (int j = 1; j < t->n_defaults && whole; j++) {
                const FlagDefaults *dj = &t->defaults[j];
                if (!dj->group || strcmp(dj->group, dk->group)) continue;
                if (!flags_same(f, dk->opts, dj->opts)) whole = 0;
                if (j < k) named = 1;
            }
            if (whole && named) continue;  // said with its group's first member
            flags_format(f, dk->opts, v, sizeof v);
            if (!whole && !strcmp(v, dk->name)) continue;  // the flag that names the set: --arch
            n += (size_t)snprintf(buf + n, len - n, "; %s %s", whole ? dk->group : dk->name, v);
        }
    }
    if ((f->type == FT_INT || f->type == FT_LONG) && n < len)
        n += (size_t)snprintf(buf + n, len - n, "%s%.0f..%.0f", n ? "; " : "", f->lo, f->hi);
    else if ((f->type == FT_DOUBLE || f->type == FT_FLOAT_0) && n < len)
        n += (size_t)snprintf(buf + n, len - n, "%s%g..%g", n ? "; " : "", f->lo, f->hi);
    else if (f->type == FT_FLOAT && n < len)
        n += (size_t)snprintf(buf + n, len - n, "%s> 0, at most %g", n ? "; " : "", f->hi);
    if (n == 0) buf[0] = '\0';
}

void flags_help(FILE *out, const FlagTable *t) {
    for (int i = 0; i < t->n; i++) {
        const Flag *f = &t->flag[i];
        char head[64], tail[256];
        if (f->alias)
            snprintf(head, sizeof head, "%s, %s%s%s", f->alias, f->name, f->meta ? " " : "",
                     f->meta ? f->meta : "");
        else
            snprintf(head, sizeof head, "%s%s%s", f->name, f->meta ? " " : "", f->meta ? f->meta : "");
        help_tail(tail, sizeof tail, t, f);
        const char *h = f->help, *nl = strchr(h, '\n');
        fprintf(out, "  %-20s %.*s", head, nl ? (int)(nl - h) : (int)strlen(h), h);
        if (!nl && tail[0]) fprintf(out, " (%s)", tail);
        fputc('\n', out);
        while (nl) {  // continuation lines, the tail after the last
            h = nl + 1;
            nl = strchr(h, '\n');
            fprintf(out, "  %-20s %.*s", "", nl ? (int)(nl - h) : (int)strlen(h), h);
            if (!nl && tail[0]) fprintf(out, " (%s)", tail);
            fputc('\n', out);
        }
    }
}
