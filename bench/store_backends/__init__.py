"""One module per storage backend for ``bench/stores.py``.

A module ``bench/store_backends/<name>.py`` defines ``BACKEND``, an instance of a
:class:`StoreBackend` subclass that says how to reach the backend: the Spyglass
configuration lines for one store on it, upstream Glance's configuration for the same
backend, and the backend's own client moving the same bytes (boto3's
``upload_fileobj``/``download_fileobj``, python-swiftclient's segmented upload, a
librbd write/read loop, a plain file copy). ``bench/stores.py --backends NAME,...``
loads them by name.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class UpstreamStore:
    """Upstream Glance's store configuration for the backend (``bench/upstream/glance.sh``)."""

    backends: str
    """``enabled_backends``, such as ``bench:s3``."""
    default: str
    """``[glance_store] default_backend``."""
    sections: str = ""
    """INI text appended to upstream's glance-api.conf: the backend's section."""
    pip: tuple[str, ...] = ()
    """Packages glance_store's driver needs in upstream's venv (``boto3``...)."""


class StoreBackend(ABC):
    """A backend the benchmark moves an image through, three ways."""

    name: str = ""
    """The module's name, as ``--backends`` gives it."""
    own_client: str = ""
    """What the backend's own client run is, for the table (``boto3 upload_fileobj``)."""
    remark: str = ""
    """What bounds the comparison on this backend, printed under the table (the profile's
    findings where a target is missed)."""

    def unavailable(self) -> str | None:
        """Why the backend cannot be measured here (not running, no client), or None."""
        return None

    @abstractmethod
    def spyglass_lines(self, work: Path) -> list[str]:
        """Lines after ``[DEFAULT]`` of a Spyglass configuration whose default store is
        on this backend; ``work`` is a private directory for this run."""

    @abstractmethod
    def upstream_store(self, work: Path) -> UpstreamStore: ...

    @abstractmethod
    def own_upload(self, source: Path, name: str) -> None:
        """Store the bytes of ``source`` on the backend as ``name`` with its own client."""

    @abstractmethod
    def own_download(self, name: str) -> int:
        """Read ``name`` back with the backend's own client, discarding it; bytes read."""

    @abstractmethod
    def own_delete(self, name: str) -> None: ...


def load(name: str) -> StoreBackend:
    """``bench/store_backends/<name>.py``'s ``BACKEND``."""
    module = importlib.import_module(f"store_backends.{name}")
    backend = module.BACKEND
    if not isinstance(backend, StoreBackend):
        raise TypeError(f"store_backends.{name}.BACKEND is not a StoreBackend")
    return backend
