#!/bin/sh
# bench/scaling.sh: how makemore uses the cores of one machine, three ways, into one CSV:
#   threads  one training, --threads 1..MAX            (us per step; 32x200 and 4096x1024)
#   mpi      one training, mpirun -np 1..MAX ranks x 1 thread   (us per step; same sizes)
#   sweep    MAX-seed sweep, --jobs 1..MAX             (runs per minute)
#   allreduce  MPI_Allreduce on this machine, 2..MAX ranks     (us per call, by size)
# Usage (from the repository root, after `make` and `make MPI=1`):
#   sh bench/scaling.sh [MAX (default: nproc)] [OUT.csv (default bench/results/scaling.csv)]
# Env: STEPS_SMALL (default 20000), STEPS_BIG (default 30), SWEEP_STEPS (default 20000),
#      DATA (default data/names.txt). Each training figure is the median of REPS (3) runs.
# Rows: experiment,workers,size,metric,value. Run it on an idle machine.
set -eu
MAX=${1:-$(nproc)}
OUT=${2:-bench/results/scaling.csv}
STEPS_SMALL=${STEPS_SMALL:-20000}; STEPS_BIG=${STEPS_BIG:-30}; SWEEP_STEPS=${SWEEP_STEPS:-20000}
DATA=${DATA:-data/names.txt}; REPS=${REPS:-3}
M=build/makemore; MM=build-mpi/makemore
ROOT=; [ "$(id -u)" = 0 ] && ROOT=--allow-run-as-root
MPIRUN="mpirun $ROOT --oversubscribe --bind-to core"
[ -x "$M" ] || { echo "build/makemore missing: run make" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
echo "experiment,workers,size,metric,value" >"$OUT"
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# us/step of one run: its "time: ... X us/step" line
us_step() { "$@" 2>/dev/null | sed -n 's/^time: .*s, \([0-9.]*\) us\/step.*/\1/p'; }
step_rows() {  # experiment workers size command...
    e=$1; w=$2; sz=$3; shift 3
    v=$(for _ in $(seq "$REPS"); do us_step "$@"; done | median)
    echo "$e,$w,$sz,us_per_step,$v" | tee -a "$OUT"
}
for sz in 32x200 4096x1024; do
    B=${sz%x*}; H=${sz#*x}; S=$STEPS_SMALL; [ "$B" -gt 1000 ] && S=$STEPS_BIG
    RUN="train --data $DATA --batch $B --hidden $H --steps $S --samples 0 --print-every 100000000"
    for t in $(seq 1 "$MAX"); do step_rows threads "$t" "$sz" $M $RUN --threads "$t"; done
    if [ -x "$MM" ] && command -v mpirun >/dev/null; then
        for p in $(seq 1 "$MAX"); do
            [ $((B % p)) -eq 0 ] || continue
            step_rows mpi "$p" "$sz" $MPIRUN -np "$p" $MM $RUN --threads 1
        done
    fi
done
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
for j in $(seq 1 "$MAX"); do
    rm -rf "$T/sw"
    v=$($M sweep --seeds 1-"$MAX" --jobs "$j" --data "$DATA" --steps "$SWEEP_STEPS" --out-dir "$T/sw" 2>/dev/null |
        sed -n 's/^time: .*(\([0-9.]*\) runs\/minute)/\1/p')
    echo "sweep,$j,${MAX}x$SWEEP_STEPS,runs_per_minute,$v" | tee -a "$OUT"
done
if [ -x "$MM" ] && command -v mpirun >/dev/null; then
    make -s MPI=1 build-mpi/allreduce_bench >/dev/null
    for p in $(seq 2 "$MAX"); do
        $MPIRUN -np "$p" build-mpi/allreduce_bench | awk -F, -v p="$p" 'NR > 1 { print "allreduce," p "," $2 ",us_per_call," $4 }' | tee -a "$OUT"
    done
fi
echo "wrote $OUT"
