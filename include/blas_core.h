// blas_core.h: which OpenBLAS this process runs, and the fix for a generic core.
#ifndef MAKEMORE_BLAS_CORE_H
#define MAKEMORE_BLAS_CORE_H

#include <stddef.h>

// Debian's OpenBLAS 0.3.21 runs its generic "Prescott" (SSE3) kernels on CPUs it does not
// know (AVX-512 machines among them). OpenBLAS reads OPENBLAS_CORETYPE only when it loads,
// so when the loaded core is generic, the CPU has AVX2 / AVX-512 and the user has not set
// the variable, this sets it (Haswell / SkylakeX) and re-executes the program, saying so
// in one line on stderr. Returns only when no restart was needed or it failed.
void blas_core_fix(char **argv);

// "OpenBLAS 0.3.21, core SkylakeX, OpenMP threading" into buf.
void blas_describe(char *buf, size_t len);
const char *blas_threading(void);  // "serial", "pthreads" or "OpenMP"

#endif
