// check.h: the tests' tiny harness. A test is a function; CHECK records a failed
// assertion (and keeps going); RUN_TEST prints "ok   name" or "FAIL name";
// check_summary prints the runner's closing line "N passed, N failed" (tests, not
// assertions) and returns the exit status.
#ifndef MAKEMORE_CHECK_H
#define MAKEMORE_CHECK_H

#include <math.h>
#include <stdio.h>

#include "blas_core.h"

// Every test binary starts as makemore does: the same OpenBLAS core fix (and restart), the
// same one-thread OpenBLAS, so the tests run the kernels users run.
// The first line of its output names the core ("blas: OpenBLAS 0.3.21, core Haswell, ...").
#define TEST_MAIN int main(int argc, char **argv)
#define TEST_SETUP() ((void)argc, blas_setup(argv), check_print_blas())

static inline void check_print_blas(void) {
    char blas[256];
    blas_describe(blas, sizeof blas);
    printf("blas: %s\n", blas);
}

static int check_tests_passed, check_tests_failed, check_failures_in_test;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (!(cond)) {                                                     \
            check_failures_in_test++;                                      \
            fprintf(stderr, "  %s:%d: check failed: %s: ", __FILE__,       \
                    __LINE__, #cond);                                      \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

#define RUN_TEST(fn)                                                       \
    do {                                                                   \
        check_failures_in_test = 0;                                        \
        fn();                                                              \
        if (check_failures_in_test == 0) check_tests_passed++;             \
        else check_tests_failed++;                                         \
        printf("%s %s\n", check_failures_in_test ? "FAIL" : "ok  ", #fn);  \
        fflush(stdout);                                                    \
    } while (0)

static inline int check_summary(void) {
    printf("%d passed, %d failed\n", check_tests_passed, check_tests_failed);
    return check_tests_failed ? 1 : 0;
}

// max |a-b| over n floats against a double reference, and torch.allclose's rule
// |a - b| <= atol + rtol * |b| for every element.
static inline double max_abs_diff(const float *a, const double *b, long n) {
    double m = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;  // NaN propagates as a failure
    }
    return m;
}
static inline int allclose(const float *a, const double *b, long n, double rtol, double atol) {
    for (long i = 0; i < n; i++)
        if (!(fabs((double)a[i] - b[i]) <= atol + rtol * fabs(b[i]))) return 0;
    return 1;
}

#endif
