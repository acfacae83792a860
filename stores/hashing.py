"""Content hashes, computed in one pass while bytes stream past, or over a file on disk:
xxh3-128 (the server's own identity of bytes: ETags, sidecar records, the derived cache),
blake3 (ComfyUI's asset hash) and, when a store asks for it, sha256 (the identity model
managers and CivitAI use)."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

import blake3
import xxhash

CHUNK = 1 << 20
HASH_NAME = "xxh3_128"
ALGORITHMS = ("xxh3", "blake3", "sha256")
# the field of a sidecar record holding each algorithm's digest, and its length in hex
RECORD_FIELDS = {"xxh3": "xxh3_128", "blake3": "blake3", "sha256": "sha256"}
HEX_LENGTHS = {"xxh3": 32, "blake3": 64, "sha256": 64}


def new_hasher() -> xxhash.xxh3_128:
    """The xxh3-128 hasher alone: for keys that need no other algorithm (previews, ETags)."""
    return xxhash.xxh3_128()


@dataclass(frozen=True)
class Digests:
    """One file's digests in hex; "" for an algorithm that was not computed."""

    xxh3_128: str
    blake3: str = ""
    sha256: str = ""

    def of(self, algorithm: str) -> str:
        return str(getattr(self, RECORD_FIELDS[algorithm]))


class ContentHasher:
    """All the digests a store records, fed once per chunk."""

    def __init__(self, sha256: bool = False) -> None:
        self._xxh3 = xxhash.xxh3_128()
        self._blake3 = blake3.blake3()
        self._sha256 = hashlib.sha256() if sha256 else None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._xxh3.update(data)
        self._blake3.update(data)
        if self._sha256 is not None:
            self._sha256.update(data)

    def hexdigest(self) -> str:
        """The xxh3-128 digest (what most callers compare)."""
        return self._xxh3.hexdigest()

    def digests(self) -> Digests:
        return Digests(
            self._xxh3.hexdigest(),
            self._blake3.hexdigest(),
            self._sha256.hexdigest() if self._sha256 is not None else "",
        )

    def copy(self) -> ContentHasher:
        twin = ContentHasher.__new__(ContentHasher)
        twin._xxh3 = self._xxh3.copy()
        twin._blake3 = self._blake3.copy()
        twin._sha256 = self._sha256.copy() if self._sha256 is not None else None
        return twin


INLINE_BYTES = 8 << 20  # a body this big is hashed in line; the rest in a second thread
_DONE = b""


class ParallelHashing:
    """Feed a ContentHasher while the bytes are written: the first INLINE_BYTES in line (a
    thread is not worth it for small files), the rest in a second thread, so that hashing
    (blake3 and sha256 let go of the GIL) overlaps receiving and writing the next piece.
    `finish()` waits for every byte fed and returns the hasher."""

    def __init__(self, hasher: ContentHasher, inline_bytes: int = INLINE_BYTES) -> None:
        self.hasher = hasher
        self._inline_left = inline_bytes
        self._queue: queue.Queue[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._queue is None:
            if len(data) <= self._inline_left:
                self._inline_left -= len(data)
                self.hasher.update(data)
                return
            self._queue = queue.Queue(maxsize=4)  # a few pieces ahead, bounded memory
            self._thread = threading.Thread(target=self._run, name="hasher", daemon=True)
            self._thread.start()
        if data:
            self._queue.put(data if isinstance(data, bytes) else bytes(data))

    def _run(self) -> None:
        assert self._queue is not None
        while (piece := self._queue.get()) is not _DONE:
            if self._error is None:
                try:
                    self.hasher.update(piece)
                except BaseException as exc:  # noqa: BLE001 - raised again by finish()
                    self._error = exc

    def finish(self) -> ContentHasher:
        if self._queue is not None and self._thread is not None:
            self._queue.put(_DONE)
            self._thread.join()
            self._queue = self._thread = None
            self._inline_left = 0  # anything fed after this goes through a new thread
        if self._error is not None:
            raise self._error
        return self.hasher


def _read_through(path: Path | str, update: object) -> int:
    size = 0
    with open(path, "rb", buffering=0) as fh:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            update(view[:n])  # type: ignore[operator]
            size += n
    return size


def hash_file(path: Path | str) -> tuple[int, str]:
    """Return (size, xxh3-128 hex) of a file, reading it in 1 MiB chunks."""
    hasher = new_hasher()
    size = _read_through(path, hasher.update)
    return size, hasher.hexdigest()


def digest_file(path: Path | str, sha256: bool = False) -> tuple[int, Digests]:
    """Return (size, every digest a store records) of a file, in one read."""
    hasher = ContentHasher(sha256)
    size = _read_through(path, hasher.update)
    return size, hasher.digests()


def mtime_of(st: os.stat_result) -> float:
    """The modification time as stored in sidecars: seconds, rounded to the microsecond."""
    return round(st.st_mtime_ns / 1e9, 6)
