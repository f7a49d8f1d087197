#!/usr/bin/env bash
# A private PostgreSQL cluster (Debian's postgresql, 15) on its own loopback port and data
# directory, for the tests that stop and start a database server: they use this one, never the
# machine's own on 5432. After shared/notes/real-backends.md §4.
#
#   scripts/postgres.sh start    # ~1-2 s the first time (initdb), ~0.3 s after; a no-op when up
#   scripts/postgres.sh stop     # fast shutdown of our postmaster (by its pid file and data dir)
#   scripts/postgres.sh status   # exit 0 when up, 3 when not
#   scripts/postgres.sh url      # the connection URL of the test database
#   scripts/postgres.sh psql ARGS  # psql as the superuser over the private socket (tests' admin)
#
# Environment (all optional):
#   SPYGLASS_SERVICES_DIR  data lives in $SPYGLASS_SERVICES_DIR/postgres-$PG_PORT
#                          (default <repo>/.services); must be traversable by the postgres user
#   PG_PORT                port (15432)
#   PG_DB, PG_USER, PG_PASSWORD   the database and its owner (spyglass, spyglass, spyglass);
#                          the owner logs in with its password over TCP (scram-sha-256)
# Needs: apt-get install -y --no-install-recommends postgresql (run as root, or as postgres).
# Test-only settings (fsync off): never keep anything you care about in this cluster.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$(realpath -m "${SPYGLASS_SERVICES_DIR:-$ROOT/.services}")
PORT=${PG_PORT:-15432}
DB=${PG_DB:-spyglass}
OWNER=${PG_USER:-spyglass}
PASSWORD=${PG_PASSWORD:-spyglass}
BASE=$SERVICES/postgres-$PORT
DATA=$BASE/data
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

psql_admin() {
    as_pg "$PGBIN/psql" -h "$BASE/run" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

# The postmaster's pid, if it is alive (not a zombie) and serves our data directory.
running_pid() {
    local pid
    pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null | tr -dc '0-9') || return 1
    [ -n "$pid" ] || return 1
    [ -n "$(ps -o stat= -p "$pid" 2>/dev/null | grep -v Z)" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $DATA" || return 1
    printf '%s\n' "$pid"
}

cmd_start() {
    [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || die "PostgreSQL not installed (apt-get install postgresql)"
    mkdir -p "$BASE/run" "$BASE/log"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$BASE" "$BASE/run" "$BASE/log"
    if [ ! -f "$DATA/PG_VERSION" ]; then
        as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
            -E UTF8 --locale=C.UTF-8 --no-sync > "$BASE/log/initdb.log" 2>&1 \
            || { cat "$BASE/log/initdb.log" >&2; die "initdb failed"; }
    fi
    if ! running_pid >/dev/null; then
        rm -f "$DATA/postmaster.pid"   # stale: its server is gone (checked above)
        as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$BASE/log/postgres.log" -w -t 60 -o \
            "-c listen_addresses=127.0.0.1 -p $PORT -k $BASE/run -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null || { tail -n 20 "$BASE/log/postgres.log" >&2; die "pg_ctl start failed"; }
    fi
    local i
    for i in $(seq 1 60); do
        as_pg "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
        sleep 0.5
    done
    [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname='$OWNER'")" = 1 ] || \
        psql_admin -c "CREATE ROLE \"$OWNER\" LOGIN CREATEDB PASSWORD '$PASSWORD'"
    [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname='$DB'")" = 1 ] || \
        psql_admin -c "CREATE DATABASE \"$DB\" OWNER \"$OWNER\""
    log "up on 127.0.0.1:$PORT (pid $(running_pid))"
}

cmd_stop() {
    local pid i
    if ! pid=$(running_pid); then
        log "not running"
        return 0
    fi
    kill -INT "$pid"   # fast shutdown: open sessions are ended, committed work kept
    for i in $(seq 1 100); do
        running_pid >/dev/null || break
        sleep 0.1
    done
    if running_pid >/dev/null; then
        log "postmaster $pid did not stop on INT; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped"
}

cmd_status() {
    local pid
    if pid=$(running_pid); then
        echo "running (pid $pid) on 127.0.0.1:$PORT"
    else
        echo "stopped"
        exit 3
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) echo "postgresql://$OWNER:$PASSWORD@127.0.0.1:$PORT/$DB" ;;
    psql) shift; psql_admin "$@" ;;
    *) echo "usage: $0 {start|stop|status|url|psql ARGS}" >&2; exit 2 ;;
esac
