"""The tenant-isolation matrix again, with identities from real Keystone tokens,
and ``openstack`` with password auth finding Spyglass through the catalog."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.functional.isolation import Actor, Cast, Matrix
from tests.integration.keystone.harness import (
    ADMIN,
    P1_MEMBER,
    P1_READER,
    P2_MEMBER,
    P3_MEMBER,
    Account,
    KeystoneHarness,
)
from tests.server import LiveServer


@pytest.fixture(scope="module")
def server(
    keystone: KeystoneHarness, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    lines = ["[paste_deploy]", "flavor = keystone", *keystone.authtoken_section().splitlines()]
    live = LiveServer(tmp_path_factory.mktemp("keystone-mode"), lines).start()
    yield live
    live.stop()


def _actor(keystone: KeystoneHarness, name: str, account: Account) -> Actor:
    token = keystone.account_token(account)
    return Actor(name, keystone.project_id(account.project), {"X-Auth-Token": token})


def test_isolation_matrix(keystone: KeystoneHarness, server: LiveServer) -> None:
    cast = Cast(
        admin=_actor(keystone, "admin", ADMIN),
        owner=_actor(keystone, "owner", P1_MEMBER),
        reader=_actor(keystone, "reader", P1_READER),
        member=_actor(keystone, "member", P2_MEMBER),
        outsider=_actor(keystone, "outsider", P3_MEMBER),
    )
    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as client:
        matrix = Matrix(client, cast)
        failures = matrix.run()
    assert failures == []
    assert matrix.checks > 200


def test_tokens_are_required(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as client:
        missing = client.get("/v2/images")
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Keystone uri=")
        assert client.get("/v2/images", headers={"X-Auth-Token": "bogus"}).status_code == 401
        forged = {"X-Identity-Status": "Confirmed", "X-Roles": "admin", "X-Project-Id": "p1"}
        assert client.get("/v2/images", headers=forged).status_code == 401
        assert client.get("/versions").status_code == 200


def _openstack(keystone: KeystoneHarness, account: Account, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(
        OS_AUTH_URL=keystone.auth_url,
        OS_USERNAME=account.user,
        OS_PASSWORD=account.password,
        OS_PROJECT_NAME=account.project,
        OS_USER_DOMAIN_ID="default",
        OS_PROJECT_DOMAIN_ID="default",
        OS_IDENTITY_API_VERSION="3",
        OS_REGION_NAME="RegionOne",
        OS_INTERFACE="public",
        NO_PROXY="127.0.0.1,localhost",
    )
    executable = Path(sys.executable).with_name("openstack")
    done = subprocess.run(
        [str(executable), *args], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"openstack {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.compat
def test_openstack_shares_and_downloads_through_the_catalog(
    keystone: KeystoneHarness, server: LiveServer, tmp_path: Path
) -> None:
    keystone.register_image_endpoint(server.url)
    data = os.urandom(512 * 1024)
    source = tmp_path / "disk.img"
    source.write_bytes(data)
    image_id = _openstack(
        keystone, P1_MEMBER, "image", "create", "--disk-format", "raw", "--container-format",
        "bare", "--shared", "--file", str(source), "-f", "value", "-c", "id", "shared-by-p1",
    ).strip()  # fmt: skip
    p2 = keystone.project_id(P2_MEMBER.project)
    _openstack(keystone, P1_MEMBER, "image", "add", "project", image_id, p2)
    listed = _openstack(keystone, P2_MEMBER, "image", "list", "-f", "value", "-c", "ID")
    assert image_id not in listed
    _openstack(keystone, P2_MEMBER, "image", "set", "--accept", image_id)
    assert image_id in _openstack(keystone, P2_MEMBER, "image", "list", "-f", "value", "-c", "ID")
    target = tmp_path / "copy.img"
    _openstack(keystone, P2_MEMBER, "image", "save", "--file", str(target), image_id)
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    outsider = _openstack(keystone, P3_MEMBER, "image", "list", "-f", "value", "-c", "ID")
    assert image_id not in outsider
