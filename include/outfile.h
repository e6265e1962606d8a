// outfile.h: the one rule for every file the engine writes, and the opening of every file
// it reads.
//
// A file written (a model or checkpoint, a gradient dump, a loss log, a GEMM plan, a
// sweep's CSV and its runs' logs, the interrupted run's checkpoint) is claimed before any
// work (outfile_claim):
//   - absent: its directory must exist and take a new file (a temporary one is made there
//     and removed, as an atomic save does);
//   - present: it must be a regular file, not a symbolic link (never followed into someone
//     else's file), and provably ours: a makemore file of the same kind (its first bytes,
//     outfile_is_ours); anything else is refused and left untouched;
//   - then it is locked for the rest of the process: "<path>.lock" holds the locker's pid
//     under flock, so a second run writing it fails at once naming the first. A lock file
//     that is not a makemore lock (a pid line, or empty) is refused, never truncated nor
//     removed; ours are removed at exit, and by the signal handlers.
// The writers then write as they always do: whole files atomically (a temporary file
// beside the target, fsync, rename), logs appended through O_NOFOLLOW.
// Every function returns 0, or -1 with err naming the flag, the path and what is allowed.
#ifndef MAKEMORE_OUTFILE_H
#define MAKEMORE_OUTFILE_H

#include "common.h"

// The first line of a makemore loss log (train --log; with --eval-every, LOG_HEADER_VAL).
#define LOG_HEADER "step,loss\n"
#define LOG_HEADER_VAL "step,loss,val\n"
// The first lines of the diagnostics' files (train --diag DIR; docs/DIAGNOSTICS.md), in
// the order of DIAG_FILES.
#define DIAG_N_FILES 6
#define DIAG_ACTS_HEADER "step,layer,kind,nonlin,mean,std,saturated_pct\n"
#define DIAG_GRADS_HEADER "step,layer,kind,mean,std\n"
#define DIAG_HIST_HEADER "step,layer,of,lo,hi,density\n"
#define DIAG_PARAMS_HEADER "step,name,shape,numel,data_std,grad_std,grad_data,update_data_log10\n"
#define DIAG_LOSS_HEADER "step,steps,train_loss\n"
#define DIAG_VAL_HEADER "step,val_loss\n"
extern const char *const DIAG_FILES[DIAG_N_FILES];    // "acts.csv", "grads.csv", ...
extern const char *const DIAG_HEADERS[DIAG_N_FILES];  // DIAG_ACTS_HEADER, ...
enum { DIAG_ACTS, DIAG_GRADS, DIAG_HIST, DIAG_PARAMS, DIAG_LOSS, DIAG_VAL };
// The first line of a sweep's CSV (sweep --csv).
#define SWEEP_CSV_HEADER "config,seed,status,train,val,test,seconds,checkpoint\n"

typedef enum {
    OUT_MODEL,    // safetensors with metadata format "makemore-..." (model, checkpoint, dump)
    OUT_LOG,      // LOG_HEADER
    OUT_CSV,      // SWEEP_CSV_HEADER
    OUT_PLAN,     // a GEMM plan's text, "B=...:fwd1=..."
    OUT_RUN_LOG,  // a sweep run's output: "makemore ..." (what train prints first)
    OUT_DIAG,     // one of the diagnostics' CSV files: its DIAG_*_HEADER
    OUT_PNG,      // a picture `makemore plot` draws in a diagnostics directory: a PNG
} OutKind;

// The check, then the lock.
int outfile_claim(const char *flag, const char *path, OutKind kind, Err *err);
// The check alone (the rule above without the lock).
int outfile_check(const char *flag, const char *path, OutKind kind, Err *err);
// The lock alone.
int outfile_lock(const char *flag, const char *path, Err *err);
// An output directory (train --diag DIR): made when missing (its parent must exist), a
// directory and not a link, writable; then locked for the process ("DIR/<name>.lock", a
// second run naming DIR fails at once); each of its files named in `files` (NULL-
// terminated, kinds[i] for files[i]) new or ours (outfile_check).
int outfile_claim_dir(const char *flag, const char *dir, const char *name,
                      const char *const *files, const OutKind *kinds, Err *err);
// 1 when the open file fd (a regular file) is empty or a makemore file of kind.
int outfile_is_ours(int fd, OutKind kind);
// Opens a claimed file to append (O_NOFOLLOW, a regular file); -1 with err.
int outfile_open_append(const char *flag, const char *path, Err *err);
// Removes the lock files this process holds (for a fatal-signal handler: async-signal-safe).
void outfile_unlock_signal_safe(void);

// An input: opened without blocking on a FIFO or a device (O_NONBLOCK, then fstat), and
// refused unless it is a regular file; the descriptor comes back blocking. -1 with err
// ("FLAG PATH: cannot open: ...", "...: is a directory", "...: not a regular file").
// what: the flag or role that names the path in messages ("--model", or NULL for the path
// alone).
int infile_open(const char *what, const char *path, Err *err);

// 1 when x and y name the same file (the same inode; for paths that do not exist yet, the
// same directory, resolved, and name).
int outfile_same(const char *x, const char *y);
// path as one shell word that stays one printable line (for a printed command): as is when
// it holds only safe characters; in single quotes when it is printable UTF-8; else in
// bash's $'...' with every other byte as \xNN. Caller frees (NULL when out of memory).
char *outfile_shell_quote(const char *path);
// A command to print: first, then argv[1..argc) each shell-quoted (outfile_shell_quote), then
// append unless it is NULL or already one of the arguments: "sweep --seeds 1-3 --resume".
// Caller frees (NULL when out of memory).
char *outfile_shell_command(const char *first, int argc, char *const *argv, const char *append);

#endif
