// flags.h: a command's flags as one table. Each row holds the flag's name (and a short
// alias), the field of the command's options it sets, its type and range, its help line
// and its roles; parsing, --help, the usage synopsis (README's command-line block is held
// equal to it by a test), a resumed run's conflict check, the command that continues a
// stopped run and `makemore sweep`'s pass-through and grid keys all read the rows.
#ifndef MAKEMORE_FLAGS_H
#define MAKEMORE_FLAGS_H

#include <stddef.h>
#include <stdio.h>

#include "common.h"

typedef enum {
    FT_SWITCH,  // int field set to 1, takes no value
    FT_INT,     // int field, lo..hi
    FT_LONG,    // long field, lo..hi
    FT_U64,     // uint64_t field, any unsigned 64-bit decimal
    FT_FLOAT,   // float field, 0 < x <= hi (and a normal float)
    FT_FLOAT_0, // float field, lo <= x <= hi (0 allowed)
    FT_DOUBLE,  // double field, lo..hi
    FT_CHOICE,  // int field: the index of the value in choices
    FT_STRING,  // const char * field: the argument itself (non-empty)
} FlagType;

// Roles of a row.
enum {
    FL_MODEL = 1 << 0,     // describes the model or schedule: with --resume it must agree
                           // with the checkpoint
    FL_SWEEP = 1 << 1,     // `makemore sweep` passes it on to every run
    FL_GRID = 1 << 2,      // ... and --grid may vary it
    FL_CONTINUE = 1 << 3,  // repeated in the command that continues a stopped run when it
                           // differs from its default (the checkpoint does not record it)
    FL_ALWAYS = 1 << 4,    // ... repeated there whatever its value
    FL_PATH = 1 << 5,      // a path: shell-quoted where a command is printed
    FL_META = 1 << 6,      // the synopsis shows META, not the default value
};

typedef struct {
    const char *name;             // "--hidden"
    const char *alias;            // "-n", or NULL
    FlagType type;
    size_t off;                   // offsetof(options, field)
    double lo, hi;                // range (FT_INT, FT_LONG, FT_DOUBLE; FT_FLOAT: hi)
    const char *const *choices;   // FT_CHOICE: NULL-terminated
    const char *meta;             // "H" in "--hidden H"
    const char *help;             // what it does; lines after the first start with '\n'
    unsigned roles;               // FL_*
} Flag;

// The defaults of a command's options for one variant (an architecture): name NULL for
// the plain command. The help line of a flag lists each variant whose default differs.
typedef struct {
    const char *name;
    const void *opts;
    const char *group;  // variants of one group with one value are named by the group, or NULL
} FlagDefaults;

typedef struct {
    const char *cmd;       // "train"
    const Flag *flag;
    int n;
    const FlagDefaults *defaults;  // [0] the command's own, then its variants'
    int n_defaults;
} FlagTable;

#define FLAGS_MAX 64
enum { FLAGS_OK = 0, FLAGS_HELP = 1, FLAGS_ERROR = -1 };

// Parses argv[1..argc) into opts (already holding the defaults); given[i] = 1 for each row
// i on the command line. --help/-h: FLAGS_HELP (nothing printed); a bad flag or value:
// FLAGS_ERROR with err naming it; else FLAGS_OK. A flag given twice: the last counts.
int flags_parse(const FlagTable *t, void *opts, unsigned char given[FLAGS_MAX], int argc,
                char **argv, Err *err);
// One value for row f into opts (the parser's own checks). 0, or -1 with err.
int flags_set(const Flag *f, void *opts, const char *value, Err *err);
// Row index of name ("--hidden", "hidden" or an alias), or -1.
int flags_find(const FlagTable *t, const char *name);
// The row's value in opts as the command line writes it ("200", "0.1", "wavenet").
void flags_format(const Flag *f, const void *opts, char *buf, size_t len);
// 1 when the row's value is the same in a and b.
int flags_same(const Flag *f, const void *a, const void *b);

// The synopsis: "  makemore train    [--arch mlp|wavenet] [--layers 1] ..." wrapped at 94
// columns (two of indent), continuation lines indented under the first flag. lead: the command as the
// synopsis writes it ("makemore train"), padded to `pad`; fixed: what precedes the
// optional flags (e.g. "--model FILE"), or NULL. Skips the rows named in `skip` (NULL-
// terminated, may be NULL).
void flags_synopsis(FILE *out, const FlagTable *t, const char *lead, int pad, const char *fixed,
                    const char *const *skip);
// One help line per row: "  --hidden H          hidden width (default 200; wavenet 128;
// 1..16384)", the defaults of every variant where they differ.
void flags_help(FILE *out, const FlagTable *t);

#endif
