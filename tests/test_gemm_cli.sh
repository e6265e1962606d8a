#!/bin/sh
# test_gemm_cli.sh: the GEMM plan through `makemore train`: --gemm blas is the default
# path bit for bit, --plan FILE writes then fixes a plan, a resumed run reuses its
# checkpoint's plan (same log as an uninterrupted run under that plan), bad plans and
# flags fail with one line and the right status.
# Env: MAKEMORE (binary), NAMES (names.txt). Prints "N passed, N failed".
. "$(dirname "$0")/lib.sh"

RUN="--data $W --hidden 50 --threads 1 --samples 0 --print-every 1000"
# The default: the plan kept in wisdom (tests/lib.sh gives this script a wisdom of its own).
$M train $RUN --steps 300 --log "$T/default.csv" >"$T/o1" 2>&1
check "the default plans inside the step and keeps the plan in wisdom" \
    'grep -q "^gemm: planned (the [a-z-]* plan the fastest step), kept in wisdom $XDG_CACHE_HOME/makemore/wisdom, planned in" "$T/o1" && head -1 "$XDG_CACHE_HOME/makemore/wisdom" | grep -qx makemore-wisdom-1' "$(cat "$T/o1")"
$M train $RUN --steps 300 --log "$T/again.csv" >"$T/o1b" 2>&1
check "the second run takes the plan from wisdom: the same bits" \
    'grep -q "^gemm: from wisdom " "$T/o1b" && cmp -s "$T/default.csv" "$T/again.csv" && [ -s "$T/again.csv" ]' "$(cat "$T/o1b")"
WIS="$XDG_CACHE_HOME/makemore/wisdom"
cp "$WIS" "$T/wis.good"
printf 'X' | dd of="$WIS" bs=1 seek=30 conv=notrunc 2>/dev/null  # one byte of a plan changed
$M train $RUN --steps 30 >"$T/o1c" 2>"$T/e1c"
rc=$?
check "damaged wisdom: one note, not trusted, planned again and replaced" \
    '[ $rc -eq 0 ] && [ $(wc -l <"$T/e1c") -eq 1 ] && grep -q "is damaged (its checksum or its lines): ignored" "$T/e1c" && grep -q "^gemm: planned" "$T/o1c" && head -1 "$WIS" | grep -qx makemore-wisdom-1 && ! cmp -s "$WIS" "$T/wis.good.bad"' "$(cat "$T/e1c")"
echo "my notes" >"$T/foreign"
MAKEMORE_WISDOM="$T/foreign" $M train $RUN --steps 30 >"$T/o1d" 2>"$T/e1d"
rc=$?
check "a file that is not wisdom: one note, used for nothing, untouched" \
    '[ $rc -eq 0 ] && grep -q "is not a makemore wisdom file; not using or touching it" "$T/e1d" && [ "$(cat "$T/foreign")" = "my notes" ] && grep -q "^gemm: planned (.*), not kept" "$T/o1d"' "$(cat "$T/e1d" "$T/o1d")"
$M plan >"$T/show" 2>&1
rc=$?
check "makemore plan shows the kept plans" \
    '[ $rc -eq 0 ] && grep -q "^wisdom: $WIS$" "$T/show" && grep -q "B=32,TE=30,H=50,V=27:fwd1=" "$T/show" && grep -q "^1 plan$" "$T/show"' "$(cat "$T/show")"
$M plan --forget --all >"$T/forget" 2>&1 && $M plan >"$T/show2" 2>&1
check "makemore plan --forget --all: no plan kept" 'grep -q "^forgot 1 plan" "$T/forget" && grep -q "^0 plans$" "$T/show2"' "$(cat "$T/forget" "$T/show2")"
$M plan --make $RUN >"$T/make" 2>&1
rc=$?
check "makemore plan --make: plans the model the train flags describe and keeps it" \
    '[ $rc -eq 0 ] && grep -q "^planned in" "$T/make" && $M plan | grep -q "^1 plan$"' "$(cat "$T/make")"
$M train $RUN --steps 300 --log "$T/blas.csv" --gemm blas >"$T/o2" 2>&1
$M train $RUN --steps 300 --log "$T/blas2.csv" --gemm blas >"$T/o2b" 2>&1
check "--gemm blas: the fixed path, the same bits each run" 'cmp -s "$T/blas.csv" "$T/blas2.csv" && [ -s "$T/blas.csv" ]' "$(cat "$T/o2")"
check "the header names each GEMM's implementation" \
    'grep -qE "^gemm: --gemm blas: fwd1 32x50x30 NN: blas, .*dw1 30x50x32 TN: blas$" "$T/o2"' "$(cat "$T/o2")"

$M train $RUN --steps 300 --log "$T/auto.csv" --gemm auto --plan "$T/plan" >"$T/o3" 2>&1
rc=$?
check "--gemm auto --plan FILE: plans and writes the plan" \
    '[ $rc -eq 0 ] && grep -qE "^B=32,TE=30,H=50,V=27:fwd1=[a-z_]+,fwd2=.*,dw1=[a-z_]+$" "$T/plan" && grep -q "planned in" "$T/o3"' "$(cat "$T/o3" "$T/plan")"
$M train $RUN --steps 300 --log "$T/fixed.csv" --plan "$T/plan" >"$T/o4" 2>&1
check "--plan FILE that exists: read back, same losses" \
    'cmp -s "$T/auto.csv" "$T/fixed.csv" && grep -q "^gemm: from --plan" "$T/o4"' "$(cat "$T/o4")"
check "auto plan: losses within float rounding of blas" \
    'paste -d, "$T/blas.csv" "$T/auto.csv" | awk -F, "NR > 1 { d = \$2 - \$4; if (d < 0) d = -d; if (d > 2e-3) bad = 1 } END { exit bad }"' ""

# resume: 150 steps, checkpoint, 150 more == 300 uninterrupted, under the same plan
$M train $RUN --steps 150 --plan "$T/plan" --out "$T/ck.st" --log "$T/res.csv" >"$T/o5" 2>&1
$M train $RUN --steps 300 --resume "$T/ck.st" --log "$T/res.csv" >"$T/o6" 2>&1
check "--resume reuses the checkpoint's plan" 'grep -q "^gemm: the resumed checkpoint.s: " "$T/o6"' "$(cat "$T/o6")"
check "interrupted + resumed = uninterrupted under one plan" 'cmp -s "$T/res.csv" "$T/fixed.csv"' "$(cat "$T/o5" "$T/o6")"

printf 'B=32,TE=30,H=50,V=27:fwd1=gpu\n' >"$T/bad"
$M train $RUN --steps 10 --plan "$T/bad" >"$T/o7" 2>"$T/e7"
rc=$?
check "a malformed --plan file: status 1, one line naming it" '[ $rc -eq 1 ] && [ $(wc -l <"$T/e7") -eq 1 ] && grep -q "plan $T/bad" "$T/e7"' "$(cat "$T/e7")"
printf 'B=64,TE=30,H=50,V=27:fwd1=blas,fwd2=blas,dx2=blas,dw2=blas,dx1=blas,dw1=blas\n' >"$T/other"
$M train $RUN --steps 10 --plan "$T/other" >"$T/o8" 2>"$T/e8"
rc=$?
check "a plan for another batch: status 1" '[ $rc -eq 1 ] && grep -q "does not fit" "$T/e8"' "$(cat "$T/e8")"
$M train $RUN --steps 10 --plan "$T/plan" --gemm blas >"$T/o9" 2>"$T/e9"
rc=$?
check "--gemm with an existing --plan: usage error" '[ $rc -eq 2 ] && grep -q "both choose" "$T/e9"' "$(cat "$T/e9")"
$M train $RUN --steps 10 --gemm fast >"$T/o10" 2>"$T/e10"
rc=$?
check "--gemm fast: usage error" '[ $rc -eq 2 ] && [ $(wc -l <"$T/e10") -eq 1 ]' "$(cat "$T/e10")"
if $M train $RUN --steps 10 --gemm xsmm >"$T/o11" 2>"$T/e11"; then
    check "--gemm xsmm: every op xsmm" 'grep -qE "^gemm: --gemm xsmm: fwd1 [^,]*: xsmm" "$T/o11"' "$(cat "$T/o11")"
else
    rc=$?
    check "--gemm xsmm without libxsmm: usage error naming it" '[ $rc -eq 2 ] && grep -q "no libxsmm" "$T/e11"' "$(cat "$T/e11")"
fi

# every architecture's GEMMs are planned: a WaveNet's twelve ops, its plan file names the
# architecture, a plan made for another model is refused
WAVE="--data $W --arch wavenet --block 4 --embd 6 --hidden 16 --threads 1 --samples 0 --print-every 1000"
$M train $WAVE --steps 200 --gemm auto --plan "$T/wplan" --log "$T/wauto.csv" >"$T/o12" 2>&1
rc=$?
check "wavenet --gemm auto --plan FILE: nine ops (two levels and the output), the head names the architecture" \
    '[ $rc -eq 0 ] && grep -qE "^B=32,arch=wavenet,layers=2,T=4,E=6,H=16,V=27:fwd1=[a-z_]+,fwd2=[a-z_]+,fwd3=[a-z_]+,dx3=.*,dw1=[a-z_]+$" "$T/wplan"' "$(cat "$T/o12" "$T/wplan")"
$M train $WAVE --steps 200 --plan "$T/wplan" --log "$T/wfixed.csv" >"$T/o13" 2>&1
check "wavenet --plan FILE read back: the same losses" 'cmp -s "$T/wauto.csv" "$T/wfixed.csv"' "$(cat "$T/o13")"
$M train $RUN --steps 10 --plan "$T/wplan" >"$T/o14" 2>"$T/e14"
rc=$?
check "the lecture's model with a wavenet's plan: status 1, does not fit" '[ $rc -eq 1 ] && grep -q "does not fit" "$T/e14"' "$(cat "$T/e14")"
finish
