#!/bin/sh
# test_train_cli.sh: the trainer end to end through the CLI: checkpoint save -> load ->
# identical eval losses, deterministic runs, sampling, --help for every subcommand.
# Env: MAKEMORE (binary), NAMES (names.txt). Prints "N passed, N failed".
. "$(dirname "$0")/lib.sh"

RUN="--data $W --steps 600 --hidden 50 --print-every 200 --threads 1"
$M train $RUN --out "$T/m.st" --samples 5 >"$T/train1.txt" 2>"$T/err1"
rc=$?
check "train --out succeeds" '[ $rc -eq 0 ] && [ -s "$T/m.st" ]' "$(cat "$T/err1")"
grep -E '^(train|val|test) ' "$T/train1.txt" >"$T/losses_train"
check "train prints train/val/test" '[ $(wc -l <"$T/losses_train") -eq 3 ]' "$(cat "$T/train1.txt")"
check "train prints the lecture's progress line" 'grep -qE "^    200/    600: [0-9]+\.[0-9]{4}$" "$T/train1.txt"' "$(cat "$T/train1.txt")"
check "train marks its samples" '[ $(grep -cE "\((in training words|held-out word|new)\)$" "$T/train1.txt") -eq 5 ]' "$(cat "$T/train1.txt")"

$M eval --model "$T/m.st" --data "$W" >"$T/losses_eval" 2>"$T/err2"
check "save -> load -> eval: identical losses" 'cmp -s "$T/losses_train" "$T/losses_eval"' \
    "train: $(cat "$T/losses_train" | tr '\n' ' ') eval: $(cat "$T/losses_eval" "$T/err2" | tr '\n' ' ')"

$M train $RUN --samples 0 >"$T/train2.txt" 2>/dev/null
grep -vE '^(makemore train|time|saved)' "$T/train1.txt" | grep -E '^ +[0-9]+/|^(train|val|test) ' >"$T/a"
grep -vE '^(makemore train|time|saved)' "$T/train2.txt" | grep -E '^ +[0-9]+/|^(train|val|test) ' >"$T/b"
check "same flags and seed: identical losses" 'cmp -s "$T/a" "$T/b" && [ -s "$T/a" ]' "$(diff "$T/a" "$T/b")"
$M train $RUN --samples 0 --seed 2 >"$T/train3.txt" 2>/dev/null
grep -E '^(train|val|test) ' "$T/train3.txt" >"$T/c"
check "another seed: other losses" '! cmp -s "$T/losses_train" "$T/c"'

$M sample --model "$T/m.st" --data "$W" -n 8 --seed 5 >"$T/s1" 2>/dev/null
$M sample --model "$T/m.st" --data "$W" -n 8 --seed 5 >"$T/s2" 2>/dev/null
check "sample: 8 marked words, reproducible with --seed" \
    '[ $(grep -cE "^[a-z]*  \((in training words|held-out word|new)\)$" "$T/s1") -eq 8 ] && cmp -s "$T/s1" "$T/s2"' "$(cat "$T/s1")"
$M sample --model "$T/m.st" --data - -n 3 --top-k 1 >"$T/s3" 2>/dev/null
check "sample --top-k 1 is greedy: the same word each time, unmarked" \
    '[ $(sort -u "$T/s3" | wc -l) -eq 1 ] && [ $(wc -l <"$T/s3") -eq 3 ] && ! grep -q "(" "$T/s3"' "$(cat "$T/s3")"

# The OpenBLAS core fix: a generic core on an AVX2/AVX-512 CPU restarts the program once
# with OPENBLAS_CORETYPE set, silently (the run header says so); a user's
# OPENBLAS_CORETYPE is left alone; an error after a restart is still one line on stderr.
if grep -qw avx512f /proc/cpuinfo || grep -qw avx2 /proc/cpuinfo; then
    want=Haswell; grep -qw avx512bw /proc/cpuinfo && want=SkylakeX
    env -u OPENBLAS_CORETYPE MAKEMORE_PRETEND_CORE=Prescott $M train --data "$W" --steps 2 --hidden 8 \
        --samples 0 --threads 1 >"$T/core.out" 2>"$T/core.err"
    check "generic core: restart to $want, named in the header, nothing on stderr" \
        '[ ! -s "$T/core.err" ] && grep -q "core $want, .*(restarted: OpenBLAS chose .Prescott.)" "$T/core.out"' \
        "$(cat "$T/core.err" "$T/core.out" | head -4)"
    env -u OPENBLAS_CORETYPE MAKEMORE_PRETEND_CORE=Prescott $M train --data "$T/missing" \
        >"$T/core.out" 2>"$T/core.err"
    rc=$?
    check "generic core: an error after the restart is exactly one line on stderr" \
        '[ $rc -eq 1 ] && [ $(wc -l <"$T/core.err") -eq 1 ] && grep -q missing "$T/core.err"' \
        "$(cat "$T/core.err" | head -3)"
fi
env -u MAKEMORE_CORE_RESTARTED_FROM OPENBLAS_CORETYPE=Prescott $M train --data "$W" --steps 2 \
    --hidden 8 --samples 0 --threads 1 >"$T/core.out" 2>"$T/core.err"
check "a user's OPENBLAS_CORETYPE stands: no restart" \
    '[ ! -s "$T/core.err" ] && ! grep -q restarted "$T/core.out" && grep -q "core Prescott" "$T/core.out"' \
    "$(cat "$T/core.err" "$T/core.out" | head -2)"

# Determinism across thread counts, through the CLI, at a size where every kernel forks
# and the GEMMs are tiled (B*H = 65536): the same losses, log and checkpoint bytes, under one
# plan (wisdom keeps a plan per thread count: two counts may run two plans).
BIG="--data $W --steps 150 --batch 512 --hidden 128 --print-every 50 --samples 3 --gemm blas"
for th in 1 2; do
    $M train $BIG --threads $th --out "$T/big$th.st" --log "$T/big$th.csv" >"$T/big$th.out" 2>&1
done
grep -vE '^(makemore train|time|saved)' "$T/big1.out" >"$T/big1.l"
grep -vE '^(makemore train|time|saved)' "$T/big2.out" >"$T/big2.l"
check "1 vs 2 threads at B=512 H=128: identical losses, samples, log and checkpoint" \
    'cmp -s "$T/big1.l" "$T/big2.l" && cmp -s "$T/big1.csv" "$T/big2.csv" && cmp -s "$T/big1.st" "$T/big2.st"' \
    "$(diff "$T/big1.l" "$T/big2.l" | head -5)"

for c in train sample eval gradcheck; do
    $M $c --help >"$T/h" 2>&1
    rc=$?
    check "$c --help" '[ $rc -eq 0 ] && grep -q "^  makemore $c " "$T/h"' "$(head -3 "$T/h")"
done
$M --help >"$T/h" 2>&1
rc=$?
check "makemore --help lists the commands" '[ $rc -eq 0 ] && grep -q gradcheck "$T/h"'

finish
