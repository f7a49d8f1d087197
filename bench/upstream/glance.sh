#!/usr/bin/env bash
# Run upstream OpenStack Glance (the reference implementation) on loopback, for
# side-by-side behaviour checks and benchmarks against Spyglass.
#
#   bench/upstream/glance.sh install        # venv + glance + uWSGI (idempotent)
#   bench/upstream/glance.sh start [PORT]   # default port 9393, listens on 127.0.0.1 only
#   bench/upstream/glance.sh stop
#   bench/upstream/glance.sh status
#
# Environment:
#   SPYGLASS_BENCH_DIR  working dir (default: .bench under the repo root; relative
#                       paths are taken relative to the repo root)
#   UPSTREAM_CACHE=1    enable the image cache and the /v2/cache API
#                       (paste flavor "cachemanagement")
#   UPSTREAM_AUTH=headers  take the caller's identity from request headers
#                       (X-Identity-Status: Confirmed, X-Project-Id, X-User-Id,
#                       X-Roles) instead of making everyone admin; no Keystone
#                       involved, requests without them get 401; shipped
#                       policy defaults apply
#   UPSTREAM_PROCESSES  uWSGI worker processes (default 2)
#   UPSTREAM_HTTP=socket  the workers speak HTTP themselves (uWSGI http-socket), as in
#                       upstream's httpd/glance-api-uwsgi.ini behind a web server;
#                       the default (router) puts uWSGI's HTTP router process in front
#   UPSTREAM_VENV       the venv to install into and run from (default:
#                       $SPYGLASS_BENCH_DIR/upstream-venv), so several run dirs can
#                       share one installation
#   PYTHON              interpreter used to create the venv (default python3)
#   UPSTREAM_NOTIFY_DRIVER  [oslo_messaging_notifications] driver (default noop; e.g.
#                       messagingv2), with UPSTREAM_TRANSPORT_URL (rabbit://...) and
#                       UPSTREAM_NOTIFY_TOPIC (default notifications)
#   UPSTREAM_KEEP_DATA=1  keep the database and stored images of the previous run
#                       (by default every start begins from an empty database)
#   UPSTREAM_DB_CONNECTION  [database] connection (default: a SQLite file in the run dir);
#                       e.g. postgresql+psycopg2://... or mysql+pymysql://... (both drivers are
#                       installed); the database must exist, start runs db_sync on it
#   UPSTREAM_BACKENDS   enabled_backends (default fs:file), with
#                       UPSTREAM_DEFAULT_BACKEND (default fs) and UPSTREAM_STORE_CONF,
#                       a file appended to glance-api.conf (the backends' sections)
#   UPSTREAM_PIP        extra packages `install` adds to the venv (space-separated,
#                       e.g. boto3 python-swiftclient for glance_store's drivers)
#
# No Keystone: by default the paste pipeline uses the unauthenticated context,
# so every caller is an admin without a project (images get owner=null).
set -euo pipefail

GLANCE_VERSION=33.0.0

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)

BENCH_DIR=${SPYGLASS_BENCH_DIR:-.bench}
case "$BENCH_DIR" in
    /*) ;;
    *) BENCH_DIR="$REPO_ROOT/$BENCH_DIR" ;;
esac
VENV=${UPSTREAM_VENV:-$BENCH_DIR/upstream-venv}
case "$VENV" in
    /*) ;;
    *) VENV="$REPO_ROOT/$VENV" ;;
esac
RUN_DIR="$BENCH_DIR/upstream"
PID_FILE="$RUN_DIR/uwsgi.pid"
LOG_FILE="$RUN_DIR/uwsgi.log"

log() { printf 'glance.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

is_installed() {
    [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/uwsgi" ] && [ -x "$VENV/bin/glance-manage" ] || return 1
    local v
    v=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("glance"))' 2>/dev/null) || return 1
    [ "$v" = "$GLANCE_VERSION" ] || return 1
    "$VENV/bin/python" -c 'import psycopg2, pymysql' 2>/dev/null
}

install_extras() {
    [ -n "${UPSTREAM_PIP:-}" ] || return 0
    # shellcheck disable=SC2086 # a list of packages
    "$VENV/bin/python" -m pip install --quiet $UPSTREAM_PIP
}

cmd_install() {
    if is_installed; then
        log "glance $GLANCE_VERSION already installed in $VENV"
        install_extras
        return 0
    fi
    mkdir -p "$BENCH_DIR"
    if [ ! -x "$VENV/bin/python" ]; then
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    # uWSGI is built from source by pip: needs a C compiler and the Python headers.
    "$VENV/bin/python" -m pip install --quiet "glance==$GLANCE_VERSION" uwsgi psycopg2-binary PyMySQL
    is_installed || die "install finished but glance/uwsgi are not usable in $VENV"
    install_extras
    log "installed glance $GLANCE_VERSION and uWSGI in $VENV"
}

# Prints the pid of the running uWSGI master, or fails.
running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid
    pid=$(tr -dc '0-9' < "$PID_FILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # Guard against a stale pid file whose pid now belongs to something else.
    if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q uwsgi; then
        return 1
    fi
    printf '%s\n' "$pid"
}

port_in_use() {
    "$VENV/bin/python" - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}

find_paste_ini() {
    local f
    for f in "$VENV/etc/glance/glance-api-paste.ini" \
             "$VENV"/lib/python3*/site-packages/etc/glance/glance-api-paste.ini; do
        if [ -f "$f" ]; then printf '%s\n' "$f"; return 0; fi
    done
    f=$(find "$VENV" -name glance-api-paste.ini -path '*etc/glance/*' -print -quit 2>/dev/null)
    [ -n "$f" ] || return 1
    printf '%s\n' "$f"
}

write_config() {
    local port=$1 conf="$RUN_DIR/etc"
    mkdir -p "$conf" "$RUN_DIR/images" "$RUN_DIR/staging" "$RUN_DIR/tasks" "$RUN_DIR/locks"

    local flavor="" cache_opts="" auth=${UPSTREAM_AUTH:-none}
    case "$auth" in
        none) ;;
        headers) flavor=headers ;;
        *) die "UPSTREAM_AUTH must be 'none' or 'headers', not '$auth'" ;;
    esac
    if [ "${UPSTREAM_CACHE:-0}" = "1" ]; then
        flavor=${flavor:+$flavor+}cachemanagement
        mkdir -p "$RUN_DIR/cache"
        cache_opts="image_cache_dir = $RUN_DIR/cache
worker_self_reference_url = http://127.0.0.1:$port"
    fi

    cat > "$conf/glance-api.conf" <<CONF
[DEFAULT]
enabled_backends = ${UPSTREAM_BACKENDS:-fs:file}
bind_host = 127.0.0.1
bind_port = $port
use_stderr = true
$cache_opts

[database]
connection = ${UPSTREAM_DB_CONNECTION:-sqlite:///$RUN_DIR/glance.sqlite}

[glance_store]
default_backend = ${UPSTREAM_DEFAULT_BACKEND:-fs}

[fs]
filesystem_store_datadir = $RUN_DIR/images

[os_glance_staging_store]
filesystem_store_datadir = $RUN_DIR/staging

[os_glance_tasks_store]
filesystem_store_datadir = $RUN_DIR/tasks

[paste_deploy]
flavor = $flavor

[oslo_policy]
policy_file = $conf/policy.yaml

[oslo_concurrency]
lock_path = $RUN_DIR/locks

[oslo_messaging_notifications]
driver = ${UPSTREAM_NOTIFY_DRIVER:-noop}
topics = ${UPSTREAM_NOTIFY_TOPIC:-notifications}
${UPSTREAM_TRANSPORT_URL:+transport_url = $UPSTREAM_TRANSPORT_URL}
CONF
    if [ -n "${UPSTREAM_STORE_CONF:-}" ]; then
        printf '\n' >> "$conf/glance-api.conf"
        cat "$UPSTREAM_STORE_CONF" >> "$conf/glance-api.conf"
    fi

    if [ "$auth" = none ]; then
        # The unauthenticated context is an admin without project or roles; the
        # secure-RBAC defaults refuse it, so open the two base rules for it.
        cat > "$conf/policy.yaml" <<'POLICY'
"context_is_admin": ""
"service_api": ""
POLICY
    else
        echo '{}' > "$conf/policy.yaml"
    fi

    local paste
    paste=$(find_paste_ini) || die "glance-api-paste.ini not found in $VENV (run install)"
    cp "$paste" "$conf/glance-api-paste.ini"
    if [ "$auth" = headers ]; then
        # Extra flavors: glance's header-reading "context" filter without the
        # Keystone authtoken filter in front of it.
        cat >> "$conf/glance-api-paste.ini" <<'PASTE'

# --- added by spyglass bench/upstream/glance.sh (UPSTREAM_AUTH=headers) ---
[composite:glance-api-headers]
paste.composite_factory = glance.api:root_app_factory
/: api-headers
/healthcheck: healthcheck

[composite:glance-api-headers+cachemanagement]
paste.composite_factory = glance.api:root_app_factory
/: api-headers
/healthcheck: healthcheck

[composite:api-headers]
paste.composite_factory = glance.api:pipeline_factory
headers = cors http_proxy_to_wsgi versionnegotiation osprofiler context rootapp
headers+cachemanagement = cors http_proxy_to_wsgi versionnegotiation osprofiler context cache cachemanage rootapp
PASTE
    fi

    local procs=${UPSTREAM_PROCESSES:-2} front
    case "${UPSTREAM_HTTP:-router}" in
        router) front="http = 127.0.0.1:$port
http-auto-chunked = true
http-chunked-input = true
http-raw-body = true" ;;
        socket) front="http-socket = 127.0.0.1:$port" ;;
        *) die "UPSTREAM_HTTP must be 'router' or 'socket', not '${UPSTREAM_HTTP}'" ;;
    esac
    # Mirrors upstream's httpd/glance-api-uwsgi.ini, listening on loopback only.
    cat > "$conf/uwsgi.ini" <<INI
[uwsgi]
socket-timeout = 30
$front
chunked-input-limit = 67108864
lazy-apps = true
add-header = Connection: close
buffer-size = 65535
thunder-lock = true
enable-threads = true
exit-on-reload = true
die-on-term = true
master = true
processes = $procs
need-app = true
module = glance.wsgi.api:application
env = OS_GLANCE_CONFIG_DIR=$conf
pidfile = $PID_FILE
INI
}

cmd_start() {
    local port=${1:-9393}
    case "$port" in ''|*[!0-9]*) die "bad port: $port" ;; esac
    is_installed || die "not installed; run: $0 install"
    if pid=$(running_pid); then
        die "already running (pid $pid); run: $0 stop"
    fi
    if port_in_use "$port"; then
        die "something already listens on 127.0.0.1:$port"
    fi
    if [ "${UPSTREAM_KEEP_DATA:-0}" != "1" ]; then
        rm -rf "$RUN_DIR/glance.sqlite" "$RUN_DIR/images" "$RUN_DIR/staging" \
               "$RUN_DIR/tasks" "$RUN_DIR/cache"
    fi
    write_config "$port"
    local conf="$RUN_DIR/etc"

    OS_GLANCE_CONFIG_DIR="$conf" "$VENV/bin/glance-manage" \
        --config-file "$conf/glance-api.conf" db_sync >"$RUN_DIR/db_sync.log" 2>&1 \
        || { cat "$RUN_DIR/db_sync.log" >&2; die "glance-manage db_sync failed"; }

    rm -f "$PID_FILE"
    : > "$LOG_FILE"
    (
        cd "$RUN_DIR"
        export OS_GLANCE_CONFIG_DIR="$conf"
        exec setsid "$VENV/bin/uwsgi" --ini "$conf/uwsgi.ini" </dev/null >>"$LOG_FILE" 2>&1
    ) &
    local launcher=$!

    local url="http://127.0.0.1:$port/versions" i
    for i in $(seq 1 600); do
        if ! kill -0 "$launcher" 2>/dev/null; then
            tail -n 40 "$LOG_FILE" >&2 || true
            die "uWSGI exited during start-up (log: $LOG_FILE)"
        fi
        if "$VENV/bin/python" - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
        then
            [ -f "$PID_FILE" ] || echo "$launcher" > "$PID_FILE"
            log "upstream glance listening on http://127.0.0.1:$port (pid $(cat "$PID_FILE"), log $LOG_FILE)"
            return 0
        fi
        sleep 0.2
    done
    kill -TERM "$launcher" 2>/dev/null || true
    die "upstream glance did not answer $url in time (log: $LOG_FILE)"
}

cmd_stop() {
    local pid
    if ! pid=$(running_pid); then
        log "not running"
        rm -f "$PID_FILE"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "uWSGI (pid $pid) did not stop on TERM; killing its process group"
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PID_FILE"
    log "stopped"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        echo "running (pid $pid)"
    else
        echo "stopped"
        return 1
    fi
}

case "${1:-}" in
    install) cmd_install ;;
    start) shift; cmd_start "$@" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 {install|start [PORT]|stop|status}" >&2; exit 2 ;;
esac
