#!/bin/sh
# A cross-check of the benchmark's own load generator with wrk (not needed
# by the benchmark): GET /account signed in, against latch and against the
# same-bytes server, in turns, with the server's CPU per request and, where
# perf may read the kernel's tracepoints (root, or perf_event_paranoid -1),
# its futex calls (cross-thread wake-ups) and all system calls per request.
#
#   cargo build --release --bin latch --example hello
#   sh examples/bench/wrk.sh [ROUNDS]        # 5 rounds of 5 s each by default
#   LATCH_BENCH_BINARY=/tmp/latch-before sh examples/bench/wrk.sh   # another build
#
# wrk -t2 -c64 -d5s, one session for every connection.
set -eu
rounds=${1:-5}
latch=${LATCH_BENCH_BINARY:-target/release/latch}
hello=target/release/examples/hello
dir=$(mktemp -d)
trap 'kill $latch_pid $same_pid 2>/dev/null; rm -rf "$dir"' EXIT

echo bench-password | $latch adduser bench --users="$dir/users.htpasswd" >/dev/null
$latch serve --addr=127.0.0.1:18090 --sessions="$dir/sessions" \
    --users="$dir/users.htpasswd" --login-throttle=0 --max-connections=4096 \
    2>/dev/null &
latch_pid=$!
sleep 1
sid=$(curl -s -o /dev/null -D - -d 'username=bench&password=bench-password' \
    http://127.0.0.1:18090/login | sed -n 's/^set-cookie: \(sid=[^;]*\).*/\1/p')
# curl -i writes the response as it came: status line, headers, body.
curl -s -i -H "Cookie: $sid" http://127.0.0.1:18090/account >"$dir/account.http"
$hello 127.0.0.1:18091 "$dir/account.http" 2>/dev/null &
same_pid=$!
sleep 1

# CPU time so far in ticks of 1/100 s: /proc/PID/stat fields 14 and 15
# (proc(5)), counted after the command name's closing parenthesis.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f12,13 | tr ' ' +; }

# Counts system calls with perf, when it may.
counting=no
if perf stat -e syscalls:sys_enter_futex true >/dev/null 2>&1; then counting=yes; fi

# One wrk run against port $2, served by process $1: "req/s µs-per-request
# futex-per-request syscalls-per-request" (the last two "-" without perf).
measure() {
    before=$(($(cpu_ticks "$1")))
    if [ $counting = yes ]; then
        perf stat -x, -e syscalls:sys_enter_futex,raw_syscalls:sys_enter -p "$1" \
            -o "$dir/perf.out" -- sleep 5 &
        perf_pid=$!
    fi
    wrk -t2 -c64 -d5s -H "Cookie: $sid" "http://127.0.0.1:$2/account" >"$dir/wrk.out"
    after=$(($(cpu_ticks "$1")))
    futex=- calls=-
    if [ $counting = yes ]; then
        wait $perf_pid
        futex=$(awk -F, '/sys_enter_futex/ { print $1 }' "$dir/perf.out")
        calls=$(awk -F, '/raw_syscalls/ { print $1 }' "$dir/perf.out")
    fi
    grep -i 'non-2xx\|socket errors' "$dir/wrk.out" >&2 || true
    awk -v ticks=$((after - before)) -v futex="$futex" -v calls="$calls" '
        / requests in / { n = $1 }
        /^Requests\/sec/ { rate = $2 }
        END {
            printf "%.0f %.1f", rate, ticks * 10000 / n
            if (futex == "-") printf " - -"; else printf " %.3f %.2f", futex / n, calls / n
        }' "$dir/wrk.out"
}

for _ in $(seq "$rounds"); do
    set -- $(measure $latch_pid 18090) $(measure $same_pid 18091)
    awk -v l="$1" -v lc="$2" -v lf="$3" -v ls="$4" -v s="$5" -v sc="$6" -v sf="$7" -v ss="$8" 'BEGIN {
        printf "latch %6.0f req/s %5.1f µs/req | same bytes %6.0f req/s %5.1f µs/req | %.2f (CPU %.2f)",
            l, lc, s, sc, l / s, sc / lc
        printf " | futex/req %s vs %s, syscalls/req %s vs %s\n", lf, sf, ls, ss }'
done
