"""Content hashes: xxh3-128, computed while bytes stream past, or over a file on disk."""

from __future__ import annotations

import os
from pathlib import Path

import xxhash

CHUNK = 1 << 20
HASH_NAME = "xxh3_128"


def new_hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


def hash_file(path: Path | str) -> tuple[int, str]:
    """Return (size, xxh3-128 hex) of a file, reading it in 1 MiB chunks."""
    hasher = new_hasher()
    size = 0
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            hasher.update(view[:n])
            size += n
    return size, hasher.hexdigest()


def mtime_of(st: os.stat_result) -> float:
    """The modification time as stored in sidecars: seconds, rounded to the microsecond."""
    return round(st.st_mtime_ns / 1e9, 6)
