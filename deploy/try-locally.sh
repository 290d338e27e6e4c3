#!/usr/bin/env bash
# deploy/try-locally.sh: check the files in deploy/ on one machine, loopback
# only, without systemd as PID 1 (a container, CI):
#
#  1. systemd-analyze verify and security on deploy/latch.service;
#  2. the first certificate, in the order deploy/README.md gives: nginx -t
#     on deploy/nginx-http-only.conf (and on deploy/nginx.conf, which must
#     fail while no certificate exists); nginx with the HTTP-only file serves
#     the ACME challenge directory; certbot certonly --webroot gets a
#     certificate through it from a local ACME server (Debian's pebble, when
#     pebble and certbot are installed; otherwise a self-signed certificate
#     stands in, in certbot's layout); then nginx -t on deploy/nginx.conf with
#     that certificate, and caddy validate on deploy/Caddyfile (when caddy is
#     installed);
#  3. latch started with the unit's own ExecStart line, inside an imitation
#     of the unit's sandbox: a private mount namespace with / read-only and
#     only the state dir writable, /root and /home hidden, /proc with
#     subset=pid, an unprivileged UID with no capabilities and no_new_privs,
#     umask 077, and a seccomp filter built from systemd's own
#     @system-service minus @privileged lists (EPERM for anything else);
#  4. nginx, configured by deploy/nginx.conf, in front of it with a
#     self-signed certificate; curl signs in and out through it and checks
#     the cookie, the forwarded client address and the throttle; its port 80
#     block serves the challenge directory, and certbot renew (with pebble)
#     renews through it;
#  5. SIGTERM to latch: it must exit 0.
#
# Usage, from the repository root:
#
#   cargo build --release
#   deploy/try-locally.sh [LATCH_BINARY]   # as root; default target/release/latch
#   STRACE=1 deploy/try-locally.sh         # also: every system call latch
#                                          # made, checked against the filter
#
# Needs root, bash, nginx, openssl, curl, python3 with libseccomp.so.2,
# systemd-analyze (Debian package systemd), unshare and setpriv
# (util-linux); strace for STRACE=1; certbot and pebble (Debian packages)
# for the certificate steps. Uses 127.0.0.1:8080 (latch, as in the unit),
# 127.0.0.1:8443 and 127.0.0.1:8081 (nginx), with pebble also
# 127.0.0.1:14000, :15000, :8053 and :8055, and a directory under /tmp; no
# other network. Stops what it started and leaves the directory for
# inspection.

# Scripts handed to sh -c and bash -c are single-quoted on purpose.
# shellcheck disable=SC2016
set -euo pipefail

DEPLOY=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$DEPLOY")
LATCH=$(realpath "${1:-$REPO/target/release/latch}")
SERVICE_UID=61184 # the first UID systemd hands out with DynamicUser=yes
HOST=latch.example.org
BASE=https://$HOST:8443
PASSWORD='correct horse battery'

# shellcheck source=deploy/checks.sh
. "$DEPLOY/checks.sh" # ok, fail, check, die; counts $failures

[ "$(id -u)" = 0 ] || die "run as root (nginx, unshare, setpriv)"
for c in nginx openssl curl python3 systemd-analyze unshare setpriv; do
    command -v "$c" >/dev/null || die "missing $c"
done
[ -x "$LATCH" ] || die "no latch binary at $LATCH (cargo build --release)"
PEBBLE=
if command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null &&
    command -v certbot >/dev/null; then
    PEBBLE=1
fi
for port in 8080 8081 8443 ${PEBBLE:+14000 15000 8055}; do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
        die "127.0.0.1:$port is in use"
    fi
done

T=$(mktemp -d /tmp/latch-try.XXXXXX)
chmod 755 "$T"
STATE=$T/state # stands for /var/lib/latch
WWW=$T/www     # stands for /usr/local/share/latch/www
mkdir -m 700 "$STATE"
chown "$SERVICE_UID:$SERVICE_UID" "$STATE"
cp -r "$REPO/www" "$WWW"
echo "working in $T"

LATCH_PID=
NGINX_STARTED=
ACME_PIDS=()
cleanup() {
    if [ -n "$NGINX_STARTED" ] && [ -s "$T/nginx.pid" ]; then
        kill -QUIT "$(cat "$T/nginx.pid")" 2>/dev/null || true
    fi
    if [ -n "$LATCH_PID" ]; then kill -TERM "$LATCH_PID" 2>/dev/null || true; fi
    for pid in "${ACME_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

echo "== 1. the unit"
UNIT=$DEPLOY/latch.service
if [ -x /usr/local/bin/latch ]; then
    VERIFY_UNIT=$UNIT
else
    # verify insists that ExecStart's binary exists: check a copy pointing
    # at the binary under test; nothing else differs.
    mkdir "$T/unit"
    sed "s#/usr/local/bin/latch#$LATCH#" "$UNIT" >"$T/unit/latch.service"
    VERIFY_UNIT=$T/unit/latch.service
    echo "(/usr/local/bin/latch missing: verifying $VERIFY_UNIT, ExecStart -> $LATCH)"
fi
# verify exits 0 on unknown keys and only prints them: any output is a failure.
verify_out=$(systemd-analyze verify "$VERIFY_UNIT" 2>&1) || true
check "systemd-analyze verify: no complaints" [ -z "$verify_out" ]
[ -z "$verify_out" ] || echo "$verify_out"
systemd-analyze security --offline=yes "$VERIFY_UNIT" 2>&1 | tail -1

echo "== 2. the first certificate, and the proxy configurations"
mkdir "$T/nginx-temp"
wrapper() { # wrapper SERVER_BLOCKS: the nginx.conf around a file of deploy/
    cat <<EOF
user www-data;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log info;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    log_format client '\$remote_addr "\$request" \$status host=\$http_host';
    access_log $T/nginx-access.log client;
    client_body_temp_path $T/nginx-temp/body;
    proxy_temp_path $T/nginx-temp/proxy;
    fastcgi_temp_path $T/nginx-temp/fastcgi;
    uwsgi_temp_path $T/nginx-temp/uwsgi;
    scgi_temp_path $T/nginx-temp/scgi;
    include $1;
}
EOF
}
# loopback SRC DST: a copy listening on loopback ports only (80 -> 8081,
# 443 -> 8443, no IPv6), with the webroot and certificates under $T.
ACME_ROOT=$T/acme                  # stands for /var/www/letsencrypt
LE=$T/letsencrypt                  # stands for /etc/letsencrypt
loopback() {
    sed -e 's/^\( *\)listen 443 ssl http2;/\1listen 127.0.0.1:8443 ssl http2;/' \
        -e 's/^\( *\)listen 80;/\1listen 127.0.0.1:8081;/' \
        -e '/listen \[::\]/d' \
        -e "s#/var/www/letsencrypt#$ACME_ROOT#" \
        -e "s#/etc/letsencrypt/#$LE/#" "$1" >"$2"
}
stop_nginx() {
    local pid
    pid=$(cat "$T/nginx.pid")
    kill -QUIT "$pid"
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    NGINX_STARTED=
}

# nginx -t binds its listen addresses (0.0.0.0:80 ...): the files as they
# are are tested in an empty network namespace.
wrapper "$DEPLOY/nginx-http-only.conf" >"$T/nginx-http-only-asis.conf"
check "nginx -t, deploy/nginx-http-only.conf as it is" \
    unshare --net nginx -q -t -c "$T/nginx-http-only-asis.conf"
wrapper "$DEPLOY/nginx.conf" >"$T/nginx-nocert.conf"
check "nginx -t refuses deploy/nginx.conf before the certificate exists" \
    bash -c '! unshare --net nginx -q -t -c "$1" 2>"$2" && grep -q "cannot load certificate" "$2"' \
    _ "$T/nginx-nocert.conf" "$T/nginx-nocert.log"

# Step 1 of the README: the HTTP-only server, serving the webroot.
mkdir -p "$ACME_ROOT/.well-known/acme-challenge"
echo "probe $$" >"$ACME_ROOT/.well-known/acme-challenge/probe"
loopback "$DEPLOY/nginx-http-only.conf" "$T/latch-nginx-http-only-live.conf"
wrapper "$T/latch-nginx-http-only-live.conf" >"$T/nginx-http-only-live.conf"
nginx -c "$T/nginx-http-only-live.conf"
NGINX_STARTED=1
http80() { curl -s -H "Host: $HOST" "$@"; }
check "HTTP-only: a file in the challenge directory is served" \
    [ "$(http80 http://127.0.0.1:8081/.well-known/acme-challenge/probe)" = "probe $$" ]
check "HTTP-only: anything else redirects to https://" \
    [ "$(http80 -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1:8081/account)" = "301 https://$HOST/account" ]

# Step 2: certbot certonly --webroot, against a local ACME server.
certbot_local() { # certbot with its files under $T, talking to pebble
    certbot "$@" --server https://127.0.0.1:14000/dir --no-verify-ssl \
        --config-dir "$LE" --work-dir "$T/certbot-work" --logs-dir "$T/certbot-logs" \
        --non-interactive >>"$T/certbot.log" 2>&1
}
if [ -n "$PEBBLE" ]; then
    # pebble-challtestsrv answers every DNS name with 127.0.0.1, so pebble
    # fetches http://latch.example.org:8081/.well-known/acme-challenge/...
    # from the nginx above (pebble's httpPort stands for port 80).
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$T/pebble-key.pem" -out "$T/pebble-cert.pem" 2>/dev/null
    cat >"$T/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "$T/pebble-cert.pem", "privateKey": "$T/pebble-key.pem",
  "httpPort": 8081, "tlsPort": 5001, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF
    pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 127.0.0.1:8053 \
        -http01 "" -https01 "" -tlsalpn01 "" -management 127.0.0.1:8055 >"$T/challtestsrv.log" 2>&1 &
    ACME_PIDS+=($!)
    PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
        pebble -config "$T/pebble.json" -dnsserver 127.0.0.1:8053 >"$T/pebble.log" 2>&1 &
    ACME_PIDS+=($!)
    for _ in $(seq 50); do
        curl -sk -o /dev/null https://127.0.0.1:14000/dir && break
        sleep 0.1
    done
    check "certbot certonly --webroot: a certificate from the local ACME server" \
        certbot_local certonly --webroot -w "$ACME_ROOT" -d "$HOST" \
        --agree-tos -m "ops@$HOST" --deploy-hook "echo reload >>$T/deploy-hook.log"
    check "pebble fetched the challenge through nginx" \
        grep -q "GET /.well-known/acme-challenge/[^ ]* HTTP/1.1\" 200 host=$HOST:8081" "$T/nginx-access.log"
    check "the deploy hook (systemctl reload nginx on a host) ran once" \
        [ "$(cat "$T/deploy-hook.log" 2>/dev/null)" = reload ]
else
    echo "(pebble, pebble-challtestsrv or certbot missing: a self-signed certificate stands in)"
    mkdir -p "$LE/live/$HOST"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$HOST" \
        -addext "subjectAltName=DNS:$HOST" \
        -keyout "$LE/live/$HOST/privkey.pem" -out "$LE/live/$HOST/fullchain.pem" 2>/dev/null
fi
check "the certificate files are where deploy/nginx.conf looks (certbot's layout)" \
    test -s "$LE/live/$HOST/fullchain.pem" -a -s "$LE/live/$HOST/privkey.pem"
stop_nginx

# Step 3: deploy/nginx.conf. Only the certificate paths differ from the
# file ...
sed "s#/etc/letsencrypt/#$LE/#" "$DEPLOY/nginx.conf" >"$T/latch-nginx-asis.conf"
# ... and for the live run also the listen lines and the webroot.
loopback "$DEPLOY/nginx.conf" "$T/latch-nginx-live.conf"
wrapper "$T/latch-nginx-asis.conf" >"$T/nginx-asis.conf"
wrapper "$T/latch-nginx-live.conf" >"$T/nginx-live.conf"
check "nginx -t, deploy/nginx.conf as it is (certificate paths aside)" \
    unshare --net nginx -q -t -c "$T/nginx-asis.conf"
check "nginx -t, loopback copy" nginx -q -t -c "$T/nginx-live.conf"
if command -v caddy >/dev/null; then
    check "caddy validate deploy/Caddyfile" \
        caddy validate --config "$DEPLOY/Caddyfile" --adapter caddyfile 2>"$T/caddy-validate.log"
else
    echo "(caddy not installed: Caddyfile not checked)"
fi

echo "== 3. latch, sandboxed like the unit"
systemd-analyze syscall-filter @system-service >/dev/null # fails early if unsupported
expand() { # the system calls in a systemd group, nested groups expanded
    systemd-analyze syscall-filter "$1" | tail -n +2 | sed 's/^ *//' |
        grep -v -e '^#' -e '^$' | while read -r name; do
        case $name in
        @*) expand "$name" ;;
        *) echo "$name" ;;
        esac
    done
}
expand @system-service | sort -u >"$T/system-service.txt"
expand @privileged | sort -u >"$T/privileged.txt"
comm -23 "$T/system-service.txt" "$T/privileged.txt" >"$T/allowed.txt"
cat >"$T/seccomp-exec.py" <<'EOF'
# seccomp-exec.py ALLOWED CMD...: exec CMD under an allow-list filter like
# systemd's SystemCallFilter= with SystemCallErrorNumber=EPERM and
# SystemCallArchitectures=native, through libseccomp (which systemd uses).
import ctypes, errno, os, sys
lib = ctypes.CDLL("libseccomp.so.2")
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
names = [line.strip() for line in open(sys.argv[1]) if line.strip()]
# Allowed implicitly by systemd (systemd.exec(5), SystemCallFilter=).
names += ["execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn",
          "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday",
          "nanosleep", "time"]
ctx = lib.seccomp_init(0x00050000 | errno.EPERM)  # SCMP_ACT_ERRNO(EPERM)
for name in sorted(set(names)):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0:  # a call of this architecture
        lib.seccomp_rule_add(ctx, 0x7FFF0000, nr, 0)  # SCMP_ACT_ALLOW
if lib.seccomp_load(ctx) != 0:
    sys.exit("seccomp_load failed")
os.execv(sys.argv[2], sys.argv[2:])
EOF

# as_service PIDFILE CMD...: CMD as latch.service would run it (approximately:
# see the comment at the top; PrivateDevices, PrivateTmp, the address
# families, MemoryMax and the rest are not imitated).
as_service() {
    local pidfile=$1
    shift
    unshare --mount --propagation private -- /bin/sh -euc '
        T=$1 STATE=$2 SERVICE_UID=$3 PIDFILE=$4
        shift 4
        echo $$ >"$PIDFILE"                              # every step below execs
        mount -o remount,bind,ro /                       # ProtectSystem=strict
        mount --bind "$STATE" "$STATE"                   # StateDirectory=latch
        mount -o remount,bind,rw "$STATE"
        mount -t tmpfs -o ro,mode=0755 tmpfs /root       # ProtectHome=yes
        mount -t tmpfs -o ro,mode=0755 tmpfs /home
        mount -t proc -o subset=pid,hidepid=invisible proc /proc  # ProcSubset=, ProtectProc=
        umask 077                                        # UMask=0077
        exec setpriv --reuid="$SERVICE_UID" --regid="$SERVICE_UID" --clear-groups \
            --inh-caps=-all --bounding-set=-all --no-new-privs \
            /usr/bin/python3 "$T/seccomp-exec.py" "$T/allowed.txt" "$@"
    ' sh "$T" "$STATE" "$SERVICE_UID" "$pidfile" "$@"
}

# The unit's ExecStart, continuation lines joined, paths moved under $T.
EXEC=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$UNIT" | sed -e 's/^ExecStart=//' -e 's/\\$//' | tr -s ' \n' ' ')
EXEC=${EXEC//\/usr\/local\/bin\/latch/$LATCH}
EXEC=${EXEC//\/var\/lib\/latch/$STATE}
EXEC=${EXEC//\/usr\/local\/share\/latch\/www/$WWW}
echo "ExecStart here: $EXEC"
read -r -a EXEC_ARGV <<<"$EXEC"

# The first user, before the first start (so no admin is bootstrapped).
printf '%s\n' "$PASSWORD" | as_service "$T/adduser.pid" "$LATCH" adduser alice --users "$STATE/users.htpasswd" ||
    die "latch adduser failed in the sandbox"

STRACE_PREFIX=()
if [ "${STRACE:-0}" = 1 ]; then
    command -v strace >/dev/null || die "STRACE=1 needs strace"
    STRACE_PREFIX=(strace -f -qq -o "$T/strace.log")
fi
"${STRACE_PREFIX[@]}" bash -c "$(declare -f as_service); T=$T STATE=$STATE SERVICE_UID=$SERVICE_UID as_service \"\$@\"" \
    sh "$T/latch.pid" "${EXEC_ARGV[@]}" 2>"$T/latch.log" &
LAUNCHER=$!
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:8080/healthz" && break
    sleep 0.1
done
LATCH_PID=$(cat "$T/latch.pid")
check "latch answers /healthz directly (pid $LATCH_PID)" \
    curl -sf -o /dev/null http://127.0.0.1:8080/healthz

echo "== 4. through nginx"
nginx -c "$T/nginx-live.conf"
NGINX_STARTED=1
for _ in $(seq 50); do
    curl -sk -o /dev/null --resolve "$HOST:8443:127.0.0.1" "$BASE/healthz" && break
    sleep 0.1
done
# A client at 127.0.0.2, say; nginx connects to latch from 127.0.0.1.
c() { curl -sS -k --resolve "$HOST:8443:127.0.0.1" --interface "${FROM:-127.0.0.2}" "$@"; }
JAR=$T/cookies
status() { c -o /dev/null -w '%{http_code}' "$@"; }

check "GET /healthz through nginx: 200 ok" [ "$(c "$BASE/healthz")" = ok ]
check "plain HTTP redirects to https://" \
    [ "$(http80 -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1:8081/account)" = "301 https://$HOST/account" ]
check "plain HTTP serves the challenge directory (renewals)" \
    [ "$(http80 http://127.0.0.1:8081/.well-known/acme-challenge/probe)" = "probe $$" ]
if [ -n "$PEBBLE" ]; then
    check "certbot renew, through deploy/nginx.conf's port 80 block" \
        certbot_local renew --force-renewal --no-random-sleep-on-renew
    check "the deploy hook ran again" [ "$(wc -l <"$T/deploy-hook.log")" = 2 ]
fi

login_head=$(c -D - -o /dev/null -c "$JAR" -b "$JAR" -d "username=alice&password=correct+horse+battery" "$BASE/login")
cookie_line=$(grep -i '^set-cookie:' <<<"$login_head" | tr -d '\r')
echo "   login: $(head -1 <<<"$login_head" | tr -d '\r'); $(grep -i '^location' <<<"$login_head" | tr -d '\r')"
echo "   ${cookie_line%%=*}=<id>; ${cookie_line#*; }"
check "login: 303 to /account" grep -qi '^location: /account' <<<"$login_head"
check "cookie is __Host-sid with Secure, HttpOnly, Path=/" \
    grep -Eq '^set-cookie: __Host-sid=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Lax; Max-Age=[0-9]+; Secure$' <<<"$cookie_line"
check "HSTS from nginx" grep -qi '^strict-transport-security: max-age=' <<<"$login_head"

account=$(c -b "$JAR" "$BASE/account")
check "GET /account shows alice" grep -q alice <<<"$account"
token=$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$account" | head -1 | cut -d'"' -f4)
check "the account page carries a CSRF token" [ -n "$token" ]

# A browser without Sec-Fetch-Site is judged by Origin against Host: nginx
# must pass Host through with its port, or this same-origin POST is refused.
# (Anonymous POST /theme: no CSRF token involved, only the origin check.)
check "HTTP/1.1 POST with Origin $BASE (same origin, port 8443): 303, not 403" \
    [ "$(status --http1.1 -H "Origin: $BASE" -d theme=dark "$BASE/theme")" = 303 ]
check "the same over HTTP/2 (nginx makes Host from :authority): 303" \
    [ "$(status --http2 -H "Origin: $BASE" -d theme=dark "$BASE/theme")" = 303 ]
check "POST with a foreign Origin: 403" \
    [ "$(status -H 'Origin: https://evil.example' -d theme=dark "$BASE/theme")" = 403 ]

logout_head=$(c -D - -o /dev/null -c "$JAR" -b "$JAR" -H "Origin: $BASE" -d "csrf_token=$token" "$BASE/logout")
check "logout: 303" grep -q '^HTTP/[0-9.]* 303' <<<"$logout_head"
check "logout: Clear-Site-Data and a new __Host-sid cookie" \
    bash -c 'grep -qi "^clear-site-data: \"cache\"" <<<"$1" && grep -qi "^set-cookie: __Host-sid=" <<<"$1"' _ "$logout_head"
check "after logout /account is 303 to the login page" \
    [ "$(c -o /dev/null -w '%{http_code} %{redirect_url}' -b "$JAR" "$BASE/account")" = "303 $BASE/login?next=%2Faccount" ]
big=$(head -c 20000 /dev/zero | tr '\0' a)
check "a 20 kB form is refused by nginx: 413" [ "$(status -d "x=$big" "$BASE/theme")" = 413 ]

# The client address latch logs and throttles by.
c -o /dev/null -H 'X-Forwarded-For: 203.0.113.9' "$BASE/probe-forged-xff" || true
curl -s -o /dev/null --interface 127.0.0.5 -H 'X-Forwarded-For: 198.51.100.7' \
    http://127.0.0.1:8080/probe-direct || true
for _ in 1 2 3 4 5; do
    FROM=127.0.0.3 status -d 'username=alice&password=wrong' "$BASE/login" >/dev/null
done
check "6th wrong password from 127.0.0.3: 429" \
    [ "$(FROM=127.0.0.3 status -d 'username=alice&password=wrong' "$BASE/login")" = 429 ]
check "meanwhile 127.0.0.4 signs in: 303" \
    [ "$(FROM=127.0.0.4 status -d 'username=alice&password=correct+horse+battery' "$BASE/login")" = 303 ]
sleep 0.3 # access lines are written every 100 ms
check "latch logs the client nginx saw (127.0.0.2), not the forged X-Forwarded-For" \
    grep -q 'access GET /probe-forged-xff 404 .* client=127.0.0.2 ' "$T/latch.log"
check "X-Forwarded-For straight to latch (not from the proxy) is ignored" \
    grep -q 'access GET /probe-direct 404 .* client=127.0.0.5 ' "$T/latch.log"
check "throttled per client address behind the proxy" \
    grep -q 'access POST /login 429 .* client=127.0.0.3 ' "$T/latch.log"

check "sessions dir 0700, session files 0600, users file 0600, all the service UID's" \
    bash -c '[ "$(stat -c "%a %u" "$1/sessions")" = "700 $2" ] &&
        [ "$(stat -c "%a %u" "$1/users.htpasswd")" = "600 $2" ] &&
        [ -z "$(find "$1/sessions" -type f ! -perm 600)" ] &&
        [ -z "$(find "$1/sessions" ! -uid "$2")" ]' _ "$STATE" "$SERVICE_UID"
sessions=$(as_service "$T/sessions.pid" "$LATCH" sessions --sessions "$STATE/sessions" --users "$STATE/users.htpasswd")
check "latch sessions, as the service user, lists alice" grep -q ' alice ' <<<"$sessions"

echo "== 5. stopping"
stop_nginx
kill -TERM "$LATCH_PID"
set +e
wait "$LAUNCHER"
code=$?
set -e
LATCH_PID=
check "SIGTERM: latch exits 0 (got $code)" [ "$code" = 0 ]
check "no EPERM from the filter made latch complain" \
    bash -c '! grep -qi "operation not permitted" "$1"' _ "$T/latch.log"

if [ -s "$T/strace.log" ]; then
    # Calls made from the exec of latch on, by latch and its threads (the
    # first process in the log is the bash launcher: left out).
    launcher=$(awk 'NR == 1 { print $1 }' "$T/strace.log")
    awk -v latch="$LATCH" -v launcher="$launcher" \
        '$1 != launcher && index($0, "execve(\"" latch "\"") { on = 1 } on && $1 != launcher' \
        "$T/strace.log" >"$T/strace-latch.log"
    sed -n 's/^[0-9]* *\([a-z0-9_]*\)(.*/\1/p' "$T/strace-latch.log" | sort -u >"$T/used.txt"
    echo "   latch made $(wc -l <"$T/used.txt") distinct system calls: $(tr '\n' ' ' <"$T/used.txt")"
    outside=$(comm -23 "$T/used.txt" "$T/allowed.txt" | grep -vx -e execve -e exit_group -e exit -e rt_sigreturn || true)
    check "every one of them is in @system-service minus @privileged${outside:+ (outside: $outside)}" [ -z "$outside" ]
    eperm=$(grep -c 'EPERM' "$T/strace-latch.log" || true)
    check "no call of latch's failed with EPERM" [ "$eperm" = 0 ]
fi

echo "nginx access log (client address as nginx saw it):"
tail -n 3 "$T/nginx-access.log" | sed 's/^/   /'
echo "latch log (first and last lines):"
head -n 3 "$T/latch.log" | sed 's/^/   /'
echo "   ..."
tail -n 3 "$T/latch.log" | sed 's/^/   /'
if [ "$failures" = 0 ]; then
    echo "all checks passed ($T)"
else
    echo "$failures check(s) failed ($T)"
    exit 1
fi
