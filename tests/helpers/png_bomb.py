"""A decompression-bomb PNG: a header claiming width x height 1-bit pixels, and almost no data."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path


def decompression_bomb_png(path: Path, width: int, height: int) -> None:
    """Write a valid PNG whose header claims width x height pixels (PIL refuses it as a bomb when large)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
