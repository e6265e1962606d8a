#!/bin/sh
# step_time.sh: the training step's time as a whole run sees it, start-up and the final
# report cancelled: (t(40000 steps) - t(10000 steps)) / 30000, each t the best of 3 runs.
#   sh bench/step_time.sh [train flags...]      e.g. --gemm auto, --arch wavenet
# Runs `makemore train --threads 1 --samples 0` (flags after it win) and prints one line:
#   step: 35.12 us (t40000 1.903 s, t10000 0.849 s, best of 3; flags: --gemm auto)
MAKEMORE=${MAKEMORE:-build/makemore}
best() {  # best wall time of 3 runs of STEPS steps, in seconds
    b=
    for _ in 1 2 3; do
        t0=$(date +%s.%N)
        "$MAKEMORE" train --threads 1 --samples 0 --print-every 1000000000 "$@" >/dev/null || exit 1
        t1=$(date +%s.%N)
        b=$(echo "$t0 $t1 ${b:-1e9}" | awk '{d = $2 - $1; print (d < $3 ? d : $3)}')
    done
    echo "$b"
}
t10=$(best "$@" --steps 10000) || { echo "step_time.sh: makemore train failed" >&2; exit 1; }
t40=$(best "$@" --steps 40000) || { echo "step_time.sh: makemore train failed" >&2; exit 1; }
echo "$t10 $t40" | awk -v f="$*" '{printf "step: %.2f us (t40000 %.3f s, t10000 %.3f s, best of 3; flags: %s)\n", ($2 - $1) / 30000 * 1e6, $2, $1, f}'
