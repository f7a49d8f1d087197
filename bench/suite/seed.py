"""Fill a server's SQLite database with images by direct inserts (the server stopped).

Both servers use Glance's tables and column names with the same value formats (naive UTC
``YYYY-MM-DD HH:MM:SS.ffffff``, booleans as 0/1), so one writer serves both. Every image
is ``active`` with a file location (no file behind it), two properties and one tag; the
i-th image is the same on both servers.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

BASE_TIME = datetime(2025, 1, 1)
DISK_FORMATS = ("raw", "qcow2", "raw", "vmdk", "raw", "qcow2", "iso", "raw", "raw", "raw")
DISTROS = ("ubuntu", "fedora", "debian", "centos")


def image_id(index: int) -> str:
    return str(uuid.UUID(int=random.Random(index).getrandbits(128), version=4))


def _stamp(index: int) -> str:
    return (BASE_TIME + timedelta(seconds=index)).strftime("%Y-%m-%d %H:%M:%S.%f")


def count_images(db_path: Path) -> int:
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as db:
        return int(db.execute("SELECT count(*) FROM images WHERE deleted = 0").fetchone()[0])


def seed(db_path: Path, start: int, stop: int, store_dir: Path, store_id: str) -> None:
    """Insert images ``start`` .. ``stop - 1``."""
    meta = json.dumps({"store": store_id})
    images, properties, tags, locations = [], [], [], []
    for index in range(start, stop):
        ident = image_id(index)
        stamp = _stamp(index)
        size = (index % 1000 + 1) * 1024 * 1024
        digest = str(index).encode()
        images.append(
            {
                "id": ident,
                "name": f"seed-{index:06d}",
                "disk_format": DISK_FORMATS[index % len(DISK_FORMATS)],
                "container_format": "bare",
                "size": size,
                "virtual_size": size,
                "status": "active",
                "visibility": "public" if index % 4 == 0 else "shared",
                "checksum": hashlib.md5(digest, usedforsecurity=False).hexdigest(),
                "os_hash_algo": "sha512",
                "os_hash_value": hashlib.sha512(digest).hexdigest(),
                "min_disk": 0,
                "min_ram": 0,
                "owner": None,
                "protected": 0,
                "os_hidden": 0,
                "created_at": stamp,
                "updated_at": stamp,
                "deleted_at": None,
                "deleted": 0,
            }
        )
        for name, value in (
            ("os_distro", DISTROS[index % len(DISTROS)]),
            ("hw_disk_bus", "virtio"),
        ):
            properties.append((ident, name, value, stamp, stamp, None, 0))
        tags.append((ident, f"tag{index % 10}", stamp, stamp, None, 0))
        locations.append(
            (ident, (store_dir.resolve() / ident).as_uri(), meta, "active", stamp, stamp, None, 0)
        )
    columns = list(images[0]) if images else []
    with contextlib.closing(sqlite3.connect(db_path, timeout=30)) as db, db:
        db.executemany(
            f"INSERT INTO images ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})",
            images,
        )
        db.executemany(
            "INSERT INTO image_properties "
            "(image_id, name, value, created_at, updated_at, deleted_at, deleted) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            properties,
        )
        db.executemany(
            "INSERT INTO image_tags (image_id, value, created_at, updated_at, deleted_at, deleted) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            tags,
        )
        db.executemany(
            "INSERT INTO image_locations "
            "(image_id, value, meta_data, status, created_at, updated_at, deleted_at, deleted) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            locations,
        )


def soft_delete(db_path: Path, idents: list[str]) -> None:
    """Mark images deleted as the servers do (a running server is fine: SQLite WAL)."""
    if not idents:
        return
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    with contextlib.closing(sqlite3.connect(db_path, timeout=60)) as db, db:
        db.executemany(
            "UPDATE images SET deleted = 1, status = 'deleted', deleted_at = ?, updated_at = ? "
            "WHERE id = ? AND deleted = 0",
            [(now, now, ident) for ident in idents],
        )
