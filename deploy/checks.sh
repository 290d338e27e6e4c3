# shellcheck shell=bash
# deploy/checks.sh: the few helpers both try-locally.sh scripts use, sourced
# by them (it runs nothing by itself). Each check prints one `ok` or `FAIL`
# line; the script ends by reporting $failures.

failures=0
ok() { printf 'ok    %s\n' "$*"; }
fail() {
    printf 'FAIL  %s\n' "$*"
    failures=$((failures + 1))
}
check() { # check DESCRIPTION COMMAND...: ok when COMMAND succeeds
    local what=$1
    shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
die() {
    echo "try-locally: $*" >&2
    exit 2
}
