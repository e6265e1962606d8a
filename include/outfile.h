// outfile.h: the files a run writes are its own. Before any work: every output path is
// checked writable the way it will be written (outfile_probe), a log is one makemore may
// take over (outfile_check_log), and a lock names the run that writes it (outfile_lock).
// Each function prints one line and exits on failure (cmd names the subcommand).
#ifndef MAKEMORE_OUTFILE_H
#define MAKEMORE_OUTFILE_H

// The first line of a makemore loss log (train --log).
#define LOG_HEADER "step,loss\n"

// path (given with `flag`) can be created or replaced: its directory exists and takes
// a new file (a temporary one is made there and removed, as an atomic save does); an
// existing path must be a regular file. Exit 1 otherwise.
void outfile_probe(const char *cmd, const char *flag, const char *path);

// A log a fresh run may write: absent, empty, or a makemore loss log (its first line is
// LOG_HEADER); anything else -- another file, a FIFO, a device -- is refused (exit 1).
void outfile_check_log(const char *cmd, const char *path);

// Takes an exclusive lock (flock) on "<path>.lock", a file holding the locker's pid, so
// that a second run writing `path` fails at once naming the first (exit 1). The lock
// file is removed at exit (a stale one left by kill -9 holds no lock and is reused).
void outfile_lock(const char *cmd, const char *flag, const char *path);
// Removes the lock files (for a fatal-signal handler: async-signal-safe).
void outfile_unlock_signal_safe(void);

// 1 when x and y name the same file (the same inode; for paths that do not exist yet, the
// same directory, resolved, and name).
int outfile_same(const char *x, const char *y);
// 1 if a file can be created in the working directory (where an interrupted run without
// --out writes its checkpoint).
int outfile_cwd_writable(void);
// path as one shell word that stays one printable line (for the command a stopped run
// prints): as is when it holds only safe characters; in single quotes when it is
// printable UTF-8; else in bash's $'...' with every other byte as \xNN. Caller frees.
char *outfile_shell_quote(const char *path);

#endif
