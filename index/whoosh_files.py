"""Where the index's files are: a Whoosh FileStorage that spares system calls. Each one
hands the interpreter lock to another thread and waits to get it back, which beside busy
threads (the server's own, for an index written in its process; the reader in the server)
costs ~40 µs, and Whoosh makes them by the thousand: it asks a file being written where
it is after every term (an `lseek` each: half of a commit's time), and reads a segment
being merged by a seek and a read per posting list (nine tenths of a merge's time). So
new files count their own position, and files are read through a memory map (a read is
a copy of mapped pages, no system call).

Whoosh's own mmap support is not used: it copies every file of a compound segment out of
the map for each searcher (hundreds of MB at 100,000 assets). Here the map itself is the
file Whoosh reads from, so nothing is copied but what is read."""

from __future__ import annotations

import mmap
import os
from typing import Any, BinaryIO

from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile

WRITE_BUFFER = 1 << 20  # bytes: a segment is written in few system calls


class CountedPosition:
    """A file opened for writing that knows its position without asking the kernel."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._position = file.tell()

    def write(self, data: Any) -> int:
        written = self._file.write(data)
        self._position += written
        return written

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._position = self._file.seek(offset, whence)
        return self._position

    def truncate(self, size: int | None = None) -> int:
        return self._file.truncate(self._position if size is None else size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class IndexStorage(FileStorage):
    """Files written count their position, files read are memory maps (see above)."""

    def __init__(self, path: str) -> None:
        super().__init__(path, supports_mmap=False)

    def create_file(self, name: str, excl: bool = False, mode: str = "wb", **kwargs: Any) -> Any:
        if self.readonly or excl or mode != "wb":
            return super().create_file(name, excl=excl, mode=mode, **kwargs)
        file = open(self._fpath(name), mode, buffering=WRITE_BUFFER)  # noqa: SIM115 - closed by Whoosh
        return StructFile(CountedPosition(file), name=name, **kwargs)

    def open_file(self, name: str, **kwargs: Any) -> Any:
        with open(self._fpath(name), "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:  # an empty file cannot be mapped
                return super().open_file(name, **kwargs)
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        # an mmap reads, seeks and tells like a file, and has no fileno: Whoosh reads it
        # as a plain file and cuts sub-files out of it without copying
        return StructFile(mapped, name=name, **kwargs)
