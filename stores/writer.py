"""Streamed file writes: bytes go to a hidden temporary file, hashed on the way, and are
renamed into place only when complete, so an interrupted upload changes nothing."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

from .atomic import raise_if_no_space, temp_path_beside, unlink_quietly
from .errors import BadContent, TooLarge
from .hashing import ContentHasher, Digests, ParallelHashing
from .sniff import SNIFF_BYTES
from .writeback import WritebackPacer

Committer = Callable[[Path, int, Digests], None]
HeadCheck = Callable[[bytes], None]


class FileWriter:
    """Write with `write()`, then `commit()`; anything else (an error, `abort()`) leaves no trace.

    `expected_size` (from Content-Length) makes a short body an error instead of a
    truncated file; `max_size` stops a body as soon as it grows too large.
    """

    def __init__(
        self,
        target: Path,
        committer: Committer,
        *,
        expected_size: int | None = None,
        max_size: int | None = None,
        head_check: HeadCheck | None = None,
        sha256: bool = False,
    ) -> None:
        self.target = target
        self._commit_into_place = committer
        self.expected_size = expected_size
        self.max_size = max_size
        self.size = 0
        self._head_check = head_check
        self._head = b""
        self._hashing = ParallelHashing(ContentHasher(sha256))
        self.temp_path = temp_path_beside(target)
        self._fd: int | None = None
        self.done = False
        try:
            self._fd = os.open(self.temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise_if_no_space(exc)
            raise
        self._writeback = WritebackPacer(self._fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._fd is None:
            raise ValueError("write to a closed FileWriter")
        n = len(data)
        if self.max_size is not None and self.size + n > self.max_size:
            self.abort()
            raise TooLarge(
                f"The file is larger than this store's limit of {self.max_size} bytes.",
                rule="max_file_size",
            )
        if self._head_check is not None:
            self._head += bytes(data[: SNIFF_BYTES - len(self._head)])
            if len(self._head) >= SNIFF_BYTES:
                self._judge_head()
        try:
            self._writeback.write(data)
        except BaseException:
            self.abort()
            raise
        self._hashing.update(data)
        self.size += n
        return n

    def _judge_head(self) -> None:
        check, self._head_check = self._head_check, None
        try:
            check(self._head)
        except BaseException:
            self.abort()
            raise

    @property
    def hexdigest(self) -> str:
        return self._hashing.finish().hexdigest()

    def commit(self) -> None:
        """fsync, then let the store rename the file into place and record it."""
        if self._fd is None:
            raise ValueError("commit of a closed FileWriter")
        if self._head_check is not None:
            self._judge_head()  # a file shorter than the sniffed head
        if self.expected_size is not None and self.size != self.expected_size:
            self.abort()
            raise BadContent(
                f"The body ended after {self.size} of {self.expected_size} bytes; "
                "nothing was changed. Send the file again."
            )
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self.abort()
            raise_if_no_space(exc)
            raise
        os.close(self._fd)
        self._fd = None
        try:
            self._commit_into_place(self.temp_path, self.size, self._hashing.finish().digests())
        except BaseException:
            self._remove_temp()
            raise
        self.done = True

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._hashing.finish()  # no hashing thread outlives its writer
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if not self.done:
            self._remove_temp()

    def _remove_temp(self) -> None:
        unlink_quietly(self.temp_path)

    def __enter__(self) -> FileWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self.done:
            self.abort()
