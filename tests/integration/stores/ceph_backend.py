"""The real Ceph of ``scripts/ceph.sh`` for the RBD store tests.

The session fixture starts the cluster (a no-op when it runs) and makes a pool of
its own, removed at the end, so that listings see only this session's images.
Everything the tests list, clone or clean up goes through the bindings as
``client.admin``, never through the driver under test. Without Ceph (not
installed, or the bindings missing from the venv) the tests skip, except under
``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "ceph.sh"
USER = "glance"


def run_script(*args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """``scripts/ceph.sh ARGS``, output captured; never raises for its exit code."""
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _need(*args: str) -> str:
    done = run_script(*args)
    if done.returncode != 0:
        _unavailable(
            f"scripts/ceph.sh {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout.strip()


def bindings() -> tuple[Any, Any]:
    try:
        import rados  # type: ignore[import-not-found]
        import rbd  # type: ignore[import-not-found]
    except ImportError as exc:
        _unavailable(f"Ceph's bindings are not in this venv ({exc}): scripts/ceph.sh install")
    return rados, rbd


@dataclass
class Ceph:
    """The running cluster, reached as ``client.admin``, and this session's pool."""

    conffile: str
    pool: str
    admin: Any
    rados: Any
    rbd: Any

    def ioctx(self, pool: str | None = None) -> Any:
        ctx = self.admin.open_ioctx(pool or self.pool)
        ctx.set_osdmap_full_try()  # the tests clean up while the pool is full
        return ctx

    def images(self, pool: str | None = None) -> list[str]:
        """Every RBD image of the pool (this session's unless named), and every snapshot
        as ``image@snap``."""
        ctx = self.ioctx(pool)
        try:
            names: list[str] = []
            for name in self.rbd.RBD().list(ctx):
                names.append(name)
                try:
                    with self.rbd.Image(ctx, name, read_only=True) as image:
                        names += [f"{name}@{snap['name']}" for snap in image.list_snaps()]
                except self.rbd.ImageNotFound:
                    pass
            return names
        finally:
            ctx.close()

    async def aimages(self) -> list[str]:
        return await anyio.to_thread.run_sync(self.images)

    def mon(self, prefix: str, **args: object) -> Any:
        code, out, status = self.admin.mon_command(json.dumps({"prefix": prefix, **args}), b"")
        assert code == 0, status
        return json.loads(out) if out else None

    def pool_flags(self) -> str:
        pools = self.mon("osd pool ls", detail="detail", format="json")
        return next(str(p.get("flags_names", "")) for p in pools if p["pool_name"] == self.pool)

    def set_quota(self, max_bytes: int, *, wait: float = 60.0) -> None:
        """Set the pool's byte quota (0: none) and wait until Ceph enforces it (or lifts it):
        the mgr reports the pool's usage every few seconds."""
        self.mon("osd pool set-quota", pool=self.pool, field="max_bytes", val=str(max_bytes))
        deadline = time.monotonic() + wait
        while ("full_quota" in self.pool_flags()) != bool(max_bytes):
            assert time.monotonic() < deadline, (
                f"the quota did not take effect: {self.pool_flags()}"
            )
            time.sleep(0.5)

    def clone(self, image: str, clone: str) -> None:
        """A copy-on-write clone of ``image@snap``, as Nova and Cinder make."""
        ctx = self.ioctx()
        try:
            layering = self.rbd.RBD_FEATURE_LAYERING
            self.rbd.RBD().clone(ctx, image, "snap", ctx, clone, features=layering)
        finally:
            ctx.close()

    def make_image(self, pool: str, name: str, data: bytes) -> str:
        """An RBD image holding ``data`` with a snapshot ``snap`` in ``pool``, as another
        user of the cluster (Cinder, Nova) keeps one; its location in upstream's form."""
        ctx = self.ioctx(pool)
        try:
            self.rbd.RBD().create(ctx, name, len(data), old_format=False)
            with self.rbd.Image(ctx, name) as image:
                image.write(data, 0)
                image.create_snap("snap")
        finally:
            ctx.close()
        return f"rbd://{self.admin.get_fsid()}/{pool}/{name}/snap"

    def remove(self, image: str) -> None:
        ctx = self.ioctx()
        try:
            self.rbd.RBD().remove(ctx, image)
        finally:
            ctx.close()


def _make_pool(admin: Any, rbd: Any, name: str) -> None:
    admin.create_pool(name)
    ctx = admin.open_ioctx(name)
    try:
        rbd.RBD().pool_init(ctx, False)
        deadline = time.monotonic() + 60
        while True:  # until its placement groups take writes
            try:
                ctx.write_full("probe", b"1")
                ctx.remove_object("probe")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    finally:
        ctx.close()


@pytest.fixture(scope="session")
def ceph() -> Iterator[Ceph]:
    rados, rbd = bindings()
    if run_script("status", timeout=60).returncode != 0:
        _need("start")
    conffile = _need("conf")
    admin = rados.Rados(conffile=conffile, rados_id="admin", conf={"client_mount_timeout": "30"})
    admin.connect()
    pool = f"spyglass-{uuid.uuid4().hex[:8]}"
    _make_pool(admin, rbd, pool)
    try:
        yield Ceph(conffile, pool, admin, rados, rbd)
    finally:
        admin.delete_pool(pool)
        admin.shutdown()


@pytest.fixture(scope="session")
def foreign_pool(ceph: Ceph) -> Iterator[str]:
    """A second pool of the cluster, that no store under test is configured with."""
    pool = f"spyglass-foreign-{uuid.uuid4().hex[:8]}"
    _make_pool(ceph.admin, ceph.rbd, pool)
    try:
        yield pool
    finally:
        ceph.admin.delete_pool(pool)


def osd_stop() -> None:
    _need("osd-stop")


def osd_start() -> None:
    _need("osd-start")
