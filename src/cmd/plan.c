// plan.c: `makemore plan`: shows, makes or forgets the plans kept per machine (wisdom.h),
// as fftw-wisdom does for FFTW.
//
//   makemore plan [--show]                     the wisdom file and every plan in it
//   makemore plan --make [train flags]         plans the model those flags train, keeps it
//   makemore plan --forget [train flags]       forgets that model's plan (this machine,
//                                              these threads); --forget --all: every plan
#include "train.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "net_plan.h"
#include "train_gemm.h"
#include "train_opts.h"
#include "wisdom.h"

#define CMD "plan"

static void usage(void) {
    printf("usage:\n"
           "  makemore plan     [--show]\n"
           "  makemore plan     --make [train flags]\n"
           "  makemore plan     --forget [--all | train flags]\n\n"
           "The plans of the training step's GEMMs kept per machine (wisdom: %s), as\n"
           "fftw-wisdom keeps FFTW's. A training run with the default --gemm takes its plan\n"
           "from there, or makes one inside the step and keeps it; the key is the CPU, the\n"
           "BLAS core, libxsmm's version, the model's shapes, the batch and the thread count.\n\n"
           "  --show        the file and every plan in it (the default)\n"
           "  --make        plan the model the train flags describe now (on its words file),\n"
           "                and keep it, replacing the kept one\n"
           "  --forget      forget the plan of the model the train flags describe\n"
           "  --all         with --forget: every plan\n"
           "Exit status: 0 done, 1 the wisdom file cannot be used, 2 usage.\n",
           "$MAKEMORE_WISDOM, else $XDG_CACHE_HOME/makemore/wisdom, else ~/.cache/makemore/wisdom");
}

static void show_one(void *ctx, const char *key, const char *value) {
    (void)ctx;
    printf("%s\n  %s\n", key, value);
}

// The model and batch the train flags describe, built and (make) planned on its words file.
static void build(Net *n, Dataset *d, int argc, char **argv, int make) {
    static TrainOpts o;
    Err err;
    int r = train_opts_parse(&o, argc, argv, &err);
    if (r == FLAGS_HELP) {
        train_usage();
        cmd_fail(CMD, EXIT_USAGE, "the train flags above describe the model to plan");
    }
    if (r != FLAGS_OK) cmd_fail(CMD, EXIT_USAGE, "%s", err.msg);
    threads_set(o.threads);
    int seq = net_arch_is_seq((NetArch)o.arch);
    if ((seq ? dataset_load_makemore(d, o.data, o.block, o.split_seed, NULL, &err)
             : dataset_load(d, o.data, o.block, o.split_seed, NULL, &err)) != DATASET_OK)
        cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
    NetConfig c = train_opts_model(&o, d->vocab.V);
    if (seq) c.T = d->split.train.T;
    if (net_config_check(&c, &err)) cmd_fail(CMD, EXIT_USAGE, "%s", err.msg);
    net_alloc(n, &c, o.batch);
    Rng rng;
    rng_seed(&rng, o.seed);
    net_init(n, &rng, 0);
    (void)make;
}

int plan_main(int argc, char **argv) {
    int make = 0, forget = 0, all = 0, show = 0, rest = 1;
    for (; rest < argc; rest++) {
        if (!strcmp(argv[rest], "--help") || !strcmp(argv[rest], "-h")) {
            usage();
            return cmd_stdout_done(CMD, 0);
        } else if (!strcmp(argv[rest], "--make")) make = 1;
        else if (!strcmp(argv[rest], "--forget")) forget = 1;
        else if (!strcmp(argv[rest], "--all")) all = 1;
        else if (!strcmp(argv[rest], "--show")) show = 1;
        else break;  // the train flags
    }
    if (make + forget + show > 1) cmd_fail(CMD, EXIT_USAGE, "--show, --make and --forget: one of them");
    if (all && !forget) cmd_fail(CMD, EXIT_USAGE, "--all goes with --forget");
    if (rest < argc && !make && !forget)
        cmd_fail(CMD, EXIT_USAGE, "'%s': train flags go with --make or --forget", argv[rest]);
    if (all && rest < argc) cmd_fail(CMD, EXIT_USAGE, "--forget --all takes no train flags");
    char path[4096], key[1024];
    Err err;
    if (wisdom_path(path, sizeof path, &err)) cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
    static Net n;
    static Dataset d;
    if (make || (forget && !all)) {
        char **targv = argv + rest - 1;  // argv[0] of the train parser: any name
        build(&n, &d, argc - rest + 1, targv, make);
        train_gemm_key(&n, key, sizeof key);
    }
    Wisdom w;
    if (wisdom_open(&w, path, &err)) cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
    if (w.note[0]) say(CMD, "note: %s", w.note);
    int status = 0;
    if (make) {
        NetPlanReport rep;
        double secs = net_plan_step(&n, &d.split.train, &rep);
        char text[GEMM_PLAN_TEXT_MAX];
        gemm_plan_format(&n.plan, text, sizeof text);
        if (wisdom_put(&w, key, text, &err)) cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
        printf("planned in %.0f ms (the %s plan: median steps", secs * 1e3, NET_PLAN_NAMES[rep.chosen]);
        for (int c = 0; c < NET_PLAN_N; c++)
            if (rep.step_s[c] > 0) printf(" %s %.1f us", NET_PLAN_NAMES[c], rep.step_s[c] * 1e6);
        printf("), kept in %s:\n%s\n  %s\n", path, key, text);
    } else if (forget) {
        int k = wisdom_forget(&w, all ? NULL : key, &err);
        if (k < 0) cmd_fail(CMD, EXIT_RUNTIME, "%s", err.msg);
        printf("forgot %d plan%s in %s\n", k, k == 1 ? "" : "s", path);
    } else {
        printf("wisdom: %s\n", path);
        int k = wisdom_each(&w, show_one, NULL);
        printf("%d plan%s\n", k, k == 1 ? "" : "s");
    }
    wisdom_close(&w);
    if (n.params) net_free(&n);
    if (d.words.buf) dataset_free(&d);
    return cmd_stdout_done(CMD, status);
}
