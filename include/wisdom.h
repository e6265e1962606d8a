// wisdom.h: plans kept per machine, as FFTW keeps its wisdom: a file of key -> plan lines,
// found at $MAKEMORE_WISDOM, else $XDG_CACHE_HOME/makemore/wisdom, else
// $HOME/.cache/makemore/wisdom.
//
// The file: "makemore-wisdom-1", then one "KEY<TAB>VALUE" line per entry, then
// "crc32c XXXXXXXX" (CRC-32C of every byte before that line). Written whole and atomically
// (a temporary file beside it, fsync, rename) under its lock ("<file>.lock", flock), which
// readers that will write take too, so two runs that both find no plan make it once.
// A file that is damaged (its checksum, its lines) is never trusted: it reads as empty, with
// a note, and the next store replaces it; a file that is not a wisdom file at all (its first
// line) is never touched. Keys and values are one line each, without tabs.
#ifndef MAKEMORE_WISDOM_H
#define MAKEMORE_WISDOM_H

#include <stddef.h>

#include "common.h"

// The file's path; -1 with err when none can be named (no HOME, no XDG_CACHE_HOME).
int wisdom_path(char *buf, size_t len, Err *err);

typedef struct {
    char path[4096];
    int lock_fd;       // the lock, held between wisdom_open and wisdom_close (-1: none)
    char *text;        // the entries read (KEY\tVALUE\n ...), NULL when none
    char note[8192];   // why the file was not read, when it was not ("" otherwise)
    int foreign;       // the path holds something else: never written
} Wisdom;

// Opens the wisdom at path: takes its lock (waiting, up to a minute, for another run that
// holds it) and reads it. 0, or -1 with err (the lock cannot be taken: the directory is
// missing or read-only, say).
int wisdom_open(Wisdom *w, const char *path, Err *err);
// The value of key into value (len bytes): 1 found, 0 not.
int wisdom_get(const Wisdom *w, const char *key, char *value, size_t len);
// Sets key's value (replacing its line) and writes the file. 0, or -1 with err.
int wisdom_put(Wisdom *w, const char *key, const char *value, Err *err);
// Drops the entries whose key contains `match` (NULL: all) and writes the file; the count.
int wisdom_forget(Wisdom *w, const char *match, Err *err);
// Each entry, one a line "KEY\tVALUE", into out (its caller prints); the count.
int wisdom_each(const Wisdom *w, void (*fn)(void *ctx, const char *key, const char *value), void *ctx);
void wisdom_close(Wisdom *w);

#endif
