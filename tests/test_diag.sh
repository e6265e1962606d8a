#!/bin/sh
# test_diag.sh: train --diag, --eval-every, --init, --norm none and makemore plot, from the
# command line:
#   - the training bits do not change: with and without --diag (and --eval-every), every
#     architecture logs the same losses, byte for byte;
#   - the files: their headers, a row per layer and parameter every --diag-every steps, the
#     chunk means of the loss; a resumed run writes the uninterrupted run's files;
#   - part 3's lesson: without batchnorm the lecture's initialisation keeps the tanh layers
#     mostly unsaturated and the first loss near -ln(1/27), N(0, 1) weights saturate most
#     units and start far higher; with batchnorm neither saturates;
#   - --eval-every: the val column, the line, --out keeping the best model;
#   - bad input: one line, the exit status, nothing touched;
#   - makemore plot: five PNGs (when gnuplot is here), without gnuplot one line saying how
#     to install it and the CSV files untouched;
#   - (with PyTorch) the statistics of a pass against autograd (torch_reference.py check-diag).
. "$(dirname "$0")/lib.sh"
head -400 "$W" >"$T/w.txt"
WORDS="$T/w.txt"
BASE="--data $WORDS --threads 1 --samples 0 --gemm blas --batch 8"
SMALL="$BASE --embd 6 --hidden 12"

# ---- the same bits with and without the statistics --------------------------------------
for a in mlp wavenet bigram bengio bow rnn gru transformer; do
    extra=""
    [ "$a" = mlp ] && extra="--layers 2"
    [ "$a" = transformer ] && extra="--layers 2 --heads 2"
    "$M" train --arch "$a" $SMALL $extra --steps 30 --log "$T/plain.csv" >"$T/o1" 2>&1
    rc1=$?
    rm -rf "$T/d"
    "$M" train --arch "$a" $SMALL $extra --steps 30 --log "$T/diag.csv" --diag "$T/d" --diag-every 7 >"$T/o2" 2>&1
    rc2=$?
    check "$a: --diag leaves the loss log byte-identical" \
        '[ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && [ $(wc -l <"$T/plain.csv") -eq 31 ] && cmp -s "$T/plain.csv" "$T/diag.csv"' \
        "exit $rc1 $rc2; $(tail -2 "$T/o2")"
    steps=$(cut -d, -f1 "$T/d/params.csv" | sed 1d | sort -un | tr '\n' ' ')
    check "$a: statistics at steps 0, 7, 14, 21, 28" '[ "$steps" = "0 7 14 21 28 " ]' "steps: $steps"
done

# ---- the files --------------------------------------------------------------------------
rm -rf "$T/d"
"$M" train $SMALL --layers 2 --steps 40 --diag "$T/d" --diag-every 10 >"$T/o" 2>&1
rc=$?
check "mlp --layers 2: the six files, each with its header" \
    '[ $rc -eq 0 ] && [ "$(head -1 "$T/d/acts.csv")" = "step,layer,kind,nonlin,mean,std,saturated_pct" ] &&
     [ "$(head -1 "$T/d/grads.csv")" = "step,layer,kind,mean,std" ] &&
     [ "$(head -1 "$T/d/hist.csv")" = "step,layer,of,lo,hi,density" ] &&
     [ "$(head -1 "$T/d/params.csv")" = "step,name,shape,numel,data_std,grad_std,grad_data,update_data_log10" ] &&
     [ "$(head -1 "$T/d/loss.csv")" = "step,steps,train_loss" ] && [ "$(head -1 "$T/d/val.csv")" = "step,val_loss" ]' \
    "exit $rc; $(ls "$T/d" | tr '\n' ' ')"
# 4 statistics steps: 2 tanh layers; 6 layers with a gradient (embedding, 2 linear, 2 tanh,
# output); 9 parameters (C, W1 b1 W2 b2 W3 b3, bngain/bnbias x 2 = 11); 50 bins each
check "rows: 2 tanh layers, 6 gradients, 11 parameters, 50 bins each, at 4 steps" \
    '[ $(sed 1d "$T/d/acts.csv" | wc -l) -eq 8 ] && [ $(sed 1d "$T/d/grads.csv" | wc -l) -eq 24 ] &&
     [ $(sed 1d "$T/d/params.csv" | wc -l) -eq 44 ] && [ $(sed 1d "$T/d/hist.csv" | wc -l) -eq $((4 * 8 * 50)) ]' \
    "$(for f in acts grads params hist; do sed 1d "$T/d/$f.csv" | wc -l; done | tr '\n' ' ')"
awk -F, 'NR > 1 {print $1, $2}' "$T/d/loss.csv" >"$T/chunks"
check "loss.csv: the mean of each 10 steps, at its last step" \
    '[ "$(tr "\n" " " <"$T/chunks")" = "9 10 19 10 29 10 39 10 " ]' "$(cat "$T/chunks")"
"$M" train $SMALL --layers 2 --steps 40 --log "$T/l.csv" >/dev/null 2>&1
mean=$(awk -F, 'NR > 1 && NR <= 11 {s += $2} END {printf "%.5f", s / 10}' "$T/l.csv")
got=$(awk -F, 'NR == 2 {printf "%.5f", $3}' "$T/d/loss.csv")
check "loss.csv's first row is the mean of the log's first 10 losses" '[ "$mean" = "$got" ]' "$got, the log's mean $mean"
check "params.csv: W1's shape and count; a bias before batchnorm has no gradient to speak of" \
    'grep -q "^0,W1,18x12,216," "$T/d/params.csv" && awk -F, "\$2 == \"b1\" && \$6 > 1e-6 {exit 1}" "$T/d/params.csv"' \
    "$(grep -e ',W1,' -e ',b1,' "$T/d/params.csv" | head -2)"

# A resumed run writes the uninterrupted run's files.
rm -rf "$T/r" "$T/u"
"$M" train $SMALL --layers 2 --steps 40 --diag "$T/u" --diag-every 10 >/dev/null 2>&1
"$M" train $SMALL --layers 2 --steps 20 --diag "$T/r" --diag-every 10 --out "$T/half.st" >/dev/null 2>&1
"$M" train --data "$WORDS" --threads 1 --samples 0 --resume "$T/half.st" --steps 40 --diag "$T/r" --diag-every 10 >"$T/o" 2>&1
rc=$?
same=1
for f in acts grads hist params loss val; do cmp -s "$T/u/$f.csv" "$T/r/$f.csv" || same=0; done
check "stopped at 20 and resumed to 40: the uninterrupted run's six files" '[ $rc -eq 0 ] && [ $same -eq 1 ]' \
    "exit $rc; $(tail -2 "$T/o")"

# ---- part 3's lesson: initialisation and saturation -----------------------------------
head -2000 "$W" >"$T/w2k.txt"
lesson() {  # NAME FLAGS...: the tanh layers' saturation at step 0, and the first loss
    name=$1
    shift
    rm -rf "$T/$name"
    "$M" train --data "$T/w2k.txt" --threads 1 --samples 0 --gemm blas --layers 3 --steps 1 \
        --diag "$T/$name" --log "$T/$name.csv" "$@" >"$T/$name.out" 2>&1
    echo "$?"
}
for v in lecture plain; do
    rc=$(lesson "none_$v" --norm none --init "$v")
    check "--norm none --init $v: trains one step with --diag" '[ $rc -eq 0 ]' "$(tail -2 "$T/none_$v.out")"
    rc=$(lesson "bn_$v" --init "$v")
    check "--init $v (batchnorm): trains one step with --diag" '[ $rc -eq 0 ]' "$(tail -2 "$T/bn_$v.out")"
done
sat() { awk -F, 'NR > 1 {printf "%s ", $7}' "$T/$1/acts.csv"; }
loss0() { awk -F, 'NR == 2 {print $2}' "$T/$1.csv"; }
check "no batchnorm, the lecture's init: every tanh layer under 30% saturated, their mean under 15%" \
    'echo "$(sat none_lecture)" | awk "{ for (i = 1; i <= NF; i++) { if (\$i >= 30) exit 1; s += \$i } exit !(NF == 3 && s / NF < 15) }"' \
    "saturated: $(sat none_lecture)"
check "no batchnorm, N(0, 1) weights: every tanh layer over 60% saturated" \
    'echo "$(sat none_plain)" | awk "{ for (i = 1; i <= NF; i++) if (\$i <= 60) exit 1; exit NF != 3 }"' \
    "saturated: $(sat none_plain)"
check "batchnorm: under 5% saturated with either init (its lesson)" \
    'echo "$(sat bn_lecture) $(sat bn_plain)" | awk "{ for (i = 1; i <= NF; i++) if (\$i >= 5) exit 1; exit NF != 6 }"' \
    "saturated: $(sat bn_lecture) / $(sat bn_plain)"
check "the first loss: near ln 27 = 3.30 with the lecture's init, over 10 with N(0, 1) weights" \
    'awk "BEGIN { exit !($(loss0 none_lecture) < 3.6 && $(loss0 none_plain) > 10 && $(loss0 bn_plain) > 10) }"' \
    "first losses: $(loss0 none_lecture) $(loss0 none_plain) $(loss0 bn_plain)"
"$M" train $SMALL --steps 30 --log "$T/i1.csv" >/dev/null 2>&1
"$M" train $SMALL --steps 30 --log "$T/i2.csv" --init lecture >/dev/null 2>&1
check "--init lecture is the default, bit for bit" 'cmp -s "$T/i1.csv" "$T/i2.csv"' "logs differ"

# ---- --eval-every -------------------------------------------------------------------------
rm -f "$T/best.st"
"$M" train $BASE --steps 300 --eval-every 50 --lr 0.1 --lr2 3 --decay-step 200 --out "$T/best.st" \
    --log "$T/ev.csv" --diag "$T/ev" --diag-every 100 >"$T/ev.out" 2>&1
rc=$?
check "--eval-every 50: a val line at steps 50 .. 250, the log's val column, val.csv" \
    '[ $rc -eq 0 ] && [ $(grep -cE "^ +[0-9]+/ +300: val [0-9.]+" "$T/ev.out") -eq 5 ] &&
     [ "$(head -1 "$T/ev.csv")" = "step,loss,val" ] && [ $(awk -F, "\$3 != \"\"" "$T/ev.csv" | wc -l) -eq 6 ] &&
     [ $(sed 1d "$T/ev/val.csv" | wc -l) -eq 5 ]' "exit $rc; $(tail -3 "$T/ev.out")"
"$M" train $BASE --steps 300 --lr 0.1 --lr2 3 --decay-step 200 --log "$T/noev.csv" >/dev/null 2>&1
sed 1d "$T/noev.csv" >"$T/noev.csv.body"
check "--eval-every leaves the losses byte-identical" 'cut -d, -f1,2 "$T/ev.csv" | sed 1d | cmp -s - "$T/noev.csv.body"' \
    "$(cut -d, -f1,2 "$T/ev.csv" | sed 1d | cmp - "$T/noev.csv.body")"
best=$(awk -F, 'NR > 1 && $3 != "" && (b == "" || $3 < b) {b = $3} END {print b}' "$T/ev.csv")
kept=$(grep -ao '"best_loss":"[0-9.e-]*"' "$T/best.st" | cut -d'"' -f4)
check "--out keeps the best model by val loss (lr 3 from step 200 makes the later ones worse)" \
    'grep -q "^kept $T/best.st: the best model, val loss" "$T/ev.out" && awk "BEGIN { d = $kept - $best; exit !(d * d < 1e-16) }"' \
    "best in the log $best, in the file $kept; $(tail -1 "$T/ev.out")"
"$M" eval --model "$T/best.st" --data "$WORDS" >"$T/evb" 2>&1
check "the kept model loads (makemore eval)" '[ $? -eq 0 ] && grep -q "^val " "$T/evb"' "$(cat "$T/evb")"

# A stop (SIGINT) with --eval-every checkpoints beside the best model, never over it, and
# the command it prints continues the run with that --out (and --diag, --eval-every).
(cd "$T" && exec "$M" train $BASE --steps 100000000 --eval-every 100 --out sig.st --log sig.csv \
    --diag sigd --diag-every 100 >sig.out 2>sig.err) &
pid=$!
i=0
while [ "$(cat "$T/sig.csv" 2>/dev/null | wc -l)" -lt 400 ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i + 1)); done
kill -INT "$pid"; wait "$pid"; rc=$?
cmd=$(sed -n 's/.*continue with: //p' "$T/sig.err")
check "SIGINT with --eval-every: exit 130, the stop's checkpoint beside the best model" \
    '[ $rc -eq 130 ] && [ -s "$T/makemore-interrupted.safetensors" ] && [ -s "$T/sig.st" ] &&
     case "$cmd" in *"--out sig.st"*"--diag sigd"*|*"--diag sigd"*"--out sig.st"*) true ;; *) false ;; esac &&
     case "$cmd" in *"--eval-every 100"*) true ;; *) false ;; esac' "exit $rc; $(cat "$T/sig.err")"

# ---- bad input ------------------------------------------------------------------------------
one_line() {  # NAME STATUS PATTERN, after "$M" ... >"$T/e" 2>&1; rc=$?
    want=$2
    pat=$3
    check "$1" '[ $rc -eq $want ] && [ $(wc -l <"$T/e") -eq 1 ] && grep -q -- "$pat" "$T/e"' "exit $rc: $(head -2 "$T/e")"
}
"$M" train $SMALL --steps 5 --diag-every 3 >"$T/e" 2>&1; rc=$?
one_line "--diag-every without --diag: exit 2" 2 "--diag-every needs --diag DIR"
"$M" train $SMALL --steps 5 --eval-every 2 --save-every 2 --out "$T/x.st" >"$T/e" 2>&1; rc=$?
one_line "--save-every with --eval-every: exit 2" 2 "--save-every with --eval-every"
"$M" train $SMALL --arch transformer --heads 2 --steps 5 --init plain >"$T/e" 2>&1; rc=$?
one_line "--init plain with makemore.py's types: exit 2" 2 "allowed: --arch mlp or wavenet"
"$M" train $SMALL --arch wavenet --steps 5 --norm none >"$T/e" 2>&1; rc=$?
one_line "--norm none with wavenet: exit 2" 2 "--norm none with --arch wavenet"
"$M" train $SMALL --steps 5 --resume "$T/half.st" --init plain >"$T/e" 2>&1; rc=$?
one_line "--init with --resume: exit 2" 2 "--init with --resume"
printf 'keep me\n' >"$T/afile"
"$M" train $SMALL --steps 5 --diag "$T/afile" >"$T/e" 2>&1; rc=$?
one_line "--diag on a file: exit 1, the file untouched" 1 "afile: not a directory"
check "--diag on a file: untouched" '[ "$(cat "$T/afile")" = "keep me" ]' "$(cat "$T/afile")"
mkdir -p "$T/foreign" && printf 'my,own\n1,2\n' >"$T/foreign/acts.csv"
"$M" train $SMALL --steps 5 --diag "$T/foreign" >"$T/e" 2>&1; rc=$?
one_line "--diag DIR holding someone's acts.csv: exit 1" 1 "not a makemore diagnostics file"
check "... and that file untouched, nothing written beside it" \
    '[ "$(cat "$T/foreign/acts.csv")" = "$(printf "my,own\n1,2")" ] && [ $(ls "$T/foreign" | wc -l) -eq 1 ]' "$(ls "$T/foreign")"

# ---- makemore plot --------------------------------------------------------------------------
sums() { cksum "$T/d"/*.csv; }
before=$(sums)
PATH=/nonexistent "$M" plot "$T/d" >"$T/e" 2>&1; rc=$?
one_line "plot without gnuplot: one line saying how to install it, exit 1" 1 "apt-get install gnuplot-nox"
check "plot without gnuplot: the CSV files untouched, no picture" \
    '[ "$(sums)" = "$before" ] && ! ls "$T/d"/*.png >/dev/null 2>&1' "$(ls "$T/d")"
mkdir -p "$T/empty"
"$M" plot "$T/empty" >"$T/e" 2>&1; rc=$?
one_line "plot of a directory without diagnostics: exit 1" 1 "no diagnostics yet"
"$M" plot >"$T/e" 2>&1; rc=$?
one_line "plot without a directory: exit 2" 2 "no directory given"
if command -v gnuplot >/dev/null 2>&1; then
    "$M" plot "$T/d" >"$T/p" 2>&1
    rc=$?
    pngs=0
    for f in loss activations gradients update_data grad_data; do
        [ "$(head -c 4 "$T/d/$f.png" | tail -c 3)" = PNG ] && pngs=$((pngs + 1))
    done
    check "plot: five PNGs" '[ $rc -eq 0 ] && [ $pngs -eq 5 ] && [ "$(sums)" = "$before" ]' "exit $rc, $pngs PNGs; $(cat "$T/p")"
    "$M" plot "$T/d" --step 20 >"$T/p" 2>&1
    check "plot --step 20 draws again over its own PNGs" '[ $? -eq 0 ]' "$(cat "$T/p")"
    "$M" plot "$T/d" --step 7 >"$T/e" 2>&1; rc=$?
    one_line "plot --step 7 (no statistics there): exit 2" 2 "no statistics of that step"
    printf 'a drawing of mine\n' >"$T/d/loss.png"
    "$M" plot "$T/d" >"$T/e" 2>&1; rc=$?
    one_line "plot over someone's loss.png: exit 1" 1 "loss.png: not a PNG picture"
    check "... that file untouched" '[ "$(cat "$T/d/loss.png")" = "a drawing of mine" ] && ! ls "$T/d"/*.tmp* >/dev/null 2>&1' "$(ls "$T/d")"
    rm -rf "$T/bad" && cp -r "$T/u" "$T/bad" && printf '40,3,tanh layer,tanh,x,1,2\n' >>"$T/bad/acts.csv"
    "$M" plot "$T/bad" >"$T/e" 2>&1; rc=$?
    one_line "plot of a damaged acts.csv: exit 1 naming the line" 1 "acts.csv line 10: field 5 is not a number"
else
    echo "skipped: plot's pictures (no gnuplot here)"
fi

# ---- PyTorch: the statistics of a pass against autograd ---------------------------------
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    k=0
    for args in "--arch mlp --layers 2" "--arch mlp --layers 3 --norm none" "--arch wavenet"; do
        k=$((k + 1))
        "$M" gradcheck $args --dump "$T/g$k.st" >/dev/null 2>&1
        /usr/bin/python3 "$TESTS_DIR/torch_reference.py" check-diag "$T/g$k.st" >"$T/tc" 2>&1
        rc=$?
        check "gradcheck $args --dump: its statistics against autograd (check-diag)" \
            '[ $rc -eq 0 ] && grep -q "^all statistics agree" "$T/tc"' "$(grep MISMATCH "$T/tc" | head -3)"
    done
    for c in diag.act.3 diag.act_hist.5 diag.grad.2 diag.grad_hist.6 diag.grad_std; do
        /usr/bin/python3 "$TESTS_DIR/torch_reference.py" check-diag "$T/g1.st" --corrupt "$c" >"$T/tc" 2>&1
        rc=$?
        check "check-diag rejects a file with $c altered" '[ $rc -eq 1 ] && grep -q "^MISMATCH" "$T/tc"' \
            "exit $rc; $(tail -1 "$T/tc")"
    done
else
    echo "skipped: the PyTorch check of the statistics (no /usr/bin/python3 with torch)"
fi
finish
