#!/usr/bin/env bash
# OpenStack Swift "all in one" (PyPI swift 2.38) on 127.0.0.1 with tempauth and the S3 API, for
# Spyglass's store tests. After shared/notes/real-backends.md §1.
#
#   scripts/swift.sh install            # own venv with swift; ~10 s once, then a no-op
#   scripts/swift.sh start              # rings, config, four servers; ~7 s the first time,
#                                       # ~3 s with the data kept, a no-op when already up
#   scripts/swift.sh stop               # by pid file only (and our extra proxies)
#   scripts/swift.sh status             # exit 0 when up, 3 when not
#   scripts/swift.sh proxy-start PORT [TOKEN_LIFE] [KEYSTONE_URL]
#                                       # one more proxy on PORT in front of the same storage:
#                                       # tests stop it to take "Swift" away mid-transfer, and
#                                       # a short TOKEN_LIFE (seconds) makes its tokens expire;
#                                       # with KEYSTONE_URL it authenticates through that
#                                       # Keystone (scripts/keystone.sh: user glance of project
#                                       # service validates tokens) instead of tempauth
#   scripts/swift.sh proxy-stop PORT    # stop that proxy (a no-op when it is not running)
#
# Environment (all optional):
#   SPYGLASS_SERVICES_DIR   venv and data live here (default: <repo>/.services); checkouts
#                           sharing one machine share one Swift by naming the same directory
#   SWIFT_PORT              proxy port (8080); storage servers on SWIFT_OBJECT_PORT (6200),
#                           SWIFT_CONTAINER_PORT (6201), SWIFT_ACCOUNT_PORT (6202)
#   SWIFT_MEMCACHED_PORT    our own memcached (11212), used when memcached is installed and
#                           SWIFT_NO_MEMCACHED is unset
#   SWIFT_RESET=1           `start` wipes the data and rings first
#   SWIFT_PYTHON            interpreter for the venv (python3)
#   SWIFT_WITH_KEYSTONE=1   `install` adds keystonemiddleware, for Keystone proxies
#
# Accounts (tempauth, auth URL http://127.0.0.1:$SWIFT_PORT/auth/v1.0): test:tester/testing and
# test2:tester2/testing2 (account admins), admin:admin/admin (reseller admin). Storage URL
# http://127.0.0.1:$SWIFT_PORT/v1/AUTH_test. S3: access key test:tester, secret testing,
# region us-east-1, path-style buckets.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$(realpath -m "${SPYGLASS_SERVICES_DIR:-$ROOT/.services}")
VENV=$SERVICES/swift-venv
D=$SERVICES/swift
PORT=${SWIFT_PORT:-8080}
OBJ_PORT=${SWIFT_OBJECT_PORT:-6200}
CONT_PORT=${SWIFT_CONTAINER_PORT:-6201}
ACCT_PORT=${SWIFT_ACCOUNT_PORT:-6202}
MC_PORT=${SWIFT_MEMCACHED_PORT:-11212}
PYTHON=${SWIFT_PYTHON:-python3}
PINS="swift==2.38.3"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "swift.sh: $*"; }
die() { echo "swift.sh: $*" >&2; exit 1; }
alive() { [ -n "${1:-}" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }
http_code() { curl -s -m 10 -o /dev/null -w '%{http_code}' "$@" 2>/dev/null || true; }

# One caller at a time (several pytest processes may start the same Swift).
lock() {
  mkdir -p "$SERVICES"
  exec 9>"$SERVICES/swift.lock"
  flock -w 600 9 || die "timed out waiting for $SERVICES/swift.lock"
}

# The pid in pid file $1, if that process is alive and its command line contains $2.
our_pid() {
  local p
  p=$(cat "$1" 2>/dev/null) || return 1
  [ -n "$p" ] && alive "$p" && tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$2" \
    && echo "$p"
}

# Stop the process of pid file $1 if its command line contains $2; remove the file.
stop_pid() {
  local p
  if p=$(our_pid "$1" "$2"); then
    kill "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill -9 "$p" 2>/dev/null || true; fi
  fi
  rm -f "$1"
}

installed() {
  [ -x "$VENV/bin/swift-proxy-server" ] \
    && [ "$(cat "$VENV/.spyglass-installed" 2>/dev/null)" = "$PINS" ]
}

cmd_install() {
  lock
  if installed; then
    if [ -n "${SWIFT_WITH_KEYSTONE:-}" ]; then install_keystonemiddleware; fi
    say "already installed in $VENV"
    return 0
  fi
  local start
  start=$(now)
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check $PINS \
    || die "pip could not install $PINS into $VENV"
  if [ -n "${SWIFT_WITH_KEYSTONE:-}" ]; then install_keystonemiddleware; fi
  echo "$PINS" >"$VENV/.spyglass-installed"
  say "installed $PINS in $VENV in $(since "$start") s"
}

install_keystonemiddleware() {
  "$VENV/bin/python" -c 'import keystonemiddleware' 2>/dev/null && return 0
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "keystonemiddleware==13.0.1" \
    || die "pip could not install keystonemiddleware into $VENV"
}

use_memcached() { [ -z "${SWIFT_NO_MEMCACHED:-}" ] && command -v memcached >/dev/null; }

common_conf() {
  cat <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $(id -un)
swift_dir = $D/etc
devices = $D/node
mount_check = false
log_level = ${SWIFT_LOG_LEVEL:-WARNING}
CONF
}

# The proxy's configuration: port $1, tempauth token lifetime $2 seconds; with Keystone URL
# $3, Keystone's authtoken + keystoneauth instead of tempauth and s3api.
proxy_conf() {
  local cache="" auth="s3api tempauth"
  if use_memcached; then cache=cache; fi
  if [ -n "${3:-}" ]; then auth="authtoken keystoneauth"; fi
  common_conf "$1"
  cat <<CONF
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging $cache listing_formats bulk tempurl $auth container-quotas copy slo dlo versioned_writes symlink proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
storage_url_scheme = default
token_life = $2
fernet_key_1 = $(cat "$D/etc/fernet.key")
active_fernet_key_id = 1
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = ${3:-}
auth_url = ${3:-}
auth_type = password
username = glance
password = glance-secret
project_name = service
user_domain_id = default
project_domain_id = default
delay_auth_decision = True
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
[filter:container-quotas]
use = egg:swift#container_quotas
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
s3_acl = false
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
# delete a large object's segments with it (s3api asks for async deletes, which only an
# object-expirer would finish, and this all-in-one runs none)
allow_async_delete = false
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
[filter:symlink]
use = egg:swift#symlink
CONF
}

write_config() {
  mkdir -p "$D"/{etc,run,log,node/d1}
  [ -f "$D/etc/fernet.key" ] || "$VENV/bin/python" -c \
    'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' >"$D/etc/fernet.key"
  cat >"$D/etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_prefix = spyglass-test-prefix
swift_hash_path_suffix = spyglass-test-suffix
[storage-policy:0]
name = Policy-0
default = yes
CONF
  local s port
  for s in account:$ACCT_PORT container:$CONT_PORT object:$OBJ_PORT; do
    port=${s##*:}
    s=${s%%:*}
    {
      common_conf "$port"
      printf '[pipeline:main]\npipeline = %s-server\n[app:%s-server]\nuse = egg:swift#%s\n' "$s" "$s" "$s"
    } >"$D/etc/$s-server.conf"
  done
  proxy_conf "$PORT" 86400 >"$D/etc/proxy-server.conf"
}

build_rings() {
  local r n p
  # the storage servers' ports are part of the rings: other ports, new rings
  if [ "$(cat "$D/etc/ring-ports" 2>/dev/null)" != "$OBJ_PORT $CONT_PORT $ACCT_PORT" ]; then
    rm -f "$D"/etc/*.ring.gz "$D"/etc/*.builder
    echo "$OBJ_PORT $CONT_PORT $ACCT_PORT" >"$D/etc/ring-ports"
  fi
  for r in object:$OBJ_PORT container:$CONT_PORT account:$ACCT_PORT; do
    n=${r%%:*}
    p=${r##*:}
    [ -f "$D/etc/$n.ring.gz" ] && continue
    (
      cd "$D/etc"
      "$VENV/bin/swift-ring-builder" "$n.builder" create 8 1 1 >/dev/null
      "$VENV/bin/swift-ring-builder" "$n.builder" add "r1z1-127.0.0.1:$p/d1" 1 >/dev/null
      "$VENV/bin/swift-ring-builder" "$n.builder" rebalance >/dev/null
    ) || die "swift-ring-builder failed for the $n ring"
  done
}

# Swift keeps object metadata in user xattrs: without them (ramfs, old tmpfs) use a tmpfs.
check_xattrs() {
  if ! "$VENV/bin/python" -c "import os,sys; p=sys.argv[1]+'/.xattr-probe'; open(p,'w').close(); os.setxattr(p,'user.t',b'1'); os.remove(p)" "$D/node/d1" 2>/dev/null; then
    say "no user xattrs under $D/node; mounting a tmpfs there"
    mount -t tmpfs -o "size=${SWIFT_TMPFS_SIZE:-4g}" tmpfs "$D/node" || die "cannot mount a tmpfs on $D/node"
    mkdir -p "$D/node/d1"
  fi
}

# 200 once tempauth hands out a token that the account accepts (proxy port $1).
authenticated() {
  local tok
  tok=$(curl -s -m 10 -o /dev/null -D - -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' \
    "http://127.0.0.1:$1/auth/v1.0" 2>/dev/null | tr -d '\r' \
    | awk -F': ' 'tolower($1)=="x-auth-token"{print $2}') || true
  [ -n "${tok:-}" ] || return 1
  case "$(http_code -I -H "X-Auth-Token: $tok" "http://127.0.0.1:$1/v1/AUTH_test")" in
    200 | 204) return 0 ;;
    *) return 1 ;;
  esac
}

processes_alive() {
  our_pid "$D/run/proxy.pid" "$D/etc/proxy-server.conf" >/dev/null \
    && our_pid "$D/run/object.pid" "$D/etc/object-server.conf" >/dev/null \
    && our_pid "$D/run/container.pid" "$D/etc/container-server.conf" >/dev/null \
    && our_pid "$D/run/account.pid" "$D/etc/account-server.conf" >/dev/null
}

# Up: our four servers run and answer. On a loaded machine an answer can take a while, so
# live processes get up to $1 seconds (default 30) before Swift counts as down.
running() {
  local deadline=$((SECONDS + ${1:-30}))
  while processes_alive; do
    authenticated "$PORT" && return 0
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
  return 1
}

# A proxy on port $1 answers: tempauth hands out working tokens, or (Keystone proxy, $2 set)
# an anonymous request of an account is refused by keystoneauth.
proxy_answers() {
  if [ -z "${2:-}" ]; then authenticated "$1"; return; fi
  [ "$(http_code -I "http://127.0.0.1:$1/v1/AUTH_probe")" = 401 ]
}

# Wait up to $2 seconds until proxy port $1 answers (Keystone proxy: $4 set), while pid
# file $3's process lives.
wait_up() {
  local deadline=$((SECONDS + $2))
  while [ "$SECONDS" -lt "$deadline" ]; do
    proxy_answers "$1" "${4:-}" && return 0
    alive "$(cat "$3" 2>/dev/null)" || return 1
    sleep 0.25
  done
  return 1
}

stop_all() {
  local f port
  for f in "$D"/run/proxy-*.pid; do
    [ -e "$f" ] || continue
    port=${f##*/proxy-}
    port=${port%.pid}
    stop_pid "$f" "$D/etc/proxy-$port.conf"
  done
  for s in proxy object container account; do stop_pid "$D/run/$s.pid" "$D/etc/$s-server.conf"; done
  stop_pid "$D/run/memcached.pid" "memcached -l 127.0.0.1 -p $MC_PORT"
}

# Launch server $1 (account|container|object|proxy) with config $2, pid file $3.
launch() {
  local log=${3##*/}
  nohup "$VENV/bin/swift-$1-server" "$2" </dev/null >>"$D/log/${log%.pid}.log" 2>&1 9>&- &
  echo $! >"$3"
}

cmd_start() {
  lock
  installed || die "Swift is not installed in $VENV; run: $0 install"
  local start
  start=$(now)
  if [ -z "${SWIFT_RESET:-}" ] && running; then
    if [ "$(proxy_conf "$PORT" 86400)" = "$(cat "$D/etc/proxy-server.conf")" ]; then
      say "already running on http://127.0.0.1:$PORT"
      return 0
    fi
    # a newer script's proxy configuration: restart only the proxy, the data stays
    stop_pid "$D/run/proxy.pid" "$D/etc/proxy-server.conf"
    proxy_conf "$PORT" 86400 >"$D/etc/proxy-server.conf"
    launch proxy "$D/etc/proxy-server.conf" "$D/run/proxy.pid"
    if wait_up "$PORT" 120 "$D/run/proxy.pid"; then
      say "proxy restarted with its new configuration on http://127.0.0.1:$PORT"
      return 0
    fi
    die "the proxy did not come back on 127.0.0.1:$PORT; see $D/log/proxy.log"
  fi
  stop_all
  if [ "$(http_code "http://127.0.0.1:$PORT/healthcheck")" != 000 ]; then
    die "port $PORT is taken by something else (another checkout's Swift? set SWIFT_PORT, or the same SPYGLASS_SERVICES_DIR)"
  fi
  if [ -n "${SWIFT_RESET:-}" ]; then
    if mountpoint -q "$D/node" 2>/dev/null; then umount "$D/node"; fi
    rm -rf "$D"
  fi
  write_config
  check_xattrs
  build_rings
  if use_memcached; then
    nohup memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -u "$(id -un)" </dev/null \
      >"$D/log/memcached.log" 2>&1 9>&- &
    echo $! >"$D/run/memcached.pid"
  fi
  local s
  for s in account container object proxy; do launch "$s" "$D/etc/$s-server.conf" "$D/run/$s.pid"; done
  local deadline=$((SECONDS + 180))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if authenticated "$PORT"; then
      say "up on http://127.0.0.1:$PORT in $(since "$start") s"
      return 0
    fi
    for s in account container object proxy; do
      alive "$(cat "$D/run/$s.pid")" || {
        tail -n 20 "$D/log/$s.log" >&2 || true
        stop_all
        die "the $s server died on start; see $D/log"
      }
    done
    sleep 0.25
  done
  tail -n 20 "$D"/log/*.log >&2 || true
  stop_all
  die "Swift did not come up on 127.0.0.1:$PORT; see $D/log"
}

cmd_stop() {
  lock
  stop_all
  say "stopped"
}

cmd_status() {
  if running; then
    say "running on http://127.0.0.1:$PORT, data in $D"
    return 0
  fi
  say "not running (data in $D)"
  return 3
}

cmd_proxy_start() {
  local port=${1:?usage: $0 proxy-start PORT [TOKEN_LIFE] [KEYSTONE_URL]} life=${2:-86400}
  local keystone=${3:-} conf pidf
  lock
  running 60 || die "Swift is not running; run: $0 start"
  if [ -n "$keystone" ]; then
    "$VENV/bin/python" -c 'import keystonemiddleware' 2>/dev/null \
      || die "keystonemiddleware is not installed; run: SWIFT_WITH_KEYSTONE=1 $0 install"
  fi
  conf=$D/etc/proxy-$port.conf
  pidf=$D/run/proxy-$port.pid
  if our_pid "$pidf" "$conf" >/dev/null \
    && [ "$(proxy_conf "$port" "$life" "$keystone")" = "$(cat "$conf")" ] \
    && proxy_answers "$port" "$keystone"; then
    say "proxy already running on http://127.0.0.1:$port"
    return 0
  fi
  stop_pid "$pidf" "$conf"
  proxy_conf "$port" "$life" "$keystone" >"$conf"
  launch proxy "$conf" "$pidf"
  if wait_up "$port" 120 "$pidf" "$keystone"; then
    say "proxy up on http://127.0.0.1:$port (${keystone:+Keystone $keystone, }token life $life s)"
    return 0
  fi
  tail -n 20 "$D/log/proxy-$port.log" >&2 || true
  stop_pid "$pidf" "$conf"
  die "the proxy on port $port did not come up"
}

cmd_proxy_stop() {
  local port=${1:?usage: $0 proxy-stop PORT}
  lock
  stop_pid "$D/run/proxy-$port.pid" "$D/etc/proxy-$port.conf"
  say "proxy on $port stopped"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  proxy-start) cmd_proxy_start "${@:2}" ;;
  proxy-stop) cmd_proxy_stop "${@:2}" ;;
  *)
    echo "usage: $0 install|start|stop|status|proxy-start PORT [TOKEN_LIFE]|proxy-stop PORT" >&2
    exit 2
    ;;
esac
