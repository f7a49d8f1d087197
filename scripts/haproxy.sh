#!/usr/bin/env bash
# HAProxy (Debian's package) on 127.0.0.1 in front of several Spyglass API servers, for the
# scale-out tests and as a worked example of docs/deploy.md's balancer.
#
#   scripts/haproxy.sh install   # apt-get install haproxy when missing, then a no-op
#   scripts/haproxy.sh start     # write the config, start (or reload with a changed config)
#   scripts/haproxy.sh stop      # by pid file only, and only if that pid is our haproxy
#   scripts/haproxy.sh status    # exit 0 when up, 3 when not
#
# Environment (all optional):
#   SPYGLASS_SERVICES_DIR   config, pid and log live here (default: <repo>/.services)
#   HAPROXY_PORT            the front end's port (9290)
#   HAPROXY_BACKENDS        "host:port host:port" of the API servers (127.0.0.1:9292)
#
# Each API server is health-checked on /healthcheck every second; a server that stops
# answering is taken out after two failures, and a request whose connection failed is
# retried on another server (idempotent requests also when the answer never came).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$(realpath -m "${SPYGLASS_SERVICES_DIR:-$ROOT/.services}")
PORT=${HAPROXY_PORT:-9290}
BACKENDS=${HAPROXY_BACKENDS:-127.0.0.1:9292}
BASE=$SERVICES/haproxy-$PORT
CONF=$BASE/haproxy.cfg
PIDFILE=$BASE/haproxy.pid
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}

alive() { [ -n "${1:-}" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }
ourpid() {
    local p
    p=$(head -1 "$PIDFILE" 2>/dev/null) && alive "$p" \
        && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-f $CONF" && echo "$p"
}
answers() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

install() {
    if [ -x "$HAPROXY" ]; then return 0; fi
    command -v apt-get >/dev/null || { echo "haproxy: no $HAPROXY and no apt-get" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy >/dev/null
    [ -x "$HAPROXY" ] || { echo "haproxy install failed" >&2; exit 1; }
}

config() {
    cat <<CFG
global
    maxconn 4096
    log stderr format short local0 warning

defaults
    mode http
    log global
    option httplog
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 30s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout 502 503
    default-server inter 1s fall 2 rise 1

frontend spyglass
    bind 127.0.0.1:$PORT
    default_backend api

backend api
    balance roundrobin
    option httpchk GET /healthcheck
    http-check expect status 200
CFG
    local n=0
    for backend in $BACKENDS; do
        n=$((n + 1))
        echo "    server api$n $backend check"
    done
}

stop() {
    local p
    if p=$(ourpid); then
        kill "$p" 2>/dev/null || true
        for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
        if alive "$p"; then kill -9 "$p" 2>/dev/null || true; fi
    fi
    rm -f "$PIDFILE"
}

start() {
    install
    mkdir -p "$BASE"
    local wanted
    wanted=$(config)
    if ourpid >/dev/null && [ "$wanted" = "$(cat "$CONF" 2>/dev/null)" ] && answers; then
        echo "haproxy already running on 127.0.0.1:$PORT"; return 0
    fi
    stop
    printf '%s\n' "$wanted" > "$CONF"
    "$HAPROXY" -c -q -f "$CONF"
    "$HAPROXY" -D -p "$PIDFILE" -f "$CONF" 2>>"$BASE/haproxy.log"
    for _ in $(seq 1 50); do answers && { echo "haproxy on 127.0.0.1:$PORT"; return 0; }; sleep 0.1; done
    echo "haproxy did not start; see $BASE/haproxy.log" >&2
    exit 1
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) if ourpid >/dev/null && answers; then echo "up"; else echo "down"; exit 3; fi ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
