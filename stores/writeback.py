"""Start writing a big file's bytes to disk while the rest still arrives.

Every upload is fsynced before it is answered. Left alone, the kernel holds a big body's
pages dirty until that fsync, which then writes all of them while the client waits (0.4 s
for 1 GiB here, a fifth of the upload). Asking for write-back of each piece as soon as it
is written (Linux `sync_file_range` with SYNC_FILE_RANGE_WRITE: start it, do not wait)
overlaps the disk with the network, and the fsync finds almost nothing left to do. It is
only a hint: where the call does not exist nothing changes, and the fsync still decides
durability (and reports any write error).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable

from .atomic import libc, write_all

STEP = 8 << 20  # bytes written between two requests for write-back; small files never ask
_SYNC_FILE_RANGE_WRITE = 2


class WritebackPacer:
    """Writes a stream of pieces to `fd` from `start` on (`write`: every byte, a full disk
    being InsufficientStorage) and asks the kernel to write back every full STEP behind
    them."""

    def __init__(self, fd: int, start: int = 0) -> None:
        self._fd = fd
        self._from = start  # the first byte not yet handed to write-back
        self._pending = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        write_all(self._fd, data)
        self._wrote(len(data))

    def _wrote(self, count: int) -> None:
        self._pending += count
        if self._pending < STEP:
            return
        start_writeback = _sync_file_range()
        if start_writeback is not None:
            start_writeback(self._fd, self._from, self._pending, _SYNC_FILE_RANGE_WRITE)
        self._from += self._pending
        self._pending = 0


@functools.lru_cache(maxsize=1)
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    call = getattr(libc(), "sync_file_range", None)
    if call is None:
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    call.restype = ctypes.c_int
    return call  # type: ignore[no-any-return]
