#!/usr/bin/env bash
# deploy/two-instances/try-sentinel.sh: check the Sentinel variant of the
# two-instance recipe (replication.conf, sentinel.conf, the latch.env line)
# on one machine, loopback only, without root:
#
#  1. three redis-servers, each Debian's /etc/redis/redis.conf (when
#     present) with redis.conf and replication.conf from here included at
#     its end (addresses moved to 127.0.0.1 and free ports, the socket and
#     files to a temp dir, random passwords), the second and third
#     replicas of the first: replication through the `replica` user; the
#     latch user may run ROLE, INFO and WAIT, and still no CONFIG SET; the
#     replica and sentinel users cannot read latch's keys;
#  2. three redis-sentinels with sentinel.conf from here: they find each
#     other and the replicas, and can fail over (SENTINEL CKQUORUM);
#  3. `latch check` on the latch.env URL: every line fine, exit 0;
#  4. live: two latch instances on that URL; a sign-in on one is seen on
#     the other; the primary killed (SIGKILL): 503 meanwhile, then both
#     serve again by themselves on the primary Sentinel promoted; a
#     sign-out there holds on both; `latch check` names the new primary.
#
# Usage, from the repository root:
#
#   cargo build --release
#   deploy/two-instances/try-sentinel.sh [LATCH_BINARY]   # default target/release/latch
#
# Needs bash, redis-server, redis-sentinel, redis-cli, openssl, curl,
# python3 (to pick free ports). Stops what it starts (by PID); leaves its
# temp dir for inspection.
# Scripts handed to bash -c are single-quoted on purpose.
# shellcheck disable=SC2016
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$(dirname "$HERE")")
LATCH=$(realpath "${1:-$REPO/target/release/latch}")
PASSWORD='correct horse battery'

# shellcheck source=deploy/checks.sh
. "$REPO/deploy/checks.sh" # ok, fail, check, die, free_port, wait_for; counts $failures
for c in redis-server redis-sentinel redis-cli openssl curl python3; do
    command -v "$c" >/dev/null || die "missing $c"
done
[ -x "$LATCH" ] || die "no latch binary at $LATCH (cargo build --release)"

T=$(mktemp -d /tmp/latch-sentinel.XXXXXX)
echo "working in $T"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== 1. three Redis servers with redis.conf and replication.conf"
ADMIN_PW=$(openssl rand -hex 32)
LATCH_PW=$(openssl rand -hex 32)
REPLICA_PW=$(openssl rand -hex 32)
SENTINEL_PW=$(openssl rand -hex 32)
PORTS=("$(free_port)" "$(free_port)" "$(free_port)")
REDIS_PIDS=()
for n in 0 1 2; do
    dir=$T/redis$n
    mkdir -m 700 "$dir"
    sed -e "s#/run/redis/redis-server.sock#$dir/redis-server.sock#" \
        -e "s/CHANGE-ME-admin/$ADMIN_PW/" -e "s/CHANGE-ME-latch/$LATCH_PW/" \
        "$HERE/redis.conf" >"$dir/latch.conf"
    sed -e "s/^bind 10.0.0.5 127.0.0.1/bind 127.0.0.1/" -e "s/^port 6379/port ${PORTS[$n]}/" \
        -e "s/CHANGE-ME-replica/$REPLICA_PW/g" -e "s/CHANGE-ME-sentinel/$SENTINEL_PW/" \
        "$HERE/replication.conf" >"$dir/replication.conf"
    if [ "$n" != 0 ]; then
        echo "replicaof 127.0.0.1 ${PORTS[0]}" >>"$dir/replication.conf"
    fi
    if [ -r /etc/redis/redis.conf ]; then
        cp /etc/redis/redis.conf "$dir/redis.conf"
    else
        : >"$dir/redis.conf"
    fi
    printf 'include %s\ninclude %s\n' "$dir/latch.conf" "$dir/replication.conf" >>"$dir/redis.conf"
    redis-server "$dir/redis.conf" --daemonize no --supervised no \
        --dir "$dir" --logfile "$dir/log" --pidfile "$dir/pid" &
    REDIS_PIDS+=("$!")
    PIDS+=("$!")
done
admin() { redis-cli -p "$1" --user default --pass "$ADMIN_PW" --no-auth-warning "${@:2}"; }
as_latch() { redis-cli -p "$1" --user latch --pass "$LATCH_PW" --no-auth-warning "${@:2}"; }
online() { [ "$(admin "${PORTS[0]}" INFO replication | grep -c 'state=online')" = 2 ]; }
check "both replicas online, through the replica user" wait_for "replicas" 20 online
for n in 0 1 2; do
    check "redis$n: min-replicas-to-write 1, replica-priority 100" bash -c \
        '[ "$(redis-cli -p "$1" --user latch --pass "$2" --no-auth-warning CONFIG GET min-replicas-to-write | tail -1)" = 1 ] &&
         [ "$(redis-cli -p "$1" --user latch --pass "$2" --no-auth-warning CONFIG GET replica-priority | tail -1)" = 100 ]' \
        _ "${PORTS[$n]}" "$LATCH_PW"
done
check "the latch user: ROLE" [ "$(as_latch "${PORTS[0]}" ROLE | head -1)" = master ]
check "the latch user: INFO replication" bash -c '[[ $1 == *connected_slaves:2* ]]' _ "$(as_latch "${PORTS[0]}" INFO replication)"
check "the latch user: a write, then WAIT 1 1000 answers 1" \
    [ "$(printf 'SET latch:probe 1\nWAIT 1 1000\n' | as_latch "${PORTS[0]}" | tail -1)" = 1 ]
check "the latch user still cannot CONFIG SET" \
    bash -c '[[ $1 == NOPERM* ]]' _ "$(as_latch "${PORTS[0]}" CONFIG SET appendonly no)"
for user in replica sentinel; do
    pw_var=$(echo "$user" | tr a-z A-Z)_PW
    check "the $user user cannot read latch's keys" bash -c '[[ $1 == NOPERM* ]]' _ \
        "$(redis-cli -p "${PORTS[0]}" --user "$user" --pass "${!pw_var}" --no-auth-warning GET latch:probe)"
done
as_latch "${PORTS[0]}" DEL latch:probe >/dev/null

echo "== 2. three Sentinels with sentinel.conf"
SENTINEL_PORTS=("$(free_port)" "$(free_port)" "$(free_port)")
for n in 0 1 2; do
    dir=$T/sentinel$n
    mkdir -m 700 "$dir"
    sed -e "s/^port 26379/port ${SENTINEL_PORTS[$n]}/" -e "s/^bind 10.0.0.5 127.0.0.1/bind 127.0.0.1/" \
        -e "s#^pidfile .*#pidfile $dir/pid#" -e "s#^logfile .*#logfile $dir/log#" -e "s#^dir .*#dir $dir#" \
        -e "s/^sentinel monitor latch 10.0.0.5 6379 2/sentinel monitor latch 127.0.0.1 ${PORTS[0]} 2/" \
        -e "s/CHANGE-ME-sentinel/$SENTINEL_PW/" \
        "$HERE/sentinel.conf" >"$dir/sentinel.conf"
    redis-sentinel "$dir/sentinel.conf" &
    PIDS+=("$!")
done
quorum() {
    for port in "${SENTINEL_PORTS[@]}"; do
        redis-cli -p "$port" SENTINEL CKQUORUM latch | grep -q '^OK 3 usable' || return 1
        [ "$(redis-cli -p "$port" SENTINEL REPLICAS latch | grep -c '^name$')" = 2 ] || return 1
    done
}
check "the Sentinels find each other and both replicas (CKQUORUM: OK 3 usable)" \
    wait_for "the Sentinels" 30 quorum

echo "== 3. latch check on the latch.env URL"
STATE=$T/state
mkdir -m 700 "$STATE"
printf '%s\n' "$PASSWORD" | "$LATCH" adduser alice --users "$STATE/users.htpasswd" >/dev/null
URL=$(sed -n "s/^#LATCH_SESSIONS='\(redis+sentinel:.*\)'$/\1/p" "$HERE/latch.env")
[ -n "$URL" ] || die "no redis+sentinel:// line in latch.env"
URL=${URL/CHANGE-ME/$LATCH_PW}
URL=${URL/10.0.0.5:26379/127.0.0.1:${SENTINEL_PORTS[0]}}
URL=${URL/10.0.0.6:26379/127.0.0.1:${SENTINEL_PORTS[1]}}
URL=${URL/10.0.0.7:26379/127.0.0.1:${SENTINEL_PORTS[2]}}
export LATCH_SESSIONS=$URL
latch_check() { "$LATCH" check --users "$STATE/users.htpasswd" --www "$REPO/www" >"$T/check.out" 2>&1; }
check "latch check: exit 0" latch_check
cat "$T/check.out"
check "latch check: the primary named by Sentinel is the first server" \
    grep -q "primary 127.0.0.1:${PORTS[0]} (named by Sentinel): durable" "$T/check.out"
check "latch check: the password is not shown" bash -c '! grep -q "$1" "$2"' _ "$LATCH_PW" "$T/check.out"

echo "== 4. live: two latch instances, the primary killed"
A_PORT=$(free_port)
B_PORT=$(free_port)
start_latch() { # start_latch NAME PORT
    LATCH_ADDR=127.0.0.1:$2 "$LATCH" serve --users "$STATE/users.htpasswd" \
        --www "$REPO/www" 2>>"$T/latch-$1.log" &
    PIDS+=("$!")
    wait_for "latch $1" 10 grep -qs "latch listening" "$T/latch-$1.log" ||
        die "latch $1 did not start: $(cat "$T/latch-$1.log")"
}
start_latch A "$A_PORT"
start_latch B "$B_PORT"
at() { echo "http://127.0.0.1:$1"; }
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
curl -s -D "$T/login.h" -o /dev/null -d "username=alice&password=$PASSWORD" "$(at "$A_PORT")/login"
ALICE=$(sed -n 's/^set-cookie: sid=\([^;]*\);.*/\1/ip' "$T/login.h" | tr -d '\r')
check "sign-in on A" [ ${#ALICE} = 43 ]
check "alice served by B" [ "$(status -b "sid=$ALICE" "$(at "$B_PORT")/account")" = 200 ]
{
    kill -KILL "${REDIS_PIDS[0]}"
    wait "${REDIS_PIDS[0]}" || true
} 2>/dev/null
check "primary killed: 503 at once" [ "$(status -b "sid=$ALICE" "$(at "$A_PORT")/account")" = 503 ]
served() { [ "$(status -b "sid=$ALICE" "$(at "$1")/account")" = 200 ]; }
started=$SECONDS
check "A serves alice again by itself (within 30 s)" wait_for "A" 30 served "$A_PORT"
check "B serves alice again by itself" wait_for "B" 30 served "$B_PORT"
echo "   (back after about $((SECONDS - started)) s)"
curl -s -b "sid=$ALICE" "$(at "$B_PORT")/account" >"$T/account.html"
TOKEN=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$T/account.html" | head -1)
check "sign-out on B, on the new primary: 303" [ "$(status -b "sid=$ALICE" \
    -d "csrf_token=$TOKEN" "$(at "$B_PORT")/logout")" = 303 ]
for port in "$A_PORT" "$B_PORT"; do
    check "the old cookie at 127.0.0.1:$port: 303 to /login" \
        [ "$(status -b "sid=$ALICE" "$(at "$port")/account")" = 303 ]
done
check "latch check after the failover: exit 0" latch_check
grep "named by Sentinel\|replica(s) online" "$T/check.out" || true
check "latch check names another primary" \
    bash -c '! grep -q "primary 127.0.0.1:$1 " "$2"' _ "${PORTS[0]}" "$T/check.out"

echo
if [ "$failures" = 0 ]; then
    echo "all checks passed ($T)"
else
    echo "$failures checks failed ($T)"
    exit 1
fi
