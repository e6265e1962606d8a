# makemore: a BLAS-accelerated CPU training engine for the lecture's MLP.
#   make            build build/makemore
#   make run        obtain names.txt, train with the lecture's recipe, sample (its diagnostics in
#                   build/diag: `make plot` draws them)
#   make test       build and run the tests (SANITIZE=1: under ASan + UBSan, in build-san/)
#   make bench      build and run the benchmark harness
#   make MPI=1      the MPI build (mpicc, in build-mpi/): mpirun -np P build-mpi/makemore train
#                   trains data-parallel (docs/SCALING.md); `make test MPI=1` runs its tests too;
#                   `make MPI=1 bench-allreduce [NP=2]` times MPI_Allreduce here
CC      ?= gcc
OPT     ?= -O3
ARCH    ?= -march=native
OUT     := build
CFLAGS  += -std=c11 -D_GNU_SOURCE $(OPT) $(ARCH) -fopenmp -fno-math-errno \
           -Wall -Wextra -Iinclude -MMD -MP
LDLIBS  += -ljansson -lmvec -lm
LDFLAGS += -fopenmp

# Prefer the OpenMP build of OpenBLAS (one thread pool shared with our kernels);
# it lives in a directory of its own, so link it by path and rpath.
OPENBLAS_OMP_LIB := $(firstword $(wildcard /usr/lib/*/openblas-openmp/libopenblas.so))
ifneq ($(OPENBLAS_OMP_LIB),)
  BLAS_DIR := $(patsubst %/,%,$(dir $(OPENBLAS_OMP_LIB)))
  CFLAGS   += -I$(firstword $(wildcard /usr/include/*/openblas-openmp)) -DOPENBLAS_OPENMP_BUILD=1
  LDLIBS   := -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas $(LDLIBS)
else
  LDLIBS   := -lopenblas $(LDLIBS)
endif

# libxsmm (Debian libxsmm-dev: static archives in /usr/lib) gives the GEMM planner its JIT
# kernels. Detected from its header and archive; XSMM=0 builds without it, XSMM=1 insists.
XSMM_FOUND := $(if $(and $(wildcard /usr/include/libxsmm.h),$(wildcard /usr/lib/libxsmm.a /usr/lib/*/libxsmm.a /usr/local/lib/libxsmm.a)),1,0)
XSMM ?= $(XSMM_FOUND)
ifeq ($(XSMM),1)
  CFLAGS += -DMAKEMORE_XSMM=1
  LDLIBS := -lxsmm $(LDLIBS) -ldl -lpthread
else
  CFLAGS += -DMAKEMORE_XSMM=0
endif

ifeq ($(SANITIZE),1)
  OUT     := build-san
  OPT     := -O1 -g
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif

ifeq ($(XSMM)$(XSMM_FOUND),01)
  OUT     := $(OUT)-noxsmm
endif

# MPI=1: the data-parallel build, with Open MPI's mpicc (Debian: libopenmpi-dev openmpi-bin),
# in a directory of its own. A plain `make` never uses MPI (src/dist/dist.c is then a no-op).
ifeq ($(MPI),1)
  CC      := mpicc
  OUT     := $(OUT:build%=build-mpi%)
  CFLAGS  += -DMAKEMORE_MPI=1
endif

LIB_SRC   := $(wildcard src/*/*.c)
LIB_OBJ   := $(patsubst src/%.c,$(OUT)/obj/%.o,$(LIB_SRC))
TEST_SRC  := $(wildcard tests/test_*.c)
TEST_BIN  := $(patsubst tests/%.c,$(OUT)/tests/%,$(TEST_SRC))
BENCH_SRC := $(wildcard bench/*.c)

.PHONY: all run test bench bench-quick bench-plot plot data clean
# Objects built through pattern chains stay (make would delete them at the end, after the
# test runner's closing line, as "intermediate" files).
.SECONDARY:
all: $(OUT)/makemore

$(OUT)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(OUT)/obj/tests/%.o: tests/%.c | $(OUT)/obj/tests
	$(CC) $(CFLAGS) -Itests -c $< -o $@
$(OUT)/obj/bench/%.o: bench/%.c | $(OUT)/obj/bench
	$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/libmakemore.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^
$(OUT)/makemore: $(OUT)/obj/main.o $(OUT)/libmakemore.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(OUT)/tests/%: $(OUT)/obj/tests/%.o $(OUT)/libmakemore.a | $(OUT)/tests
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@
$(OUT)/bench: $(patsubst bench/%.c,$(OUT)/obj/bench/%.o,$(BENCH_SRC)) $(OUT)/libmakemore.a
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(OUT)/obj $(OUT)/obj/tests $(OUT)/obj/bench $(OUT)/tests:
	mkdir -p $@

data/names.txt:
	sh data/get_names.sh

data: data/names.txt

test: $(OUT)/makemore $(TEST_BIN) data/names.txt
	sh tests/run_tests.sh $(OUT)

# `make plot` draws the diagnostics of the last `make run` (its --diag $(OUT)/diag; DIAG=DIR
# for another train --diag DIR) with makemore plot: loss, activations, gradients,
# update:data and grad:data PNGs in that directory. LOG=FILE draws a train --log FILE's
# loss curve alone (bench/loss.gp).
DIAG ?= $(OUT)/diag
plot: $(OUT)/makemore
	@if [ -n "$(LOG)" ]; then \
	  test -f "$(LOG)" || { echo "no $(LOG): give LOG=FILE of a train --log FILE"; exit 1; }; \
	  gnuplot -e "in='$(LOG)'; out='$(LOG:.csv=.png)'" bench/loss.gp && echo "wrote $(LOG:.csv=.png)"; \
	else \
	  test -d "$(DIAG)" || { echo "no $(DIAG): run 'make run' first, or 'make plot DIAG=DIR' for a train --diag DIR"; exit 1; }; \
	  $(OUT)/makemore plot "$(DIAG)"; \
	fi

run: $(OUT)/makemore data/names.txt
	$(OUT)/makemore train --data data/names.txt --out $(OUT)/model.safetensors --log $(OUT)/loss.csv \
	  --diag $(OUT)/diag --eval-every 10000

# Fuzzing (clang + libFuzzer; Debian: clang, libclang-rt-14-dev): every file format and
# command line the engine reads from a user -- the words file (fuzz_words), a checkpoint
# (fuzz_checkpoint), a GEMM plan as a file, a checkpoint or wisdom holds it (fuzz_plan), the
# sweep's arguments (fuzz_sweep), the diagnostics' CSV files (fuzz_diagcsv), the wisdom file
# itself (fuzz_wisdom):
#   make fuzz          each target for FUZZ_TIME seconds (default 300), one after the other
#   make fuzz-quick    each for 30 s (CI)
# Binaries in build/fuzz/; new inputs go to tests/fuzz/corpus-run/<name>/ and crashes to
# build/fuzz/<target>-crash-* (both ignored by git); the seed corpora tests/fuzz/corpus_* are
# read only. A crash, once fixed, is copied to tests/fuzz/regressions/<name>/ and replayed by
# tests/test_fuzz_regressions.c.
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 300
FUZZ_OUT     := build/fuzz
FUZZ_TARGETS := fuzz_words fuzz_checkpoint fuzz_plan fuzz_sweep fuzz_diagcsv fuzz_wisdom
FUZZ_CFLAGS  := -std=c11 -D_GNU_SOURCE -O1 -g -fopenmp -Wall -Wextra -Wno-pass-failed -Iinclude \
                $(filter -I/% -D%,$(CFLAGS)) \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_SRC := $(LIB_SRC)
.PHONY: fuzz fuzz-quick fuzz-build
fuzz-build: $(addprefix $(FUZZ_OUT)/,$(FUZZ_TARGETS))
$(FUZZ_OUT)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRC) $(wildcard include/*.h) | $(FUZZ_OUT)
	$(FUZZ_CC) $(FUZZ_CFLAGS) tests/fuzz/fuzz_$*.c $(FUZZ_LIB_SRC) $(LDLIBS) -o $@
$(FUZZ_OUT):
	mkdir -p $@
fuzz: fuzz-build
	set -e; for t in $(FUZZ_TARGETS); do \
	  c=$${t#fuzz_}; mkdir -p tests/fuzz/corpus-run/$$c; \
	  $(FUZZ_OUT)/$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	    -dict=tests/fuzz/$$c.dict -artifact_prefix=$(FUZZ_OUT)/$$t- \
	    tests/fuzz/corpus-run/$$c tests/fuzz/corpus_$$c $$(ls -d tests/fuzz/regressions/$$c 2>/dev/null); \
	done
fuzz-quick:
	$(MAKE) fuzz FUZZ_TIME=30

# Benchmarks: bench/README.md. The table goes to stdout and $(OUT)/bench.txt, every row to
# $(OUT)/bench.csv; extra flags through BENCH_ARGS (e.g. BENCH_ARGS="--sizes 32x200").
bench: $(OUT)/bench
	$(OUT)/bench --cflags "$(CC) $(CFLAGS)" --csv $(OUT)/bench.csv --tee $(OUT)/bench.txt $(BENCH_ARGS)
bench-quick: $(OUT)/bench
	$(OUT)/bench --quick --cflags "$(CC) $(CFLAGS)" --csv $(OUT)/bench-quick.csv $(BENCH_ARGS)
bench-plot:
	@test -f $(OUT)/bench.csv || { echo "no $(OUT)/bench.csv: run make bench first"; exit 1; }
	@mkdir -p $(or $(PLOT_DIR),$(OUT))
	gnuplot -e "csv='$(OUT)/bench.csv'; outdir='$(or $(PLOT_DIR),$(OUT))'" bench/plot.gp
	@ls $(or $(PLOT_DIR),$(OUT))/bench-*.png

# The MPI allreduce micro-benchmark (bench/mpi/allreduce.c): make MPI=1 bench-allreduce [NP=2]
NP ?= 2
.PHONY: bench-allreduce
$(OUT)/allreduce_bench: bench/mpi/allreduce.c | $(OUT)/obj
	$(CC) $(CFLAGS) $< $(LDFLAGS) -o $@
bench-allreduce:
	@test "$(MPI)" = 1 || { echo "bench-allreduce needs the MPI build: make MPI=1 bench-allreduce"; exit 2; }
	$(MAKE) $(OUT)/allreduce_bench MPI=1
	mpirun $(if $(filter 0,$(shell id -u)),--allow-run-as-root) --oversubscribe -np $(NP) $(OUT)/allreduce_bench

clean:
	rm -rf build build-san build-noxsmm build-san-noxsmm build-mpi build-mpi-san build-mpi-noxsmm

-include $(wildcard $(OUT)/obj/*.d $(OUT)/obj/*/*.d)
