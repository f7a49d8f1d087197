"""S3: moto (``scripts/moto.sh``) or Swift's s3api (``scripts/swift.sh``); the own client is
boto3's managed transfer (``upload_fileobj``/``download_fileobj``).

``BENCH_S3=moto`` (default) or ``BENCH_S3=swift`` picks the server (``MOTO_PORT``,
``SWIFT_PORT``). boto3 must match the botocore that aiobotocore (the test extra) pins:
``pip install boto3==<that botocore version>``. All three movers use the same part size:
multipart from ``BENCH_S3_THRESHOLD_MIB`` (100) MiB in ``BENCH_S3_PART_MIB`` (10) MiB
parts, upstream's defaults; boto3 and upstream's driver with their 10 threads, Spyglass
with what its memory bound allows (one 10 MiB part in flight while the next fills).
"""

from __future__ import annotations

import importlib
import os
import subprocess
from pathlib import Path
from typing import Any

from store_backends import StoreBackend, UpstreamStore

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
THRESHOLD_MIB = int(os.environ.get("BENCH_S3_THRESHOLD_MIB", "100"))
PART_MIB = int(os.environ.get("BENCH_S3_PART_MIB", "10"))
SERVERS = {
    "moto": ("moto.sh", int(os.environ.get("MOTO_PORT", "5000")), "bench-access", "bench-secret"),
    "swift": ("swift.sh", int(os.environ.get("SWIFT_PORT", "8080")), "test:tester", "testing"),
}


class _Discard:
    """A sink that counts what boto3 downloads into it and keeps nothing. It says it is
    seekable, so that boto3 writes the ranges it fetches in parallel as they arrive (its
    path for unseekable outputs stalled here)."""

    def __init__(self) -> None:
        self.written = 0
        self.position = 0

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset if whence == 0 else self.position + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def write(self, data: bytes) -> int:
        self.written += len(data)
        self.position += len(data)
        return len(data)


class S3(StoreBackend):
    name = "s3"

    def __init__(self) -> None:
        self.server = os.environ.get("BENCH_S3", "moto")
        if self.server not in SERVERS:
            raise SystemExit(f"BENCH_S3 must be one of {', '.join(SERVERS)}")
        self.script, self.port, self.access, self.secret = SERVERS[self.server]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.bucket = "bench-own"
        self.own_client = (
            f"boto3 upload_fileobj/download_fileobj on {self.server}, multipart from "
            f"{THRESHOLD_MIB} MiB in {PART_MIB} MiB parts, 10 threads"
        )
        self.remark = (
            f"s3 ({self.server}): every mover talks to the same S3 server on the same two "
            "cores; moto is one Python process that keeps every object in memory and, in "
            'the profile ("Stores: where the time goes"), spends more than twice '
            "Spyglass's CPU per GiB uploaded, so no mover gets far from its rate on upload. "
            "boto3 and upstream send 10 parts at once from memory (upstream's peak RSS in "
            "the table); Spyglass streams, with one part in flight while the next fills, to stay "
            "under 150 MiB. Downloads: Spyglass's S3 client reads bodies through httpx, "
            "whose HTTP/1.1 parsing is pure Python (the interpreter's share of the download "
            "profile), where upstream reads through boto3's urllib3 and http.client's C "
            "buffered reads; a C-parsing client for the read path is the next step."
        )

    def unavailable(self) -> str | None:
        try:
            importlib.import_module("boto3")
        except ImportError:
            return "boto3 is not installed (pip install -e '.[bench-stores]')"
        status = subprocess.run(
            ["bash", str(REPO / "scripts" / self.script), "status"],
            capture_output=True,
            text=True,
            check=False,
        )
        if status.returncode != 0:
            return f"{self.server} is not running (scripts/{self.script} start)"
        return None

    def _options(self, bucket: str, *, region: bool = True) -> list[str]:
        return [
            f"s3_store_host = {self.endpoint}",
            f"s3_store_access_key = {self.access}",
            f"s3_store_secret_key = {self.secret}",
            f"s3_store_bucket = {bucket}",
            "s3_store_create_bucket_on_put = True",
            "s3_store_bucket_url_format = path",
            *(["s3_store_region_name = us-east-1"] if region else []),
            f"s3_store_large_object_size = {THRESHOLD_MIB}",
            f"s3_store_large_object_chunk_size = {PART_MIB}",
        ]

    def spyglass_lines(self, work: Path) -> list[str]:
        return ["[glance_store]", "default_store = s3", *self._options("bench-spyglass")]

    def upstream_store(self, work: Path) -> UpstreamStore:
        # no region for upstream: its driver sends any configured region as the bucket's
        # location constraint, and S3 refuses us-east-1 there (InvalidLocationConstraint)
        section = "\n".join(["[bench]", *self._options("bench-upstream", region=False)])
        return UpstreamStore(
            backends="bench:s3", default="bench", sections=section + "\n", pip=("boto3",)
        )

    # -- the own client ------------------------------------------------------------------

    def _client(self) -> Any:
        from botocore.config import Config

        boto3 = importlib.import_module("boto3")  # optional: typed as Any, no stubs needed
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _transfer(self) -> Any:
        transfer = importlib.import_module("boto3.s3.transfer")
        return transfer.TransferConfig(
            multipart_threshold=THRESHOLD_MIB * MIB,
            multipart_chunksize=PART_MIB * MIB,
            max_concurrency=10,
        )

    def own_upload(self, source: Path, name: str) -> None:
        client = self._client()
        try:
            client.head_bucket(Bucket=self.bucket)
        except client.exceptions.ClientError:
            client.create_bucket(Bucket=self.bucket)
        with source.open("rb") as data:
            client.upload_fileobj(data, self.bucket, name, Config=self._transfer())

    def own_download(self, name: str) -> int:
        sink = _Discard()
        self._client().download_fileobj(self.bucket, name, sink, Config=self._transfer())
        return sink.written

    def own_delete(self, name: str) -> None:
        self._client().delete_object(Bucket=self.bucket, Key=name)


BACKEND = S3()
