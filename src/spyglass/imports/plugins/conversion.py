"""``image_conversion``: staged data converted with ``qemu-img`` to
``[image_conversion] output_format`` (qcow2 to raw for RBD, say), as upstream's plugin.

qemu-img reads untrusted data, so it runs under limits: ``qemu-img info`` gets
upstream's 1 GiB of address space and 30 s of CPU; ``convert`` may write at
most ``image_size_cap`` bytes (``RLIMIT_FSIZE``) and is killed after
``[image_conversion] timeout`` seconds. Before converting, the data must be
what ``disk_format`` says and carry no backing or external data file, so a
conversion can never read files of the host.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar, cast

import anyio

from spyglass.config import Settings
from spyglass.imports.plugins.base import ImportFailed, ImportPlugin, PluginJob

INFO_ADDRESS_SPACE = 1024 * 1024 * 1024
INFO_CPU_SECONDS = 30
_QEMU_FORMATS = {"qcow2": "qcow2", "raw": "raw", "vmdk": "vmdk", "vhd": "vpc", "vhdx": "vhdx"}
_QEMU_FORMATS.update(vdi="vdi", iso="raw")


def _limited(
    command: list[str], *, address_space: int | None, cpu: int | None, fsize: int | None
) -> list[str]:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return command
    limits = [f"--as={address_space}"] if address_space else []
    limits += [f"--cpu={cpu}"] if cpu else []
    limits += [f"--fsize={fsize}"] if fsize else []
    return [prlimit, *limits, "--", *command]


async def _run(command: list[str], limit: float) -> str:
    try:
        with anyio.fail_after(limit):
            done = await anyio.run_process(command, check=False)
    except TimeoutError:
        raise ImportFailed(f"qemu-img did not finish within {limit:g} seconds.") from None
    except FileNotFoundError:
        raise ImportFailed(
            "qemu-img is not installed on this server (Debian: qemu-utils)."
        ) from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise ImportFailed(f"qemu-img failed: {detail[-1] if detail else done.returncode}")
    return done.stdout.decode(errors="replace")


async def qemu_info(path: Path, qemu_format: str) -> dict[str, Any]:
    command = ["qemu-img", "info", "--output=json", "-f", qemu_format, str(path)]
    out = await _run(
        _limited(command, address_space=INFO_ADDRESS_SPACE, cpu=INFO_CPU_SECONDS, fsize=None),
        limit=INFO_CPU_SECONDS * 2,
    )
    try:
        return cast("dict[str, Any]", json.loads(out))
    except ValueError:
        raise ImportFailed("qemu-img info gave no readable answer.") from None


def check_safe(info: dict[str, Any]) -> None:
    """No backing file, no external data file: nothing outside the image is read."""
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise ImportFailed("Image has a backing file; it is not converted.")
    specific = (info.get("format-specific") or {}).get("data") or {}
    if specific.get("data-file"):
        raise ImportFailed("Image has an external data file; it is not converted.")


class Conversion:
    name: ClassVar[str] = "image_conversion"
    changes_data: ClassVar[bool] = True

    def __init__(self, output_format: str, timeout: float) -> None:
        self.output_format = output_format
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportPlugin:
        output = str(settings.option("image_conversion", "output_format"))
        timeout = cast("int", settings.option("image_conversion", "timeout"))
        return cls(output, float(timeout))

    async def run(self, job: PluginJob) -> None:
        image = job.image
        source = image.disk_format or ""
        if source == self.output_format:
            return
        qemu_source = _QEMU_FORMATS.get(source)
        if qemu_source is None:
            raise ImportFailed(f"Images of disk_format {source} cannot be converted.")
        info = await qemu_info(job.path, qemu_source)
        if info.get("format") != qemu_source:
            raise ImportFailed(
                f"Image disk_format {source} does not match the data ({info.get('format')})."
            )
        check_safe(info)
        target = job.path.with_name(f".{job.path.name}.converted")
        command = [
            "qemu-img", "convert", "-f", qemu_source, "-O", _QEMU_FORMATS[self.output_format],
            str(job.path), str(target),
        ]  # fmt: skip
        try:
            await _run(
                _limited(command, address_space=None, cpu=None, fsize=job.size_cap), self.timeout
            )
            converted = await qemu_info(target, _QEMU_FORMATS[self.output_format])
            await anyio.to_thread.run_sync(os.replace, target, job.path)
        finally:
            await anyio.to_thread.run_sync(lambda: target.unlink(missing_ok=True))
        image.disk_format = self.output_format
        image.virtual_size = converted.get("virtual-size")
