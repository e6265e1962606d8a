#!/bin/sh
# test_integrity.sh: checkpoints prove their integrity.
#   - any one-byte change of a checksummed checkpoint (a sample of positions across the
#     length prefix, header, padding and data, each byte + 1) is refused, naming the file;
#   - a file without checksums is refused unless --accept-unchecked; a wrong checksum is
#     refused even with it;
#   - --resume refuses another words file; eval and sample note it;
#   - a file whose header does not match its real size is refused before its data is
#     read (a 2 GB sparse file, under a memory limit);
#   - a finite model whose losses are not: eval fails.
# Env: MAKEMORE (the binary), NAMES (names.txt).
. "$(dirname "$0")/lib.sh"
cd "$T" || exit 1
M=$MAKEMORE
tiny_words w.txt
TINY="--data w.txt --hidden 2 --embd 2 --block 1 --batch 4 --samples 0 --threads 1"
$M train $TINY --steps 3 --out good.st >/dev/null 2>&1 || fail "train good.st" "failed"
size=$(wc -c <good.st)
hlen=$(od -An -tu8 -N8 good.st | tr -d ' ')

# flip POS: good.st with the byte at POS incremented, as flip.st.
flip() {
    cp good.st flip.st
    b=$(od -An -tu1 -j "$1" -N1 good.st | tr -d ' ')
    printf "\\$(printf %03o $(((b + 1) % 256)))" | dd of=flip.st bs=1 seek="$1" conv=notrunc 2>/dev/null
}
bad=""
n=0
pos=0
while [ "$pos" -lt "$size" ]; do
    flip "$pos"
    $M eval --model flip.st --data w.txt >/dev/null 2>err
    rc=$?
    if [ "$rc" -ne 1 ] || [ "$(wc -l <err)" -ne 1 ] || ! grep -q "flip.st: " err; then bad="$bad $pos(rc $rc)"; fi
    n=$((n + 1))
    if [ "$pos" -lt 16 ] || [ "$pos" -ge $((size - 130)) ]; then pos=$((pos + 1)); else pos=$((pos + 7)); fi
done
[ -z "$bad" ] && pass "one-byte changes at $n positions of $size: every one refused, naming the file" || fail "one-byte changes" "accepted or badly refused at$bad"
flip $((8 + hlen + 30))
$M eval --model flip.st --data w.txt >/dev/null 2>err
grep -q "flip.st: checksum mismatch in the tensor data" err && pass "a data byte: checksum mismatch in the tensor data" || fail "data flip message" "$(cat err)"
sed 's/"split_seed":"42"/"split_seed":"43"/' good.st >edit.st
$M eval --model edit.st --data w.txt >/dev/null 2>err; rc=$?
[ "$rc" -eq 1 ] && grep -q "edit.st: checksum mismatch in the header" err && pass "an edited split_seed: checksum mismatch in the header" || fail "edited header" "rc $rc: $(cat err)"
$M eval --accept-unchecked --model edit.st --data w.txt >/dev/null 2>err; rc=$?
[ "$rc" -eq 1 ] && pass "a wrong checksum is refused even with --accept-unchecked" || fail "wrong checksum with --accept-unchecked" "rc $rc"

# No checksum: an older file. Refused, unless --accept-unchecked.
H=$(tail -c +9 good.st | head -c "$hlen" | sed 's/ *$//; s/"crc32c_data":"[0-9a-f]*","crc32c_header":"[0-9a-f]*",//')
le64() { printf "\\$(printf %03o $(($1 % 256)))\\$(printf %03o $(($1 / 256)))\\000\\000\\000\\000\\000\\000"; }
{ le64 ${#H}; printf '%s' "$H"; tail -c +$((9 + hlen)) good.st; } >old.st
$M eval --model old.st --data w.txt >/dev/null 2>err; rc=$?
[ "$rc" -eq 1 ] && grep -q "old.st: no checksum .*give --accept-unchecked" err && pass "no checksum: refused, the flag named" || fail "no checksum" "rc $rc: $(cat err)"
$M eval --accept-unchecked --model old.st --data w.txt >out 2>err && grep -q '^val ' out && pass "no checksum: loads with --accept-unchecked" || fail "--accept-unchecked" "$(cat err)"
$M sample --accept-unchecked --model old.st --data - -n 2 >/dev/null 2>&1 && pass "sample --accept-unchecked" || fail "sample --accept-unchecked" "failed"

# The words file's fingerprint.
printf 'ab\nba\nabba\nb\na\naab\nbab\nab\n' >w2.txt
$M train --data w2.txt --resume good.st --steps 6 --samples 0 --out r.st >/dev/null 2>err; rc=$?
[ "$rc" -eq 1 ] && grep -q "is not the words file --resume good.st was trained on (26 bytes, crc32c" err && [ ! -e r.st ] &&
    pass "--resume refuses another words file" || fail "--resume other words" "rc $rc: $(cat err)"
$M train --data w.txt --resume good.st --steps 6 --samples 0 --out r.st >/dev/null 2>err && pass "--resume on the same words file" || fail "--resume same words" "$(cat err)"
$M eval --model good.st --data w2.txt >out 2>err; rc=$?
[ "$rc" -eq 0 ] && grep -q "note: --data w2.txt .* is not the words file good.st was trained on" err && pass "eval on other words: a note" || fail "eval other words" "rc $rc: $(cat err)"

# Sizes before data: a 2 GB sparse file behind a valid header is refused unread.
cp good.st sparse.st
dd if=/dev/null of=sparse.st bs=1 seek=2147483648 count=0 2>/dev/null
if (ulimit -v 1000000 && $M --help) >/dev/null 2>&1; then LIMIT="ulimit -v 1000000"; else LIMIT=true; fi
sh -c "$LIMIT; exec $M eval --model sparse.st --data w.txt" >/dev/null 2>err; rc=$?
[ "$rc" -eq 1 ] && grep -q "sparse.st: tensors cover 116 of the 214748[0-9]* data bytes" err && pass "a 2 GB sparse model: refused from its header ($LIMIT)" || fail "sparse model" "rc $rc: $(cat err)"

# A finite checkpoint whose losses are not (W2 and b2 all FLT_MAX: the logits overflow
# to inf, and inf - max(logits) is nan): eval fails.
cp old.st inf.st
for k in 0 4 8 12 16 20 24 28 32; do
    printf '\377\377\177\177' | dd of=inf.st bs=1 seek=$((8 + ${#H} + 48 + k)) conv=notrunc 2>/dev/null
done
$M eval --accept-unchecked --model inf.st --data w.txt >out 2>err; rc=$?
[ "$rc" -eq 1 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q "inf.st: the train loss is .*nan\\|inf.st: the train loss is inf" err && [ ! -s out ] && pass "eval: a non-finite loss is an error" || fail "non-finite eval" "rc $rc: $(cat err) $(cat out)"

finish
