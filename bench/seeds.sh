#!/bin/sh
# seeds.sh: the lecture's recipe (all defaults) over several seeds, to show the
# seed-to-seed spread of the final losses.  Usage: sh bench/seeds.sh [SEED...]
# Prints a CSV: seed,train,val,test. Each run takes ~10 s on one core.
MAKEMORE=${MAKEMORE:-build/makemore}
[ $# -gt 0 ] || set -- 1 2 3 4 5 6 7 8 2147483647
echo "seed,train,val,test"
for s in "$@"; do
    "$MAKEMORE" train --seed "$s" --samples 0 --print-every 1000000000 --threads 1 |
        awk -v s="$s" '$1=="train"{t=$2} $1=="val"{v=$2} $1=="test"{x=$2} END{print s "," t "," v "," x}'
done
