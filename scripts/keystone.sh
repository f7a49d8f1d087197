#!/usr/bin/env bash
# A real OpenStack Keystone (PyPI keystone 30.0.0 under gunicorn) on 127.0.0.1, for Spyglass's
# integration tests. After shared/notes/keystone.md; see its pitfalls before changing anything.
#
#   scripts/keystone.sh install   # own venv with keystone + gunicorn; ~1 min once, then a no-op
#   scripts/keystone.sh start     # SQLite, fernet, bootstrap, test accounts; ~12 s the first
#                                 # time, ~2 s with the data kept, a no-op when already up
#   scripts/keystone.sh stop      # by pid file only
#   scripts/keystone.sh status    # exit 0 when up, 3 when not
#
# Environment (all optional):
#   SPYGLASS_SERVICES_DIR       venv and data live here (default: <repo>/.services)
#   KEYSTONE_PORT               35357
#   KEYSTONE_TOKEN_EXPIRATION   token lifetime in seconds (3600); `start` with another value
#                               restarts a running Keystone with it (the data is kept)
#   KEYSTONE_ADMIN_PASSWORD     bootstrap admin's password (admin-secret)
#   IMAGE_ENDPOINT              public URL of the `image` service in the catalog
#                               (http://127.0.0.1:9292)
#   KEYSTONE_RESET=1            `start` wipes the data and sets everything up again
#   KEYSTONE_PYTHON             interpreter for the venv (python3; needs 3.11+)
#
# Test accounts (domain `default`): glance/glance-secret in project `service` (roles service,
# admin), p1-user/p1-secret (member of p1), p2-user/p2-secret (p2), p3-user/p3-secret (p3),
# p1-reader/reader-secret (reader of p1), admin/$KEYSTONE_ADMIN_PASSWORD (admin of `admin`).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SERVICES=$(realpath -m "${SPYGLASS_SERVICES_DIR:-$ROOT/.services}")
VENV=$SERVICES/keystone-venv
D=$SERVICES/keystone
PORT=${KEYSTONE_PORT:-35357}
URL=http://127.0.0.1:$PORT
ADMIN_PW=${KEYSTONE_ADMIN_PASSWORD:-admin-secret}
TOKEN_TTL=${KEYSTONE_TOKEN_EXPIRATION:-3600}
IMAGE_URL=${IMAGE_ENDPOINT:-http://127.0.0.1:9292}
PYTHON=${KEYSTONE_PYTHON:-python3}
PINS="keystone==30.0.0 gunicorn==27.0.1"

# The dependency set the recipe was tested with (pip freeze of its keystone venv). Keystone is
# not installed with OpenStack's upper-constraints, so without this pip takes the newest of
# everything, and one day something breaks.
CONSTRAINTS="alembic==1.20.1 amqp==5.4.2 aniso8601==10.0.1 attrs==26.1.0 bcrypt==5.0.0
blinker==1.9.0 cachetools==8.0.2 certifi==2026.10.19.post1 cffi==2.1.1 charset-normalizer==3.5.3
click==8.5.1 cryptography==50.0.2 debtcollector==3.1.0 decorator==5.3.1 defusedxml==0.7.1
dnspython==2.9.2 dogpile.cache==1.5.0 elementpath==4.8.0 eventlet==0.41.3 fasteners==0.20
Flask==3.1.3 Flask-RESTful==0.3.10 futurist==3.5.0 greenlet==3.5.6 gunicorn==27.0.1 idna==3.20
iso8601==2.1.0 itsdangerous==2.2.0 Jinja2==3.1.6 jsonschema==4.26.0
jsonschema-specifications==2025.9.1 keystone==30.0.0 keystoneauth1==5.18.1
keystonemiddleware==13.0.1 kombu==5.7.0 Mako==1.4.3 MarkupSafe==3.0.4 msgpack==1.2.4
netaddr==1.3.0 oauthlib==4.0.1 os-service-types==1.9.0 oslo.cache==4.3.0 oslo.concurrency==7.6.1
oslo.config==10.7.0 oslo.context==6.5.0 oslo.db==18.1.1 oslo.i18n==6.9.0 oslo.log==8.3.2
oslo.messaging==18.3.1 oslo.metrics==0.17.0 oslo.middleware==8.2.0 oslo.policy==6.0.1
oslo.serialization==5.11.0 oslo.service==4.8.0 oslo.upgradecheck==2.8.0 oslo.utils==10.2.0
osprofiler==4.4.0 packaging==26.4 Paste==3.10.1 PasteDeploy==3.1.0 pbr==7.1.3
prettytable==3.18.0 prometheus_client==0.26.0 psutil==7.2.2 pycadf==4.1.0 pycparser==3.12
PyJWT==2.15.1 pyOpenSSL==26.4.0 pyparsing==3.3.3 pysaml2==7.5.5 python-dateutil==4.0.0
python-keystoneclient==6.0.0 pytz==2026.6 PyYAML==6.0.4 referencing==0.37.0 repoze-lru==0.8
requests==2.34.2 rfc3986==2.0.0 Routes==2.5.1 rpds-py==2026.9.1 six==1.17.0 SQLAlchemy==2.1.9
statsd==4.0.1 stevedore==5.10.0 testresources==2.1.2 testscenarios==0.7.0
typing_extensions==4.16.0 tzdata==2026.6 urllib3==2.8.0 vine==5.1.0 wcwidth==0.9.4
WebOb==1.8.11 Werkzeug==3.1.9 wrapt==2.5.2 xmlschema==2.5.1 yappi==1.7.6"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "keystone.sh: $*"; }
die() { echo "keystone.sh: $*" >&2; exit 1; }
http_code() { curl -s -m 2 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true; }
alive() { [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z)" ]; }

# One caller at a time (e.g. several pytest processes starting the same Keystone).
lock() {
  mkdir -p "$SERVICES"
  exec 9>"$SERVICES/keystone.lock"
  flock -w 600 9 || die "timed out waiting for $SERVICES/keystone.lock"
}

# The pid in our pid file, if that process is alive and is our gunicorn (its command line names
# our data dir); nothing else is ever signalled.
our_pid() {
  local p
  p=$(cat "$D/run/keystone.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && alive "$p" && tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$D/etc" \
    && echo "$p"
}

installed() {
  [ -x "$VENV/bin/gunicorn" ] && [ -x "$VENV/bin/keystone-manage" ] \
    && [ "$(cat "$VENV/.spyglass-installed" 2>/dev/null)" = "$PINS" ]
}

cmd_install() {
  lock
  if installed; then
    say "already installed in $VENV"
    return 0
  fi
  local start
  start=$(now)
  "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is not a Python 3.11+ (keystone 30 needs one); set KEYSTONE_PYTHON"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local constraints
  constraints=$(mktemp)
  tr ' ' '\n' <<<"$CONSTRAINTS" >"$constraints"
  # shellcheck disable=SC2086
  if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$constraints" $PINS; then
    rm -f "$constraints"
    die "pip could not install $PINS into $VENV"
  fi
  rm -f "$constraints"
  echo "$PINS" >"$VENV/.spyglass-installed"
  say "installed $PINS in $VENV in $(since "$start") s"
}

config_text() {
  cat <<CONF
[DEFAULT]
log_file = $D/log/keystone.log
[database]
connection = sqlite:///$D/keystone.db
[token]
provider = fernet
expiration = $TOKEN_TTL
[fernet_tokens]
key_repository = $D/fernet-keys
[fernet_receipts]
key_repository = $D/fernet-keys
[credential]
key_repository = $D/credential-keys
[identity]
# bcrypt's minimum: a password login takes ~15 ms instead of ~300 ms (test data only!)
password_hash_rounds = 4
[cache]
# per-process cache: a validation takes ~5 ms instead of ~130 ms; correct only with ONE worker
enabled = true
backend = oslo_cache.dict
CONF
}

stop_ours() {
  local p workers
  if p=$(our_pid); then
    workers=$(pgrep -P "$p" || true) # gunicorn's workers are the master's children
    kill "$p"                        # TERM: the master stops its workers, then exits
    for _ in $(seq 1 100); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then kill -9 "$p"; fi
    for w in $workers; do if alive "$w"; then kill -9 "$w"; fi; done
  fi
  rm -f "$D/run/keystone.pid"
}

provision_signature() { echo "port=$PORT image=$IMAGE_URL"; }

provision() {
  KEYSTONE_URL=$URL/v3 IMAGE_URL=$IMAGE_URL ADMIN_PW=$ADMIN_PW "$VENV/bin/python" - <<'PY'
"""Test accounts and the image endpoint, through the REST API (stdlib only). Idempotent."""
import json
import os
import urllib.request

K, IMAGE_URL, ADMIN_PW = os.environ["KEYSTONE_URL"], os.environ["IMAGE_URL"], os.environ["ADMIN_PW"]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, path, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(K + path, method=method, data=data)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    with OPENER.open(req, timeout=30) as r:
        raw = r.read()
        return r.headers, (json.loads(raw) if raw else None)


def password_token(user, password, project):
    identity = {"name": user, "domain": {"id": "default"}, "password": password}
    auth = {"identity": {"methods": ["password"], "password": {"user": identity}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}
    return call("POST", "/auth/tokens", {"auth": auth})[0]["X-Subject-Token"]


T = password_token("admin", ADMIN_PW, "admin")


def find_or_create(kind, query, body):
    found = call("GET", f"/{kind}?{query}", token=T)[1][kind]
    if found:
        return found[0]["id"]
    return call("POST", f"/{kind}", {kind[:-1]: body}, token=T)[1][kind[:-1]]["id"]


def project(name):
    body = {"name": name, "domain_id": "default"}
    return find_or_create("projects", f"name={name}&domain_id=default", body)


def user(name, password):
    body = {"name": name, "password": password, "domain_id": "default"}
    return find_or_create("users", f"name={name}&domain_id=default", body)


ROLES = {r["name"]: r["id"] for r in call("GET", "/roles", token=T)[1]["roles"]}


def grant(project_id, user_id, role):
    call("PUT", f"/projects/{project_id}/users/{user_id}/roles/{ROLES[role]}", token=T)


service, glance = project("service"), user("glance", "glance-secret")
grant(service, glance, "service")  # GET /v3/auth/tokens of others' tokens
grant(service, glance, "admin")  # HEAD and DELETE of others' tokens
for p in ("p1", "p2", "p3"):
    grant(project(p), user(f"{p}-user", f"{p}-secret"), "member")
grant(project("p1"), user("p1-reader", "reader-secret"), "reader")
image = find_or_create("services", "type=image",
                       {"type": "image", "name": "glance", "description": "Image service"})
eps = call("GET", f"/endpoints?service_id={image}&interface=public", token=T)[1]["endpoints"]
if [e["url"] for e in eps] != [IMAGE_URL] or eps[0].get("region_id") != "RegionOne":
    for e in eps:
        call("DELETE", f"/endpoints/{e['id']}", token=T)
    endpoint = {"service_id": image, "interface": "public", "url": IMAGE_URL,
                "region_id": "RegionOne"}
    call("POST", "/endpoints", {"endpoint": endpoint}, token=T)
PY
  provision_signature >"$D/.provisioned"
}

cmd_start() {
  lock
  installed || die "Keystone is not installed in $VENV; run: $0 install"
  local start p config
  start=$(now)
  config=$(config_text)
  if [ -z "${KEYSTONE_RESET:-}" ] && p=$(our_pid) && [ "$(http_code "$URL/v3")" = 200 ]; then
    if [ "$(cat "$D/etc/keystone.conf" 2>/dev/null)" = "$config" ]; then
      if [ "$(cat "$D/.provisioned" 2>/dev/null)" != "$(provision_signature)" ]; then
        provision
        say "provisioned the test accounts on $URL in $(since "$start") s"
      else
        say "already running on $URL (pid $p)"
      fi
      return 0
    fi
    say "configuration changed (token expiration $TOKEN_TTL s): restarting"
  fi
  stop_ours
  # The port must be free. A gunicorn worker orphaned by a SIGKILLed master lets it go at its
  # next request or within ~16 s, so wait a little for that.
  for i in $(seq 1 40); do
    [ "$(http_code "$URL/")" = 000 ] && break
    [ "$i" = 40 ] && die "port $PORT is taken by something else (set KEYSTONE_PORT)"
    sleep 0.5
  done
  if [ -n "${KEYSTONE_RESET:-}" ]; then rm -rf "$D"; fi
  mkdir -p "$D/etc" "$D/log" "$D/run"

  # 1. configuration (rewritten on every start; the database and keys are kept)
  printf '%s\n' "$config" >"$D/etc/keystone.conf"
  # Keystone parses sys.argv when the app is created and rejects gunicorn's arguments
  # (pitfall 1): gunicorn loads this wrapper, which clears them first.
  cat >"$D/etc/keystone_wsgi_app.py" <<'PY'
import sys

sys.argv = sys.argv[:1]
from keystone.wsgi.api import application  # noqa: E402,F401
PY

  # 2. one-time setup: key repositories, schema, admin, identity endpoints
  km() {
    "$VENV/bin/keystone-manage" --config-file "$D/etc/keystone.conf" "$@" \
      >>"$D/log/keystone-manage.log" 2>&1 \
      || die "keystone-manage $1 failed; see $D/log/keystone-manage.log"
  }
  if [ "$(cat "$D/.bootstrapped" 2>/dev/null)" != "$PORT" ]; then
    local u g
    u=$(id -un)
    g=$(id -gn)
    # keystone-manage makes the key directories itself, mode 0700 (pitfall 8)
    [ -f "$D/fernet-keys/0" ] || km fernet_setup --keystone-user "$u" --keystone-group "$g"
    [ -f "$D/credential-keys/0" ] || km credential_setup --keystone-user "$u" --keystone-group "$g"
    km db_sync
    km bootstrap --bootstrap-password "$ADMIN_PW" \
      --bootstrap-admin-url "$URL/v3" --bootstrap-public-url "$URL/v3" \
      --bootstrap-internal-url "$URL/v3" --bootstrap-region-id RegionOne
    echo "$PORT" >"$D/.bootstrapped"
  fi
  cat >"$D/admin-openrc" <<RC
export OS_AUTH_URL=$URL/v3 OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=RegionOne
export OS_USERNAME=admin OS_PASSWORD=$ADMIN_PW OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_ID=default OS_PROJECT_DOMAIN_ID=default
RC

  # 3. the server, in the background: one sync worker (the cache is per process, pitfall 4);
  # no control socket in ~/.gunicorn (pitfall 3); output to files, stdin and the lock closed, so
  # that neither a caller capturing this script's output nor the next start waits for it
  local launched
  launched=$(now)
  (
    cd "$D"
    OS_KEYSTONE_CONFIG_DIR=$D/etc exec nohup "$VENV/bin/gunicorn" \
      --bind "127.0.0.1:$PORT" --workers 1 --no-control-socket \
      --pythonpath "$D/etc" --access-logfile "$D/log/access.log" \
      keystone_wsgi_app:application </dev/null >"$D/log/gunicorn.log" 2>&1 9>&-
  ) &
  p=$!
  echo "$p" >"$D/run/keystone.pid"

  # 4. wait until GET /v3 answers 200; fail early if the process died
  local up=""
  for _ in $(seq 1 300); do
    if [ "$(http_code "$URL/v3")" = 200 ]; then up=1; break; fi
    alive "$p" || break
    sleep 0.2
  done
  if [ -z "$up" ]; then
    tail -n 20 "$D/log/gunicorn.log" "$D/log/keystone.log" >&2 2>/dev/null || true
    stop_ours
    die "Keystone did not come up on $URL; see $D/log"
  fi
  local ready
  ready=$(since "$launched")
  if [ "$(cat "$D/.provisioned" 2>/dev/null)" != "$(provision_signature)" ]; then provision; fi
  say "up on $URL (pid $p) in $(since "$start") s (server ready ${ready} s after launch)"
}

cmd_stop() {
  lock
  stop_ours
  say "stopped"
}

cmd_status() {
  local p
  if p=$(our_pid) && [ "$(http_code "$URL/v3")" = 200 ]; then
    say "running on $URL (pid $p), data in $D"
    return 0
  fi
  say "not running (data in $D)"
  return 3
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 install|start|stop|status" >&2
    exit 2
    ;;
esac
