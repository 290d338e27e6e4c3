#!/usr/bin/env bash
# deploy/two-instances/try-locally.sh: check the files of deploy/two-instances/
# on one machine, loopback only, without systemd as PID 1 and without root:
#
#  1. redis-server with Debian's /etc/redis/redis.conf (when present) and
#     redis.conf from here included at its end (socket moved to a temp
#     dir, random passwords): the four durability settings as latch checks
#     them, the socket's mode, and the ACLs (no password: refused; the latch
#     user: its keys only, no FLUSHALL, KEYS or CONFIG SET, but CONFIG GET);
#  2. nginx -t on nginx.conf (temp prefix, a self-signed certificate, the
#     listen and upstream ports moved to free loopback ports);
#  3. caddy validate on Caddyfile (when caddy is installed);
#  4. systemd-analyze verify and security on latch@.service, as latch@8081;
#  5. live: two latch instances on that Redis (as the latch user, with the
#     unit's flags) behind that nginx, and curl through it from 127.0.0.2:
#     sign in, the account page served by both instances, the visitor's
#     address in both logs, sign out, the old cookie refused by both; one
#     instance stopped (a rolling restart): no request lost; Redis killed:
#     503 with Retry-After, and service back by itself once it restarts.
#
# Usage, from the repository root:
#
#   cargo build --release
#   deploy/two-instances/try-locally.sh [LATCH_BINARY]   # default target/release/latch
#
# Needs bash, redis-server, redis-cli, nginx, openssl, curl, python3 (to
# pick free ports); caddy and
# systemd-analyze are used when present. Picks free loopback ports; stops
# what it starts (by PID); leaves its temp dir for inspection.
# Scripts handed to bash -c are single-quoted on purpose.
# shellcheck disable=SC2016
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$(dirname "$HERE")")
LATCH=$(realpath "${1:-$REPO/target/release/latch}")
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HOST=latch.example.org
PASSWORD='correct horse battery'

# shellcheck source=deploy/checks.sh
. "$REPO/deploy/checks.sh" # ok, fail, check, die, free_port, wait_for; counts $failures
for c in redis-server redis-cli openssl curl python3 "$NGINX"; do
    command -v "$c" >/dev/null || die "missing $c"
done
[ -x "$LATCH" ] || die "no latch binary at $LATCH (cargo build --release)"

T=$(mktemp -d /tmp/latch-two.XXXXXX)
echo "working in $T"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== 1. Redis with redis.conf"
ADMIN_PW=$(openssl rand -hex 32)
LATCH_PW=$(openssl rand -hex 32)
SOCKET=$T/redis/redis-server.sock
mkdir -m 700 "$T/redis"
sed -e "s#/run/redis/redis-server.sock#$SOCKET#" \
    -e "s/CHANGE-ME-admin/$ADMIN_PW/" -e "s/CHANGE-ME-latch/$LATCH_PW/" \
    "$HERE/redis.conf" >"$T/redis/latch.conf"
if [ -r /etc/redis/redis.conf ]; then
    cp /etc/redis/redis.conf "$T/redis/redis.conf"
else
    : >"$T/redis/redis.conf"
fi
echo "include $T/redis/latch.conf" >>"$T/redis/redis.conf"
start_redis() {
    redis-server "$T/redis/redis.conf" --daemonize no --supervised no \
        --dir "$T/redis" --logfile "$T/redis/log" --pidfile "$T/redis/pid" &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    wait_for "redis-server" 10 test -S "$SOCKET"
}
start_redis
as_latch() { redis-cli -s "$SOCKET" --user latch --pass "$LATCH_PW" --no-auth-warning "$@"; }
for setting in "appendonly yes" "appendfsync always" "no-appendfsync-on-rewrite no" \
    "maxmemory-policy noeviction"; do
    name=${setting% *}
    got=$(as_latch CONFIG GET "$name" | tail -1)
    check "CONFIG GET $name: $got" [ "$got" = "${setting#* }" ]
done
check "the socket is 770 (group redis may connect)" [ "$(stat -c %a "$SOCKET")" = 770 ]
check "without a password: NOAUTH" \
    bash -c '[[ $(redis-cli -s "$1" PING) == NOAUTH* ]]' _ "$SOCKET"
check "the latch user writes latch:* keys" [ "$(as_latch SET latch:probe 1)" = OK ]
check "the latch user cannot touch other keys" bash -c '[[ $1 == NOPERM* ]]' _ "$(as_latch SET other 1)"
check "the latch user cannot FLUSHALL" bash -c '[[ $1 == NOPERM* ]]' _ "$(as_latch FLUSHALL)"
check "the latch user cannot KEYS" bash -c '[[ $1 == NOPERM* ]]' _ "$(as_latch KEYS '*')"
check "the latch user cannot CONFIG SET" \
    bash -c '[[ $1 == NOPERM* ]]' _ "$(as_latch CONFIG SET appendonly no)"
as_latch DEL latch:probe >/dev/null

echo "== 2. nginx -t on nginx.conf"
A_PORT=$(free_port)
B_PORT=$(free_port)
HTTPS_PORT=$(free_port)
HTTP_PORT=$(free_port)
mkdir -p "$T/nginx/temp" "$T/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=$HOST" -addext "subjectAltName=DNS:$HOST" \
    -keyout "$T/tls/privkey.pem" -out "$T/tls/fullchain.pem" 2>/dev/null
sed -e "s/^\( *\)listen 443 ssl http2;/\1listen 127.0.0.1:$HTTPS_PORT ssl http2;/" \
    -e "s/^\( *\)listen 80;/\1listen 127.0.0.1:$HTTP_PORT;/" \
    -e '/listen \[::\]/d' \
    -e "s#/etc/letsencrypt/live/$HOST/#$T/tls/#" \
    -e "s#/var/www/letsencrypt#$T/nginx/acme#" \
    -e "s/server 127.0.0.1:8081;/server 127.0.0.1:$A_PORT;/" \
    -e "s/server 127.0.0.1:8082;/server 127.0.0.1:$B_PORT;/" \
    "$HERE/nginx.conf" >"$T/nginx/site.conf"
cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log notice;
events { worker_connections 64; }
http {
    log_format upstream '\$remote_addr "\$request" \$status upstream=\$upstream_addr';
    access_log $T/nginx/access.log upstream;
    client_body_temp_path $T/nginx/temp/body;
    proxy_temp_path $T/nginx/temp/proxy;
    fastcgi_temp_path $T/nginx/temp/fastcgi;
    uwsgi_temp_path $T/nginx/temp/uwsgi;
    scgi_temp_path $T/nginx/temp/scgi;
    include $T/nginx/site.conf;
}
EOF
nginx_in_t() { "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" "$@"; }
check "nginx -t: deploy/two-instances/nginx.conf (ports and paths moved)" nginx_in_t -q -t

echo "== 3. caddy validate on Caddyfile"
if command -v caddy >/dev/null; then
    check "caddy validate: deploy/two-instances/Caddyfile" \
        bash -c 'caddy validate --config "$1" --adapter caddyfile >"$2" 2>&1' \
        _ "$HERE/Caddyfile" "$T/caddy-validate.log"
else
    echo "(caddy not installed: skipped)"
fi

echo "== 4. systemd-analyze on latch@.service"
if command -v systemd-analyze >/dev/null; then
    mkdir "$T/unit"
    # verify insists that ExecStart's binary exists: a copy pointing at the
    # binary under test, named as an instance so that %i expands.
    sed "s#/usr/local/bin/latch#$LATCH#" "$HERE/latch@.service" >"$T/unit/latch@8081.service"
    verify_out=$(systemd-analyze verify "$T/unit/latch@8081.service" 2>&1) || true
    check "systemd-analyze verify latch@8081.service: no complaints" [ -z "$verify_out" ]
    [ -z "$verify_out" ] || echo "$verify_out"
    systemd-analyze security --offline=yes "$T/unit/latch@8081.service" 2>&1 | tail -1
else
    echo "(systemd-analyze not installed: skipped)"
fi

echo "== 5. live: nginx, two latch instances, one Redis"
STATE=$T/state # /var/lib/latch, shared by the two instances of one host
mkdir -m 700 "$STATE"
printf '%s\n' "$PASSWORD" | "$LATCH" adduser alice --users "$STATE/users.htpasswd" >/dev/null
export LATCH_SESSIONS="redis+unix://$SOCKET?db=0&user=latch&pass=$LATCH_PW"
export LATCH_TRUSTED_PROXY=127.0.0.1
start_latch() { # start_latch NAME PORT: as the unit runs it
    LATCH_ADDR=127.0.0.1:$2 "$LATCH" serve --users "$STATE/users.htpasswd" \
        --www "$REPO/www" --secure-cookies 2>>"$T/latch-$1.log" &
    local pid=$!
    eval "LATCH_$1=$pid"
    PIDS+=("$pid")
    for _ in $(seq 100); do
        grep -qs "latch listening" "$T/latch-$1.log" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$T/latch-$1.log" >&2
    die "latch $1 did not start (see above)"
}
start_latch A "$A_PORT"
start_latch B "$B_PORT"
"$NGINX" -q -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" &
PIDS+=("$!")
wait_for nginx 10 curl -sk -o /dev/null "https://127.0.0.1:$HTTPS_PORT/"

BASE=https://$HOST:$HTTPS_PORT
web() { # curl through nginx, from 127.0.0.2, as a browser on the site
    curl -sk --resolve "$HOST:$HTTPS_PORT:127.0.0.1" --interface 127.0.0.2 \
        -H "Origin: $BASE" "$@"
}
status() { web -o /dev/null -w '%{http_code}' "$@"; }
cookie_of() { sed -n 's/^set-cookie: __Host-sid=\([^;]*\);.*/\1/ip' "$1" | tr -d '\r'; }

web -D "$T/login.h" -o /dev/null -d "username=alice&password=$PASSWORD" "$BASE/login"
ALICE=$(cookie_of "$T/login.h")
check "sign-in through nginx: 303 and a __Host-sid cookie" [ ${#ALICE} = 43 ]
for i in 1 2 3 4; do
    web -H "Cookie: __Host-sid=$ALICE" "$BASE/account" >"$T/account-$i.html"
done
check "the account page four times, alice each time" \
    [ "$(grep -l 'id="user">alice<' "$T"/account-*.html | wc -l)" = 4 ]
sleep 0.3 # latch writes access lines out every 100 ms
for name in A B; do
    check "instance $name served the account page" \
        grep -q "access GET /account 200" "$T/latch-$name.log"
    check "instance $name saw the visitor's address, not nginx's" \
        grep -q "client=127.0.0.2" "$T/latch-$name.log"
done
TOKEN=$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' "$T/account-1.html" | head -1)
web -D "$T/logout.h" -o /dev/null -H "Cookie: __Host-sid=$ALICE" \
    -d "csrf_token=$TOKEN" "$BASE/logout"
check "sign-out through nginx: 303" grep -q '^HTTP/[0-9.]* 303' "$T/logout.h"
for i in 1 2; do
    check "the old cookie through nginx ($i): 303 to /login" \
        [ "$(status -H "Cookie: __Host-sid=$ALICE" "$BASE/account")" = 303 ]
done
for port in "$A_PORT" "$B_PORT"; do
    check "the old cookie at 127.0.0.1:$port directly: 303" [ "$(curl -s -o /dev/null \
        -w '%{http_code}' -H "Cookie: __Host-sid=$ALICE" "http://127.0.0.1:$port/account")" = 303 ]
done

# A rolling restart: one instance down, every request goes to the other.
kill -TERM "$LATCH_A"
wait "$LATCH_A" || true
lost=0
for i in 1 2 3 4 5 6; do
    [ "$(status "$BASE/login")" = 200 ] || lost=$((lost + 1))
    # A wrong password for a new name each time: 422, never the throttle's 429.
    [ "$(status -d "username=nobody$i&password=wrong" "$BASE/login")" = 422 ] || lost=$((lost + 1))
done
check "instance A stopped: 12 requests through nginx, $lost not answered by B" [ "$lost" = 0 ]
start_latch A "$A_PORT"

# Redis killed, then back on the same socket and data.
web -D "$T/login2.h" -o /dev/null -d "username=alice&password=$PASSWORD" "$BASE/login"
ALICE=$(cookie_of "$T/login2.h")
{
    kill -KILL "$REDIS_PID"
    wait "$REDIS_PID" || true
} 2>/dev/null # no "Killed" notice
web -D "$T/down.h" -o /dev/null -H 'Accept: text/html' -H "Cookie: __Host-sid=$ALICE" "$BASE/account"
check "Redis down: 503" grep -q '^HTTP/[0-9.]* 503' "$T/down.h"
check "Redis down: Retry-After" grep -qi '^retry-after: [0-9]' "$T/down.h"
start_redis
signed_in() { [ "$(status -H "Cookie: __Host-sid=$ALICE" "$BASE/account")" = 200 ]; }
check "Redis back: alice is served again, by itself, within 10 s" wait_for "service" 10 signed_in
both_signed_in() { signed_in && signed_in; } # nginx takes turns
check "Redis back: both instances serve alice" both_signed_in

for name in A B; do
    pid_var=LATCH_$name
    kill -TERM "${!pid_var}"
    check "instance $name exits 0 on SIGTERM" wait "${!pid_var}"
done

echo
if [ "$failures" = 0 ]; then
    echo "all checks passed ($T)"
else
    echo "$failures checks failed ($T)"
    exit 1
fi
