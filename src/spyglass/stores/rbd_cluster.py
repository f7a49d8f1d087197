"""The blocking half of the RBD store: librados/librbd calls, run only in worker threads.

Ceph's Python bindings (Debian's ``python3-rados``/``python3-rbd``; not on PyPI) are
synchronous, so every function here is called through ``anyio.to_thread`` by
``stores/rbd.py``, never on the event loop. Errors of the bindings become
Spyglass errors in :func:`translate`, by errno, so that the two binding modules'
parallel exception trees need no listing.

Images are written under a partial name and renamed into place once complete and
snapshotted, so an image named after a Glance image is always whole; partial
images that a failure could not remove (the cluster was down) are handed to
:class:`Janitor`, which keeps trying in the background.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from spyglass.errors import (
    ConfigError,
    Duplicate,
    InUse,
    NotFound,
    StorageFull,
    StorageWriteDenied,
    StoreMisconfigured,
    StoreUnavailable,
)
from spyglass.stores import rbd_malloc

SNAPSHOT = "snap"
PARTIAL = ".partial-"
"""Infix of the name an image is written under until it is complete."""
STALE_PARTIAL = 3600.0
"""Seconds without a write after which a partial image is a crashed upload's leftover."""
MAX_RESIZE_STEP = 8 * 1024**3
"""Growth of an image of unknown size doubles up to this (upstream's ramp)."""
INSTALL_HINT = (
    "the RBD store needs Ceph's Python bindings, which are not on PyPI: apt-get install "
    "python3-rados python3-rbd, then link their rados/rbd .so files from "
    "/usr/lib/python3/dist-packages into this CPython 3.11 venv (scripts/ceph.sh bindings VENV)"
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Bindings:
    rados: ModuleType
    rbd: ModuleType


def load_bindings() -> Bindings:
    """The ``rados`` and ``rbd`` modules, or a ``ConfigError`` that says how to get them."""
    try:
        bindings = Bindings(importlib.import_module("rados"), importlib.import_module("rbd"))
    except ImportError as exc:
        raise ConfigError(f"store driver 'rbd': {exc}; {INSTALL_HINT}") from None
    rbd_malloc.tune()
    return bindings


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    backend_id: str
    conffile: str
    user: str | None
    pool: str
    timeout: int
    """``rados_connect_timeout``: seconds for connects and every operation; < 0: librados' own."""


class Cluster:
    """One librados connection, shared by every operation of a store; thread-safe."""

    def __init__(self, bindings: Bindings, config: ClusterConfig) -> None:
        self.b = bindings
        self.config = config
        self._lock = threading.Lock()
        self._handle: Any = None
        self._ioctxs: dict[str, Any] = {}
        self.fsid: str | None = None

    def translate(self, exc: BaseException, action: str) -> BaseException:
        """The Spyglass error for a failure of the bindings (others pass through unchanged)."""
        if not isinstance(exc, self.b.rados.Error | self.b.rbd.Error | OSError):
            return exc
        code, name = getattr(exc, "errno", None), type(exc).__name__
        store, pool = f"Store {self.config.backend_id}", self.config.pool
        if code == errno.ENOENT:
            return NotFound(f"{store}: the RBD image does not exist.")
        if code == errno.EEXIST:
            return Duplicate(f"{store}: the RBD image already exists.")
        if code == errno.EBUSY:
            return InUse(f"{store}: the RBD image is in use (it has clones or watchers).")
        if code in (errno.ENOSPC, errno.EDQUOT):
            return StorageFull(f"{store}: the Ceph pool {pool} is full ({action}).")
        if code in (errno.EACCES, errno.EPERM):
            return StorageWriteDenied(
                f"{store}: Ceph denied the operation ({action}); check the caps of its user."
            )
        if code == errno.ETIMEDOUT or name in ("TimedOut", "Timeout"):
            return StoreUnavailable(
                f"{store}: the Ceph cluster did not answer in time ({action}; "
                f"rados_connect_timeout {self.config.timeout})."
            )
        return StoreUnavailable(f"{store}: Ceph failed ({action}): {name} errno {code}.")

    # -- connection ------------------------------------------------------------------

    def connected(self) -> Any:
        """The librados handle, connecting first if needed."""
        with self._lock:
            if self._handle is None:
                self._handle = self._connect()
            return self._handle

    def _connect(self) -> Any:
        """A new connection, with what the driver needs set on it, whatever ceph.conf says.

        ``rbd_cache = false``: the driver writes whole images once and reads them
        sequentially, so a writeback cache would only hold a second copy of the bytes.
        ``rbd_disable_zero_copy_writes = false``: librbd then writes from the caller's
        buffer instead of copying every write (its default, to guard against callers that
        change a buffer under a write); the chunks are immutable bytes that ``Writer``
        keeps until their writes complete, so memory in flight is one copy, not two.
        """
        config, rados = self.config, self.b.rados
        options: dict[str, str] = {"rbd_cache": "false", "rbd_disable_zero_copy_writes": "false"}
        if config.timeout >= 0:
            t = str(config.timeout)
            options |= {
                "client_mount_timeout": t,
                "rados_osd_op_timeout": t,
                "rados_mon_op_timeout": t,
            }
        store = f"Store {config.backend_id}"
        try:
            handle = rados.Rados(conffile=config.conffile, rados_id=config.user, conf=options)
        except rados.Error as exc:
            raise StoreMisconfigured(
                f"{store}: the Ceph configuration file {config.conffile or '(default)'} "
                f"(rbd_store_ceph_conf) cannot be read: {type(exc).__name__}."
            ) from None
        try:
            handle.connect()
        except rados.Error as exc:
            handle.shutdown()
            code = getattr(exc, "errno", None)
            if code in (errno.ENOENT, errno.EACCES, errno.EPERM, errno.EINVAL):
                who = f"client.{config.user}" if config.user else "the default user"
                raise StoreMisconfigured(
                    f"{store}: Ceph refused {who} (rbd_store_user and its keyring in "
                    f"rbd_store_ceph_conf): {type(exc).__name__} errno {code}."
                ) from None
            raise self.translate(exc, "connecting to the cluster") from None
        self.fsid = handle.get_fsid()
        return handle

    def check_pool(self) -> None:
        if not self.connected().pool_exists(self.config.pool):
            raise StoreMisconfigured(
                f"Store {self.config.backend_id}: the Ceph pool {self.config.pool} "
                "(rbd_store_pool) does not exist."
            )

    def session(self) -> Cluster:
        """A connection of its own, for one upload: if the upload is cut off, shutting
        it down lets Ceph expire its watch and exclusive lock, which would otherwise
        keep the partial image busy for as long as the shared connection lives."""
        return Cluster(self.b, self.config)

    def shutdown(self) -> None:
        with self._lock:
            handle, self._handle = self._handle, None
            contexts, self._ioctxs = list(self._ioctxs.values()), {}
        for ctx in contexts:
            ctx.close()
        if handle is not None:
            handle.shutdown()

    def ioctx(self, pool: str | None = None) -> Any:
        """The I/O context on ``pool``, opened once and kept (open images use it).

        It fails fast with ENOSPC/EDQUOT when the pool or cluster is full, instead of
        pausing writes until a timeout, and lets the cleanup of a failed upload delete
        data while full.
        """
        pool = pool or self.config.pool
        handle = self.connected()
        with self._lock:
            ctx = self._ioctxs.get(pool)
            if ctx is None:
                ctx = self._ioctxs[pool] = handle.open_ioctx(pool)
                ctx.set_osdmap_full_try()
            return ctx

    # -- images ----------------------------------------------------------------------

    def exists(self, pool: str | None, name: str) -> bool:
        try:
            self.b.rbd.Image(self.ioctx(pool), name, read_only=True).close()
        except self.b.rbd.ImageNotFound:
            return False
        return True

    def create(self, name: str, size: int, order: int) -> Any:
        """Create image ``name`` and return it opened for writing."""
        rbd, ctx = self.b.rbd, self.ioctx()
        features = self.connected().conf_get("rbd_default_features")
        if not features or int(features) == 0:
            features = rbd.RBD_FEATURE_LAYERING
        rbd.RBD().create(ctx, name, size, order, old_format=False, features=int(features))
        return rbd.Image(ctx, name)

    def finish(self, image: Any, size: int, partial: str, final: str) -> None:
        """Trim to ``size``, take and protect the snapshot, and rename into place."""
        try:
            if image.size() != size:
                image.resize(size)
            image.create_snap(SNAPSHOT)
            image.protect_snap(SNAPSHOT)
        finally:
            image.close()
        self.b.rbd.RBD().rename(self.ioctx(), partial, final)

    def open_for_reading(self, pool: str | None, name: str, snapshot: str | None) -> Any:
        return self.b.rbd.Image(self.ioctx(pool), name, snapshot=snapshot, read_only=True)

    @contextmanager
    def _reading(self, pool: str | None, name: str, snapshot: str | None) -> Iterator[Any]:
        image = self.open_for_reading(pool, name, snapshot)
        try:
            yield image
        finally:
            image.close()

    def size(self, pool: str | None, name: str, snapshot: str | None) -> int:
        with self._reading(pool, name, snapshot) as image:
            return int(image.size())

    def has_clones(self, pool: str | None, name: str, snapshot: str | None) -> bool:
        """Whether images were cloned from the snapshot (Nova and Cinder do)."""
        try:
            with self._reading(pool, name, snapshot or SNAPSHOT) as image:
                return bool(list(image.list_children()))
        except self.b.rbd.ImageNotFound:
            return False

    def delete(self, pool: str | None, name: str, snapshot: str | None) -> None:
        """Unprotect and remove the snapshot, then the image; EBUSY while clones exist."""
        rbd, ctx = self.b.rbd, self.ioctx(pool)
        if snapshot is not None:
            with rbd.Image(ctx, name) as image:
                try:
                    image.unprotect_snap(snapshot)
                except rbd.InvalidArgument:
                    pass  # not protected (any more)
                except rbd.ImageNotFound:
                    snapshot = None  # no such snapshot
                if snapshot is not None:
                    image.remove_snap(snapshot)
        try:
            rbd.RBD().remove(ctx, name)
        except rbd.ImageHasSnapshots:
            # snapshots someone else took: upstream moves such images to the trash
            rbd.RBD().trash_move(ctx, name)

    def remove_partial(self, name: str) -> bool:
        """Remove a partial image (with its snapshot, if it got one); True once it is gone.

        Nothing is tried until the pool can be listed again: an image opened while the
        cluster is away may leave a watch behind that keeps the image busy for good.
        librbd may answer ENOENT while the image is still listed (a pool over its quota
        fails the last steps), so "gone" means "no longer listed".
        """
        rbd = self.b.rbd
        try:
            ctx = self.ioctx()
            if name not in rbd.RBD().list(ctx):
                return True
            try:
                rbd.RBD().remove(ctx, name)
            except rbd.ImageHasSnapshots:
                self.delete(None, name, SNAPSHOT)
            except rbd.ImageNotFound:
                pass
            return name not in rbd.RBD().list(ctx)
        except Exception as exc:
            log.debug("store %s: partial image not removed yet: %s", self.config.backend_id, exc)
            return False

    def images_of(self, image_id: str) -> list[str]:
        """The pool's RBD images for ``image_id``: the finished one and any partial ones."""
        names = self.b.rbd.RBD().list(self.ioctx())
        return [n for n in names if n == image_id or n.startswith(f"{image_id}{PARTIAL}")]

    def stale_partials(self, idle: float) -> list[str]:
        """Partial images not written to for ``idle`` seconds: left by a server that was
        killed mid-upload (a live upload touches its image at least every minute)."""
        rbd, ctx = self.b.rbd, self.ioctx()
        now = datetime.now(UTC).replace(tzinfo=None)  # librbd's timestamps are naive UTC
        stale = []
        for name in rbd.RBD().list(ctx):
            if PARTIAL not in name:
                continue
            try:
                with self._reading(None, name, None) as image:
                    written = image.modify_timestamp()
            except rbd.ImageNotFound:
                continue
            if (now - written).total_seconds() > idle:
                stale.append(name)
        return stale

    def listing(self) -> list[tuple[str, int, datetime]]:
        """Every finished image of the pool: name, size and last write (UTC)."""
        rbd, ctx = self.b.rbd, self.ioctx()
        found = []
        for name in rbd.RBD().list(ctx):
            if PARTIAL in name:
                continue
            try:
                with self._reading(None, name, None) as image:
                    size, written = image.size(), image.modify_timestamp()
            except rbd.ImageNotFound:
                continue
            found.append((name, int(size), written.replace(tzinfo=UTC)))
        return found


class Writer:
    """Writes into an open image with at most ``budget`` bytes in flight (librbd's aio),
    so the cluster works on a few pieces while the next arrive.

    librbd writes straight from each chunk (the connection sets
    ``rbd_disable_zero_copy_writes = false``, see :meth:`Cluster._connect`), so the
    writer keeps every chunk referenced until its write completes: the bytes in flight
    are the pipeline's own chunks, never a second copy."""

    def __init__(self, image: Any, *, budget: int, thin: bool = False) -> None:
        self.image = image
        self.budget = budget
        self.thin = thin
        self._inflight: deque[tuple[Any, bytes]] = deque()
        self._held = 0

    def write(self, chunk: bytes, offset: int, grow_to: int | None) -> None:
        if grow_to is not None:
            self.drain()  # librbd resizes between writes, not under them
            self.image.resize(grow_to)
        if self.thin and chunk.count(0) == len(chunk):
            return  # a hole reads as zeros
        while self._inflight and self._held + len(chunk) > self.budget:
            self._wait_oldest()
        self._inflight.append((self.image.aio_write(chunk, offset, _ignore), chunk))
        self._held += len(chunk)

    def drain(self) -> None:
        while self._inflight:
            self._wait_oldest()

    def _wait_oldest(self) -> None:
        done, chunk = self._inflight.popleft()
        done.wait_for_complete_and_cb()
        self._held -= len(chunk)
        result = done.get_return_value()
        if result < 0:
            self.abandon()
            raise OSError(-result, os.strerror(-result))

    def abandon(self) -> None:
        """Wait for every write still in flight, ignoring how it ends: librbd reads
        the chunks until then, so they may not be released before."""
        while self._inflight:
            done, _ = self._inflight.popleft()
            with contextlib.suppress(Exception):
                done.wait_for_complete_and_cb()
        self._held = 0


def _ignore(completion: Any) -> None:
    """librbd's completion callback; the writer waits on the completions instead."""


class Janitor:
    """Removes partial images in a background thread until they are gone.

    A write that fails because the cluster went away cannot remove its partial
    image then; once the cluster is back, Ceph still refuses for as long as the
    dead writer's watch lasts (30 s by default), so removal is retried for
    ``patience`` seconds.
    """

    def __init__(self, cluster: Cluster, *, patience: float = 3600.0, pause: float = 1.0) -> None:
        self.cluster = cluster
        self.patience = patience
        self.pause = pause
        self._lock = threading.Lock()
        self._pending: dict[str, float] = {}
        self._thread: threading.Thread | None = None

    def discard(self, name: str) -> None:
        """Remove ``name`` now if possible, else keep trying in the background."""
        if self.cluster.remove_partial(name):
            return
        with self._lock:
            self._pending.setdefault(name, time.monotonic() + self.patience)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name=f"rbd-janitor-{self.cluster.config.backend_id}"
                )
                self._thread.daemon = True
                self._thread.start()

    @property
    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._pending)

    def _run(self) -> None:
        while True:
            time.sleep(self.pause)
            with self._lock:
                work = dict(self._pending)
            if not work:
                return
            for name, deadline in work.items():
                gone = self.cluster.remove_partial(name)
                if gone or time.monotonic() > deadline:
                    if not gone:
                        log.error(
                            "store %s: gave up removing the partial RBD image %s",
                            self.cluster.config.backend_id,
                            name,
                        )
                    with self._lock:
                        self._pending.pop(name, None)
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
