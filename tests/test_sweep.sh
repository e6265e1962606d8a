#!/bin/sh
# test_sweep.sh: `makemore sweep` end to end: every run bit-identical to the same
# `makemore train --seed S --threads 1` alone (checkpoint bytes and losses), the table, the
# CSV, a grid, a failed run among good ones, bad flags, and Ctrl-C then --resume; a sweep
# of WaveNets (the MLP family).
# Env: MAKEMORE (binary), NAMES (names.txt). Prints "N passed, N failed".
. "$(dirname "$0")/lib.sh"

RUN="--data $W --steps 2000 --hidden 50"
$M sweep --seeds 1-3 --jobs 2 $RUN --out-dir "$T/sw" --csv "$T/sw.csv" >"$T/out" 2>"$T/err"
rc=$?
check "sweep --seeds 1-3 --jobs 2: exit 0, three progress lines" \
    '[ $rc -eq 0 ] && [ $(grep -cE "^\[[123]/3\] seed=[123]: train [0-9.]+ val [0-9.]+ test [0-9.]+ \(" "$T/out") -eq 3 ]' \
    "rc=$rc $(cat "$T/out" "$T/err")"
check "the CSV: a header and three ok rows" \
    '[ $(wc -l <"$T/sw.csv") -eq 4 ] && [ $(grep -c ",ok,[0-9.]*,[0-9.]*,[0-9.]*," "$T/sw.csv") -eq 3 ]' "$(cat "$T/sw.csv")"
check "the table: mean +- sd over the 3 runs" 'grep -qE "^default +3 +[0-9.]+ \+- [0-9.]+" "$T/out"' "$(cat "$T/out")"
for s in 1 2 3; do
    $M train $RUN --seed $s --threads 1 --samples 0 --out "$T/single$s.st" >"$T/single$s" 2>&1
    want=$(grep -E "^(train|val|test) " "$T/single$s" | awk '{printf "%s,", $2}')
    got=$(grep "^default,$s,ok," "$T/sw.csv" | cut -d, -f4-6),
    check "seed $s: checkpoint bit-identical to train --seed $s --threads 1 alone, same losses" \
        'cmp -s "$T/single$s.st" "$T/sw/seed=$s.safetensors" && [ "$want" = "$got" ]' "want $want got $got"
done

$M sweep --seeds 1-2 --grid hidden=20,30 lr=0.1 --steps 300 --data "$W" --jobs 2 --out-dir "$T/g" >"$T/gout" 2>&1
rc=$?
check "--grid hidden=20,30 lr=0.1: 4 runs, 2 configurations" \
    '[ $rc -eq 0 ] && [ -s "$T/g/hidden=30_lr=0.1_seed=2.safetensors" ] && [ $(grep -cE "^hidden=(20|30) lr=0.1 +2 +[0-9.]+ \+- " "$T/gout") -eq 2 ]' \
    "rc=$rc $(tail -8 "$T/gout")"
$M train --steps 300 --data "$W" --hidden 30 --lr 0.1 --seed 2 --threads 1 --samples 0 --out "$T/g30.st" >/dev/null 2>&1
check "a grid run is bit-identical to train with its flags" 'cmp -s "$T/g30.st" "$T/g/hidden=30_lr=0.1_seed=2.safetensors"'

$M sweep --seeds 1 --grid data="$W","$T/missing.txt" --steps 200 --hidden 10 --jobs 2 --out-dir "$T/f" --csv "$T/f.csv" >"$T/fout" 2>"$T/ferr"
rc=$?
check "a failed run shows as failed, the other goes on, exit 1" \
    '[ $rc -eq 1 ] && grep -q ",ok," "$T/f.csv" && grep -q "missing.txt,1,failed" "$T/f.csv" && grep -q "FAILED (exit 1)" "$T/fout"' \
    "rc=$rc $(cat "$T/fout" "$T/ferr")"

for bad in "--seeds 3-1" "--seeds 1 --seed 2" "--seeds 1 --bogus 1" "--grid lr=0.1" "--seeds 1 --grid foo=1" \
           "--seeds 1 --grid lr=" "--seeds 1 --jobs 0" "--seeds 1 --threads 2"; do
    $M sweep $bad --out-dir "$T/bad" >"$T/bout" 2>"$T/berr"
    rc=$?
    check "sweep $bad: one stderr line, exit 2" '[ $rc -eq 2 ] && [ $(wc -l <"$T/berr") -eq 1 ] && grep -q "^makemore sweep: " "$T/berr"' \
        "rc=$rc $(cat "$T/berr")"
done
$M sweep --seeds 1 $RUN --out-dir "$T/sw" >/dev/null 2>"$T/berr"
rc=$?
check "existing checkpoints without --resume: exit 2, nothing overwritten" \
    '[ $rc -eq 2 ] && grep -q "give --resume" "$T/berr" && cmp -s "$T/single1.st" "$T/sw/seed=1.safetensors"' "rc=$rc $(cat "$T/berr")"
$M sweep --seeds 1 --steps 100 --hidden 10 --data "$W" --out-dir "$T/h" --grid hidden=5 >/dev/null 2>"$T/berr"
rc=$?
check "a flag both given and in the grid: exit 2" '[ $rc -eq 2 ]' "$(cat "$T/berr")"

# Ctrl-C: every run stops with its checkpoint, the sweep says how to resume; --resume
# finishes the runs, bit-identical to uninterrupted ones.
LONG="--data $W --steps 30000 --hidden 50"
$M sweep --seeds 1-3 --jobs 2 $LONG --out-dir "$T/i" >"$T/iout" 2>"$T/ierr" &
pid=$!
for _ in $(seq 100); do
    [ $(cat "$T/i"/*.log 2>/dev/null | grep -c "^schedule:") -ge 2 ] && break
    sleep 0.1
done
sleep 0.3
kill -INT $pid
wait $pid
rc=$?
check "SIGINT: exit 130, each running run checkpointed, a resume line" \
    '[ $rc -eq 130 ] && [ $(grep -c "stopped (checkpoint written)" "$T/iout") -eq 2 ] && grep -q "resume with: makemore sweep .*--resume" "$T/ierr"' \
    "rc=$rc $(cat "$T/iout" "$T/ierr")"
$M sweep --seeds 1-3 --jobs 2 $LONG --out-dir "$T/i" --resume >"$T/rout" 2>&1
rc=$?
$M train $LONG --seed 1 --threads 1 --samples 0 --out "$T/long1.st" >/dev/null 2>&1
check "--resume finishes every run; a resumed run is bit-identical to an uninterrupted one" \
    '[ $rc -eq 0 ] && [ $(grep -c " ok$" "$T/rout") -eq 3 ] && cmp -s "$T/long1.st" "$T/i/seed=1.safetensors"' \
    "rc=$rc $(cat "$T/rout")"
$M sweep --seeds 1-3 --jobs 2 $LONG --out-dir "$T/i" --resume >"$T/rout2" 2>&1
rc=$?
check "--resume of a finished sweep evaluates, retrains nothing, same losses" \
    '[ $rc -eq 0 ] && [ "$(grep " ok$" "$T/rout" | awk "{print \$3,\$4,\$5}")" = "$(grep " ok$" "$T/rout2" | awk "{print \$3,\$4,\$5}")" ]' \
    "$(cat "$T/rout2")"

$M sweep --help >"$T/h" 2>&1
rc=$?
check "sweep --help" '[ $rc -eq 0 ] && grep -q "^  makemore sweep " "$T/h"'

# The MLP family: a WaveNet sweep's runs are the train runs alone; --resume evaluates them.
WN="--data $W --arch wavenet --block 4 --embd 6 --hidden 16 --steps 300"
$M sweep --seeds 1-2 --jobs 2 $WN --out-dir "$T/wn" >"$T/wout" 2>&1
rc=$?
$M train $WN --seed 2 --threads 1 --samples 0 --out "$T/wn2.st" >/dev/null 2>&1
check "sweep --arch wavenet: exit 0, a run bit-identical to train --arch wavenet alone" \
    '[ $rc -eq 0 ] && cmp -s "$T/wn2.st" "$T/wn/seed=2.safetensors"' "rc=$rc $(tail -5 "$T/wout")"
$M sweep --seeds 1-2 --jobs 2 $WN --out-dir "$T/wn" --resume >"$T/wres" 2>&1
rc=$?
check "sweep --arch wavenet --resume of a finished sweep: evaluated, unchanged" \
    '[ $rc -eq 0 ] && [ $(grep -c " ok$" "$T/wres") -eq 2 ] && cmp -s "$T/wn2.st" "$T/wn/seed=2.safetensors"' \
    "rc=$rc $(tail -5 "$T/wres")"

finish
