# shellcheck shell=bash
# deploy/checks.sh: the few helpers the try-*.sh scripts use, sourced by
# them (it runs nothing by itself). Each check prints one `ok` or `FAIL`
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
# free_port: a TCP port on 127.0.0.1 that no one listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for DESCRIPTION SECONDS COMMAND...: retries COMMAND for that long.
wait_for() {
    local what=$1 seconds=$2
    shift 2
    for _ in $(seq $((seconds * 10))); do
        if "$@" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "gave up waiting for $what" >&2
    return 1
}
