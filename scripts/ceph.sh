#!/usr/bin/env bash
# A throw-away single-node Ceph (Debian 12's ceph 16.2) on 127.0.0.1 for Spyglass's RBD store
# tests and benchmarks: one mon, one osd (BlueStore on a sparse file), one mgr (it reports pool
# usage, which pool quotas need), cephx, pool size 1, a pool `images` initialised for RBD and a
# `client.glance` user. After shared/notes/real-backends.md §2.
#
#   scripts/ceph.sh install [VENV]  # apt packages once (~90 s), then the bindings into VENV
#                                   # (--no-bindings: the packages only)
#   scripts/ceph.sh bindings [VENV] # link Debian's rados/rbd modules into VENV (default .venv)
#   scripts/ceph.sh start           # ~10 s; a no-op when up with the same settings
#   scripts/ceph.sh stop            # by pid file only (pids checked against their command line)
#   scripts/ceph.sh status          # exit 0 when up, 3 when not
#   scripts/ceph.sh osd-stop        # stop the osd only (the mon stays up)
#   scripts/ceph.sh osd-start       # start that osd again and wait until the pool takes writes
#   scripts/ceph.sh conf            # print the path of the cluster's ceph.conf
#
# Environment (all optional):
#   SPYGLASS_SERVICES_DIR  data lives in $SPYGLASS_SERVICES_DIR/ceph (default <repo>/.services)
#   CEPH_MON_PORT          msgr2 port of the mon (3300); the v1 port is CEPH_MON_PORT_V1 (6789)
#   CEPH_OSD_STORE         bluestore (default: a sparse file, survives `osd-stop`/`osd-start`)
#                          or memstore (data in the osd's RAM, lost when the osd stops)
#   CEPH_STORE_BYTES       size of that store (bluestore 4 GiB, memstore 1 GiB); a full osd
#                          stalls every write until the cluster is rebuilt
#   CEPH_AUTH              cephx (default) or none
#   CEPH_MGR               1 (default) or 0: no mgr (saves ~300 MiB; pool quotas then never trip)
#   CEPH_RESET=1           `start` rebuilds the cluster even when it is up
# The client users: client.admin (keyring $BASE/ceph.client.admin.keyring) and client.glance
# (rbd profile on every pool; keyring $BASE/ceph.client.glance.keyring), both found through the
# `keyring` line of ceph.conf. Needs root for `install`; the daemons run as the calling user.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$(realpath -m "${SPYGLASS_SERVICES_DIR:-$ROOT/.services}")
BASE=$SERVICES/ceph
CONF=$BASE/ceph.conf
MON_V2=${CEPH_MON_PORT:-3300}
MON_V1=${CEPH_MON_PORT_V1:-6789}
STORE=${CEPH_OSD_STORE:-bluestore}
AUTH=${CEPH_AUTH:-cephx}
if [ "$STORE" = bluestore ]; then BYTES=${CEPH_STORE_BYTES:-4294967296}; else BYTES=${CEPH_STORE_BYTES:-1073741824}; fi
MGR=${CEPH_MGR:-1}
SETTINGS="store=$STORE bytes=$BYTES auth=$AUTH mgr=$MGR mon=$MON_V2,$MON_V1"
PACKAGES=(ceph-mon ceph-osd ceph-mgr ceph-common python3-rados python3-rbd)
C=(-c "$CONF")

# a killed process can stay a zombie for a moment: kill -0 is not enough
alive() { [ -n "${1:-}" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }
# the pid in $1, if that process's command line contains $2
ourpid() {
    local p
    p=$(cat "$1" 2>/dev/null) && alive "$p" \
        && tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$2" && echo "$p"
}
ceph_cli() { timeout 20 ceph "${C[@]}" --connect-timeout 10 "$@"; }
daemon_up() { ourpid "$BASE/run/$1.pid" "-c $CONF" >/dev/null; }
up() {
    [ -f "$CONF" ] && daemon_up mon.a && daemon_up osd.0 && { [ "$MGR" != 1 ] || daemon_up mgr.x; } \
        && ceph_cli osd pool ls 2>/dev/null | grep -qx images
}

install() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        # no package's postinst may start a system-wide daemon
        if [ ! -x /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
        fi
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    [ "${1:-}" = --no-bindings ] || bindings "${1:-$ROOT/.venv}"
}

# Debian's bindings are Cython modules built for CPython 3.11 (the same ABI as any 3.11): link
# just those two into the venv, so nothing else of Debian's dist-packages leaks in.
bindings() {
    local venv=$1 site m
    [ -x "$venv/bin/python" ] || { echo "no venv at $venv (create it first)" >&2; return 1; }
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    for m in rados rbd; do
        ln -sf "/usr/lib/python3/dist-packages/$m.cpython-311-x86_64-linux-gnu.so" "$site/"
    done
    "$venv/bin/python" -c 'import rados, rbd' || {
        echo "rados/rbd do not import in $venv (the Debian modules need CPython 3.11)" >&2; return 1
    }
    echo "rados and rbd linked into $venv"
}

stop_daemon() {
    local p
    if p=$(ourpid "$BASE/run/$1.pid" "-c $CONF"); then
        kill "$p" 2>/dev/null || true
        for _ in $(seq 1 150); do alive "$p" || break; sleep 0.1; done
        alive "$p" && kill -9 "$p" 2>/dev/null || true
    fi
    rm -f "$BASE/run/$1.pid"
}

stop() {
    stop_daemon mgr.x
    stop_daemon osd.0
    stop_daemon mon.a
}

# wait until a client write into the pool works (all its PGs active)
writable() {
    for _ in $(seq 1 240); do
        if echo ok | timeout 10 rados "${C[@]}" -p images put __probe - 2>/dev/null; then
            rados "${C[@]}" -p images rm __probe
            return 0
        fi
        sleep 0.5
    done
    echo "pool images does not take writes" >&2; return 1
}

start_osd() {
    nohup ceph-osd "${C[@]}" -i 0 -f > "$BASE/log/osd.0.out" 2>&1 &
    echo $! > "$BASE/run/osd.0.pid"
    for _ in $(seq 1 120); do
        [ "$(ceph_cli osd stat -f json 2>/dev/null \
            | python3 -c 'import json,sys; print(json.load(sys.stdin).get("num_up_osds", 0))' \
            2>/dev/null)" = 1 ] && return 0
        daemon_up osd.0 || { echo "ceph-osd died" >&2; tail -n 20 "$BASE/log/osd.0.out" >&2; return 1; }
        sleep 0.5
    done
    echo "ceph-osd did not come up" >&2; return 1
}

write_conf() {
    local fsid=$1
    cat > "$CONF" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = $AUTH
auth service required = $AUTH
auth client required = $AUTH
keyring = $BASE/\$cluster.\$name.keyring
auth allow insecure global id reclaim = false
run dir = $BASE/run
log file = $BASE/log/\$name.log
mon cluster log file = $BASE/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail crit = 1
mon data avail warn = 2

[client]
# clients of a test cluster need no admin socket (and many would fight over one name)
admin socket =
log file =

[mon]
mon data = $BASE/mon/\$id
keyring = $BASE/mon/\$id/keyring
admin socket = $BASE/run/\$name.asok

[osd]
osd data = $BASE/osd/\$id
keyring = $BASE/osd/\$id/keyring
admin socket = $BASE/run/\$name.asok
osd objectstore = $STORE
memstore device bytes = $BYTES
bluestore block path = $BASE/osd/\$id/block.file
bluestore block create = true
bluestore block size = $BYTES
bluestore cache size = 134217728
osd memory target = 939524096
osd class load list = *
osd class default list = *
osd op num shards = 1
osd op num threads per shard = 2

[mgr]
mgr data = $BASE/mgr/\$id
keyring = $BASE/mgr/\$id/keyring
admin socket = $BASE/run/\$name.asok
mgr initial modules = iostat
CONF
}

start() {
    if [ "${CEPH_RESET:-0}" != 1 ] && [ "$(cat "$BASE/settings" 2>/dev/null)" = "$SETTINGS" ] && up; then
        echo "ceph already running ($CONF)"; return 0
    fi
    command -v ceph-mon >/dev/null || { echo "ceph is not installed: scripts/ceph.sh install" >&2; return 1; }
    stop
    local started fsid osd_uuid
    started=$(date +%s)
    rm -rf "$BASE"
    mkdir -p "$BASE"/{run,log,mon/a,osd/0,mgr/x}
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"

    monmaptool --create --clobber --fsid "$fsid" \
        --addv a "[v2:127.0.0.1:$MON_V2,v1:127.0.0.1:$MON_V1]" "$BASE/monmap" >/dev/null
    if [ "$AUTH" = cephx ]; then
        ceph-authtool --create-keyring "$BASE/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
        ceph-authtool --create-keyring "$BASE/ceph.client.admin.keyring" --gen-key -n client.admin \
            --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
        ceph-authtool "$BASE/mon.keyring" --import-keyring "$BASE/ceph.client.admin.keyring" >/dev/null
        ceph-mon "${C[@]}" --mkfs -i a --monmap "$BASE/monmap" --keyring "$BASE/mon.keyring"
    else
        ceph-mon "${C[@]}" --mkfs -i a --monmap "$BASE/monmap" --keyring /dev/null
        touch "$BASE/mon/a/keyring"
    fi
    nohup ceph-mon "${C[@]}" -i a -f > "$BASE/log/mon.a.out" 2>&1 &
    echo $! > "$BASE/run/mon.a.pid"
    for _ in $(seq 1 60); do ceph_cli mon stat >/dev/null 2>&1 && break; sleep 0.5; done
    daemon_up mon.a || { echo "ceph-mon died" >&2; tail -n 20 "$BASE/log/mon.a.out" >&2; return 1; }

    osd_uuid=$(cat /proc/sys/kernel/random/uuid)
    ceph_cli osd new "$osd_uuid" 0 >/dev/null
    if [ "$AUTH" = cephx ]; then
        # the osd's key is not registered yet, so it must not ask the mon for its config
        ceph-osd "${C[@]}" -i 0 --mkfs --mkkey --no-mon-config --osd-uuid "$osd_uuid" \
            > "$BASE/log/osd.0.mkfs.out" 2>&1
        ceph_cli auth add osd.0 osd 'allow *' mon 'allow profile osd' mgr 'allow profile osd' \
            -i "$BASE/osd/0/keyring" >/dev/null 2>&1
    else
        ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" > "$BASE/log/osd.0.mkfs.out" 2>&1
    fi
    start_osd || { stop; return 1; }
    if [ "$MGR" = 1 ]; then
        if [ "$AUTH" = cephx ]; then
            ceph_cli auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
                -o "$BASE/mgr/x/keyring" >/dev/null 2>&1
        fi
        nohup ceph-mgr "${C[@]}" -i x -f > "$BASE/log/mgr.x.out" 2>&1 &
        echo $! > "$BASE/run/mgr.x.pid"
    fi

    ceph_cli osd pool create images 8 8 >/dev/null 2>&1
    ceph_cli osd pool set images size 1 --yes-i-really-mean-it >/dev/null 2>&1 || true
    rbd "${C[@]}" pool init images
    if [ "$AUTH" = cephx ]; then
        ceph_cli auth get-or-create client.glance mon 'profile rbd' osd 'profile rbd' \
            -o "$BASE/ceph.client.glance.keyring" >/dev/null 2>&1
    fi
    writable || { stop; return 1; }
    echo "$SETTINGS" > "$BASE/settings"
    echo "ceph up ($STORE, auth $AUTH, mgr $MGR) in $(( $(date +%s) - started )) s; CEPH_CONF=$CONF"
}

case "${1:-}" in
    install) install "${2:-}" ;;
    bindings) bindings "${2:-$ROOT/.venv}" ;;
    start) start ;;
    stop) stop; echo "ceph stopped" ;;
    status) if up; then echo "up ($CONF)"; else echo "down"; exit 3; fi ;;
    osd-stop) stop_daemon osd.0; echo "ceph osd.0 stopped" ;;
    osd-start)
        if daemon_up osd.0; then echo "ceph osd.0 already running"; exit 0; fi
        [ -f "$CONF" ] || { echo "no cluster in $BASE: scripts/ceph.sh start" >&2; exit 1; }
        start_osd && writable && echo "ceph osd.0 up" ;;
    conf) echo "$CONF" ;;
    *) echo "usage: $0 install [VENV]|bindings [VENV]|start|stop|status|osd-stop|osd-start|conf" >&2; exit 2 ;;
esac
