#!/bin/sh
# test_cli_errors.sh: the bad-input table. Every row runs the real binary on one bad
# input (words file, flag, checkpoint, output path) and checks
#   - the exit status (2: the command line must change; 1: a file or the run failed),
#   - a fragment of the message, which must be ONE line on stderr starting "makemore",
#   - that no output file was left: each row runs in an empty working directory with
#     --out/--log pointing into an empty directory, and both must still be empty.
# Positive controls (the same inputs, unbroken, succeed) show that each row fails for
# the reason it names. Env: MAKEMORE (the binary), NAMES (names.txt).
. "$(dirname "$0")/lib.sh"
IN=$T/in    # inputs (never written by a row)
OUT=$T/out  # where rows point --out / --log: must stay empty
RUN=$T/cwd  # each row's working directory: must stay empty
mkdir "$IN"


# expect NAME STATUS FRAGMENT CMD...: CMD runs in an empty $RUN with an empty $OUT.
expect() {
    name=$1 want=$2 frag=$3
    shift 3
    rm -rf "$OUT" "$RUN"
    mkdir "$OUT" "$RUN"
    (cd "$RUN" && "$@") >"$T/stdout" 2>"$T/stderr"
    rc=$?
    why=""
    [ "$rc" -eq "$want" ] || why="exit status $rc, expected $want"
    grep -qF -- "$frag" "$T/stderr" || why="$why${why:+; }message lacks \"$frag\""
    lines=$(wc -l <"$T/stderr")
    [ "$lines" -eq 1 ] || why="$why${why:+; }$lines lines on stderr, expected 1"
    head -c 8 "$T/stderr" | grep -q '^makemore' || why="$why${why:+; }message does not start with makemore"
    left=$(ls -A "$OUT" "$RUN" 2>/dev/null | grep -v ':$' | grep -v '^$')
    [ -z "$left" ] || why="$why${why:+; }left behind: $(echo $left)"
    if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; sed 's/^/    stderr: /' "$T/stderr" | head -5; fi
}

# expect_ok NAME CMD...: a positive control, must exit 0.
expect_ok() {
    name=$1
    shift
    rm -rf "$OUT" "$RUN"
    mkdir "$OUT" "$RUN"
    if (cd "$RUN" && "$@") >"$T/stdout" 2>"$T/stderr"; then pass "$name"
    else fail "$name" "exit status $?"; sed 's/^/    stderr: /' "$T/stderr" | head -5; fi
}

M=$MAKEMORE
# A tiny but valid setup: 8 words, vocabulary '.', a, b; a model of 25 parameters.
W=$IN/w.txt
tiny_words "$W"
TINY="--data $W --hidden 2 --embd 2 --block 1 --batch 4 --samples 0 --print-every 1000"

# ---- words files ---------------------------------------------------------------------
printf '' >"$IN/empty.txt"
printf '\n\n\r\n\n' >"$IN/blank.txt"
printf 'ann\nb\000b\nbob\n' >"$IN/nul.txt"
printf 'ann\nb\001b\nbob\n' >"$IN/ctrl.txt"
printf 'ann\nbob\nb\tb\n' >"$IN/tab.txt"
printf 'ann\nb\177b\n' >"$IN/del.txt"
printf 'ann\nbo.b\n' >"$IN/dot.txt"
printf 'ann\nb\rb\n' >"$IN/cr.txt"
{ printf 'ann\n'; head -c 257 /dev/zero | tr '\0' 'x'; printf '\n'; } >"$IN/long.txt"
{ printf 'ann\n'; head -c 4000000 /dev/zero | tr '\0' 'y'; } >"$IN/huge_line.txt"
printf 'ab\nba\nabba\nb\na\n' >"$IN/five.txt"
printf 'ab\r\nba\r\nabba\r\nb\r\n\r\na\r\naab\r\nbab\r\naa' >"$IN/crlf.txt"

expect "words: missing file" 1 "nope.txt: cannot open: No such file" $M train $TINY --data "$IN/nope.txt" --out "$OUT/m.st"
expect "words: a directory" 1 "is a directory" $M train $TINY --data "$IN" --out "$OUT/m.st"
expect "words: unreadable (EIO)" 1 "/proc/self/mem: cannot read" $M train $TINY --data /proc/self/mem --out "$OUT/m.st"
if [ "$(id -u)" -ne 0 ]; then
    cp "$W" "$IN/noperm.txt" && chmod 000 "$IN/noperm.txt"
    expect "words: no read permission" 1 "noperm.txt: cannot open: Permission denied" $M train $TINY --data "$IN/noperm.txt" --out "$OUT/m.st"
fi
expect "words: empty" 1 "empty.txt: no words" $M train $TINY --data "$IN/empty.txt" --out "$OUT/m.st"
expect "words: only blank lines" 1 "blank.txt: no words" $M train $TINY --data "$IN/blank.txt" --out "$OUT/m.st"
expect "words: NUL byte" 1 "nul.txt:2: NUL byte at column 2" $M train $TINY --data "$IN/nul.txt" --out "$OUT/m.st"
expect "words: control byte" 1 "ctrl.txt:2: non-printable byte 0x01 at column 2" $M train $TINY --data "$IN/ctrl.txt" --out "$OUT/m.st"
expect "words: tab" 1 "tab.txt:3: non-printable byte 0x09" $M train $TINY --data "$IN/tab.txt" --out "$OUT/m.st"
expect "words: DEL byte" 1 "del.txt:2: non-printable byte 0x7f" $M train $TINY --data "$IN/del.txt" --out "$OUT/m.st"
expect "words: lone CR inside a line" 1 "cr.txt:2: non-printable byte 0x0d" $M train $TINY --data "$IN/cr.txt" --out "$OUT/m.st"
expect "words: a word with '.'" 1 "dot.txt:2: word contains '.'" $M train $TINY --data "$IN/dot.txt" --out "$OUT/m.st"
expect "words: line of 257 bytes" 1 "long.txt:2: line of 257 bytes, longer than the 256 allowed" $M train $TINY --data "$IN/long.txt" --out "$OUT/m.st"
expect "words: line of 4 MB" 1 "huge_line.txt:2: line of 4000000 bytes" $M train $TINY --data "$IN/huge_line.txt" --out "$OUT/m.st"
# Over the 1 GiB limit (sparse: no disk used): refused from its size, before reading a
# byte (it used to be read whole, into 2 GiB of memory, then refused). Under a 1 GB
# address-space limit, so that reading it would fail differently -- except in the
# sanitizer build, whose shadow memory cannot start under such a limit.
dd if=/dev/null of="$IN/big.txt" bs=1 seek=1073741825 count=0 2>/dev/null
if (ulimit -v 1000000 && $M --help) >/dev/null 2>&1; then LIMIT="ulimit -v 1000000"; else LIMIT=true; fi
expect "words: a file over 1 GiB, refused unread ($LIMIT)" 1 "big.txt: 1073741825 bytes, more than the 1073741824 a words file may have" \
    sh -c "$LIMIT; exec \"\$@\"" sh $M train $TINY --data "$IN/big.txt" --out "$OUT/m.st"
rm -f "$IN/big.txt"
expect "words: too few for 3 splits" 1 "five.txt: 5 words split 80/10/10 as 4 / 0 / 1" $M train $TINY --data "$IN/five.txt" --out "$OUT/m.st"
# CRLF line ends, a blank line and no final newline are fine: the same run as with $W.
(cd "$T" && $M train $TINY --steps 5 --threads 1) >"$T/lf.out" 2>&1
(cd "$T" && $M train $TINY --data "$IN/crlf.txt" --steps 5 --threads 1) >"$T/crlf.out" 2>&1
if grep -q "8 words, vocabulary 3" "$T/crlf.out" &&
    [ "$(grep -v -e '^data:' -e '^time:' -e '^gemm:' "$T/lf.out")" = "$(grep -v -e '^data:' -e '^time:' -e '^gemm:' "$T/crlf.out")" ]; then
    pass "words: CRLF, blank line, no final newline train as LF"
else
    fail "words: CRLF, blank line, no final newline train as LF" "outputs differ"
fi

# ---- flags ---------------------------------------------------------------------------
F="$M train $TINY --out $OUT/m.st"
expect "flag: non-numeric" 2 "--steps: 'ten' is not an integer (allowed: 1..1000000000)" $F --steps ten
expect "flag: trailing junk" 2 "--batch: '32x' is not an integer" $F --batch 32x
expect "flag: leading blank" 2 "--hidden: ' 8' is not an integer" $F --hidden " 8"
expect "flag: plus sign" 2 "--hidden: '+8' is not an integer" $F --hidden +8
expect "flag: empty value" 2 "--steps needs a non-empty value" $F --steps=
expect "flag: negative" 2 "--steps: -5 is out of range (allowed: 1..1000000000)" $F --steps -5
expect "flag: zero steps" 2 "--steps: 0 is out of range" $F --steps 0
expect "flag: zero hidden" 2 "--hidden: 0 is out of range (allowed: 1..16384)" $F --hidden 0
expect "flag: zero threads" 2 "--threads: 0 is out of range" $F --threads 0
expect "flag: zero print-every" 2 "--print-every: 0 is out of range" $F --print-every 0
expect "flag: zero save-every" 2 "--save-every: 0 is out of range" $F --save-every 0
expect "flag: block too large" 2 "--block 65 (allowed: 1..64)" $F --block 65
expect "flag: embd too large" 2 "--embd: 4097 is out of range (allowed: 1..4096)" $F --embd 4097
expect "flag: overflow (long)" 2 "--steps: 99999999999999999999999 is out of range" $F --steps 99999999999999999999999
expect "flag: overflow (u64 seed)" 2 "--seed: 18446744073709551616 is out of range (allowed: 0..18446744073709551615)" $F --seed 18446744073709551616
expect "flag: negative seed" 2 "--seed: '-1' is not a non-negative integer" $F --seed -1
expect "flag: lr zero" 2 "--lr: 0 is out of range (allowed: at least 1.17549435e-38 (the smallest normal float), at most 1000)" $F --lr 0
expect "flag: lr that is 0 as a float" 2 "--lr: 1e-50 is out of range: as a float it is 0" $F --lr 1e-50
expect "flag: lr2 denormal as a float" 2 "--lr2: 1e-40 is out of range: as a float it is" $F --lr2 1e-40
expect "flag: lr negative" 2 "--lr: -0.1 is out of range" $F --lr -0.1
expect "flag: lr nan" 2 "--lr: 'nan' is not a finite decimal number" $F --lr nan
expect "flag: lr inf" 2 "--lr2: 'inf' is not a finite decimal number" $F --lr2 inf
expect "flag: lr overflow" 2 "--lr: '1e999' is not a finite decimal number" $F --lr 1e999
expect "flag: lr hex" 2 "--lr: '0x1p-3' is not a finite decimal number" $F --lr 0x1p-3
expect "flag: lr trailing junk" 2 "--lr: '0.1x' is not a finite decimal number" $F --lr 0.1x
expect "flag: batch 1 with Bessel (n-1 = 0)" 2 "--batch: 1 is too small for --bn-var unbiased" $F --batch 1
expect "flag: bad choice" 2 "--bn-var: 'maybe' is not allowed (allowed: unbiased, biased)" $F --bn-var maybe
expect "flag: W1 would overflow int" 2 "the parameter W1 [262144 x 16384] would have 4294967296 elements" $M train $TINY --block 64 --embd 4096 --hidden 16384 --out "$OUT/m.st"
expect "flag: batch x hidden would overflow int" 2 "the batch's linear output (1048576 x 1 x 16384) would have 17179869184 elements" $M train $TINY --batch 1048576 --hidden 16384 --out "$OUT/m.st"
expect "flag: unknown flag" 2 "unknown flag '--stpes'" $F --stpes 5
expect "flag: stray argument" 2 "unexpected argument 'names.txt'" $F names.txt
expect "flag: missing value" 2 "--steps needs a value" $F --steps
expect "flag: value forgotten" 2 "--out needs a value, got the flag '--steps'" $M train $TINY --out --steps 5
expect "flag: value to a switch" 2 "--help takes no value" $F --help=yes
expect "flag: save-every without out" 2 "--save-every needs --out FILE" $M train $TINY --save-every 5
expect "command: unknown" 2 "unknown command 'trian' (allowed: train, sample, eval, gradcheck" $M trian
expect "command: none" 2 "no command given" $M
expect "sample: no model" 2 "makemore sample: --model FILE is required" $M sample
expect "sample: temperature 0" 2 "--temperature: 0 is out of range (allowed: 0.01..100)" $M sample --model x --temperature 0
expect "sample: top-k 0" 2 "--top-k: 0 is out of range" $M sample --model x --top-k 0
expect "sample: -n negative" 2 "-n: -3 is out of range" $M sample --model x -n -3
expect "eval: no model" 2 "makemore eval: --model FILE is required" $M eval --data "$W"
expect "eval: unknown flag" 2 "makemore eval: unknown flag '--steps'" $M eval --model x --steps 3

# ---- output paths (must fail before any training: stdout stays empty) ----------------
printf 'not a directory\n' >"$IN/file"
expect "out: directory missing" 1 "--out $OUT/no/m.st: directory $OUT/no: No such file or directory" $M train $TINY --steps 1000000000 --out "$OUT/no/m.st"
expect "out: parent is a file" 1 "$IN/file is not a directory" $M train $TINY --steps 1000000000 --out "$IN/file/m.st"
expect "out: is a directory" 1 "--out $IN: is a directory" $M train $TINY --steps 1000000000 --out "$IN"
expect "out: a device" 1 "--out /dev/null: exists and is not a regular file" $M train $TINY --steps 1000000000 --out /dev/null
expect "out: directory not writable (/proc)" 1 "--out /proc/m.st: cannot create files in directory /proc" $M train $TINY --steps 1000000000 --out /proc/m.st
if [ "$(id -u)" -ne 0 ]; then
    mkdir "$T/ro" && chmod 555 "$T/ro"
    expect "out: directory without write permission" 1 "cannot create files in directory $T/ro: Permission denied" $M train $TINY --steps 1000000000 --out "$T/ro/m.st"
fi
expect "out: is the words file" 2 "--out $W is the words file" $M train $TINY --out "$W"
expect "log: directory missing" 1 "--log $OUT/no/l.csv: directory $OUT/no" $M train $TINY --steps 1000000000 --log "$OUT/no/l.csv"
expect "log: is the words file" 2 "--log $W is also the words file" $M train $TINY --log "$W"
expect "log: is --out" 2 "is also the words file, --out or --resume" $M train $TINY --out "$OUT/m.st" --log "$OUT/m.st"
if [ -s "$T/stdout" ]; then fail "output errors come before training" "stdout: $(head -c 200 "$T/stdout")"; else pass "output errors come before training"; fi

# ---- checkpoints ---------------------------------------------------------------------
# good.st: 9 tensors, 116 data bytes: C [0,24) W1 [24,40) b1 [40,48) W2 [48,72) b2 [72,84)
# bngain [84,92) bnbias [92,100) bnmean [100,108) bnvar [108,116).
G=$IN/good.st
# --seed pinned: the divergence test below relies on when this run's batches first draw an 'a'
(cd "$T" && $M train $TINY --steps 3 --seed 2147483647 --out "$G") >/dev/null 2>&1 || fail "make good.st" "train failed"
expect_ok "checkpoint: control (eval of the good file)" $M eval --model "$G" --data "$W"
expect_ok "checkpoint: control (sample of the good file)" $M sample --model "$G" --data "$W" -n 3
ghlen=$(od -An -tu8 -N8 "$G" | tr -d ' ')
# The rows below edit the file: they start from its header without the two checksums
# (header.json), so that each reaches the check it names (with --accept-unchecked); a
# checksummed file with any edit is refused before that (tests/test_integrity.sh). The
# words file's fingerprint goes too (the guard rows resume on other words, as a file
# written before fingerprints may).
tail -c +9 "$G" | head -c "$ghlen" | sed 's/ *$//' |
    sed 's/"crc32c_data":"[0-9a-f]*","crc32c_header":"[0-9a-f]*",//; s/,"data_bytes":"[0-9]*","data_crc32c":"[0-9a-f]*"//' >"$T/header.json"
grep -q 'crc32c_\|data_bytes' "$T/header.json" && fail "good.st layout" "checksum keys not stripped: $(cat "$T/header.json")"
tail -c +$((9 + ghlen)) "$G" >"$T/data.bin"
[ "$(wc -c <"$T/data.bin")" -eq 116 ] || fail "good.st layout" "data is not 116 bytes"

# le64 N: the 8-byte little-endian length prefix (N < 65536).
le64() { printf "\\$(printf %03o $(($1 % 256)))\\$(printf %03o $(($1 / 256)))\\000\\000\\000\\000\\000\\000"; }
# forge OUT SED_SCRIPT [DATA]: good.st with its header edited (the length prefix follows).
forge() {
    sed "$2" "$T/header.json" >"$T/h.json"
    if cmp -s "$T/h.json" "$T/header.json"; then fail "forge $1" "the edit '$2' did not apply"; fi
    { le64 "$(wc -c <"$T/h.json")"; cat "$T/h.json" "${3:-$T/data.bin}"; } >"$IN/$1"
}
# U: good.st without its checksums (loads with --accept-unchecked); hlen: its header length.
U=$IN/unchecked.st
{ le64 "$(wc -c <"$T/header.json")"; cat "$T/header.json" "$T/data.bin"; } >"$U"
hlen=$(wc -c <"$T/header.json")
# poke OUT OFFSET BYTES: unchecked.st with 4 data bytes at OFFSET overwritten (octal escapes).
poke() {
    cp "$U" "$IN/$1"
    printf "$3" | dd of="$IN/$1" bs=1 seek=$((8 + hlen + $2)) conv=notrunc 2>/dev/null
}
E="$M eval --accept-unchecked --data $W --model"
expect_ok "checkpoint: control (eval of the unchecked file with --accept-unchecked)" $E "$U"
expect "checkpoint: missing" 1 "makemore eval: $IN/none.st: cannot open: No such file" $E "$IN/none.st"
expect "checkpoint: a directory" 1 "$IN: is a directory" $E "$IN"
: >"$IN/empty.st"
expect "checkpoint: empty" 1 "empty.st: 0 bytes, too short for the 8-byte header length" $E "$IN/empty.st"
expect "checkpoint: a words file (wrong magic)" 1 "header length" $E "$W"
{ printf '\377\377\377\377\377\377\377\377'; cat "$T/header.json"; } >"$IN/hugelen.st"
expect "checkpoint: header length 2^64-1" 1 "header length 18446744073709551615 is larger than the file" $E "$IN/hugelen.st"
{ le64 $(($(wc -c <"$T/header.json") + 4)); cat "$T/header.json" "$T/data.bin"; } >"$IN/longlen.st"
expect "checkpoint: header length lies (too long)" 1 "header is not valid JSON" $E "$IN/longlen.st"
{ le64 $(($(wc -c <"$T/header.json") - 1)); cat "$T/header.json" "$T/data.bin"; } >"$IN/shortlen.st"
expect "checkpoint: header length lies (too short)" 1 "header is not valid JSON" $E "$IN/shortlen.st"
forge notjson.st 's/^{/[/'
expect "checkpoint: header not JSON" 1 "header is not valid JSON" $E "$IN/notjson.st"
forge dupkey.st 's/"W1":{/"C":{/'
expect "checkpoint: duplicate tensor" 1 "header is not valid JSON (duplicate object key" $E "$IN/dupkey.st"
forge past_end.st 's/\[108,116\]/[116,124]/'
expect "checkpoint: offsets past the end" 1 "tensor \"bnvar\": data_offsets [116, 124] outside the 116 data bytes" $E "$IN/past_end.st"
forge reversed.st 's/\[24,40\]/[40,24]/'
expect "checkpoint: offsets reversed" 1 "tensor \"W1\": data_offsets [40, 24] outside the 116 data bytes or reversed" $E "$IN/reversed.st"
forge overlap.st 's/\[24,40\]/[16,32]/'
expect "checkpoint: overlapping tensors" 1 "overlaps the previous tensor" $E "$IN/overlap.st"
forge size_lie.st 's/\[40,48\]/[40,52]/'
expect "checkpoint: offsets disagree with shape" 1 "tensor \"b1\": shape x dtype size overflows or does not match the 12 bytes" $E "$IN/size_lie.st"
forge f16.st 's/"bnvar":{"dtype":"F32"/"bnvar":{"dtype":"F16"/'
expect "checkpoint: unsupported dtype" 1 "tensor \"bnvar\": dtype \"F16\" is not supported" $E "$IN/f16.st"
forge f64.st 's/"bnvar":{"dtype":"F32","shape":\[1,2\]/"bnvar":{"dtype":"F64","shape":[1,1]/'
expect "checkpoint: wrong dtype" 1 "tensor \"bnvar\": dtype is not F32" $E "$IN/f64.st"
forge shape.st 's/"b1":{"dtype":"F32","shape":\[2\]/"b1":{"dtype":"F32","shape":[1,2]/'
expect "checkpoint: wrong shape" 1 "tensor \"b1\": shape [1, 2], expected [2]" $E "$IN/shape.st"
forge hidden.st 's/"hidden":"2"/"hidden":"3"/'
expect "checkpoint: config disagrees with shapes" 1 "tensor \"W1\": shape [2, 2], expected [2, 3]" $E "$IN/hidden.st"
head -c 108 "$T/data.bin" >"$T/data108.bin"
forge no_bnvar.st 's/,"bnvar":{[^}]*}//' "$T/data108.bin"
expect "checkpoint: missing tensor" 1 "tensor \"bnvar\" is missing" $E "$IN/no_bnvar.st"
printf '\000\000\000\000' >>"$T/data4.bin"
cat "$T/data.bin" "$T/data4.bin" >"$T/data120.bin"
forge extra.st 's/}$/,"extra":{"dtype":"F32","shape":[1],"data_offsets":[116,120]}}/' "$T/data120.bin"
expect "checkpoint: unexpected tensor" 1 "unexpected tensor \"extra\"" $E "$IN/extra.st"
# Names and values from the file are quoted in messages with their control characters
# escaped (a JSON "\n" or ESC in a name used to split the line or drive the terminal).
forge escape.st 's/}$/,"x\\u001b[2J\\n":{"dtype":"F32","shape":[0],"data_offsets":[116,116]}}/'
expect "checkpoint: control characters in a name stay on one line" 1 'unexpected tensor "x\x1b[2J\n"' $E "$IN/escape.st"
forge escape2.st 's/"bngain":{"dtype":"F32","shape":\[1,2\],"data_offsets"/"\\ngain":{"dtype":"F32","shape":[1,2],"data_W2fsets"/'
expect "checkpoint: newline in a bad entry's name (fuzz_checkpoint's crash)" 1 'tensor "\ngain": needs exactly the fields dtype, shape, data_offsets' $E "$IN/escape2.st"
forge format.st 's/makemore-net-1/makemore-net-9/'
expect "checkpoint: wrong format" 1 "metadata \"format\" = \"makemore-net-9\": expected \"makemore-net-1\" or \"makemore-mlp-1\"" $E "$IN/format.st"
forge no_embd.st 's/"embd":"2",//'
expect "checkpoint: metadata missing" 1 "metadata \"embd\" is missing" $E "$IN/no_embd.st"
forge block0.st 's/"block":"1"/"block":"0"/'
expect "checkpoint: config out of range" 1 "metadata \"block\" = \"0\": expected an integer in 1..1024" $E "$IN/block0.st"
forge vocab.st 's/"vocab_size":"3"/"vocab_size":"4"/'
expect "checkpoint: vocab_size lies" 1 "metadata \"itos\": expected 4 characters" $E "$IN/vocab.st"
forge itos.st 's/"itos":"\.ab"/"itos":".ba"/'
expect "checkpoint: itos not sorted" 1 "metadata \"itos\": expected 3 characters, '.' then distinct ascending bytes" $E "$IN/itos.st"
forge step.st 's/"step":"3"/"step":"4"/'
expect "checkpoint: step past steps" 1 "metadata \"step\" = \"4\": expected an integer in 0..3" $E "$IN/step.st"
forge rng.st 's/"rng":"[0-9a-f,]*"/"rng":"0000000000000000,0000000000000000,0000000000000000,0000000000000000"/'
expect "checkpoint: rng all zero" 1 "metadata \"rng\"" $E "$IN/rng.st"
forge partial.st 's/"rng":"[0-9a-f,]*",//'
expect "checkpoint: partial training state" 1 "partial training state: metadata \"rng\" is missing" $E "$IN/partial.st"
forge lr.st 's/"lr":"[^"]*"/"lr":"nan"/'
expect "checkpoint: lr not finite" 1 "metadata \"lr\" = \"nan\": expected a finite number" $E "$IN/lr.st"
poke nan.st 24 '\000\000\300\177'
expect "checkpoint: NaN value" 1 "tensor \"W1\": element 0 is nan" $E "$IN/nan.st"
poke inf.st 44 '\000\000\200\377'
expect "checkpoint: -Inf value" 1 "tensor \"b1\": element 1 is -inf" $E "$IN/inf.st"
poke negvar.st 112 '\000\000\200\277'
expect "checkpoint: negative variance" 1 "tensor \"bnvar\": element 1 is -1, expected a finite non-negative value" $E "$IN/negvar.st"
printf 'ab\nba\nabc\nb\na\naab\nbab\naa\n' >"$IN/wc.txt"
expect "checkpoint: vocabulary does not match eval's words" 1 "wc.txt: word 3 (\"abc\") has byte 0x63, which is not in the model's vocabulary of 3" $M eval --model "$G" --data "$IN/wc.txt"
expect "checkpoint: vocabulary does not match sample's words" 1 "the vocabulary of --model $G does not cover this words file" $M sample --model "$G" --data "$IN/wc.txt"

# Truncated at every length (the whole file is ~1 kB; every length is one process, so
# the header's boundaries are all taken and the rest in strides).
size=$(wc -c <"$G")
bad=""
n=0
len=0
while [ "$len" -lt "$size" ]; do
    head -c "$len" "$G" >"$IN/cut.st"
    (cd "$T" && $E "$IN/cut.st") >/dev/null 2>"$T/stderr"
    rc=$?
    if [ "$rc" -ne 1 ] || [ "$(wc -l <"$T/stderr")" -ne 1 ] ||
        ! grep -qF "makemore eval: $IN/cut.st: " "$T/stderr"; then
        bad="$bad $len(rc $rc)"
    fi
    n=$((n + 1))
    if [ "$len" -lt 24 ] || { [ "$len" -ge $((ghlen - 8)) ] && [ "$len" -lt $((ghlen + 24)) ]; } ||
        [ "$len" -ge $((size - 8)) ]; then
        len=$((len + 1))
    else
        len=$((len + 13))
    fi
done
if [ -z "$bad" ]; then pass "checkpoint: truncated at $n lengths"; else fail "checkpoint: truncated" "lengths$bad"; fi
head -c 7 "$G" >"$IN/cut7.st"
expect "checkpoint: truncated in the length" 1 "7 bytes, too short for the 8-byte header length" $E "$IN/cut7.st"
head -c $((ghlen + 8)) "$G" >"$IN/cutdata.st"
expect "checkpoint: truncated after the header" 1 "data_offsets [0, 24] outside the 0 data bytes" $E "$IN/cutdata.st"
head -c $((size - 1)) "$G" >"$IN/cutlast.st"
expect "checkpoint: truncated by one byte" 1 "tensor \"bnvar\": data_offsets [108, 116] outside the 115 data bytes" $E "$IN/cutlast.st"

# ---- resume ---------------------------------------------------------------------------
cp "$G" "$IN/plain_src.st"
forge plain.st 's/,"step":.*"calibrated":"1"//'
expect "resume: a model without training state" 1 "--resume $IN/plain.st: a model file without a training state" $M train --data "$W" --accept-unchecked --resume "$IN/plain.st"
expect "resume: truncated checkpoint" 1 "cutlast.st: tensor \"bnvar\": data_offsets" $M train --data "$W" --resume "$IN/cutlast.st" --out "$OUT/m.st"
expect "resume: conflicting model flag" 2 "--hidden 3 conflicts with --resume $G, which was trained with --hidden 2" $M train --data "$W" --resume "$G" --hidden 3 --steps 9
expect "resume: conflicting schedule flag" 2 "--lr 0.5 conflicts with --resume $G, which was trained with --lr 0.1" $M train --data "$W" --resume "$G" --lr 0.5 --steps 9
expect "resume: --steps behind the checkpoint" 2 "--steps 2: --resume $G is already at step 3 (allowed: --steps >= 3)" $M train --data "$W" --resume "$G" --steps 2
expect "resume: nothing left to do" 2 "the run is complete (3 of 3 steps); give --steps N with N > 3" $M train --data "$W" --resume "$G"
expect "resume: words outside the vocabulary" 1 "which is not in the model's vocabulary of 3 (the vocabulary of $G" $M train --data "$IN/wc.txt" --resume "$G" --steps 9 --out "$OUT/m.st"
printf 'something else\n1,2\n' >"$IN/notlog.csv"
cp "$G" "$OUT/../r.st"
expect "resume: --log is not a loss log" 1 "--log $IN/notlog.csv: not a makemore loss log" $M train --data "$W" --resume "$T/r.st" --steps 9 --log "$IN/notlog.csv" --samples 0
[ "$(cat "$IN/notlog.csv")" = "$(printf 'something else\n1,2')" ] && pass "resume: the foreign log is untouched" || fail "resume: the foreign log is untouched" "it changed"
cmp -s "$G" "$T/r.st" && pass "resume: a failed resume leaves the checkpoint as it was" || fail "resume: a failed resume leaves the checkpoint as it was" "r.st changed"
expect_ok "resume: control (same flags as saved, --steps extends)" $M train --data "$W" --resume "$T/r.st" --hidden 2 --lr 0.1 --steps 9 --samples 0

# ---- the numerical guard ----------------------------------------------------------------
# Resumed from forged checkpoints (finite values the loader accepts, poisonous to training):
#  - b2 = [3e38, -3e38, 0]: the logit of 'a' is -3e38 below the max, so the loss of any
#    batch with an 'a' target is inf (the loss check);
#  - W1 = 1e-3 (tiny batch variance: bnvar_inv ~ 300) and bngain[0] = 3e38: the forward
#    stays finite (tanh saturates) but bngain * bnvar_inv overflows in the batchnorm
#    backward, so the gradients are not finite while the loss is (the gradient check).
poke lossinf.st 72 '\346\261\141\177'
printf '\346\261\141\377' | dd of="$IN/lossinf.st" bs=1 seek=$((8 + hlen + 76)) conv=notrunc 2>/dev/null
poke gradnan.st 84 '\346\261\141\177'
for k in 0 4 8 12; do
    printf '\157\022\203\072' | dd of="$IN/gradnan.st" bs=1 seek=$((8 + hlen + 24 + k)) conv=notrunc 2>/dev/null
done
for f in lossinf gradnan; do cp "$IN/$f.st" "$T/$f.orig"; done
expect "guard: non-finite loss stops training" 1 "training diverged at step" $M train --data "$W" --accept-unchecked --resume "$IN/lossinf.st" --steps 1000 --threads 1 --samples 0
grep -q "the loss is inf; stopped; the last good checkpoint, $IN/lossinf.st (step 3), is kept" "$T/stderr" &&
    cmp -s "$IN/lossinf.st" "$T/lossinf.orig" && pass "guard: loss: message names the step, checkpoint kept" ||
    fail "guard: loss: message names the step, checkpoint kept" "$(cat "$T/stderr")"
expect "guard: non-finite gradient (finite loss) stops training" 1 "training diverged at step 3 (lr 0.1): the gradient" $M train --data "$W" --accept-unchecked --resume "$IN/gradnan.st" --steps 1000 --threads 1 --samples 0
grep -q "is -\{0,1\}nan; stopped; the last good checkpoint, $IN/gradnan.st (step 3), is kept" "$T/stderr" &&
    cmp -s "$IN/gradnan.st" "$T/gradnan.orig" && pass "guard: gradient: checkpoint kept" ||
    fail "guard: gradient: checkpoint kept" "$(cat "$T/stderr")"
# Divergence after periodic checkpoints: a words file (within the model's vocabulary)
# where 'a' is rare, so the first batch with an 'a' target comes dozens of steps in.
# The last checkpoint written before it must be the one named, be loadable, hold that
# step, and no temporary file may be left.
{ printf 'a\n'; i=0; while [ $i -lt 39 ]; do echo bb; i=$((i + 1)); done; } >"$IN/rare.txt"
rm -rf "$OUT" && mkdir "$OUT"
(cd "$T" && $M train --data "$IN/rare.txt" --accept-unchecked --resume "$IN/lossinf.st" --steps 1000 --save-every 5 --threads 1 --out "$OUT/d.st" --samples 0) >/dev/null 2>"$T/stderr"
rc=$?
step=$(sed -n 's/.*the last good checkpoint, .*d\.st (step \([0-9]*\)), is kept$/\1/p' "$T/stderr")
if [ "$rc" -eq 1 ] && [ -n "$step" ] && [ "$step" -ge 5 ] && [ $((step % 5)) -eq 0 ] &&
    [ "$(ls -A "$OUT")" = "d.st" ] && grep -q "\"step\":\"$step\"" "$OUT/d.st" &&
    (cd "$T" && $M eval --model "$OUT/d.st" --data "$W") >/dev/null 2>"$T/eval.err" &&
    grep -q "unfinished training checkpoint; batchnorm calibrated" "$T/eval.err"; then
    # (resumed from a finished, calibrated checkpoint: the ones written on the way are
    # marked uncalibrated, so eval calibrates them)
    pass "guard: divergence after periodic checkpoints keeps the last (step $step), loadable"
else
    fail "guard: divergence after periodic checkpoints keeps the last" "rc $rc: $(cat "$T/stderr"); files: $(ls -A "$OUT")"
fi

finish
