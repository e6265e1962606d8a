#!/bin/sh
# test_reliability3.sh: reliability round three, each class with its cases:
#   1. every write is checked, stdout's too: sample, eval, gradcheck, train, sweep and every
#      --help into a full disk (/dev/full) fail on one line naming ENOSPC; a closed pipe
#      still stops train with a checkpoint (141), and now the sweep too;
#   2. no open of a user path can hang: a FIFO or a device as --data, --model, --resume,
#      --plan, --ref is refused at once;
#   3. OpenBLAS under a memory limit (ulimit -v / -d): one line instead of spinning before
#      main, a limit too small for one buffer per thread runs anyway, and no GEMM waits
#      forever mid-run (skipped in a sanitizer build: ASan cannot run under ulimit -v);
#   4. smaller: a UTF-8 BOM opening the words file adds no symbol, a CRLF plan file reads,
#      an --out-dir with control bytes is printed escaped;
#   5. the fixes of round three held by tests: the sweep's out-dir, CSV and run-log
#      claims, the interrupted checkpoint's lock, gradcheck --dump claimed, a foreign
#      lock file untouched, the grid sweep's resume command, sweep --resume holding every
#      run to its flags, a stopped run's exit status, --seeds ' 1' and -5, gradcheck --arch
#      wavenet --layers, signals caught from train's first instruction.
# (Non-finite logits in sample: test_sample.c; a FIFO and the BOM in the loaders:
# test_data.c, test_safetensors.c; a bad flag under mpirun: test_mpi.sh.)
# Env: MAKEMORE (the binary), NAMES (names.txt), BUILD.
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
tiny_words w.txt
TINY="--data w.txt --hidden 2 --embd 2 --block 1 --batch 4 --samples 0 --threads 1"
SW="--data w.txt --hidden 2 --embd 2 --block 1 --batch 4"  # the sweep sets the others

# one_line NAME WANT_RC FRAGMENT: $rc is WANT_RC, err holds exactly one line, with no raw
# control byte, holding FRAGMENT.
one_line() {
    why=""
    [ "$rc" -eq "$2" ] || why="exit $rc, expected $2"
    [ "$(wc -l <err)" -eq 1 ] || why="$why; $(wc -l <err) lines on stderr"
    LC_ALL=C grep -q "$(printf '[\001-\011\013-\037\177]')" err && why="$why; a raw control byte"
    grep -qF -- "$3" err || why="$why; lacks \"$3\""
    if [ -z "$why" ]; then pass "$1"; else fail "$1" "$why: $(head -c 400 err)"; fi
}
# loads NAME FILE: the checkpoint loads
loads() { if $M sample --model "$2" --data - -n 1 >/dev/null 2>load.err; then pass "$1"; else fail "$1" "$(cat load.err)"; fi; }
no_locks() { if ls ./*.lock */*.lock >/dev/null 2>&1; then fail "$1" "left $(ls ./*.lock */*.lock 2>/dev/null)"; else pass "$1"; fi; }

$M train $TINY --steps 30 --out m.st >/dev/null 2>&1 || fail "train m.st" "failed"

# ---- 1. stdout into a full disk ------------------------------------------------------------
if [ -w /dev/full ]; then
    ENOSPC="writing to stdout failed (No space left on device)"
    $M sample --model m.st --data - -n 5 >/dev/full 2>err; rc=$?
    one_line "sample -n 5 >/dev/full: exit 1, ENOSPC named" 1 "makemore sample: $ENOSPC"
    $M sample --model m.st --data - -n 3000 >/dev/full 2>err; rc=$?
    one_line "sample -n 3000 >/dev/full (the buffer dropped on the way): ENOSPC, not EIO" 1 "$ENOSPC"
    $M eval --model m.st --data w.txt >/dev/full 2>err; rc=$?
    one_line "eval >/dev/full: exit 1, ENOSPC named" 1 "makemore eval: $ENOSPC"
    $M gradcheck --batch 4 --hidden 4 >/dev/full 2>err; rc=$?
    one_line "gradcheck >/dev/full: exit 1, ENOSPC named" 1 "makemore gradcheck: $ENOSPC"
    $M gradcheck --arch wavenet --batch 4 --hidden 4 --embd 2 --block 2 >/dev/full 2>err; rc=$?
    one_line "gradcheck --arch wavenet >/dev/full: exit 1" 1 "makemore gradcheck: $ENOSPC"
    for c in train sample eval gradcheck sweep; do
        $M $c --help >/dev/full 2>err; rc=$?
        one_line "$c --help >/dev/full: exit 1" 1 "makemore $c: $ENOSPC"
    done
    $M --help >/dev/full 2>err; rc=$?
    one_line "makemore --help >/dev/full: exit 1" 1 "makemore: $ENOSPC"
    rm -f full.st
    $M train $TINY --steps 100000 --out full.st >/dev/full 2>err; rc=$?
    one_line "train >/dev/full: stops with a checkpoint, exit 1, ENOSPC named (not EPIPE)" 1 \
        "stopped: $ENOSPC after step 1 of 100000; checkpoint written to full.st; continue with:"
    loads "train >/dev/full: the checkpoint loads" full.st
    rm -rf swfull
    $M sweep --seeds 1-2 $SW --steps 100 --out-dir swfull >/dev/full 2>err; rc=$?
    one_line "sweep >/dev/full: exit 1 at once, ENOSPC named" 1 "makemore sweep: $ENOSPC; no run was started"
    [ -z "$(ls swfull/*.safetensors 2>/dev/null)" ] && pass "sweep >/dev/full: nothing trained" ||
        fail "sweep >/dev/full trained" "$(ls swfull)"
    no_locks "sweep >/dev/full: no lock left"
else
    echo "skip: /dev/full is not writable here"
fi
# A closed pipe: the sweep stops its runs (each checkpoints), 141, and says how to resume.
rm -rf swpipe
{ $M sweep --seeds 1-3 --jobs 1 $SW --steps 20000 --out-dir swpipe 2>err; echo $? >sw.rc; } | head -1 >/dev/null
rc=$(cat sw.rc)
one_line "sweep | head -1: exit 141, every run stopped, the resume command" 141 \
    "writing to stdout failed (Broken pipe), so every run was stopped; each stopped run wrote its checkpoint to swpipe; resume with: makemore sweep"
$M sweep --seeds 1-3 --jobs 1 $SW --steps 20000 --out-dir swpipe --resume >out 2>err; rc=$?
[ "$rc" -eq 0 ] && [ "$(grep -c ' ok$' out)" -eq 3 ] && pass "sweep | head -1: --resume finishes the runs" ||
    fail "sweep | head -1 resume" "rc $rc: $(cat err)"

# ---- 2. no open of a user path hangs -------------------------------------------------------
mkfifo fifo
# refused NAME CMD...: within 5 s, exit 1, one line naming a non-regular file
refused() {
    name=$1; shift
    timeout -s KILL 5 "$@" >out 2>err; rc=$?
    one_line "$name: refused at once" 1 "not a regular file"
}
refused "train --data FIFO" $M train $TINY --data fifo --steps 1
refused "eval --model FIFO" $M eval --model fifo --data w.txt
refused "sample --model FIFO" $M sample --model fifo --data -
refused "eval --data FIFO" $M eval --model m.st --data fifo
refused "sample --data FIFO" $M sample --model m.st --data fifo
refused "train --resume FIFO --out elsewhere" $M train --data w.txt --resume fifo --out r.st
refused "train --plan FIFO" $M train $TINY --steps 1 --plan fifo
refused "gradcheck --ref FIFO" $M gradcheck --ref fifo
refused "train --data /dev/zero" $M train $TINY --data /dev/zero --steps 1
refused "eval --model /dev/zero" $M eval --model /dev/zero --data w.txt

# ---- 3. OpenBLAS under a memory limit ------------------------------------------------------
case "$BUILD" in *san*) echo "skip: memory limits in a sanitizer build (ASan reserves terabytes)" ;; *)
    sh -c "ulimit -v 300000; exec timeout -s KILL 10 $M eval --model x" >out 2>err; rc=$?
    one_line "ulimit -v 300000: one line, exit 1, at once (OpenBLAS span forever before main)" 1 \
        "the memory limit (ulimit -v 300000, in KiB) leaves"
    need=$(sed -n 's/.*raise the limit to at least ulimit -v \([0-9]*\)$/\1/p' err)
    room=$(sed -n 's/.* leaves \([0-9]*\) MiB to this process.*/\1/p' err)
    if [ -n "$need" ]; then
        sh -c "ulimit -v $need; exec timeout -s KILL 10 $M eval --model x" >out 2>err; rc=$?
        one_line "the limit it names ($need KiB) starts the program" 1 "x: cannot open: No such file"
    else
        fail "the limit it names" "no limit in: $(cat err)"
    fi
    sh -c "ulimit -d 150000; exec timeout -s KILL 10 $M eval --model x" >out 2>err; rc=$?
    one_line "ulimit -d 150000: one line, exit 1" 1 "the memory limit (ulimit -d 150000, in KiB)"
    # Room for two buffers, not one per core (OpenBLAS counts the cores, at most
    # OMP_NUM_THREADS): OpenBLAS loads with two, and the run trains. Needs 3 cores or more.
    cores=$(nproc 2>/dev/null || echo 1)
    if [ "$cores" -ge 3 ] && [ -n "$room" ]; then
        lim=$(( (300000 / 1024 - room + 2 * 128 + 16 + 60) * 1024 ))
        sh -c "ulimit -v $lim; exec timeout -s KILL 30 $M train $TINY --steps 50 --print-every 10" >out 2>err; rc=$?
        [ "$rc" -eq 0 ] && grep -q "^test " out && [ ! -s err ] && pass "ulimit -v $lim on $cores cores (room for 2 buffers): trains" ||
            fail "fewer buffers than cores under ulimit -v $lim" "rc $rc: $(head -c 300 err)"
    else
        echo "skip: fewer OpenBLAS buffers than cores needs 3 cores or more ($cores here)"
    fi
    # Large GEMMs forked over 2 threads under a limit: no GEMM may wait forever for a
    # buffer (it trains, or fails on one line for want of memory).
    sh -c "ulimit -v 480000; exec timeout -s KILL 120 $M train --data \"$W\" --batch 4096 --hidden 1024 --steps 4 --samples 0 --threads 2" >out 2>err; rc=$?
    if [ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && [ "$(wc -l <err)" -eq 1 ]; }; then
        pass "ulimit -v 480000, B=4096 H=1024, 2 threads: no spin (exit $rc)"
    else
        fail "forked GEMMs under a limit" "rc $rc: $(head -c 300 err)"
    fi
    ;;
esac

# ---- 4. smaller ----------------------------------------------------------------------------
printf '\357\273\277ab\r\nba\r\nabba\r\nb\r\na\r\naab\r\nbab\r\naa\r\n' >bom.txt
$M train --data bom.txt --hidden 2 --embd 2 --block 1 --batch 4 --samples 0 --threads 1 --steps 5 >out 2>err; rc=$?
[ "$rc" -eq 0 ] && grep -q "^data: bom.txt: 8 words, vocabulary 3;" out && pass "a UTF-8 BOM opening the words file: skipped (vocabulary 3)" ||
    fail "BOM" "rc $rc: $(grep '^data' out) $(cat err)"
rm -f plan.txt
$M train $TINY --steps 5 --plan plan.txt >/dev/null 2>err && [ -s plan.txt ] || fail "plan written" "$(cat err)"
sed 's/$/\r/' plan.txt >crlf.txt
$M train $TINY --steps 5 --plan crlf.txt >out 2>err; rc=$?
[ "$rc" -eq 0 ] && grep -q "^gemm: from --plan crlf.txt" out && pass "a CRLF plan file reads" || fail "CRLF plan" "rc $rc: $(cat err)"
d=$(printf 'o\nd\033[2J')
$M sweep --seeds 1 --grid data=w.txt,"$(printf 'no\nne')" --hidden 2 --embd 2 --block 1 --batch 4 --steps 20 --out-dir "$d" >out 2>err; rc=$?
if [ "$rc" -eq 1 ] && ! LC_ALL=C grep -q "$(printf '[\001-\011\013-\037\177]')" out &&
    grep -qF 'FAILED (exit 1): makemore train: no\nne: cannot open' out && grep -qF '(log o\nd\x1b[2J/data=no_ne_seed=1.log)' out &&
    grep -qF 'data=no\nne ' out && [ "$(wc -l <err)" -eq 1 ]; then
    pass "sweep: an --out-dir and a grid value with a newline and ESC print escaped (run lines, table)"
else
    fail "sweep escaping" "rc $rc: $(head -c 600 out)"
fi

# ---- 5. round three's fixes, held -----------------------------------------------------------
# The sweep's out-dir lock, its CSV and run logs claimed.
rm -rf swl
$M sweep --seeds 1 --jobs 1 $SW --steps 100000000 --out-dir swl >swl.out 2>swl.err &
spid=$!
i=0
while [ ! -s swl/seed=1.log ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
$M sweep --seeds 2 $SW --steps 10 --out-dir swl >out 2>err; rc=$?
one_line "sweep: a second sweep on the same --out-dir fails at once, naming the first" 1 "another sweep writes in --out-dir swl"
kill -INT $spid; wait $spid
no_locks "sweep: its lock files go at exit"
printf 'my notes\n' >notes.csv
$M sweep --seeds 1 $SW --steps 10 --out-dir swc --csv notes.csv >out 2>err; rc=$?
one_line "sweep --csv on a foreign file: refused before any run" 1 "--csv notes.csv: not a makemore sweep CSV"
[ "$(cat notes.csv)" = "my notes" ] && [ -z "$(ls swc/*.safetensors 2>/dev/null)" ] && pass "the foreign CSV untouched, nothing trained" ||
    fail "foreign CSV" "$(cat notes.csv; ls swc)"
mkdir -p swk && ln -s ../notes.csv swk/seed=1.log
$M sweep --seeds 1 $SW --steps 10 --out-dir swk >out 2>err; rc=$?
one_line "sweep: a run log that is a symbolic link is never followed" 1 "is a symbolic link; not following it"
[ "$(cat notes.csv)" = "my notes" ] && pass "the link's target untouched" || fail "link target" "$(cat notes.csv)"

# The interrupted checkpoint (no --out) is locked: a second run takes a name of its own.
mkdir -p intr && cd intr || exit 1
$M train --data ../w.txt --hidden 2 --embd 2 --block 1 --batch 4 --samples 0 --threads 1 --steps 100000000 --log a.csv >a.out 2>a.err &
apid=$!
i=0
while [ "$(cat a.csv 2>/dev/null | wc -l)" -lt 50 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
$M train --data ../w.txt --hidden 2 --embd 2 --block 1 --batch 4 --samples 0 --threads 1 --steps 100000000 --log b.csv >b.out 2>b.err &
bpid=$!
i=0
while [ "$(cat b.csv 2>/dev/null | wc -l)" -lt 50 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
kill -INT $bpid; wait $bpid; brc=$?
kill -INT $apid; wait $apid; arc=$?
if [ "$arc" -eq 130 ] && [ "$brc" -eq 130 ] && grep -q "written to makemore-interrupted.safetensors;" a.err &&
    grep -q "written to makemore-interrupted-$bpid.safetensors;" b.err && [ -s "makemore-interrupted-$bpid.safetensors" ]; then
    pass "two runs without --out: the second checkpoints to makemore-interrupted-PID.safetensors"
else
    fail "interrupted checkpoint lock" "a $arc: $(cat a.err); b $brc: $(cat b.err)"
fi
cd .. || exit 1

# gradcheck --dump is claimed: a foreign file and a link are refused and left as they are.
$M gradcheck --batch 4 --hidden 4 --dump notes.csv >out 2>err; rc=$?
one_line "gradcheck --dump on a foreign file: refused" 1 "--dump notes.csv: not a makemore model file"
ln -s notes.csv link.st
$M gradcheck --batch 4 --hidden 4 --dump link.st >out 2>err; rc=$?
one_line "gradcheck --dump on a symbolic link: refused" 1 "--dump link.st: is a symbolic link"
[ "$(cat notes.csv)" = "my notes" ] && [ ! -s out ] && pass "gradcheck --dump: untouched, refused before the check" || fail "--dump" "$(cat notes.csv)"

# A lock file that is not a makemore lock is never touched.
printf 'not a pid\n' >mine.st.lock
$M train $TINY --steps 5 --out mine.st >out 2>err; rc=$?
one_line "a foreign FILE.lock: refused" 1 "mine.st.lock exists and is not a makemore lock; not touching it"
[ "$(cat mine.st.lock)" = "not a pid" ] && [ ! -e mine.st ] && pass "the foreign lock file untouched, nothing written" || fail "foreign lock" "$(cat mine.st.lock)"

# The grid sweep's resume command works; --resume holds every run to its flags.
rm -rf swg
$M sweep --seeds 1 --grid hidden=2,3 --jobs 2 --data w.txt --embd 2 --block 1 --batch 4 --steps 100000000 --out-dir swg >out 2>err &
gpid=$!
i=0
while [ "$(cat swg/*.log 2>/dev/null | grep -c '^schedule:')" -lt 2 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
sleep 0.2
kill -INT $gpid; wait $gpid; rc=$?
one_line "grid sweep, SIGINT: exit 130, one line with the resume command" 130 "resume with: makemore sweep --seeds 1 --grid 'hidden=2,3' --jobs 2"
cmd=$(sed -n 's/.*resume with: makemore \(.*\)$/\1/p' err)
# The printed command, run by sh, with --steps after it (the last one counts): 100 steps
# past the furthest checkpoint, so that both runs end now.
last=$(sed -n 's/.*interrupted after step \([0-9]*\) of.*/\1/p' swg/*.log | sort -n | tail -n 1)
steps=$((${last:-0} + 100))
sh -c "exec \"\$0\" $cmd --steps $steps" "$M" >out 2>err2; rc=$?
if [ -n "$last" ] && [ "$rc" -eq 0 ] && [ "$(grep -c ' ok$' out)" -eq 2 ]; then pass "the printed grid resume command resumes both runs"; else fail "grid resume command" "rc $rc: $(cat err2) $(tail -3 out)"; fi
$M sweep --seeds 1 --grid hidden=2,3 --data w.txt --embd 2 --block 1 --batch 4 --steps $steps --lr 0.2 --out-dir swg --resume >out 2>err; rc=$?
one_line "sweep --resume with another --lr: exit 2, the run and the flag named" 2 "--resume: run hidden=2_seed=1: --lr"

# Runs stopped from outside (SIGTERM to each, not to the sweep): the sweep's exit status is
# 1, not 0, and it says how to continue them.
rm -rf sws
$M sweep --seeds 1-2 --jobs 2 $SW --steps 100000000 --out-dir sws >out 2>err &
spid=$!
i=0
while [ "$(cat sws/*.log 2>/dev/null | grep -c '^schedule:')" -lt 2 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
sleep 0.2
victims=$(ps -o pid= --ppid $spid | tr -d ' ' | tr '\n' ' ')
for v in $victims; do kill -TERM "$v"; done
wait $spid; rc=$?
[ -n "$victims" ] && [ "$rc" -eq 1 ] && [ "$(grep -c 'stopped (checkpoint written)' out)" -eq 2 ] &&
    grep -q "2 of 2 runs were stopped .*; continue them with --resume" err && pass "runs stopped from outside: the sweep exits 1, saying how to continue" ||
    fail "stopped run status" "victims $victims rc $rc: $(cat out err)"

# --seeds with a blank or a sign; gradcheck --arch wavenet --layers.
for s in ' 1' '-5' '1,,2'; do
    $M sweep --seeds "$s" $SW --out-dir swx >out 2>err; rc=$?
    one_line "sweep --seeds '$s': exit 2, one line" 2 "--seeds $s: bad seed"
done
$M gradcheck --arch wavenet --layers 2 >out 2>err; rc=$?
one_line "gradcheck --arch wavenet --layers 2: exit 2" 2 "--layers 2 with --arch wavenet: its depth is log2(--block)"

# Signals from train's first instruction: a SIGTERM at any moment of the start leaves no
# lock nor temp file and ends the run with 143 (by the handler, with its one line, or,
# before main, by the signal itself). (SIGTERM: a background job of sh ignores SIGINT
# until the program catches it.)
bad=""
handled=0
for delay in 0 0.01 0.02 0.03 0.04 0.06 0.08 0.1 0.15 0.2 0.3; do
    rm -f early.st early.csv
    $M train --data "$W" --steps 100000000 --threads 1 --samples 0 --out early.st --log early.csv >out 2>err &
    pid=$!
    # From the exec on (before it, the signal is the forked shell's, whose trap takes it).
    i=0
    while [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$(readlink -f "$M")" ] && [ $i -lt 500 ]; do sleep 0.001; i=$((i + 1)); done
    sleep $delay
    kill -TERM $pid; { wait $pid; } 2>/dev/null; rc=$?  # (no "Terminated" from sh)
    lines=$(wc -l <err)
    [ "$lines" -eq 1 ] && handled=$((handled + 1))
    if [ "$rc" -ne 143 ] || [ "$lines" -gt 1 ] || ls ./*.lock ./*.tmp* >/dev/null 2>&1; then bad="$bad $delay(rc $rc, $lines lines, $(ls ./*.lock ./*.tmp* 2>/dev/null))"; fi
done
[ -z "$bad" ] && pass "SIGTERM at 11 moments of the start: 143, no lock or temp left ($handled by the handler)" || fail "early SIGTERM" "$bad"

finish
