#!/bin/sh
# test_makemore_models.sh: makemore.py's six types, torch-free: every gradient against the
# float64 twins (gradcheck --arch T), train -> checkpoint -> eval gives the run's losses,
# sampling, a resume bit-identical to the uninterrupted run, makemore.py's own command line
# (its lines, its work directory, --sample-only, --resume), its bad input, eval --words,
# and (with torch) the engine's model in makemore.py's class: the same test loss.
. "$(dirname "$0")/lib.sh"
head -400 "$W" >"$T/w.txt"
WORDS="$T/w.txt"
SMALL="--data $WORDS --threads 1 --samples 0 --batch 8 --embd 8 --hidden 8 --layers 1 --heads 2"

for a in bigram bengio bow rnn gru transformer; do
    "$M" gradcheck --arch "$a" >"$T/gc" 2>&1
    rc=$?
    rows=$(grep -c '| approximate: ' "$T/gc")
    check "gradcheck --arch $a: every row approximately equal to the float64 twin" \
        '[ $rc -eq 0 ] && [ $rows -ge 1 ] && grep -q "^ok: $rows of $rows rows approximately equal" "$T/gc"' "$(tail -3 "$T/gc")"
    "$M" train --arch "$a" $SMALL --steps 60 --out "$T/$a.st" >"$T/tr" 2>&1
    rc=$?
    grep -E '^(train|test) ' "$T/tr" >"$T/tr.loss"
    "$M" eval --model "$T/$a.st" --data "$WORDS" >"$T/ev" 2>&1
    cp "$T/ev" "$T/ev.$a"
    check "$a: train -> checkpoint -> eval gives the run's train and test loss" \
        '[ $rc -eq 0 ] && [ $(wc -l <"$T/tr.loss") -eq 2 ] && cmp -s "$T/tr.loss" "$T/ev"' "$(cat "$T/tr" "$T/ev" | tail -5)"
    "$M" sample --model "$T/$a.st" --data "$WORDS" -n 6 --seed 5 >"$T/s1" 2>&1
    "$M" sample --model "$T/$a.st" --data "$WORDS" -n 6 --seed 5 >"$T/s2" 2>&1
    check "$a: sample draws 6 marked words, the same with the same seed" \
        '[ $(grep -cE "\((in training words|held-out word|new)\)$" "$T/s1") -eq 6 ] && cmp -s "$T/s1" "$T/s2"' "$(cat "$T/s1")"
done

# makemore.py's constant learning rate: --lr is every step's (decay step 0: none).
"$M" train --arch rnn $SMALL --steps 30 --lr 0.01 --log "$T/lr1.csv" >"$T/lr1.out" 2>&1
"$M" train --arch rnn $SMALL --steps 30 --lr 0.02 --log "$T/lr2.csv" >/dev/null 2>&1
check "train --arch rnn --lr: the rate of every step (the schedule says 'lr 0.01'; another --lr, other losses)" \
    'grep -q "AdamW lr 0.01, weight decay" "$T/lr1.out" && [ -s "$T/lr1.csv" ] && ! cmp -s "$T/lr1.csv" "$T/lr2.csv"' "$(grep schedule "$T/lr1.out")"
# The samples every 200 steps take --top-k, as makemore.py's: top-k 1 draws the same word ten times.
(cd "$T" && "$M" -i "$WORDS" -o tk --type bigram --max-steps 201 --top-k 1 --threads 1 >tk.out 2>&1)
rc=$?
check "makemore --top-k 1: the 10 samples at step 200 are one greedy word" \
    '[ $rc -eq 0 ] && [ $(sed -n "/samples that are/,/^---/p" "$T/tk.out" | grep -v -e "samples that are" -e "^---" | wc -l) -eq 10 ] && [ $(sed -n "/samples that are/,/^---/p" "$T/tk.out" | grep -v -e "samples that are" -e "^---" | sort -u | wc -l) -eq 1 ]' "$(tail -14 "$T/tk.out")"
"$M" eval --model "$T/gru.st" --data "$WORDS" --words train >"$T/wtrain" 2>&1
"$M" eval --model "$T/gru.st" --data "$WORDS" --words test >"$T/wtest" 2>&1
check "eval --words: makemore.py's split of 400 words, 40 test words and 360 train words, together the file's" \
    '[ $(wc -l <"$T/wtest") -eq 40 ] && [ $(wc -l <"$T/wtrain") -eq 360 ] && [ "$(sort "$T/wtrain" "$T/wtest" | md5sum)" = "$(sort "$WORDS" | md5sum)" ]' "$(head -3 "$T/wtest")"
"$M" eval --model "$T/gru.st" --data "$WORDS" --words val >"$T/wval" 2>&1
rc=$?
check "eval --words val on makemore.py's split: exit 2, one line" '[ $rc -eq 2 ] && [ $(wc -l <"$T/wval") -eq 1 ] && grep -q "has no val part" "$T/wval"' "$(cat "$T/wval")"

# A resumed run is the uninterrupted one, bit for bit (AdamW's moments in the checkpoint).
for a in transformer gru; do
    "$M" train --arch "$a" $SMALL --steps 80 --log "$T/full.csv" >/dev/null 2>&1
    "$M" train --arch "$a" $SMALL --steps 40 --log "$T/part.csv" --out "$T/part.st" >/dev/null 2>&1
    "$M" train --data "$WORDS" --threads 1 --samples 0 --resume "$T/part.st" --steps 80 --log "$T/part.csv" >"$T/res" 2>&1
    rc=$?
    check "$a: stopped at 40 and resumed to 80: the log of the uninterrupted run" \
        '[ $rc -eq 0 ] && [ $(wc -l <"$T/full.csv") -eq 81 ] && cmp -s "$T/full.csv" "$T/part.csv"' "$(tail -3 "$T/res")"
done

# makemore.py's command line.
MM="-i $WORDS --threads 1 --type transformer --n-layer 1 --n-head 2 --n-embd 8 -b 8"
(cd "$T" && "$M" $MM -o wd --max-steps 520 >mm.out 2>&1)
rc=$?
check "makemore -i -o --type: its lines every 10 steps" \
    '[ $rc -eq 0 ] && [ $(grep -cE "^step [0-9]+ \| loss [0-9.]+ \| step time [0-9.]+ms$" "$T/mm.out") -eq 52 ]' "$(tail -5 "$T/mm.out")"
check "makemore: train and test loss at step 500, the best model kept" \
    'grep -qE "^step 500 train loss: [0-9.]+ test loss: [0-9.]+$" "$T/mm.out" && grep -q "is the best so far, saving model to wd/model.safetensors" "$T/mm.out" && [ -s "$T/wd/model.safetensors" ] && [ -s "$T/wd/checkpoint.safetensors" ]' "$(tail -5 "$T/mm.out")"
best=$(sed -n 's/^test loss \([0-9.]*\) is the best so far.*/\1/p' "$T/mm.out" | tail -1)
"$M" eval --model "$T/wd/model.safetensors" --data "$WORDS" >"$T/be.out" 2>&1
"$M" eval --model "$T/wd/model.safetensors" --data "$WORDS" --words test >"$T/bw.m" 2>&1
"$M" eval --model "$T/wd/checkpoint.safetensors" --data "$WORDS" --words test >"$T/bw.c" 2>&1
check "makemore: the best model's file holds out the run's test words (eval: its test loss)" \
    'cmp -s "$T/bw.m" "$T/bw.c" && [ -n "$best" ] && grep -qx "test $(printf %.4f "$best")" "$T/be.out"' \
    "best $best; $(cat "$T/be.out" | tail -2)"
check "makemore: samples sorted as makemore.py sorts them, every 200 steps" \
    '[ $(grep -c "^[0-9]* samples that are new:$" "$T/mm.out") -eq 2 ]' "$(grep -c samples "$T/mm.out")"
(cd "$T" && "$M" $MM -o wd --sample-only >so.out 2>&1)
rc=$?
check "makemore --sample-only: 50 samples from the work directory's model" \
    '[ $rc -eq 0 ] && [ $(sed -n "/samples that are/,\$p" "$T/so.out" | grep -vc -e "samples that are" -e "^---") -eq 50 ]' "$(cat "$T/so.out" | head -5)"
(cd "$T" && "$M" $MM -o wd --max-steps 540 >dup.out 2>&1)
rc=$?
check "makemore: a work directory that holds a run is refused without --resume" \
    '[ $rc -eq 2 ] && grep -q "give --resume to continue it" "$T/dup.out"' "$(cat "$T/dup.out")"
(cd "$T" && "$M" $MM -o wd --max-steps 540 --resume >res.out 2>&1 && "$M" $MM -o straight --max-steps 540 >st.out 2>&1)
check "makemore --resume: 520 then 540 steps, the checkpoint of 540 straight" \
    'cmp -s "$T/wd/checkpoint.safetensors" "$T/straight/checkpoint.safetensors"' "$(tail -3 "$T/res.out")"
(cd "$T" && "$M" -i "$WORDS" -o cuda --device cuda >dev.out 2>&1)
rc=$?
check "makemore --device cuda: one line, exit 2" '[ $rc -eq 2 ] && [ $(wc -l <"$T/dev.out") -eq 1 ] && grep -q "^makemore: --device cuda: this makemore computes on the CPU (allowed: cpu) (see .makemore --input-file FILE --help.)$" "$T/dev.out"' "$(cat "$T/dev.out")"
(cd "$T" && "$M" -i "$WORDS" -o bad --type lstm >typ.out 2>&1)
rc=$?
check "makemore --type lstm: one line naming the types, exit 2" '[ $rc -eq 2 ] && grep -q "allowed: bigram, mlp, rnn, gru, bow, transformer" "$T/typ.out"' "$(cat "$T/typ.out")"
(cd "$T" && "$M" -i "$WORDS" -o bad --n-head 3 >hd.out 2>&1)
rc=$?
check "makemore --n-head 3 with n_embd 64: one line, exit 2" '[ $rc -eq 2 ] && grep -q "does not divide --n-embd 64" "$T/hd.out"' "$(cat "$T/hd.out")"

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    for a in bigram bengio bow rnn gru transformer; do
        "$M" gradcheck --arch "$a" --dump "$T/$a.dump" >/dev/null 2>&1
        /usr/bin/python3 "$TESTS_DIR/torch_reference.py" check-mm "$T/$a.dump" >"$T/tc" 2>&1
        rc=$?
        check "$a: the engine's gradients against PyTorch's autograd (check-mm)" '[ $rc -eq 0 ]' "$(tail -3 "$T/tc")"
    done
    # The engine's file in makemore.py's class: the test loss of the engine's eval on the
    # same test words (eval --words test).
    for a in transformer gru; do
        "$M" eval --model "$T/$a.st" --data "$WORDS" --words test >"$T/$a.test" 2>&1
        /usr/bin/python3 "$TESTS_DIR/mm_export.py" "$T/$a.st" "$T/$a.pt" --check "$T/$a.test" >"$T/ex" 2>&1
        rc=$?
        want=$(sed -n 's/^test //p' "$T/ev.$a")
        check "$a: the engine's model in makemore.py's class: test loss $want, as the engine's eval" \
            '[ $rc -eq 0 ] && [ -n "$want" ] && grep -q "^loss on .*: $want per character (40 words" "$T/ex"' "$(cat "$T/ex" "$T/ev.$a")"
    done
else
    echo "skipped: the PyTorch checks (no /usr/bin/python3 with torch)"
fi
finish
