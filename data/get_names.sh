#!/bin/sh
# get_names.sh: obtains data/names.txt (Karpathy's makemore names, 32033 lines) and
# verifies it against data/names.txt.sha256. Run from the repository root
# (`make data/names.txt` does). Sources, in order:
#   1. data/names.txt already there with the right checksum: nothing to do;
#   2. $NAMES_SRC, or ../shared/data/names.txt, when present: copied;
#   3. a download from GitHub with curl or wget.
# The file lands under a temporary name and is moved into place only once its
# checksum matches; on a mismatch the temporary is deleted and the script exits 1.
set -u

URL=https://raw.githubusercontent.com/karpathy/makemore/master/names.txt
DEST=data/names.txt
SUMS=data/names.txt.sha256

die() { echo "get_names.sh: $*" >&2; exit 1; }

[ -f "$SUMS" ] || die "$SUMS is missing (run from the repository root)"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not installed"
expected=$(cut -d' ' -f1 "$SUMS")

# sha256 of a file, or nothing when it is unreadable.
sum_of() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

if [ -f "$DEST" ] && [ "$(sum_of "$DEST")" = "$expected" ]; then
    exit 0
fi

tmp=$DEST.$$.tmp   # matches /data/*.tmp in .gitignore
trap 'rm -f "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

src=${NAMES_SRC:-../shared/data/names.txt}
if [ -f "$src" ]; then
    echo "get_names.sh: copying $src" >&2
    from=$src
    cp "$src" "$tmp" || die "cannot copy $src"
elif command -v curl >/dev/null 2>&1; then
    echo "get_names.sh: downloading $URL" >&2
    from=$URL
    curl -fsSL --retry 2 -o "$tmp" "$URL" || die "download of $URL failed (curl)"
elif command -v wget >/dev/null 2>&1; then
    echo "get_names.sh: downloading $URL" >&2
    from=$URL
    wget -q -O "$tmp" "$URL" || die "download of $URL failed (wget)"
else
    die "no $src, and neither curl nor wget to download $URL"
fi

got=$(sum_of "$tmp")
if [ "$got" != "$expected" ]; then
    rm -f "$tmp"
    die "checksum mismatch for names.txt from $from: got ${got:-nothing}, expected $expected; nothing written"
fi
mv -f "$tmp" "$DEST" || die "cannot move the file into $DEST"
echo "get_names.sh: $DEST ready (sha256 ok)" >&2
