#!/bin/sh
# test_reliability.sh: what a hostile user found, each class with its cases:
#   1. one escaped line on every error path (usage, runtime, signal, gradcheck --dump);
#   2. signals and limits (SIGHUP, SIGPIPE, a file-size limit on the log and on the
#      checkpoint, a second SIGINT during a save): a checkpoint or the last one kept, one
#      line, no temp file;
#   3. ours only (--log takeover rules, a FIFO, closed fds 1/2, locks);
#   4. the "continue with" command works whatever the paths hold.
# Env: MAKEMORE (the binary), NAMES (names.txt).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
M=$MAKEMORE
tiny_words w.txt
TINY="--data w.txt --hidden 2 --embd 2 --block 1 --batch 4 --samples 0 --print-every 1000000 --threads 1"

# one_line NAME WANT_RC FRAGMENT: checks $rc and err (exactly one line, no raw control
# or non-UTF-8 byte, the fragment).
one_line() {
    why=""
    [ "$rc" -eq "$2" ] || why="exit $rc, expected $2"
    [ "$(wc -l <err)" -eq 1 ] || why="$why; $(wc -l <err) lines on stderr"
    LC_ALL=C grep -q "$(printf '[\001-\011\013-\037\177]')" err && why="$why; a raw control byte"
    iconv -f UTF-8 -t UTF-8 err >/dev/null 2>&1 || why="$why; not UTF-8"
    grep -qF -- "$3" err || why="$why; lacks \"$3\""
    if [ -z "$why" ]; then pass "$1"; else fail "$1" "$why: $(head -c 300 err)"; fi
}
# no_temp NAME: no *.tmp* file left in the working directory
no_temp() { if ls ./*.tmp* >/dev/null 2>&1; then fail "$1" "left $(ls ./*.tmp*)"; else pass "$1"; fi; }
# loads NAME FILE: the checkpoint loads (sample needs nothing but the model)
loads() { if $M sample --model "$2" --data - -n 1 >/dev/null 2>load.err; then pass "$1"; else fail "$1" "$(cat load.err)"; fi; }

# ---- 1. one escaped line -----------------------------------------------------------------
$M train "$(printf -- '--x\n\033[2J')" >out 2>err; rc=$?
one_line "usage: an unknown flag with a newline and ESC" 2 "unknown flag '--x\\n\\x1b[2J'"
$M train --steps "$(printf '1\n2')" >out 2>err; rc=$?
one_line "usage: a value with a newline" 2 "--steps: '1\\n2' is not an integer"
$M train --data "$(printf 'a\302\233b\377.txt')" --steps 1 >out 2>err; rc=$?
one_line "runtime: a path with a C1 control and a non-UTF-8 byte" 1 "a\\u009bb\\xff.txt: cannot open"
printf 'ab\nb\233b\nba\nab\nba\nbb\naa\n' >c1.txt
$M train --data c1.txt --steps 1 --samples 0 --out c1.st >out 2>err; rc=$?
[ "$rc" -eq 0 ] && pass "a word with a raw 0x9b byte trains (bytes >= 0x80 are letters)" || fail "0x9b word" "rc $rc: $(cat err)"
$M train $TINY --steps 3 --out w.st >/dev/null 2>&1
$M eval --model w.st --data c1.txt >out 2>err; rc=$?
one_line "runtime: a message quoting a word with a raw 0x9b byte" 1 '("b\x9bb") has byte 0x9b'
$M gradcheck --dump "$(printf '/nope\nx/g.st')" >out 2>err; rc=$?
one_line "gradcheck --dump: a bad path fails on one line" 1 "--dump /nope\\nx/g.st: directory /nope\\nx"
[ -s out ] && fail "gradcheck --dump is checked before the check" "stdout: $(head -c 100 out)" || pass "gradcheck --dump is checked before the check"

# ---- 2. signals and limits ----------------------------------------------------------------
# run_bg ARGS...: starts a training in the background ($pid); waits (at most 30 s) until
# its log has 50 lines.
run_bg() {
    $M train "$@" >bg.out 2>err &
    pid=$!
    i=0
    while [ "$(cat bg.csv 2>/dev/null | wc -l)" -lt 50 ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 3000 ]; do
        sleep 0.01; i=$((i + 1))
    done
}
rm -f bg.csv
run_bg $TINY --steps 100000000 --out hup.st --log bg.csv
kill -HUP "$pid"; wait "$pid"; rc=$?
one_line "SIGHUP: stops like SIGTERM, exit 129" 129 "hung up (SIGHUP) after step"
loads "SIGHUP: the checkpoint loads" hup.st
no_temp "SIGHUP: no temp file"

# SIGPIPE: stdout into a pipe whose reader has gone.
rm -f pipe.st
{ $M train $TINY --print-every 1 --steps 100000000 --out pipe.st 2>err; echo $? >pipe.rc; } | head -3 >/dev/null
rc=$(cat pipe.rc)
one_line "SIGPIPE (| head -3): stops with a checkpoint, exit 141" 141 "stopped: stdout is closed (EPIPE) after step"
loads "SIGPIPE: the checkpoint loads" pipe.st
no_temp "SIGPIPE: no temp file"

# A file-size limit: the log grows past it -> the run stops with a checkpoint (small).
rm -f big.csv lim.st
sh -c "ulimit -f 40; exec $M train $TINY --steps 100000000 --out lim.st --log big.csv" >out 2>err; rc=$?
one_line "ulimit -f: the log past the limit stops the run with a checkpoint, exit 1" 1 "writing the log big.csv failed (File too large) after step"
loads "ulimit -f (log): the checkpoint loads" lim.st
no_temp "ulimit -f (log): no temp file"
# ... and the checkpoint past it: the temp file goes, the last good checkpoint stays.
$M train --data "$NAMES" --hidden 200 --steps 2 --samples 0 --threads 1 --out keep.st >/dev/null 2>&1
cp keep.st keep.orig
sh -c "ulimit -f 40; exec $M train --data \"$NAMES\" --resume keep.st --steps 50 --samples 0 --threads 1" >out 2>err; rc=$?
one_line "ulimit -f: a checkpoint past the limit fails, exit 1" 1 "keep.st: cannot write: File too large after step 50; the last good checkpoint, keep.st (step 2), is kept"
cmp -s keep.st keep.orig && pass "ulimit -f (checkpoint): the last checkpoint is unchanged" || fail "ulimit -f (checkpoint)" "keep.st changed"
loads "ulimit -f (checkpoint): it loads" keep.st
no_temp "ulimit -f (checkpoint): no temp file"

# A second SIGINT while the checkpoint is being written (the save is slowed by a test
# hook so that the signal lands while the temp file exists).
cp keep.orig slow.st
MAKEMORE_TEST_SLOW_SAVE_MS=5000 $M train --data "$NAMES" --resume slow.st --steps 100000000 --samples 0 --threads 1 --log bg2.csv >out 2>err &
pid=$!
i=0
while [ "$(cat bg2.csv 2>/dev/null | wc -l)" -lt 50 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
kill -INT "$pid"
i=0
while ! ls slow.st.tmp* >/dev/null 2>&1 && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
ls slow.st.tmp* >/dev/null 2>&1 && had_temp=1 || had_temp=0
kill -INT "$pid"; wait "$pid"; rc=$?
if [ "$had_temp" -eq 1 ] && [ "$rc" -eq 130 ]; then pass "second SIGINT during the save: killed by it (130)"; else fail "second SIGINT during the save" "temp seen $had_temp, rc $rc"; fi
no_temp "second SIGINT during the save: no temp file"
cmp -s slow.st keep.orig && pass "second SIGINT: the last checkpoint is unchanged" || fail "second SIGINT" "slow.st changed"
loads "second SIGINT: the last checkpoint loads" slow.st

# ---- 3. ours only ---------------------------------------------------------------------------
cp keep.orig victim.st
$M train $TINY --steps 5 --log victim.st >out 2>err; rc=$?
one_line "fresh --log on a checkpoint: refused" 1 "--log victim.st: not a makemore loss log"
cmp -s victim.st keep.orig && pass "fresh --log: the checkpoint is untouched" || fail "fresh --log" "victim.st changed"
printf 'my notes\n' >notes.txt
$M train $TINY --steps 5 --log notes.txt >out 2>err; rc=$?
one_line "fresh --log on another file: refused" 1 "--log notes.txt: not a makemore loss log"
mkfifo fifo
timeout 20 $M train $TINY --steps 5 --log fifo >out 2>err; rc=$?
one_line "--log on a FIFO: refused at once (no hang)" 1 "--log fifo: exists and is not a regular file"
: >empty.csv
$M train $TINY --steps 5 --log empty.csv >out 2>err && [ "$(head -1 empty.csv)" = "step,loss" ] &&
    [ "$(wc -l <empty.csv)" -eq 6 ] && pass "fresh --log on an empty file: taken" || fail "empty log" "$(cat err)"
$M train $TINY --steps 3 --log empty.csv >out 2>err && [ "$(wc -l <empty.csv)" -eq 4 ] &&
    pass "fresh --log on a makemore log: taken over" || fail "makemore log" "$(cat err)"
# Closed stdout / stderr: the log keeps its own descriptor; nothing else lands in it.
$M train $TINY --steps 3 --print-every 1 --log c1.csv >&- 2>err
[ "$(cat c1.csv)" = "$(printf 'step,loss\n'; sed -n '2,4p' empty.csv)" ] && pass "stdout closed: the log holds only its lines" ||
    fail "stdout closed" "$(head -3 c1.csv)"
$M train $TINY --steps 3 --print-every 1 --log c2.csv --hidden 3 >out 2>&-
[ "$(head -1 c2.csv)" = "step,loss" ] && [ "$(wc -l <c2.csv)" -eq 4 ] && pass "stderr closed: the log holds only its lines" ||
    fail "stderr closed" "$(head -3 c2.csv)"
# Locks: a second run writing the same --out or --log fails at once, naming the first.
rm -f bg.csv
run_bg $TINY --steps 100000000 --out lock.st --log bg.csv
$M train $TINY --steps 5 --out lock.st >out 2>err; rc=$?
one_line "lock: a second run on the same --out fails, naming the first" 1 "--out lock.st is in use by another makemore run (pid $pid"
$M train $TINY --steps 5 --log bg.csv >out 2>err; rc=$?
one_line "lock: a second run on the same --log fails" 1 "--log bg.csv is in use by another makemore run (pid $pid"
$M train --data w.txt --resume lock.st --steps 100 >out 2>err; rc=$?
one_line "lock: a --resume of the locked checkpoint fails" 1 "is in use by another makemore run"
kill -INT "$pid"; wait "$pid"
[ ! -e lock.st.lock ] && [ ! -e bg.csv.lock ] && pass "lock files removed at exit" || fail "lock files" "$(ls ./*.lock)"
$M train $TINY --steps 2 --out lock.st --log bg.csv >out 2>err &
pid=$!
kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
$M train $TINY --steps 5 --out lock.st >out 2>err && pass "a stale lock (kill -9) is taken over" || fail "stale lock" "$(cat err)"

# ---- 4. the "continue with" command ---------------------------------------------------------
if command -v bash >/dev/null 2>&1; then
    d=$(printf "we'ird\n\033 dir")
    mkdir "$d"
    cp w.txt "$d/$(printf 'w\302\233 \377.txt')"
    data="$d/$(printf 'w\302\233 \377.txt')"
    $M train --data "$data" --hidden 2 --embd 2 --block 1 --batch 4 --samples 0 --threads 1 --steps 100000000 --out "$d/m.st" --log "$d/l.csv" >bg.out 2>err &
    pid=$!
    i=0
    while [ "$(cat "$d/l.csv" 2>/dev/null | wc -l)" -lt 50 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
    kill -INT "$pid"; wait "$pid"; rc=$?
    one_line "SIGINT with control bytes in every path: one line" 130 "continue with: makemore train --data \$'"
    cmd=$(sed -n 's/.*continue with: makemore \(.*\)$/\1/p' err)
    step=$(sed -n 's/.*after step \([0-9]*\) of.*/\1/p' err)
    bash -c "exec \"\$0\" $cmd --steps $((step + 5))" "$M" >out 2>err2
    rc=$?
    if [ "$rc" -eq 0 ] && grep -q "at step $step of" out; then pass "the printed command continues the run (bash)"; else fail "continue command" "rc $rc: $(cat err2)"; fi
else
    echo "skip the continue command (no bash)"
fi

finish
