#!/bin/sh
# test_resume.sh: an interrupted and resumed run is bit-identical to an uninterrupted one.
#   1. the reference: one uninterrupted run (loss CSV, final checkpoint, final losses, samples);
#   2. SIGINT at a random step (once the log has a random number of lines), then resumed
#      with the exact command the interruption message prints; then SIGTERM at another
#      random step of the resumed run, and resumed again;
#   3. SIGKILL (no chance to checkpoint) at a random step of a run with --save-every, then
#      resumed from its last periodic checkpoint (the log is cut back to it).
# Each must end with the reference's loss CSV byte for byte (every step's loss as %.9g),
# the same final checkpoint file byte for byte, and the same final losses and samples.
# Env: MAKEMORE (the binary), NAMES (names.txt).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
M=$MAKEMORE
STEPS=24000
# The lr decay falls inside the run, so the resumed runs must also keep the schedule.
RUN="--data $NAMES --hidden 64 --steps $STEPS --decay-step 9000 --threads 2 --print-every 5000"

# random LO HI: an integer in [LO, HI] from /dev/urandom (POSIX sh has no $RANDOM).
random() { echo $(($1 + $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % ($2 - $1 + 1))); }

# interrupt SIGNAL LOG MIN_LINES: waits (at most 60 s) until LOG has MIN_LINES lines,
# then sends SIGNAL to $pid and waits for it; sets rc.
interrupt() {
    i=0
    while [ "$(cat "$2" 2>/dev/null | wc -l)" -lt "$3" ] && kill -0 "$pid" 2>/dev/null && [ $i -lt 6000 ]; do
        sleep 0.01
        i=$((i + 1))
    done
    kill -s "$1" "$pid" 2>/dev/null
    wait "$pid"
    rc=$?
}

# final OUT: the run's closing lines (losses after calibration, samples), less the
# "saved FILE" line (the file names differ).
final() { sed -n '/^train [0-9]/,$p' "$1" | grep -v '^saved '; }

# same NAME FILE_A FILE_B
same() { if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$2 and $3 differ: $(cmp "$2" "$3" 2>&1 | head -1)"; fi; }

# ---- 1. the reference ------------------------------------------------------------------
$M train $RUN --log full.csv --out full.st >full.out 2>full.err
rc=$?
if [ "$rc" -eq 0 ] && [ "$(wc -l <full.csv)" -eq $((STEPS + 1)) ]; then pass "reference run"; else fail "reference run" "rc $rc: $(cat full.err)"; fi
final full.out >full.final
$M eval --model full.st --data "$NAMES" >full.eval 2>&1

# ---- 2. SIGINT, resume, SIGTERM, resume --------------------------------------------------
k1=$(random 500 $((STEPS / 3)))
$M train $RUN --log int.csv --out int.st >int1.out 2>int1.err &
pid=$!
interrupt INT int.csv "$k1"
step1=$(sed -n 's/.*interrupted after step \([0-9]*\) of.*/\1/p' int1.err)
cmd=$(sed -n 's/.*continue with: makemore \(.*\)$/\1/p' int1.err)
if [ "$rc" -eq 130 ] && [ -n "$step1" ] && [ -n "$cmd" ] && [ -s int.st ] &&
    [ "$(wc -l <int1.err)" -eq 1 ] && [ "$(ls int.st* | wc -l)" -eq 1 ]; then
    pass "SIGINT after log line $k1: exit 130, checkpoint at step $step1, no temp file"
else
    fail "SIGINT" "rc $rc (expected 130): $(cat int1.err)"
fi
[ "$(wc -l <int.csv)" -eq $((step1 + 1)) ] && pass "the log holds exactly the steps done" ||
    fail "the log holds exactly the steps done" "$(wc -l <int.csv) lines for step $step1"
# An unfinished checkpoint can be evaluated: batchnorm is calibrated first, with a note.
$M eval --model int.st --data "$NAMES" >mid.eval 2>mid.err
rc=$?
if [ "$rc" -eq 0 ] && grep -q "unfinished training checkpoint; batchnorm calibrated" mid.err && grep -q '^val [0-9]' mid.eval; then
    pass "eval of the interrupted checkpoint (calibrated first)"
else
    fail "eval of the interrupted checkpoint" "rc $rc: $(cat mid.err)"
fi
# Resume with the very command the message printed (it names --data, --resume, --log, --threads).
k2=$(random $((step1 + 500)) $((step1 + (STEPS - step1) / 2)))
$M $cmd --print-every 5000 >int2.out 2>int2.err &
pid=$!
interrupt TERM int.csv "$k2"
step2=$(sed -n 's/.*terminated after step \([0-9]*\) of.*/\1/p' int2.err)
if [ "$rc" -eq 143 ] && [ -n "$step2" ] && [ "$step2" -gt "$step1" ] && grep -q "resuming int.st at step $step1 of $STEPS" int2.out; then
    pass "resumed at step $step1; SIGTERM after log line $k2: exit 143, checkpoint at step $step2"
else
    fail "resume, then SIGTERM" "rc $rc (expected 143): $(cat int2.err)"
fi
$M $cmd --print-every 5000 >int3.out 2>int3.err
rc=$?
[ "$rc" -eq 0 ] && pass "resumed at step $step2 to the end" || fail "resumed to the end" "rc $rc: $(cat int3.err)"
same "SIGINT+SIGTERM: loss CSV identical to the uninterrupted run" full.csv int.csv
same "SIGINT+SIGTERM: final checkpoint identical, byte for byte" full.st int.st
final int3.out >int.final
same "SIGINT+SIGTERM: final train/val/test losses and samples identical" full.final int.final
$M eval --model int.st --data "$NAMES" >int.eval 2>&1
same "SIGINT+SIGTERM: eval of the final checkpoint identical" full.eval int.eval
# The printed progress lines continue where they stopped (none lost, none repeated).
grep -h '^ *[0-9]*/ *[0-9]*: ' int1.out int2.out int3.out >int.progress
grep '^ *[0-9]*/ *[0-9]*: ' full.out >full.progress
same "SIGINT+SIGTERM: progress lines identical" full.progress int.progress

# ---- 3. SIGKILL with periodic checkpoints -------------------------------------------------
k3=$(($(random 2 $((STEPS / 2000))) * 1000 + $(random 200 700)))  # mid-way between checkpoints
$M train $RUN --log kill.csv --out kill.st --save-every 1000 >kill1.out 2>kill1.err &
pid=$!
interrupt KILL kill.csv "$k3"
lines=$(wc -l <kill.csv)
if [ "$rc" -eq 137 ] && [ -s kill.st ]; then pass "SIGKILL after log line $k3 (log has $lines lines)"; else fail "SIGKILL" "rc $rc: $(cat kill1.err)"; fi
# Whatever the timing, the log must also be cut back past lines of later steps and a
# torn last line (what a crash in the middle of a write leaves).
printf '%s\n%s' "$((STEPS - 1)),0.5" "$((STEPS - 2)),2.2" >>kill.csv
$M train --data "$NAMES" --resume kill.st --log kill.csv --threads 2 >kill2.out 2>kill2.err
rc=$?
from=$(sed -n 's/^resuming kill.st at step \([0-9]*\) of.*/\1/p' kill2.out)
if [ "$rc" -eq 0 ] && [ -n "$from" ] && [ $((from % 1000)) -eq 0 ]; then
    pass "resumed from the periodic checkpoint of step $from (log cut from $((lines + 1)) lines to $((from + 1)))"
else
    fail "resume after SIGKILL" "rc $rc: $(cat kill2.err)"
fi
same "SIGKILL: loss CSV (cut back to the checkpoint, then continued) identical" full.csv kill.csv
same "SIGKILL: final checkpoint identical, byte for byte" full.st kill.st
final kill2.out >kill.final
same "SIGKILL: final losses and samples identical" full.final kill.final

echo "interrupted at steps $step1 (SIGINT), $step2 (SIGTERM); SIGKILL resumed from $from"
finish
