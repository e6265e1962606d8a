#!/bin/sh
# test_readme_cli.sh: README's command-line block is each command's synopsis, as its --help
# prints it (flags.c generates both from the commands' flag tables): the block, line for
# line, equals the usage lines of train, sweep, sample, eval, gradcheck, plan and makemore.py's
# form (makemore -i FILE --help) in that order.
. "$(dirname "$0")/lib.sh"
README="$TESTS_DIR/../README.md"
for c in train sweep sample eval gradcheck plan "-i x"; do
    "$M" $c --help | awk '/^usage:$/ {on = 1; next} on && /^$/ {exit} on {sub(/^  /, ""); print}'
done >"$T/help"
awk '/^## The command line$/ {sec = 1; next} sec && /^```$/ {if (in_block) exit; in_block = 1; next}
     in_block {print}' "$README" >"$T/readme"
check "README's command-line block equals the commands' --help synopses" \
    'cmp -s "$T/help" "$T/readme" && [ -s "$T/help" ]' "$(diff "$T/readme" "$T/help" | head -20)"
for c in train sweep sample eval gradcheck plan "-i x"; do
    check "$c --help: every flag of its synopsis is described" \
        '"$M" $c --help >"$T/h" && for f in $(grep -o "\[--[a-z0-9-]*" "$T/h" | tr -d "[" | sort -u); do grep -q "^  [-a-z, ]*$f[ ,]" "$T/h" || { echo "$f undescribed"; exit 1; }; done' \
        "$("$M" $c --help | head -3)"
done
finish
