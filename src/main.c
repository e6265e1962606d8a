// main.c: `makemore <command> [flags]`.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blas_core.h"
#include "cli.h"
#include "common.h"
#include "dist.h"
#include "gradcheck.h"
#include "makemore_cli.h"
#include "sweep.h"
#include "train.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: makemore <command> [flags]     (makemore <command> --help for its flags)\n\n"
            "  train       train a model of the MLP family (by default the lecture's) on a words\n"
            "              file, report losses, sample\n"
            "  sample      sample words from a saved model\n"
            "  eval        a saved model's train/val/test loss on a words file\n"
            "  sweep       many trainings at once: seeds x a grid of flags, one core each\n"
            "  plan        the GEMM plans kept for this machine (wisdom): show, make, forget\n"
            "  plot        draw a run's diagnostics (train --diag DIR) as PNGs with gnuplot\n"
            "  gradcheck   exercise 1-3: every gradient against float64, finite differences,\n"
            "              the fused kernels and (with --ref) a PyTorch reference file;\n"
            "              --arch A: every layer of that model's table\n\n"
            "makemore.py's own command line works too: makemore -i names.txt -o out --type\n"
            "transformer ... (makemore --input-file FILE --help lists its flags)\n");
}

// First of all, before any library's constructor (the executable's .preinit_array runs
// before them): under a memory limit OpenBLAS's would spin forever (blas_core.h).
static void preinit(int argc, char **argv, char **envp) {
    (void)argc, (void)argv, (void)envp;
    char msg[512];
    if (blas_preinit(msg, sizeof msg) != 0) {
        say(NULL, "%s", msg);
        _exit(EXIT_RUNTIME);
    }
}
__attribute__((section(".preinit_array"), used)) static void (*preinit_hook)(int, char **, char **) = preinit;

int main(int argc, char **argv) {
    std_fds_ensure();  // no data file may take fd 0, 1 or 2
    blas_setup(argv);  // may re-execute with OPENBLAS_CORETYPE set
    cmd_stdout_track();  // every write to stdout checked, its errno kept (cli.h)
    static const char allowed[] = "allowed: train, sample, eval, gradcheck, sweep, plan, plot; see 'makemore --help'";
    if (argc < 2) {
        say(NULL, "no command given (%s)", allowed);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (makemore_cli_form(argc, argv)) return makemore_cli_main(argc, argv);
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return cmd_stdout_done(NULL, 0);
    }
    if (!strcmp(cmd, "train") && dist_launched() && !dist_built()) {
        // Every rank would train alone and write the same --out. Rank 0 says so for all.
        if (dist_launch_rank() == 0)
            say(NULL, "train: this makemore was built without MPI, so under mpirun every rank "
                "would train alone; build with make MPI=1 for data-parallel training, or run "
                "without mpirun");
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "train")) return train_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "sample")) return sample_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return eval_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "sweep")) return sweep_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "gradcheck")) return gradcheck_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "plan")) return plan_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "plot")) return plot_main(argc - 1, argv + 1);
    say(NULL, "unknown command '%s' (%s)", cmd, allowed);
    return EXIT_USAGE;
}
