"""Disk-format inspection of uploaded bytes, while they stream.

A user who declares ``disk_format=raw`` but uploads a qcow2 with a backing
file pointing at ``/etc/shadow`` can make a hypervisor read host files
(upstream's OSSN-0093 and its successors). Every upload of a ``bare`` image is
therefore fed to oslo.utils' format inspectors, which keep only header
regions in memory; at the end the detected format must agree with the
declared one and pass the format's safety checks.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from oslo_utils.imageutils import format_inspector as fi

from spyglass.errors import UnsupportedMediaType
from spyglass.streams.tap import tap
from spyglass.types import ByteStream

log = logging.getLogger(__name__)

INSPECTABLE = frozenset(fi.ALL_FORMATS)
_LENIENT_MBR = frozenset({"aki", "ari"})
"""Kernel and ramdisk images may carry a deliberately invalid MBR."""


class InvalidImageData(UnsupportedMediaType):
    """The bytes are not what ``disk_format`` says, or are unsafe to boot."""

    code = "invalid_image_data"


@dataclass(frozen=True, slots=True)
class FormatReport:
    detected: str
    virtual_size: int | None


class FormatInspector:
    """Feed chunks to every known format's inspector; judge them at the end."""

    def __init__(self) -> None:
        self._inspectors = [cls() for cls in fi.ALL_FORMATS.values()]
        self._failed: set[str] = set()
        self._finished = False

    def _feed(self, chunk: bytes) -> None:
        for inspector in self._inspectors:
            if inspector.NAME in self._failed:
                continue
            try:
                inspector.eat_chunk(chunk)
            except Exception as exc:  # a parser that cannot read it simply does not match
                log.debug("format %s does not match: %s", inspector.NAME, exc)
                self._failed.add(inspector.NAME)

    async def wrap(self, source: ByteStream) -> ByteStream:
        async for chunk in tap(source, self._feed):
            yield chunk
        for inspector in self._inspectors:
            inspector.finish()
        self._finished = True

    def _detected(self) -> fi.FileInspector:
        matches = {
            i.NAME: i
            for i in self._inspectors
            if i.NAME != "raw" and i.NAME not in self._failed and i.complete and i.format_match
        }
        if set(matches) == {"iso", "gpt"}:  # bootable ISOs carry a GPT in front
            return matches["iso"]
        if len(matches) > 1:
            raise InvalidImageData(f"Multiple formats detected: {', '.join(sorted(matches))}")
        if matches:
            return next(iter(matches.values()))
        return next(i for i in self._inspectors if i.NAME == "raw")

    def judge(self, disk_format: str | None, *, nonfatal: Collection[str] = ()) -> FormatReport:
        """Compare what was seen with ``disk_format``; 415 on mismatch or failed checks."""
        if not self._finished:
            raise RuntimeError("the stream has not been read to its end")
        inspector = self._detected()
        detected = inspector.NAME
        virtual_size: int | None = None
        if detected == disk_format:
            virtual_size = inspector.virtual_size or None
        elif disk_format == "raw" or (detected == "raw" and disk_format not in INSPECTABLE):
            # Uninspectable formats (ami, ploop...) pass if nothing specific was seen;
            # "raw" takes any content but must still be safe, and is sized as bytes.
            virtual_size = inspector.actual_size if disk_format == "raw" else None
        else:
            raise InvalidImageData(
                f"Image disk_format {disk_format} does not match the data, which is {detected}."
            )
        self._safety_check(inspector, disk_format, nonfatal)
        return FormatReport(detected=detected, virtual_size=virtual_size)

    @staticmethod
    def _safety_check(
        inspector: fi.FileInspector, disk_format: str | None, nonfatal: Collection[str]
    ) -> None:
        try:
            inspector.safety_check()
        except fi.SafetyCheckFailed as exc:
            fatal = set(exc.failures) - set(nonfatal)
            if disk_format in _LENIENT_MBR:
                fatal.discard("mbr")
            if inspector.NAME == "gpt" and not fatal:
                log.warning("non-fatal safety check failures: %s", exc)
                return
            raise InvalidImageData(
                f"Image failed safety checks: {', '.join(sorted(exc.failures))}"
            ) from exc
        except fi.ImageFormatError as exc:
            raise InvalidImageData(f"Image format inspection failed: {exc}") from exc
