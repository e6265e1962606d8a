// blas_core.h: which OpenBLAS this process runs, the fix for a generic core, and the one
// set-up call every program of the project (makemore, build/bench, the test binaries) makes.
#ifndef MAKEMORE_BLAS_CORE_H
#define MAKEMORE_BLAS_CORE_H

#include <stddef.h>
#include <stdint.h>

// Call first in main(). Two things, the same for every binary:
// 1. The core. Debian's OpenBLAS 0.3.21 runs its generic "Prescott" (SSE3) kernels on CPUs
//    it does not know (some AVX-512 Xeons among them). OpenBLAS reads OPENBLAS_CORETYPE only
//    when it loads, so when the loaded core is generic, the CPU has AVX2 / AVX-512 and the
//    user has not set the variable, this sets it (Haswell / SkylakeX) and re-executes the
//    program. It prints nothing: stderr stays for errors, and blas_describe() (the run
//    header) says that the restart happened. A user's own OPENBLAS_CORETYPE always stands.
//    MAKEMORE_PRETEND_CORE=NAME (tests and CI) makes the check see NAME as OpenBLAS's
//    choice, so the restart path runs on any CPU.
// 2. The threads. OpenBLAS is held to one thread for good: the engine splits large GEMMs
//    itself over tiles fixed by the shape alone (linear.c), so no result depends on how
//    OpenBLAS would have divided a GEMM among threads.
// Returns only when no restart was needed, or it failed.
void blas_setup(char **argv);

// Under a memory limit (ulimit -v: RLIMIT_AS; ulimit -d: RLIMIT_DATA), run before any
// library's constructor (the executable's .preinit_array: main.c). OpenBLAS's OpenMP build
// maps one 128 MiB buffer per thread it counts when it loads (OMP_NUM_THREADS, else the
// cores), and one more for each GEMM call running besides; when a mapping fails it retries
// forever, at 100% CPU, before main. So: no limit, nothing; room for fewer buffers than
// threads, OMP_NUM_THREADS is set to what fits until blas_setup puts the user's back (the
// pool's size is the user's); room for fewer than two, -1 with msg (one line: the limit,
// what OpenBLAS needs, the limit to give) and the program must stop.
int blas_preinit(char *msg, size_t len);
// Its rule: of `threads` OpenBLAS would count, how many may map their buffer at load in
// `room` bytes (a margin kept; one buffer more must fit for a GEMM call): threads, or
// fewer, or 0 when not even two buffers fit.
int blas_buffers_fit(uint64_t room, int threads);
// The GEMM calls that may run at once without OpenBLAS mapping a new buffer: 0 when no
// limit was found (any number), else at least 1 (the engine's tiles then fork to at most
// this many threads: the same bits, blas.h).
int blas_callers_max(void);

// "OpenBLAS 0.3.21, core Haswell, OpenMP threading" into buf, followed by
// " (restarted: OpenBLAS chose 'Prescott')" when blas_setup re-executed the program.
void blas_describe(char *buf, size_t len);
const char *blas_threading(void);  // "serial", "pthreads" or "OpenMP"

// What a plan's speed depends on besides its shapes, as one key: the CPU's model name and
// its family/model numbers (/proc/cpuinfo; a VM's name alone, "AMD EPYC", covers several
// generations), OpenBLAS's version and the core it runs, libxsmm's version (or "none"), and
// the engine's GEMM epoch: "cpu=AMD EPYC (25/17);openblas=0.3.21;core=Cooperlake;xsmm=1.17;
// engine=2". Wisdom is kept under it.
void blas_machine_key(char *buf, size_t len);

// Bumped whenever the engine's own GEMM paths change speed (its kernels, when its tiles
// fork): a plan kept by an earlier engine is then made again rather than trusted.
//   2: tiles fork from 2 M multiply-adds (was 4 M)
#define GEMM_ENGINE_EPOCH 2

#endif
