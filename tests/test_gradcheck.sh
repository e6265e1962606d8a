#!/bin/sh
# test_gradcheck.sh: `makemore gradcheck` end to end -- the lecture's cell and its variants
# (exit 0, every row approximately equal), the committed PyTorch references through --ref
# (tests/data, written by tests/torch_reference.py), the corrupted one (exit 1, the wrong
# gradient named), --dump read back by --ref, and the flags' validation.
# Env: MAKEMORE (the binary). PyTorch is not needed; when /usr/bin/python3 has it, a --dump
# file is also checked against autograd (tests/torch_reference.py check).
. "$(dirname "$0")/lib.sh"
DATA=$(dirname "$0")/data

# run ARGS...: $MAKEMORE gradcheck ARGS into $T/out, $T/err; sets rc.
run() {
    "$MAKEMORE" gradcheck "$@" >"$T/out" 2>"$T/err"
    rc=$?
}
count() { grep -c -- "$1" "$T/out"; }

# all_close NAME ROWS ARGS...: exit 0, at least ROWS rows, every one approximate: True.
all_close() {
    name=$1 rows=$2
    shift 2
    run "$@"
    t=$(count "approximate: True") f=$(count "approximate: False")
    if [ "$rc" -eq 0 ] && [ "$f" -eq 0 ] && [ "$t" -ge "$rows" ] && grep -q "^all .* approximately equal" "$T/out"; then
        pass "$name"
    else
        fail "$name" "exit $rc, $t rows True, $f False (wanted >= $rows True)"
        grep -E "False|NOT" "$T/out" | head -5 | sed 's/^/    /'
        sed 's/^/    stderr: /' "$T/err" | head -3
    fi
}

# The lecture's cell: 26 rows (exercise 1), 8 fused, 2 loss rows, 26 finite-difference rows.
all_close "lecture cell (B=32 H=64 E=10 T=3)" 62
e1=$(sed -n '/^exercise 1:/,/^$/p' "$T/out" | grep -c " | exact: ")
fu=$(sed -n '/^exercises 2, 3/,/^$/p' "$T/out" | grep -c " | exact: ")
if [ "$e1" -eq 26 ] && [ "$fu" -eq 8 ] &&
    grep -q "^logprobs  *| exact: True  | approximate: True  | maxdiff: 0.0$" "$T/out" &&
    grep -q "^C  *| exact: .* | approximate: True" "$T/out"; then
    pass "lecture cell prints the lecture's table: 26 rows (dlogprobs exact) + 8 fused"
else
    fail "lecture cell prints the lecture's table" "$e1 exercise-1 rows, $fu fused rows"
fi
all_close "lecture cell --ties" 62 --ties
grep -q "^ties: 32 of 32 rows have a tied maximum" "$T/out" && pass "--ties ties every row" ||
    fail "--ties ties every row" "$(grep '^ties' "$T/out")"
all_close "lecture cell --bn-var biased" 62 --bn-var biased
all_close "B=33 H=37 biased, ties" 62 --batch 33 --hidden 37 --bn-var biased --ties --seed 7
all_close "H=1 V=5 T=1 E=2" 62 --hidden 1 --vocab 5 --block 1 --embd 2 --seed 3

# The committed PyTorch references: 26 exercise-1 rows, 8 fused rows, the loss.
for f in ref_b32_h64 ref_b8_h16_ties ref_b16_h24_biased ref_b2_h37; do
    all_close "--ref $f" 35 --ref "$DATA/$f.safetensors"
done
run --ref "$DATA/ref_b32_h64.safetensors"
e=$(grep -c "exact: True " "$T/out")
[ "$e" -ge 10 ] && pass "--ref lecture file: $e rows bit-exact with PyTorch" ||
    fail "--ref lecture file bit-exact rows" "only $e"

# The corrupted reference (ref_b8_h16_ties with one entry of dW1 times 1.001): exit 1,
# W1 named on stderr, in its notebook line's row and in the end-to-end row of the file,
# every other row still approximately equal.
run --ref "$DATA/ref_b8_h16_ties_corrupt_dW1.safetensors"
if [ "$rc" -eq 1 ] && grep -q "mismatch in W1 \[exercise 1\], W1 (file) \[end to end\]$" "$T/err" &&
    grep -q "^W1  *| exact: False | approximate: False" "$T/out" &&
    grep -q "^W1 (file)  *| exact: False | approximate: False" "$T/out" &&
    [ "$(count 'approximate: False')" -eq 2 ]; then
    pass "--ref corrupted dW1: exit 1, W1 named"
else
    fail "--ref corrupted dW1" "exit $rc; stderr: $(cat "$T/err")"
fi

# The short format (parameters, batch and the 26 gradients, no forward values): judged end
# to end against the float64 graph within float32's measured spread; a correct file at a
# small, badly conditioned size passes, and one entry of dW2 times 1.001 is caught.
run --ref "$DATA/ref_b4_h5_biased_short.safetensors"
[ "$rc" -eq 0 ] && [ "$(count 'approximate: False')" -eq 0 ] &&
    grep -q "no forward values in the file" "$T/out" &&
    pass "--ref short format, B=4 H=5 biased: all rows approximately equal" ||
    fail "--ref short format" "exit $rc; stderr: $(cat "$T/err")"
run --ref "$DATA/ref_b4_h5_biased_short_corrupt_dW2.safetensors"
[ "$rc" -eq 1 ] && grep -q "mismatch in W2 (file) \[end to end\]$" "$T/err" &&
    [ "$(count 'approximate: False')" -eq 1 ] &&
    pass "--ref short format, dW2 corrupted: exit 1, W2 named" ||
    fail "--ref short format, dW2 corrupted" "exit $rc; stderr: $(cat "$T/err")"

# --dump, read back by --ref: the same lines on the same values, so every exercise-1 row
# is bit-exact.
run --batch 9 --hidden 11 --seed 5 --ties --dump "$T/dump.safetensors"
if [ "$rc" -eq 0 ] && [ -s "$T/dump.safetensors" ]; then pass "--dump writes the file"; else fail "--dump" "exit $rc"; fi
run --ref "$T/dump.safetensors"
e=$(sed -n '/^exercise 1/,/^$/p' "$T/out" | grep -c "exact: True ")
[ "$rc" -eq 0 ] && [ "$e" -eq 26 ] && pass "--dump then --ref: 26 of 26 rows exact" ||
    fail "--dump then --ref" "exit $rc, $e exact rows"

# A reference lacking a gradient: exit 1, the gradient named.
if command -v python3 >/dev/null 2>&1; then
    python3 - "$T/dump.safetensors" "$T/no_dC.safetensors" <<'EOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
h = json.loads(raw[8:8 + n]); data = raw[8 + n:]
meta = {k: v for k, v in h.pop("__metadata__").items() if not k.startswith("crc32c_")}  # an edited file: no checksums
out, blob = {}, b""
for k, v in sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    if k == "dC": continue
    b, e = v["data_offsets"]
    out[k] = dict(v, data_offsets=[len(blob), len(blob) + e - b]); blob += data[b:e]
out["__metadata__"] = meta
j = json.dumps(out).encode(); j += b" " * (-len(j) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(j)) + j + blob)
EOF
    run --ref "$T/no_dC.safetensors"
    [ "$rc" -eq 1 ] && grep -q "mismatch in C$" "$T/err" && grep -q 'no tensor "dC"' "$T/out" &&
        pass "--ref without dC: exit 1, C named" || fail "--ref without dC" "exit $rc: $(cat "$T/err")"
else
    echo "skip --ref without dC (no python3)"
fi

# Autograd agrees with a --dump file (only where Debian's python3 has torch).
if /usr/bin/python3 -c "import torch" >/dev/null 2>&1; then
    if /usr/bin/python3 "$(dirname "$0")/torch_reference.py" check "$T/dump.safetensors" >"$T/py" 2>&1 &&
        grep -q "^all approximately equal" "$T/py"; then
        pass "torch_reference.py check: autograd agrees with --dump"
    else
        fail "torch_reference.py check" "$(tail -3 "$T/py")"
    fi
else
    echo "skip torch_reference.py check (no torch in /usr/bin/python3)"
fi

# Flags: a bad one exits 2 with one line on stderr naming it; files that cannot be read, 1.
usage_error() {
    name=$1
    shift
    run "$@"
    if [ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^makemore gradcheck: " "$T/err"; then
        pass "$name"
    else
        fail "$name" "exit $rc, stderr: $(cat "$T/err")"
    fi
}
usage_error "--batch 1 (B-1 = 0)" --batch 1
usage_error "--batch 4097" --batch 4097
usage_error "--batch x" --batch x
usage_error "--batch 3x" --batch 3x
usage_error "--hidden 0" --hidden 0
usage_error "--embd -1" --embd -1
usage_error "--block 65" --block 65
usage_error "--vocab 1" --vocab 1
usage_error "--seed -1" --seed -1
usage_error "--bn-var bessel" --bn-var bessel
usage_error "--batch without a value" --batch
usage_error "--ties=1" --ties=1
usage_error "unknown flag" --nope
usage_error "--ref with --batch" --ref "$DATA/ref_b32_h64.safetensors" --batch 8
usage_error "--dump with --ref" --ref "$DATA/ref_b32_h64.safetensors" --dump "$T/x.safetensors"
usage_error "tensors too large" --batch 4096 --hidden 4096
run --help
[ "$rc" -eq 0 ] && grep -q "^  makemore gradcheck " "$T/out" && pass "--help" || fail "--help" "exit $rc"
run --ref "$T/does-not-exist.safetensors"
[ "$rc" -eq 1 ] && grep -q "cannot open" "$T/err" && pass "--ref missing file: exit 1" ||
    fail "--ref missing file" "exit $rc: $(cat "$T/err")"
printf 'not a safetensors file' >"$T/junk"
run --ref "$T/junk"
[ "$rc" -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && pass "--ref junk file: exit 1" ||
    fail "--ref junk file" "exit $rc: $(cat "$T/err")"
run --dump "$T/no/such/dir/x.safetensors"
[ "$rc" -eq 1 ] && pass "--dump into a missing directory: exit 1" || fail "--dump unwritable" "exit $rc"

finish
