// bench_torch.c: runs bench/torch_bench.py (Debian's python3 + python3-torch) at the
// bench's sizes and thread counts and loads its CSV, so the table can put PyTorch's
// figure beside the engine's. The child inherits this process's environment, so both
// run the same OpenBLAS core.
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

extern char **environ;

enum { TORCH_MISSING = 3 };  // torch_bench.py's status when torch is not importable

static int run_child(char *const argv[], int *status) {
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR) return -1;
    return 0;
}

static void parse_line(TorchResults *tr, const char *line, int *cap) {
    TorchRow r;
    double median_us, min_us;
    if (sscanf(line, "%47[^,],%d,%d,%*d,%*d,%*d,%d,%lf,%lf", r.op, &r.B, &r.H, &r.threads,
               &median_us, &min_us) != 6)
        return;  // the column header, or a malformed line
    r.median = median_us * 1e-6;
    r.min = min_us * 1e-6;
    if (tr->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        TorchRow *grown = realloc(tr->rows, (size_t)*cap * sizeof *grown);
        if (!grown) return;
        tr->rows = grown;
    }
    tr->rows[tr->n++] = r;
}

static int load_csv(TorchResults *tr, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char line[512];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "# torch ", 8) == 0) {
            sscanf(line + 8, "%63[^;\n]", tr->version);
            continue;
        }
        if (line[0] != '#') parse_line(tr, line, &cap);
    }
    fclose(f);
    return 0;
}

int torch_run(TorchResults *tr, const char *python, const char *script, const char *sizes,
              const char *seq_sizes, const char *threads, const char *ops, int quick) {
    memset(tr, 0, sizeof *tr);
    if (access(script, R_OK) != 0) {
        snprintf(tr->note, sizeof tr->note, "PyTorch column skipped: %s not found", script);
        return -1;
    }
    if (access(python, X_OK) != 0) {
        snprintf(tr->note, sizeof tr->note, "PyTorch column skipped: no %s; install Debian's "
                 "python3 and python3-torch (sudo apt-get install python3-torch)", python);
        return -1;
    }
    char csv[] = "/tmp/makemore-torch-XXXXXX";
    int fd = mkstemp(csv);
    if (fd < 0) {
        snprintf(tr->note, sizeof tr->note, "PyTorch column skipped: no temporary file");
        return -1;
    }
    close(fd);
    char *argv[] = {(char *)python, (char *)script, "--sizes", (char *)sizes, "--seq-sizes",
                    (char *)seq_sizes, "--threads", (char *)threads, "--ops", (char *)ops,
                    "--csv", csv, quick ? "--quick" : NULL, NULL};
    int status = 0;
    int ok = run_child(argv, &status) == 0 && WIFEXITED(status);
    int code = ok ? WEXITSTATUS(status) : -1;
    if (code == TORCH_MISSING)
        snprintf(tr->note, sizeof tr->note, "PyTorch column skipped: torch not importable by %s; "
                 "install it with `sudo apt-get install python3-torch`", python);
    else if (code != 0)
        snprintf(tr->note, sizeof tr->note, "PyTorch run failed (status %d): its figures may "
                 "be incomplete; see its messages above", code);
    if (code != TORCH_MISSING && ok) load_csv(tr, csv);
    unlink(csv);
    return tr->n > 0 ? 0 : -1;
}

const TorchRow *torch_find(const TorchResults *tr, const char *op, BenchSize s, int threads) {
    for (int i = 0; op && i < tr->n; i++)
        if (strcmp(tr->rows[i].op, op) == 0 && tr->rows[i].B == s.B && tr->rows[i].H == s.H &&
            tr->rows[i].threads == threads)
            return &tr->rows[i];
    return NULL;
}

void torch_free(TorchResults *tr) {
    free(tr->rows);
    memset(tr, 0, sizeof *tr);
}
