"""The seed's configuration files: where they are, and a copy of their options the tests write.

The seed's ``glance-api.conf`` and ``glance-registry.conf`` live in ``shared/fixtures`` beside
the checkout, which a fresh clone does not have; the copies here hold the same options and
values (without the seed's prose), so the same options are covered everywhere.
``test_seed_copy.py`` checks that they still match the seed where both exist.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ETC = REPO / "etc"

SEED_STYLE_API = """\
[DEFAULT]
default_store = file
registry_host = 0.0.0.0
registry_port = 9191
registry_client_protocol = http
notifier_strategy = noop
rabbit_host = localhost
rabbit_port = 5672
rabbit_use_ssl = false
rabbit_userid = guest
rabbit_password = guest
rabbit_virtual_host = /
rabbit_notification_exchange = glance
rabbit_notification_topic = glance_notifications
qpid_notification_exchange = glance
qpid_notification_topic = glance_notifications
qpid_host = localhost
qpid_port = 5672
qpid_username =
qpid_password =
qpid_sasl_mechanisms =
qpid_reconnect_timeout = 0
qpid_reconnect_limit = 0
qpid_reconnect_interval_min = 0
qpid_reconnect_interval_max = 0
qpid_reconnect_interval = 0
qpid_heartbeat = 5
qpid_protocol = tcp
qpid_tcp_nodelay = True
filesystem_store_datadir = /var/lib/glance/images/
swift_store_auth_version = 1
swift_store_auth_address = localhost:8080/auth/v1.0/
swift_store_user = system:root
swift_store_key = testpass
swift_store_container = glance
swift_store_create_container_on_put = True
swift_store_large_object_size = 5120
swift_store_large_object_chunk_size = 200
swift_enable_snet = False
s3_store_host = 127.0.0.1:8080/v1.0/
s3_store_access_key = <20-char AWS access key>
s3_store_secret_key = <40-char AWS secret key>
s3_store_bucket = glance
s3_store_create_bucket_on_put = False
# s3_store_object_buffer_dir = /path/to/dir
rbd_store_ceph_conf = /etc/ceph/ceph.conf
rbd_store_user = glance
rbd_store_pool = images
rbd_store_chunk_size = 8
"""
"""The seed's api file without its prose: every option and value, in the seed's spellings."""

SEED_STYLE_REGISTRY = """\
[DEFAULT]
sql_connection = mysql://glance:openstack@127.0.0.1/glance
"""
"""The seed's registry file without its prose."""


def shared_fixtures_dir() -> Path:
    """Where the seed's files are: ``SPYGLASS_FIXTURES``, or ``shared/fixtures`` beside us."""
    override = os.environ.get("SPYGLASS_FIXTURES")
    return Path(override) if override else REPO.parent / "shared" / "fixtures"


def shared_seed_files() -> tuple[Path, Path]:
    """The seed's two files verbatim; skips the test, saying why, where they are absent."""
    path = shared_fixtures_dir()
    if not (path / "glance-api.conf").is_file():
        pytest.skip(
            f"the seed's files are not in {path} (no shared/ beside this checkout); "
            "the 'written' variant covers the same options"
        )
    return path / "glance-api.conf", path / "glance-registry.conf"


def line_of(path: Path, key: str) -> int:
    """The line number of the first ``key =`` assignment in ``path``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.split("=", 1)[0].strip() == key:
            return number
    raise AssertionError(f"{key} not in {path}")
