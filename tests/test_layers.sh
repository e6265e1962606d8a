#!/bin/sh
# test_layers.sh: the architecture as the code has it, checked. A module is a header of
# include/ and the sources that implement it (each source's first include is its own
# header); its folder is theirs (src/<folder>/). Checked:
#   1. no include cycle between modules (tsort finds none);
#   2. folders include only downwards: base < io, gemm < kernels < model < exercises, dist
#      < cmd (the allowed pairs below);
#   3. cblas_* and libxsmm_* are called only in src/gemm/blas*.c (the BLAS seam);
#   4. nothing below src/cmd/ exits: exit(), _exit(), abort() appear only in src/cmd/,
#      src/main.c, base/common.c (xcalloc on exhausted memory, std_fds_ensure) and dist.c
#      (a failed MPI call ends the job).
# Each check is shown to fail on a planted violation (a copy of the tree with one bad line).
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$TESTS_DIR/.." && pwd)

# module_of FILE: the header a source implements (its first quoted include), else its own
# name for a header.
modules() {  # prints "folder module" for every source, and the header-only modules
    for c in "$1"/src/*/*.c; do
        f=$(basename "$(dirname "$c")")
        h=$(grep -m1 -o '^#include "[a-z_0-9]*\.h"' "$c" | sed 's/.*"\(.*\)\.h"/\1/')
        echo "$f $h"
    done
    echo "kernels vecmath"
}

# edges DIR: "from to" module pairs from every include in src/ and include/.
edges() {
    for c in "$1"/src/*/*.c "$1"/src/*/*.inc; do
        own=$(grep -m1 -o '^#include "[a-z_0-9]*\.h"' "$c" | sed 's/.*"\(.*\)\.h"/\1/')
        grep -o '^#include "[a-z_0-9]*\.h"' "$c" | sed 's/.*"\(.*\)\.h"/\1/' |
            while read -r h; do [ "$h" != "$own" ] && echo "$own $h"; done
    done
    for h in "$1"/include/*.h; do
        m=$(basename "$h" .h)
        grep -o '^#include "[a-z_0-9]*\.h"' "$h" | sed 's/.*"\(.*\)\.h"/\1/' |
            while read -r d; do [ "$d" != "$m" ] && echo "$m $d"; done
    done
}

# The allowed folder pairs (from -> to), besides a folder to itself.
ALLOWED="io:base gemm:base kernels:base kernels:gemm model:base model:io model:gemm
model:kernels exercises:base exercises:gemm exercises:kernels exercises:model dist:base
dist:io dist:gemm dist:kernels dist:model cmd:base cmd:io cmd:gemm cmd:kernels cmd:model
cmd:exercises cmd:dist"

check_tree() {  # DIR -> prints one line per violation
    dir=$1
    modules "$dir" | sort -u >"$T/mod"
    edges "$dir" | sort -u >"$T/edges"
    if ! tsort "$T/edges" >/dev/null 2>"$T/tsort"; then
        echo "include cycle: $(grep -v '^tsort: -: input contains a loop:' "$T/tsort" | sed 's/^tsort: //' | tr '\n' ' ')"
    fi
    while read -r from to; do
        ff=$(awk -v m="$from" '$2 == m {print $1; exit}' "$T/mod")
        ft=$(awk -v m="$to" '$2 == m {print $1; exit}' "$T/mod")
        [ -z "$ff" ] || [ -z "$ft" ] || [ "$ff" = "$ft" ] && continue
        case " $(echo $ALLOWED) " in *" $ff:$ft "*) ;; *) echo "back-arrow: $from ($ff) includes $to ($ft)" ;; esac
    done <"$T/edges"
    grep -n 'cblas_[a-z]*(\|libxsmm_[a-z]*(' "$dir"/src/*/*.c | grep -v '^[^:]*/src/gemm/blas[a-z_]*\.c:' |
        sed 's/^/BLAS outside its seam: /'
    grep -n '\b\(exit\|_exit\|abort\)(' "$dir"/src/*/*.c | grep -v '^\s*//' |
        grep -v '^[^:]*/src/\(cmd/[a-z_]*\|base/common\|dist/dist\)\.c:' | grep -v ':[0-9]*:\s*//' |
        sed 's/^/exit below src\/cmd\/: /'
}

check_tree "$ROOT" >"$T/found"
check "no include cycle between modules" '! grep -q "^include cycle" "$T/found"' "$(grep "^include cycle" "$T/found")"
check "folders include only downwards" '! grep -q "^back-arrow" "$T/found"' "$(grep "^back-arrow" "$T/found")"
check "cblas_ and libxsmm_ only in src/gemm/blas*.c" '! grep -q "^BLAS outside" "$T/found"' "$(grep "^BLAS outside" "$T/found")"
check "nothing below src/cmd/ exits" '! grep -q "^exit below" "$T/found"' "$(grep "^exit below" "$T/found")"

# The checks can fail: a copy of the tree with one planted violation each.
cp -r "$ROOT/src" "$ROOT/include" "$T/"
mkdir -p "$T/bad" && mv "$T/src" "$T/include" "$T/bad/"
printf '#include "net.h"\n' >>"$T/bad/src/kernels/kernels.c"        # kernels -> model
printf '#include "linear.h"\n' >>"$T/bad/include/blas.h"            # blas <-> linear cycle
printf 'void f(void) { cblas_sgemm(0); }\n' >>"$T/bad/src/model/net.c"
printf 'void g(void) { exit(1); }\n' >>"$T/bad/src/io/data.c"
check_tree "$T/bad" >"$T/bad_found"
check "a planted cycle is found" 'grep -q "^include cycle" "$T/bad_found"' "$(cat "$T/bad_found")"
check "a planted back-arrow is found" 'grep -q "^back-arrow: kernels (kernels) includes net (model)" "$T/bad_found"' "$(cat "$T/bad_found")"
check "a planted BLAS call is found" 'grep -q "^BLAS outside its seam: .*src/model/net.c" "$T/bad_found"' "$(cat "$T/bad_found")"
check "a planted exit is found" 'grep -q "^exit below src/cmd/: .*src/io/data.c" "$T/bad_found"' "$(cat "$T/bad_found")"
finish
