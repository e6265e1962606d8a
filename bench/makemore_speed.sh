#!/bin/sh
# makemore_speed.sh: makemore.py's six types, the engine's training step against PyTorch's
# (makemore.py's classes, its loop body timed as it times it), in one sitting, type by type.
#   sh bench/makemore_speed.sh [--threads N] [--makemore PATH/makemore.py] [--csv FILE]
# Engine: `makemore train --arch T` with makemore.py's defaults (n_layer 4, n_head 4, n_embd
# 64, n_embd2 64, batch 32, AdamW) and the default --gemm (the wisdom kept for this machine;
# a first untimed run makes it), the step as a whole run sees it: (t(4S) - t(S)) / 3S, each
# t the best of 3 runs, so start-up, planning and the final evaluation cancel. PyTorch:
# bench/torch_makemore.py (median of 200 steps after 20; with --makemore, also makemore.py
# itself). One line per type: engine µs, PyTorch µs, their ratio; --csv FILE writes
# type,threads,engine_us,torch_us,ratio[,makemore_py_us]. Needs /usr/bin/python3 with torch.
MAKEMORE=${MAKEMORE:-build/makemore}
THREADS=1 MMPY= CSV=
while [ $# -gt 0 ]; do
    case $1 in
    --threads) THREADS=$2; shift 2 ;;
    --makemore) MMPY=$2; shift 2 ;;
    --csv) CSV=$2; shift 2 ;;
    *) echo "makemore_speed.sh: unknown argument '$1' (allowed: --threads N, --makemore PATH, --csv FILE)" >&2; exit 2 ;;
    esac
done
DATA=${DATA:-data/names.txt}
[ -r "$DATA" ] || { echo "makemore_speed.sh: $DATA is missing (make data)" >&2; exit 1; }
/usr/bin/python3 -c 'import torch' 2>/dev/null || { echo "makemore_speed.sh: no /usr/bin/python3 with torch (apt-get install python3-torch)" >&2; exit 1; }
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT

best() {  # ARCH STEPS: the best wall time of 3 runs, in seconds
    b=
    for _ in 1 2 3; do
        t0=$(date +%s.%N)
        "$MAKEMORE" train --arch "$1" --data "$DATA" --threads "$THREADS" --samples 0 \
            --print-every 1000000000 --steps "$2" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; return 1; }
        t1=$(date +%s.%N)
        b=$(echo "$t0 $t1 ${b:-1e9}" | awk '{d = $2 - $1; print (d < $3 ? d : $3)}')
    done
    echo "$b"
}

[ -n "$CSV" ] && echo "type,threads,engine_us,torch_us,ratio${MMPY:+,makemore_py_us}" >"$CSV"
printf '%-12s %8s %12s %12s %8s%s\n' type threads engine_us torch_us ratio "${MMPY:+ makemore.py_us}"
for t in bigram bengio bow rnn gru transformer; do
    case $t in  # S: about half a second of the engine's steps
    bigram) S=20000 ;; bengio|bow|rnn) S=2000 ;; gru) S=1000 ;; transformer) S=250 ;;
    esac
    "$MAKEMORE" train --arch $t --data "$DATA" --threads "$THREADS" --samples 0 --steps 10 \
        >/dev/null 2>&1  # the plan, made once and kept
    t1=$(best $t $S) && t4=$(best $t $((4 * S))) || { echo "makemore_speed.sh: $t: makemore train failed" >&2; exit 1; }
    e=$(echo "$t1 $t4 $S" | awk '{printf "%.2f", ($2 - $1) / (3 * $3) * 1e6}')
    py=$t; [ $t = bengio ] && py=mlp  # makemore.py's name for it
    /usr/bin/python3 bench/torch_makemore.py --types $py --threads "$THREADS" --data "$DATA" \
        --csv "$TMP/t.csv" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
    p=$(awk -F, 'NR == 2 {printf "%.2f", $6 * 1000}' "$TMP/t.csv")
    m=
    if [ -n "$MMPY" ]; then
        /usr/bin/python3 bench/torch_makemore.py --makemore "$MMPY" --types $py --threads "$THREADS" \
            --data "$DATA" --csv "$TMP/m.csv" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; exit 1; }
        m=$(awk -F, 'NR == 2 {printf "%.2f", $6 * 1000}' "$TMP/m.csv")
    fi
    r=$(echo "$p $e" | awk '{printf "%.1f", $1 / $2}')
    printf '%-12s %8s %12s %12s %7sx%s\n' $t "$THREADS" "$e" "$p" "$r" "${m:+ $m}"
    [ -n "$CSV" ] && echo "$t,$THREADS,$e,$p,$r${MMPY:+,$m}" >>"$CSV"
done
exit 0
