#!/bin/sh
# Runs every test binary in $1/tests and every tests/test_*.sh script, then prints
# the closing line "N passed, N failed" summed over all of them. A binary that
# crashes or prints no summary counts as one failed test.
# Environment for the scripts: MAKEMORE (the binary), NAMES (the dataset), BUILD.
# With MAKEMORE_PRETEND_CORE set (CI's forced-restart pass), a test binary whose "blas:"
# line does not say it restarted counts as one more failure: the pass must take that path.
BUILD=${1:-build}
export BUILD MAKEMORE="$BUILD/makemore" NAMES="${NAMES:-data/names.txt}"
passed=0; failed=0
log=$(mktemp); trap 'rm -f "$log"' EXIT
for t in "$BUILD"/tests/test_* tests/test_*.sh; do
    [ -e "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    echo "== $t"
    case "$t" in
        *.sh) sh "$t" >"$log" 2>&1 ;;
        *)    "$t" >"$log" 2>&1 ;;
    esac
    rc=$?
    cat "$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
        passed=$((passed + p)); failed=$((failed + f))
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "  $t exited $rc with no failed test"; failed=$((failed + 1))
        fi
    else
        echo "  $t exited $rc without a summary line"; failed=$((failed + 1))
    fi
    case "$t" in *.sh) ;; *)
        if [ -n "$MAKEMORE_PRETEND_CORE" ] && [ -z "$OPENBLAS_CORETYPE" ] &&
           ! grep -q '^blas: .*(restarted' "$log"; then
            echo "  $t did not restart its OpenBLAS core under MAKEMORE_PRETEND_CORE"
            failed=$((failed + 1))
        fi ;;
    esac
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
