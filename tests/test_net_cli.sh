#!/bin/sh
# test_net_cli.sh: the MLP family through the real binary: a small WaveNet and a 2-layer
# MLP train -> checkpoint -> eval gives the training run's losses; an interrupted and
# resumed run ends byte-identical to an uninterrupted one; contradicting flags and a
# block that is not a power of two exit 2; gradcheck --arch exits 0.
# Env: MAKEMORE (the binary), NAMES (names.txt).
. "$(dirname "$0")/lib.sh"

WAVE="--arch wavenet --block 4 --embd 6 --hidden 16 --batch 16 --data $NAMES --threads 1 --samples 0"
MLP2="--arch mlp --layers 2 --block 3 --embd 5 --hidden 12 --batch 16 --data $NAMES --threads 1 --samples 0"

for model in WAVE MLP2; do
    eval "flags=\$$model"
    # train -> checkpoint -> eval: the same three losses
    if $MAKEMORE train $flags --steps 300 --decay-step 200 --out "$T/$model.full" >"$T/full.out" 2>"$T/err" &&
       $MAKEMORE eval --model "$T/$model.full" --data "$NAMES" >"$T/eval.out" 2>>"$T/err"; then
        grep -E '^(train|val|test) ' "$T/full.out" >"$T/full.loss"
        if [ "$(wc -l <"$T/full.loss")" -eq 3 ] && cmp -s "$T/full.loss" "$T/eval.out"; then
            pass "$model: eval of the checkpoint gives the run's losses"
        else
            fail "$model: eval" "$(cat "$T/full.loss" "$T/eval.out" | tr '\n' ' ')"
        fi
    else
        fail "$model: train/eval" "$(cat "$T/err")"
    fi
    # 150 steps, then --resume to 300: byte-identical checkpoint and the same losses
    if $MAKEMORE train $flags --steps 150 --decay-step 200 --out "$T/$model.half" >/dev/null 2>"$T/err" &&
       $MAKEMORE train --data "$NAMES" --threads 1 --samples 0 --resume "$T/$model.half" --steps 300 >"$T/res.out" 2>>"$T/err"; then
        grep -E '^(train|val|test) ' "$T/res.out" >"$T/res.loss"
        if cmp -s "$T/$model.full" "$T/$model.half" && cmp -s "$T/full.loss" "$T/res.loss"; then
            pass "$model: --resume is bit-identical"
        else
            fail "$model: --resume" "checkpoints or losses differ: $(cat "$T/res.loss" | tr '\n' ' ')"
        fi
    else
        fail "$model: resume run" "$(cat "$T/err")"
    fi
    $MAKEMORE sample --model "$T/$model.full" --data "$NAMES" -n 5 >"$T/s.out" 2>"$T/err"
    if [ $? -eq 0 ] && [ "$(wc -l <"$T/s.out")" -eq 5 ]; then pass "$model: sample"; else fail "$model: sample" "$(cat "$T/err")"; fi
done

# expect NAME STATUS FRAGMENT CMD...: one stderr line holding FRAGMENT, exit STATUS
expect() {
    name=$1 want=$2 frag=$3
    shift 3
    "$@" >/dev/null 2>"$T/stderr"
    rc=$?
    if [ "$rc" -eq "$want" ] && grep -qF -- "$frag" "$T/stderr" && [ "$(wc -l <"$T/stderr")" -eq 1 ]; then
        pass "$name"
    else
        fail "$name" "exit $rc, stderr: $(cat "$T/stderr")"
    fi
}
expect "wavenet --block 6" 2 "power of two" $MAKEMORE train --arch wavenet --block 6 --data "$NAMES"
expect "wavenet --layers" 2 "log2(--block)" $MAKEMORE train --arch wavenet --layers 2 --data "$NAMES"
expect "resume wavenet with --arch mlp" 2 "conflicts with --resume" \
    $MAKEMORE train --data "$NAMES" --resume "$T/WAVE.full" --arch mlp --steps 400
expect "resume wavenet with --block 8" 2 "--block 8 conflicts" \
    $MAKEMORE train --data "$NAMES" --resume "$T/WAVE.full" --block 8 --steps 400
expect "resume mlp/2 with --layers 3" 2 "--layers 3 conflicts" \
    $MAKEMORE train --data "$NAMES" --resume "$T/MLP2.full" --layers 3 --steps 400
$MAKEMORE train --block 3 --embd 4 --hidden 8 --steps 20 --data "$NAMES" --threads 1 --samples 0 \
    --out "$T/lecture.st" >/dev/null 2>&1 || fail "lecture model run" "exit $?"
expect "resume the lecture's mlp with --arch wavenet" 2 "--arch wavenet conflicts with --resume" \
    $MAKEMORE train --data "$NAMES" --resume "$T/lecture.st" --arch wavenet --steps 40
expect "the lecture's model: --bn-stats running is not it" 2 "--bn-stats running conflicts with --resume" \
    $MAKEMORE train --data "$NAMES" --resume "$T/lecture.st" --bn-stats running --steps 40
head -c 100000 "$NAMES" | sed '$d' >"$T/other.txt"
expect "wavenet --resume with another words file" 1 "is not the words file" \
    $MAKEMORE train --data "$T/other.txt" --resume "$T/WAVE.half" --steps 300
# outputs are checked before any work, and locked while a run writes them
expect "wavenet --out in a missing directory" 1 "create it first" \
    $MAKEMORE train $WAVE --steps 100000 --out "$T/missing/x.st"
expect "wavenet --out is the words file" 2 "is the words file" \
    $MAKEMORE train $WAVE --steps 100000 --out "$NAMES"
$MAKEMORE train $WAVE --steps 100000000 --out "$T/locked.st" >/dev/null 2>&1 &
bg=$!
i=0
while [ ! -e "$T/locked.st.lock" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
expect "wavenet: a second run on the same --out fails, naming the first" 1 "in use by another makemore run (pid $bg" \
    $MAKEMORE train $WAVE --steps 10 --out "$T/locked.st"
kill -HUP $bg
wait $bg
rc=$?
if [ $rc -eq 129 ] && [ -s "$T/locked.st" ] && [ ! -e "$T/locked.st.lock" ]; then
    pass "wavenet: SIGHUP stops with a checkpoint (exit 129), the lock removed"
else
    fail "wavenet SIGHUP" "exit $rc; $(ls "$T")"
fi

# a closed stdout stops a wavenet run as it stops the lecture's model: a checkpoint, exit 141,
# and the command that continues it (one train command for every architecture)
{ $MAKEMORE train $WAVE --print-every 1 --steps 100000000 --out "$T/pipe.st" 2>"$T/pipe.err"; echo $? >"$T/pipe.rc"; } | head -3 >/dev/null
if [ "$(cat "$T/pipe.rc")" -eq 141 ] && grep -q "stdout is closed (EPIPE) after step" "$T/pipe.err" &&
   grep -q -- "--resume" "$T/pipe.err" && $MAKEMORE eval --model "$T/pipe.st" --data "$NAMES" >/dev/null 2>&1; then
    pass "wavenet: a closed stdout stops with a checkpoint that loads (exit 141)"
else
    fail "wavenet closed stdout" "exit $(cat "$T/pipe.rc"); $(cat "$T/pipe.err")"
fi

# a build without MPI under mpirun: every rank would train alone and write the same --out,
# so it is refused and nothing is written (the MPI build's runs: tests/test_mpi.sh)
if $MAKEMORE train --help 2>/dev/null | grep -q "built without MPI"; then
    OMPI_COMM_WORLD_SIZE=2 expect "without MPI, mpirun is refused" 2 "built without MPI" \
        $MAKEMORE train --arch wavenet --data "$NAMES" --out "$T/mpi.st"
    [ ! -e "$T/mpi.st" ] && pass "nothing written under mpirun" || fail "mpirun refusal" "$T/mpi.st written"
fi

for g in "--arch wavenet --batch 8 --hidden 16 --embd 6" "--arch mlp --layers 3 --batch 8"; do
    if $MAKEMORE gradcheck $g >"$T/g.out" 2>&1 && grep -q "rows approximately equal" "$T/g.out" &&
       ! grep -q "approximate: False" "$T/g.out"; then
        pass "gradcheck $g"
    else
        fail "gradcheck $g" "$(tail -3 "$T/g.out")"
    fi
done

finish
