#!/bin/sh
# acceptance.sh: whole runs with default flags against PyTorch in one sitting (issue 20's
# acceptance): the lecture's step as a run sees it (bench/step_time.sh, no flags: the default
# --gemm, wisdom) against PyTorch's autograd step (bench/torch_bench.py, train_step_autograd
# at 32x200), and the WaveNet's (step_time.sh --arch wavenet) against PyTorch's part-5 loop
# (bench/torch_wavenet.py), all at one thread. Prints the CPU, each figure, and the ratios:
#   sh bench/acceptance.sh [--python /usr/bin/python3] [--rounds 1]
# With --rounds N the four measurements repeat N times in turn; each ratio is then the
# median of the rounds' ratios (engine and PyTorch of one round taken minutes apart at most).
# Speed is reported, never asserted: the exit status is 0 unless a command fails.
PYTHON=/usr/bin/python3
ROUNDS=1
while [ $# -gt 0 ]; do
    case $1 in
    --python) PYTHON=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: sh bench/acceptance.sh [--python PATH] [--rounds N]" >&2; exit 2 ;;
    esac
done
DIR=$(dirname "$0")
cpu=$(lscpu 2>/dev/null | awk -F: '/^Model name/ {gsub(/^ +/, "", $2); m = $2}
      /^CPU family/ {gsub(/ /, "", $2); f = $2} /^Model:/ {gsub(/ /, "", $2); d = $2}
      END {printf "%s (family %s model %s)", m, f, d}')
echo "acceptance: $(date -u '+%Y-%m-%d %H:%M UTC'); $cpu, $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
us() { sed -n 's/^step: \([0-9.]*\) us.*/\1/p'; }
r=1
while [ "$r" -le "$ROUNDS" ]; do
    lec=$(sh "$DIR/step_time.sh" | tee -a "$T/log" | us) || exit 1
    "$PYTHON" "$DIR/torch_bench.py" --ops train_step_autograd --sizes 32x200 --threads 1 \
        --csv "$T/torch.csv" >/dev/null 2>&1 || { echo "acceptance: torch_bench.py failed" >&2; exit 1; }
    pt=$(awk -F, '$1 == "train_step_autograd" {print $8}' "$T/torch.csv")
    wn=$(sh "$DIR/step_time.sh" --arch wavenet | tee -a "$T/log" | us) || exit 1
    pw=$("$PYTHON" "$DIR/torch_wavenet.py" --threads 1 --steps 3000 2>/dev/null |
         sed -n 's/.*median \([0-9.]*\) us\/step.*/\1/p')
    [ -n "$lec" ] && [ -n "$pt" ] && [ -n "$wn" ] && [ -n "$pw" ] ||
        { echo "acceptance: a measurement is missing (lecture '$lec', torch '$pt', wavenet '$wn', torch part 5 '$pw')" >&2; exit 1; }
    echo "$lec $pt $wn $pw" >>"$T/rounds"
    printf "round %d: lecture step %.2f us (default flags), PyTorch autograd step %.1f us: %.2fx; WaveNet step %.1f us, PyTorch part-5 loop %.1f us: %.2fx\n" \
        "$r" "$lec" "$pt" "$(echo "$pt $lec" | awk '{print $1 / $2}')" "$wn" "$pw" "$(echo "$pw $wn" | awk '{print $1 / $2}')"
    r=$((r + 1))
done
awk '{a[NR] = $2 / $1; b[NR] = $4 / $3} END {
    sort_(a); sort_(b); mid = int((NR + 1) / 2)
    met = (a[mid] >= 25) ? "MET" : "NOT MET"
    printf "median of %d round(s): PyTorch autograd / engine, lecture step: %.2fx (target >= 25x: %s); PyTorch part 5 / engine, WaveNet step: %.2fx\n", NR, a[mid], met, b[mid]
}
function sort_(x,   i, j, t) { for (i = 2; i <= NR; i++) for (j = i; j > 1 && x[j - 1] > x[j]; j--) { t = x[j]; x[j] = x[j - 1]; x[j - 1] = t } }' "$T/rounds"
echo "step_time.sh lines:"
sed 's/^/  /' "$T/log"
