"""One image through python-glanceclient's ``glance`` and back, against a live server: the
end-to-end check every store's tests share (upload from a file, checksums, download)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.compat.conftest import BIN_DIR, Cli, property_table
from tests.server import LiveServer, pattern_stream

MIB = 1024 * 1024


def digests(chunks: Iterator[bytes]) -> tuple[str, str]:
    """MD5 and SHA-512 of the chunks, as Glance's ``checksum`` and ``os_hash_value``."""
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    for chunk in chunks:
        md5.update(chunk)
        sha512.update(chunk)
    return md5.hexdigest(), sha512.hexdigest()


def glance_round_trip(
    server: LiveServer, client: httpx.Client, tmp_path: Path, size: int, name: str
) -> None:
    """``glance image-create --file`` of ``size`` pattern bytes, then ``image-download``:
    active, the right size and checksums, the same bytes back; the image is deleted after."""
    executable = BIN_DIR / "glance"
    if not executable.exists():
        pytest.skip(
            "python-glanceclient is not installed in this venv (pip install -e '.[compat]')"
        )
    source, copy = tmp_path / "disk.img", tmp_path / "copy.img"
    with source.open("wb") as out:
        for piece in pattern_stream(size):
            out.write(piece)
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": str(BIN_DIR), "HOME": str(home), "LANG": "C.UTF-8", "COLUMNS": "200"}
    glance = Cli(executable, ("--os-image-url", server.url, "--os-auth-token", "x"), home, env)
    created = glance.run(
        "image-create", "--name", name, "--disk-format", "raw",
        "--container-format", "bare", "--file", str(source),
    )  # fmt: skip
    shown = property_table(created.stdout)
    try:
        md5, sha512 = digests(pattern_stream(size))
        assert (shown["status"], shown["size"]) == ("active", str(size))
        assert (shown["checksum"], shown["os_hash_value"]) == (md5, sha512)
        glance.run("image-download", "--file", str(copy), shown["id"])
        assert copy.stat().st_size == size
        with copy.open("rb") as got:
            assert digests(iter(lambda: got.read(MIB), b"")) == (md5, sha512)
    finally:
        client.delete(f"/v2/images/{shown['id']}")
