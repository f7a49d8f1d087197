"""LHA archives made by hand (level-0 header, stored ``-lh0-``): no tool on this
machine writes them, and the decompression plugin must read them."""

from __future__ import annotations

import struct


def crc16(data: bytes) -> int:
    """The CRC-16 LHA uses (polynomial 0xA001, reflected)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def lha_archive(*members: tuple[bytes, bytes]) -> bytes:
    """An archive of ``(name, data)`` members, each stored uncompressed."""
    out = b""
    for name, data in members:
        fields = struct.pack("<IIIBBB", len(data), len(data), 0, 0x20, 0, len(name))
        body = b"-lh0-" + fields + name + struct.pack("<H", crc16(data))
        out += bytes([len(body), sum(body) & 0xFF]) + body + data
    return out + b"\x00"
