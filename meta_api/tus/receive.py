"""One request body appended to a partial upload: streamed in pieces, hashed on the way,
fsynced before the new offset is recorded. A failed chunk is cut off again."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stores.errors import BadContent, TooLarge
from stores.hashing import ContentHasher, ParallelHashing
from stores.writeback import WritebackPacer

from .protocol import Checksum


class ChecksumMismatch(Exception):
    """The chunk's bytes do not have the digest the client announced."""


def append_body(
    path: Path,
    start: int,
    room: int,
    pieces: Iterable[bytes],
    *,
    declared: int | None,
    hasher: ContentHasher | None,
    checksum: Checksum | None,
) -> int:
    """Write `pieces` into the data file at `start`; returns how many bytes were kept.

    A body that breaks off (the client went away) keeps what arrived, since tus clients
    resume from the offset they are told; with a checksum the chunk is kept only whole.
    More than `room` bytes is TooLarge; then, and on a checksum mismatch or any other
    error, the file is cut back to `start`.
    """
    digest = checksum.new() if checksum is not None else None
    fd = os.open(path, os.O_WRONLY)
    try:
        os.lseek(fd, start, os.SEEK_SET)
        feed = ParallelHashing(hasher) if hasher is not None else None
        try:
            written, interrupted = _copy(fd, start, pieces, room, feed, digest)
        finally:
            if feed is not None:
                feed.finish()
        if declared is not None and written < declared:
            interrupted = True
        if checksum is not None and digest is not None:
            if interrupted:
                raise BadContent(
                    "The body ended early; a chunk sent with Upload-Checksum is kept only "
                    "whole. Send it again."
                )
            if digest.digest() != checksum.digest:
                raise ChecksumMismatch(checksum.algorithm)
        os.fsync(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, start)
            os.fsync(fd)
        raise
    finally:
        os.close(fd)
    return written


def _copy(
    fd: int,
    start: int,
    pieces: Iterable[bytes],
    room: int,
    hasher: ParallelHashing | None,
    digest: Any,
) -> tuple[int, bool]:
    """(bytes written, whether the body broke off before its end)."""
    written = 0
    writeback = WritebackPacer(fd, start)
    reader = iter(pieces)
    while True:
        try:
            piece = next(reader)
        except StopIteration:
            return written, False
        except (BadContent, OSError, ValueError):  # the connection went away mid-body
            return written, True
        if written + len(piece) > room:
            raise TooLarge(
                f"The body goes past the upload's declared length (Upload-Length); only "
                f"{room} more bytes fit."
            )
        writeback.write(piece)
        written += len(piece)
        if hasher is not None:
            hasher.update(piece)
        if digest is not None:
            digest.update(piece)
