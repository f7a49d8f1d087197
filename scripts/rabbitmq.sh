#!/usr/bin/env bash
# A private RabbitMQ node (Debian's rabbitmq-server, 3.10) with the AMQP 1.0 plugin, on its own
# loopback ports and data directory, for Spyglass's notification tests: tests that stop and start
# a broker use this one, never the machine's own on 5672. After shared/notes/real-backends.md §3.
#
#   scripts/rabbitmq.sh start    # ~5-10 s; a no-op when already up
#   scripts/rabbitmq.sh stop     # by pid file only (our rabbitmq-server wrapper, its beam, our epmd)
#   scripts/rabbitmq.sh status   # exit 0 when up, 3 when not
#
# Environment (all optional):
#   SPYGLASS_SERVICES_DIR     data lives in $SPYGLASS_SERVICES_DIR/rabbitmq-$RABBITMQ_PORT
#                             (default <repo>/.services)
#   RABBITMQ_PORT             AMQP port, 0-9-1 and 1.0 (5673)
#   RABBITMQ_DIST_PORT        Erlang distribution port (RABBITMQ_PORT + 20000)
#   RABBITMQ_EPMD_PORT        our own epmd (RABBITMQ_PORT - 1302, so 4371 by default)
# Needs: apt-get install -y --no-install-recommends rabbitmq-server (run as root, or as a user
# that may write the data directory).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$(realpath -m "${SPYGLASS_SERVICES_DIR:-$ROOT/.services}")
PORT=${RABBITMQ_PORT:-5673}
DIST_PORT=${RABBITMQ_DIST_PORT:-$((PORT + 20000))}
EPMD_PORT=${RABBITMQ_EPMD_PORT:-$((PORT - 1302))}
BASE=$SERVICES/rabbitmq-$PORT
RMQ=/usr/lib/rabbitmq/bin   # the real scripts; /usr/sbin/* would su to the rabbitmq user

export HOME=$BASE   # the Erlang cookie lives here, shared by server and CLI
export RABBITMQ_NODENAME=spyglass$PORT@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$PORT
export RABBITMQ_DIST_PORT=$DIST_PORT
export ERL_EPMD_ADDRESS=127.0.0.1
export ERL_EPMD_PORT=$EPMD_PORT
export RABBITMQ_MNESIA_BASE=$BASE/mnesia
export RABBITMQ_LOG_BASE=$BASE/log
export RABBITMQ_PID_FILE=$BASE/run/beam.pidfile
export RABBITMQ_ENABLED_PLUGINS_FILE=$BASE/enabled_plugins
export RABBITMQ_CONFIG_FILE=$BASE/rabbitmq.conf
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
# no erl (server or CLI) may start its own "epmd -daemon": only ours, whose pid we keep
export ERL_FLAGS="-start_epmd false"

# a killed process can stay a zombie for a moment: kill -0 is not enough
alive() { [ -n "${1:-}" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }
# the pid in $1, if that process's command line contains $2
ourpid() {
    local p
    p=$(cat "$1" 2>/dev/null) && alive "$p" \
        && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$2" && echo "$p"
}
up() {
    ourpid "$BASE/run/server.pid" "$RMQ/rabbitmq-server" >/dev/null \
        && ourpid "$BASE/run/epmd.pid" "epmd -address 127.0.0.1 -port $EPMD_PORT" >/dev/null \
        && "$RMQ/rabbitmqctl" -q await_startup --timeout 5 >/dev/null 2>&1
}

# An "epmd -daemon" that an erl of this node started behind our back (it happens when a node
# shuts down under load): it carries this node's name in its environment, so it is ours to stop.
strays() {
    local p
    for p in $(pgrep -x epmd 2>/dev/null || true); do
        tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-daemon" || continue
        tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null \
            | grep -qxF -- "RABBITMQ_NODENAME=$RABBITMQ_NODENAME" && echo "$p"
    done
}

stop() {
    local p kids
    for s in server epmd; do
        if [ $s = server ]; then pat="$RMQ/rabbitmq-server"; else pat="epmd -address 127.0.0.1 -port $EPMD_PORT"; fi
        if p=$(ourpid "$BASE/run/$s.pid" "$pat"); then
            kids=$(pgrep -P "$p" 2>/dev/null || true)
            # shellcheck disable=SC2086
            kill $p $kids 2>/dev/null || true
            for _ in $(seq 1 100); do
                # shellcheck disable=SC2086
                [ -n "$(ps -o stat= -p $p $kids 2>/dev/null | grep -v Z)" ] || break
                sleep 0.1
            done
            # shellcheck disable=SC2086
            kill -9 $p $kids 2>/dev/null || true
        fi
        rm -f "$BASE/run/$s.pid"
    done
    for p in $(strays); do kill "$p" 2>/dev/null || true; done
}

start() {
    if up; then echo "rabbitmq already running on 127.0.0.1:$PORT"; return 0; fi
    [ -x "$RMQ/rabbitmq-server" ] || { echo "rabbitmq-server is not installed" >&2; return 1; }
    stop
    local started
    started=$(date +%s)
    rm -rf "$BASE/mnesia"
    mkdir -p "$BASE"/{run,log}
    echo '[rabbitmq_amqp1_0].' > "$RABBITMQ_ENABLED_PLUGINS_FILE"
    cat > "$RABBITMQ_CONFIG_FILE" <<CONF
listeners.tcp.1 = 127.0.0.1:$PORT
loopback_users.guest = true
vm_memory_high_watermark.relative = 0.2
disk_free_limit.absolute = 50MB
log.console = false
log.file.level = warning
CONF
    if [ ! -f "$HOME/.erlang.cookie" ]; then
        head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$HOME/.erlang.cookie"
        chmod 400 "$HOME/.erlang.cookie"
    fi
    nohup epmd -address 127.0.0.1 -port "$EPMD_PORT" > "$BASE/log/epmd.out" 2>&1 &
    echo $! > "$BASE/run/epmd.pid"
    for _ in $(seq 1 50); do epmd -port "$EPMD_PORT" -names >/dev/null 2>&1 && break; sleep 0.1; done
    alive "$(cat "$BASE/run/epmd.pid")" || {
        echo "epmd could not start (port $EPMD_PORT taken?)" >&2; cat "$BASE/log/epmd.out" >&2; return 1
    }
    nohup "$RMQ/rabbitmq-server" > "$BASE/log/server.out" 2>&1 &
    echo $! > "$BASE/run/server.pid"
    for _ in $(seq 1 120); do
        if "$RMQ/rabbitmqctl" -q await_startup --timeout 5 >/dev/null 2>&1; then
            echo "rabbitmq up on 127.0.0.1:$PORT in $(( $(date +%s) - started )) s"
            return 0
        fi
        alive "$(cat "$BASE/run/server.pid")" || {
            echo "rabbitmq died" >&2; tail -n 30 "$BASE/log/server.out" >&2; stop; return 1
        }
        sleep 0.5
    done
    echo "rabbitmq did not come up" >&2; stop; return 1
}

case "${1:-}" in
    start) start ;;
    stop) stop; echo "rabbitmq on $PORT stopped" ;;
    status) if up; then echo "up on 127.0.0.1:$PORT"; else echo "down"; exit 3; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
