"""What ``spyglass gc`` prints: a line per orphan and per unfinished upload, then one per store."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from spyglass.cli.gc import _summarize
from spyglass.services.gc import StoreReport
from spyglass.stores.base import StoredObject, UnfinishedWrite

IMAGE = "00000000-0000-4000-8000-000000000001"
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _report(**fields: object) -> StoreReport:
    report = StoreReport("s3", scanned=2, young=1, **fields)  # type: ignore[arg-type]
    report.unfinished = [UnfinishedWrite(IMAGE, "upload-1", WHEN)]
    return report


def test_a_dry_run_says_which_uploads_would_be_aborted(capsys: pytest.CaptureFixture[str]) -> None:
    orphan = StoredObject(f"s3://h/b/{IMAGE}", 2048, WHEN)
    assert _summarize([_report(orphans=[orphan])], dry_run=True) is False
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"  orphan s3://h/b/{IMAGE} (2.0 KiB)",
        f"  unfinished upload upload-1 of {IMAGE} (last part 2026-01-02T03:04:05+00:00)",
        "store s3: 2 object(s) scanned, 1 orphan(s) (2.0 KiB) would be removed, "
        "1 unfinished upload(s) would be aborted, 1 too young or being written, 0 failed",
    ]


def test_a_run_says_how_many_were_aborted_and_a_failure_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    failed = _report(aborted=0, failed=[f"unfinished write upload-1 of {IMAGE}"])
    assert _summarize([failed], dry_run=False) is True
    assert capsys.readouterr().out.splitlines()[-1] == (
        "store s3: 2 object(s) scanned, 0 orphan(s) removed (0 B), "
        "0 unfinished upload(s) aborted, 1 too young or being written, 1 failed"
    )
