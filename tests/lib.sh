# lib.sh: what every shell test shares. Source it first, from the repo root:
#   . "$(dirname "$0")/lib.sh"
# It sets MAKEMORE and NAMES (absolute paths; M and W as short names), BUILD, a temporary
# directory T removed at exit, and the counters behind pass / fail / check / finish:
#   pass NAME              one passed check ("ok   NAME")
#   fail NAME [WHY]        one failed check ("FAIL NAME: WHY")
#   check NAME COND [WHY]  pass when the shell condition COND (eval'd) holds, else fail
#   tiny_words FILE        the 8-word file ab, ba, abba, b, a, aab, bab, aa (vocabulary '.ab')
#   finish                 the closing "N passed, N failed" line; exit status 1 on a failure
# Env: MAKEMORE (the binary, default build/makemore), NAMES (names.txt), BUILD.
MAKEMORE=${MAKEMORE:-build/makemore}
NAMES=${NAMES:-data/names.txt}
BUILD=${BUILD:-build}
case $MAKEMORE in /*) ;; *) MAKEMORE=$PWD/$MAKEMORE ;; esac
case $NAMES in /*) ;; *) NAMES=$PWD/$NAMES ;; esac
M=$MAKEMORE
W=$NAMES
TESTS_DIR=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d) || exit 1
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
passed=0
failed=0
# Wisdom (the plans kept per machine) of this script's own: none at the start, none left.
XDG_CACHE_HOME=$T/cache
export XDG_CACHE_HOME
unset MAKEMORE_WISDOM

pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1${2:+: $2}"; }
check() { if eval "$2"; then pass "$1"; else fail "$1" "$3"; fi; }
tiny_words() { printf 'ab\nba\nabba\nb\na\naab\nbab\naa\n' >"$1"; }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
