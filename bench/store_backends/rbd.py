"""Ceph RBD: the test cluster of ``scripts/ceph.sh``; its own client is a librbd loop.

All three movers write into pool ``BENCH_RBD_POOL`` (``images``) as ``client.glance`` with
objects of ``BENCH_RBD_CHUNK_MIB`` (8) MiB: the own client creates an image of the full
size and writes it in one-object pieces, one after the other (what glance_store's driver
does), then reads it back in the same pieces; Spyglass and upstream's glance_store take
``rbd_store_chunk_size`` of that size. Upstream's venv gets Debian's ``rados``/``rbd``
modules linked in (``scripts/ceph.sh bindings``), as Spyglass's does.

The cluster's osd keeps its data in a BlueStore file on this machine's disk; a 1 GiB run
needs the default 4 GiB store (``CEPH_STORE_BYTES``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from store_backends import StoreBackend, UpstreamStore

REPO = Path(__file__).resolve().parents[2]
CEPH_SH = REPO / "scripts" / "ceph.sh"
GLANCE_SH = REPO / "bench" / "upstream" / "glance.sh"
UPSTREAM_VENV = REPO / ".bench" / "upstream-venv"
POOL = os.environ.get("BENCH_RBD_POOL", "images")
CHUNK = int(os.environ.get("BENCH_RBD_CHUNK_MIB", "8")) * 1024 * 1024
USER = "glance"


class Rbd(StoreBackend):
    name = "rbd"
    own_client = (
        f"librbd (python3-rbd): create, {CHUNK >> 20} MiB writes one after the other, "
        f"then {CHUNK >> 20} MiB reads"
    )
    remark = (
        "rbd: the cluster (one mon, one BlueStore osd on this machine's disk, one mgr) runs "
        "on the same two cores as the movers. Uploads are CPU-bound: in the profile "
        '("Stores: where the time goes") Spyglass spends about three times the osd\'s CPU '
        "per GiB, half of it MD5 + SHA-512, which the own client's librbd loop does not "
        "compute, and the rest mostly the socket receive; on two cores the sum of the "
        "server's, the osd's and the client's CPU per GiB sets the rate. Upstream hashes the "
        "same bytes. Downloads read two 1 MiB pieces ahead with librbd's aio "
        "(`stores/rbd_read.py`) and cost Spyglass about as much CPU as the osd; every "
        "mover's download rate swings 1.5-2x from run to run here, with the osd reading "
        "from the disk or from its cache."
    )

    def __init__(self) -> None:
        self.conffile = ""

    def unavailable(self) -> str | None:
        try:
            import rados  # type: ignore[import-not-found]  # noqa: F401
            import rbd  # type: ignore[import-not-found]  # noqa: F401
        except ImportError:
            return "Ceph's bindings are not in this venv (scripts/ceph.sh install)"
        status = subprocess.run(
            ["bash", str(CEPH_SH), "status"], capture_output=True, text=True, check=False
        )
        if status.returncode != 0:
            return "Ceph is not running (scripts/ceph.sh install && scripts/ceph.sh start)"
        conf = subprocess.run(
            ["bash", str(CEPH_SH), "conf"], capture_output=True, text=True, check=True
        )
        self.conffile = conf.stdout.strip()
        return None

    def _options(self) -> list[str]:
        return [
            f"rbd_store_pool = {POOL}",
            f"rbd_store_user = {USER}",
            f"rbd_store_ceph_conf = {self.conffile}",
            f"rbd_store_chunk_size = {CHUNK >> 20}",
            "rados_connect_timeout = 60",
        ]

    def spyglass_lines(self, work: Path) -> list[str]:
        return ["[glance_store]", "default_store = rbd", "stores = rbd", *self._options()]

    def upstream_store(self, work: Path) -> UpstreamStore:
        subprocess.run([str(GLANCE_SH), "install"], check=True)
        subprocess.run(["bash", str(CEPH_SH), "bindings", str(UPSTREAM_VENV)], check=True)
        section = "\n".join(["[bench]", *self._options()])
        return UpstreamStore(backends="bench:rbd", default="bench", sections=section + "\n")

    # -- the own client ------------------------------------------------------------------

    def _connect(self) -> tuple[Any, Any]:
        import rados
        import rbd

        cluster = rados.Rados(conffile=self.conffile, rados_id=USER)
        cluster.connect()
        return cluster, rbd

    def own_upload(self, source: Path, name: str) -> None:
        cluster, rbd = self._connect()
        try:
            with cluster.open_ioctx(POOL) as ioctx:
                order = CHUNK.bit_length() - 1
                size = source.stat().st_size
                rbd.RBD().create(ioctx, name, size, order, old_format=False, features=1)
                with rbd.Image(ioctx, name) as image, source.open("rb") as data:
                    offset = 0
                    while chunk := data.read(CHUNK):
                        image.write(chunk, offset)
                        offset += len(chunk)
        finally:
            cluster.shutdown()

    def own_download(self, name: str) -> int:
        cluster, rbd = self._connect()
        try:
            with cluster.open_ioctx(POOL) as ioctx, rbd.Image(ioctx, name, read_only=True) as image:
                size, read = image.size(), 0
                while read < size:
                    read += len(image.read(read, min(CHUNK, size - read)))
                return read
        finally:
            cluster.shutdown()

    def own_delete(self, name: str) -> None:
        cluster, rbd = self._connect()
        try:
            with cluster.open_ioctx(POOL) as ioctx:
                rbd.RBD().remove(ioctx, name)
        finally:
            cluster.shutdown()


BACKEND = Rbd()
