#!/usr/bin/env bash
# moto's standalone server as an in-memory S3 endpoint on 127.0.0.1, for the S3 store's
# integration tests and benchmark. After shared/notes/real-backends.md §5.
#
#   scripts/moto.sh install   # own venv with moto[s3] + flask (~20 s once), then a no-op
#   scripts/moto.sh start     # ~1 s; a no-op when already up (installs first if needed)
#   scripts/moto.sh stop      # by pid file only, and only if that pid is our moto_server
#   scripts/moto.sh status    # exit 0 when up, 3 when not
#
# Environment (all optional):
#   SPYGLASS_SERVICES_DIR   venv and pid/log live here (default: <repo>/.services)
#   MOTO_PORT               5000
#   MOTO_PYTHON             interpreter for the venv (python3)
#
# moto accepts any access key and secret (so wrong credentials cannot be tested against it),
# keeps everything in memory (lost on stop) and enforces S3's 5 MiB minimum part size.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$(realpath -m "${SPYGLASS_SERVICES_DIR:-$ROOT/.services}")
VENV=$SERVICES/moto-venv
PORT=${MOTO_PORT:-5000}
BASE=$SERVICES/moto-$PORT
PYTHON=${MOTO_PYTHON:-python3}
URL=http://127.0.0.1:$PORT
# moto[s3] plus flask/flask-cors is moto[server] for S3 only (half the size and install time)
PINS="moto[s3]>=5.1,<6 flask>=3 flask-cors>=5"

alive() { [ -n "${1:-}" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }
# the pid in the pid file, if that process is our moto_server on our port
ourpid() {
    local p
    p=$(cat "$BASE/moto.pid" 2>/dev/null) && alive "$p" \
        && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null \
            | grep -qF -- "$VENV/bin/moto_server -H 127.0.0.1 -p $PORT" && echo "$p"
}
answers() { curl -fsS -o /dev/null --max-time 2 "$URL/moto-api/" 2>/dev/null; }
up() { ourpid >/dev/null && answers; }

install() {
    if [ -x "$VENV/bin/moto_server" ]; then return 0; fi
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q $PINS
    [ -x "$VENV/bin/moto_server" ] || { echo "moto install failed" >&2; exit 1; }
}

stop() {
    local p
    if p=$(ourpid); then
        kill "$p" 2>/dev/null || true
        for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
        if alive "$p"; then kill -9 "$p" 2>/dev/null || true; fi
    fi
    rm -f "$BASE/moto.pid"
}

start() {
    if up; then echo "moto already running on $URL"; return 0; fi
    install
    stop   # leftovers of an earlier run
    if answers; then echo "port $PORT answers but is not our moto server" >&2; exit 1; fi
    mkdir -p "$BASE"
    local t0
    t0=$(date +%s.%N)
    nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" > "$BASE/moto.log" 2>&1 &
    echo $! > "$BASE/moto.pid"
    for _ in $(seq 1 120); do
        if answers; then
            printf 'moto up on %s in %.1f s\n' "$URL" "$(echo "$(date +%s.%N) - $t0" | bc)"
            return 0
        fi
        alive "$(cat "$BASE/moto.pid")" || break
        sleep 0.25
    done
    echo "moto did not come up" >&2
    tail -n 30 "$BASE/moto.log" >&2 || true
    stop
    exit 1
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop; echo "moto stopped" ;;
    status) if up; then echo "moto running on $URL"; else echo "moto not running"; exit 3; fi ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
