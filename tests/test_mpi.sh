#!/bin/sh
# test_mpi.sh: data-parallel training under `mpirun -np 2` against one process: synchronised
# batchnorm and the step (test_syncbn under mpirun), per-step losses within 1e-5 relative and
# the same eval losses, bit-identical repeats with a fixed P, one printer, checkpoint and
# resume, a refused resume with another P, SIGINT, a killed rank, a batch that P does not
# divide, a bad flag (one line, no MPI_Abort); the same for a WaveNet of the MLP family
# (losses, resume, another P) and for makemore.py's six types (losses; the Transformer's
# resume); --diag refused. Skipped (0 tests) when the binary was built without MPI: `make test MPI=1` runs it.
# Env: MAKEMORE (binary), NAMES (names.txt), BUILD. Prints "N passed, N failed".
. "$(dirname "$0")/lib.sh"
if $M train --help 2>/dev/null | grep -q "built without MPI"; then
    echo "skipped: $M was built without MPI (make MPI=1 && make test MPI=1 runs these tests)"
    echo "0 passed, 0 failed"; exit 0
fi
if ! command -v mpirun >/dev/null 2>&1; then
    echo "skipped: no mpirun on PATH (Debian: openmpi-bin)"; echo "0 passed, 0 failed"; exit 0
fi
ROOT=; [ "$(id -u)" = 0 ] && ROOT=--allow-run-as-root
MPIRUN="mpirun $ROOT --oversubscribe -np 2"
# Each rank one thread (the step's threads are not what is tested here).
RUN="--data $W --batch 256 --steps 400 --hidden 64 --print-every 100 --samples 2 --threads 1"

timeout 120 $MPIRUN "$BUILD/tests/test_syncbn" >"$T/u" 2>&1
rc=$?
check "test_syncbn under mpirun -np 2: statistics, column sums, 50 steps" \
    '[ $rc -eq 0 ] && grep -q "^ranks: 2" "$T/u" && grep -qE "^[1-9][0-9]* passed, 0 failed$" "$T/u"' "rc=$rc $(cat "$T/u")"

timeout 300 $MPIRUN $M train $RUN --log "$T/mpi.csv" --out "$T/mpi.st" >"$T/mpi.out" 2>"$T/mpi.err"
rc=$?
$M train $RUN --log "$T/one.csv" >"$T/one.out" 2>&1
check "mpirun -np 2 train: exit 0, the header names 2 ranks, rank 0 alone prints" \
    '[ $rc -eq 0 ] && grep -q "; Open MPI.*; 2 ranks$" "$T/mpi.out" && [ $(grep -c "^train " "$T/mpi.out") -eq 1 ] && [ $(grep -c "^samples:" "$T/mpi.out") -eq 1 ]' \
    "rc=$rc $(cat "$T/mpi.out" "$T/mpi.err" | head -20)"
worst=$(awk -F, 'NR == FNR { if (FNR > 1) a[$1] = $2; next }
    FNR > 1 && ($1 in a) { n++; d = ($2 - a[$1]) / a[$1]; if (d < 0) d = -d; if (d > w) w = d }
    END { if (n != 400) print "missing"; else printf "%.3g\n", w }' "$T/one.csv" "$T/mpi.csv")
check "per-step losses against one process: largest relative difference $worst <= 1e-5" \
    'awk -v w="$worst" "BEGIN { exit !(w != \"missing\" && w + 0 <= 1e-5) }"' "worst $worst"
grep -E "^(train|val|test) " "$T/mpi.out" >"$T/a"
grep -E "^(train|val|test) " "$T/one.out" >"$T/b"
check "final train/val/test losses agree to 4 decimals" '[ -s "$T/a" ] && cmp -s "$T/a" "$T/b"' \
    "mpi: $(tr '\n' ' ' <"$T/a") one: $(tr '\n' ' ' <"$T/b")"
$M eval --model "$T/mpi.st" --data "$W" >"$T/e" 2>&1
check "rank 0's checkpoint evaluates to the printed losses" 'cmp -s "$T/a" "$T/e"' "$(cat "$T/e")"

timeout 300 $MPIRUN $M train $RUN --log "$T/mpi2.csv" >/dev/null 2>&1
check "a fixed P repeats bit for bit (the same per-step losses)" 'cmp -s "$T/mpi.csv" "$T/mpi2.csv"'

# Checkpoint and resume with the same P: the same checkpoint as the uninterrupted run.
timeout 300 $MPIRUN $M train $RUN --steps 200 --out "$T/half.st" >/dev/null 2>&1
timeout 300 $MPIRUN $M train --data "$W" --resume "$T/half.st" --steps 400 --samples 0 --threads 1 >"$T/res.out" 2>&1
rc=$?
check "checkpoint at step 200, resume under mpirun -np 2: bit-identical to the uninterrupted run" \
    '[ $rc -eq 0 ] && cmp -s "$T/half.st" "$T/mpi.st"' "rc=$rc $(tail -5 "$T/res.out")"
$M train --data "$W" --resume "$T/half.st" --steps 500 >/dev/null 2>"$T/err"
rc=$?
check "resume with another number of processes: exit 2, says mpirun -np 2" \
    '[ $rc -eq 2 ] && grep -q "trained on 2 processes.*mpirun -np 2" "$T/err"' "rc=$rc $(cat "$T/err")"

timeout 60 $MPIRUN $M train --data "$W" --batch 63 --steps 10 >/dev/null 2>"$T/err"
rc=$?
check "--batch 63 on 2 ranks: non-zero exit, the first stderr line says why" \
    '[ $rc -ne 0 ] && head -1 "$T/err" | grep -q "^makemore train: --batch 63 is not a multiple of the 2 MPI ranks"' \
    "rc=$rc $(head -3 "$T/err")"

# A bad flag is every rank's: each exits 2 without MPI_Abort (whose banner followed the
# line), rank 0 alone saying why; mpirun adds only its notice of a non-zero exit, which
# mpirun -q leaves out.
timeout 60 $MPIRUN $M train --steps x >"$T/u.out" 2>"$T/u.err"
rc=$?
check "a usage error under mpirun: exit 2, one line from makemore, no MPI_ABORT banner" \
    '[ $rc -eq 2 ] && [ $(grep -c "makemore" "$T/u.err") -eq 1 ] && grep -q "^makemore train: --steps: .x. is not an integer" "$T/u.err" && ! grep -q "MPI_ABORT\|ORTE_ERROR_LOG\|MPI_Abort" "$T/u.err" && [ ! -s "$T/u.out" ]' \
    "rc=$rc $(cat "$T/u.err")"
timeout 60 mpirun -q $ROOT --oversubscribe -np 2 $M train --steps x >"$T/u.out" 2>"$T/u.err"
rc=$?
check "the same under mpirun -q: exactly that one line" \
    '[ $rc -eq 2 ] && [ $(wc -l <"$T/u.err") -eq 1 ] && grep -q "^makemore train: --steps" "$T/u.err"' "rc=$rc $(cat "$T/u.err")"
timeout 60 $MPIRUN $M train --help >"$T/u.out" 2>"$T/u.err"
rc=$?
check "train --help under mpirun: exit 0, printed once" \
    '[ $rc -eq 0 ] && [ $(grep -c "^usage:" "$T/u.out") -eq 1 ] && [ ! -s "$T/u.err" ]' "rc=$rc $(cat "$T/u.err")"

# SIGINT to mpirun: every rank stops at one agreed step, rank 0 saves once, the job exits
# non-zero and says how to continue.
$MPIRUN $M train --data "$W" --steps 10000000 --print-every 1000 --threads 1 --out "$T/int.st" >"$T/int.out" 2>"$T/int.err" &
pid=$!
( sleep 120; kill -KILL $pid 2>/dev/null ) &
guard=$!
for _ in $(seq 300); do grep -q "^   1000/" "$T/int.out" 2>/dev/null && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
kill $guard 2>/dev/null
$M eval --model "$T/int.st" --data "$W" >/dev/null 2>&1
ok_ckpt=$?
check "SIGINT: non-zero exit, one checkpoint line from rank 0, naming mpirun -np 2, a loadable checkpoint" \
    '[ $rc -ne 0 ] && [ $(grep -c "checkpoint written to" "$T/int.err") -eq 1 ] && grep -q "continue with: mpirun -np 2 makemore train" "$T/int.err" && [ $ok_ckpt -eq 0 ]' \
    "rc=$rc $(cat "$T/int.err" "$T/int.out" | head -8)"

# A rank killed outright: mpirun stops the job and exits non-zero with a message; nothing hangs.
$MPIRUN $M train --data "$W" --steps 10000000 --print-every 1000 --threads 1 >"$T/k.out" 2>"$T/k.err" &
pid=$!
for _ in $(seq 300); do grep -q "^   1000/" "$T/k.out" 2>/dev/null && break; sleep 0.1; done
victim=$(ps -o pid= --ppid $pid | tail -n 1)
[ -n "$victim" ] && kill -KILL $victim
t0=$(date +%s)
( sleep 60; kill -KILL $pid 2>/dev/null ) &
guard=$!
wait $pid
rc=$?
kill $guard 2>/dev/null
check "a killed rank: the job exits non-zero within 60 s, saying which rank" \
    '[ -n "$victim" ] && [ $rc -ne 0 ] && [ $(( $(date +%s) - t0 )) -lt 60 ] && grep -q "rank 1 .*exited on signal 9" "$T/k.err"' \
    "victim=$victim rc=$rc $(cat "$T/k.err" | head -8)"

# The MLP family (a small WaveNet: three synchronised batchnorms over (B, rows) rows each)
WAVE="--arch wavenet --block 4 --embd 6 --hidden 16 --data $W --batch 32 --steps 300 --threads 1 --print-every 100"
timeout 300 $MPIRUN $M train $WAVE --samples 2 --log "$T/wmpi.csv" --out "$T/wmpi.st" >"$T/wmpi.out" 2>"$T/wmpi.err"
rc=$?
$M train $WAVE --samples 2 --log "$T/wone.csv" >"$T/wone.out" 2>&1
check "wavenet under mpirun -np 2: exit 0, 2 ranks in the header, rank 0 alone prints" \
    '[ $rc -eq 0 ] && grep -q "; Open MPI.*; 2 ranks$" "$T/wmpi.out" && [ $(grep -c "^train " "$T/wmpi.out") -eq 1 ]' \
    "rc=$rc $(cat "$T/wmpi.out" "$T/wmpi.err" | head -20)"
worst=$(awk -F, 'NR == FNR { if (FNR > 1) a[$1] = $2; next }
    FNR > 1 && ($1 in a) { n++; d = ($2 - a[$1]) / a[$1]; if (d < 0) d = -d; if (d > w) w = d }
    END { if (n != 300) print "missing"; else printf "%.3g\n", w }' "$T/wone.csv" "$T/wmpi.csv")
check "wavenet: per-step losses against one process, largest relative difference $worst <= 1e-5" \
    'awk -v w="$worst" "BEGIN { exit !(w != \"missing\" && w + 0 <= 1e-5) }"' "worst $worst"
grep -E "^(train|val|test) " "$T/wmpi.out" >"$T/wa"
grep -E "^(train|val|test) " "$T/wone.out" >"$T/wb"
check "wavenet: final train/val/test losses agree to 4 decimals" '[ -s "$T/wa" ] && cmp -s "$T/wa" "$T/wb"' \
    "mpi: $(tr '\n' ' ' <"$T/wa") one: $(tr '\n' ' ' <"$T/wb")"
timeout 300 $MPIRUN $M train $WAVE --samples 0 --steps 150 --out "$T/whalf.st" >/dev/null 2>&1
timeout 300 $MPIRUN $M train --data "$W" --resume "$T/whalf.st" --steps 300 --samples 2 --threads 1 >"$T/wres.out" 2>&1
rc=$?
check "wavenet: checkpoint at step 150, resume under mpirun -np 2: bit-identical checkpoint" \
    '[ $rc -eq 0 ] && cmp -s "$T/whalf.st" "$T/wmpi.st"' "rc=$rc $(tail -5 "$T/wres.out")"
$M train --data "$W" --resume "$T/whalf.st" --steps 400 >/dev/null 2>"$T/err"
rc=$?
check "wavenet: resume with another number of processes: exit 2, says mpirun -np 2" \
    '[ $rc -eq 2 ] && grep -q "trained on 2 processes.*mpirun -np 2" "$T/err"' "rc=$rc $(cat "$T/err")"


# makemore.py's types (AdamW; the packed batch: each rank weighs its loss by its counted
# positions): per-step losses within 1e-5 of one process (the Transformer over 1000 steps),
# the same final losses; the Transformer resumed under mpirun -np 2, bit-identical.
worst_of() {  # ONE MPI STEPS -> the largest relative per-step difference, or "missing"
    awk -F, -v want="$3" 'NR == FNR { if (FNR > 1) a[$1] = $2; next }
        FNR > 1 && ($1 in a) { n++; d = ($2 - a[$1]) / a[$1]; if (d < 0) d = -d; if (d > w) w = d }
        END { if (n != want) print "missing"; else printf "%.3g\n", w }' "$1" "$2"
}
for a in transformer bigram bengio bow rnn gru; do
    steps=300; [ $a = transformer ] && steps=1000
    MMT="--arch $a --embd 16 --hidden 16 --data $W --batch 32 --steps $steps --threads 1 --print-every 500 --samples 0"
    [ $a = transformer ] && MMT="$MMT --layers 2 --heads 2"
    timeout 300 $MPIRUN $M train $MMT --log "$T/m$a.csv" --out "$T/m$a.st" >"$T/m$a.out" 2>"$T/m$a.err"
    rc=$?
    $M train $MMT --log "$T/o$a.csv" >"$T/o$a.out" 2>&1
    worst=$(worst_of "$T/o$a.csv" "$T/m$a.csv" $steps)
    grep -E "^(train|test) " "$T/m$a.out" >"$T/ma"
    grep -E "^(train|test) " "$T/o$a.out" >"$T/oa"
    check "$a under mpirun -np 2: $steps per-step losses within 1e-5 of one process (worst $worst), the same final losses" \
        '[ $rc -eq 0 ] && awk -v w="$worst" "BEGIN { exit !(w != \"missing\" && w + 0 <= 1e-5) }" && [ -s "$T/ma" ] && cmp -s "$T/ma" "$T/oa"' \
        "rc=$rc worst=$worst mpi: $(tr '\n' ' ' <"$T/ma") one: $(tr '\n' ' ' <"$T/oa") $(head -3 "$T/m$a.err")"
done
MMT="--arch transformer --layers 2 --heads 2 --embd 16 --hidden 16 --data $W --batch 32 --threads 1 --samples 0"
timeout 300 $MPIRUN $M train $MMT --steps 500 --out "$T/thalf.st" >/dev/null 2>&1
timeout 300 $MPIRUN $M train --data "$W" --resume "$T/thalf.st" --steps 1000 --samples 0 --threads 1 >"$T/tres.out" 2>&1
rc=$?
check "transformer: checkpoint at step 500 (AdamW's moments with it), resume under mpirun -np 2: bit-identical checkpoint" \
    '[ $rc -eq 0 ] && cmp -s "$T/thalf.st" "$T/mtransformer.st"' "rc=$rc $(tail -5 "$T/tres.out")"

# --diag under P ranks: refused in one line before any work (its statistics would be one
# rank's share of the batch), nothing written.
timeout 120 $MPIRUN $M train --data "$W" --steps 5 --threads 1 --diag "$T/dg" >"$T/dg.out" 2>"$T/dg.err"
rc=$?
check "--diag under mpirun -np 2: exit 2, one line, no directory made" \
    '[ $rc -eq 2 ] && grep -q "diag with 2 MPI ranks" "$T/dg.err" && [ ! -e "$T/dg" ]' "rc=$rc $(head -3 "$T/dg.err")"

finish
