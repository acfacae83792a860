"""The derived cache: files made from a source's bytes, in `<state_dir>/derived/`, named by
the source's content hash and the conversion, so they are never stale and are shared by
identical files. Bounded by bytes, least recently used first out; each is made once
however many ask for it at the same time."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

TOUCH_EVERY = 60.0  # seconds: a hit refreshes the file's mtime (the LRU order on restart)
KEEP_FRACTION = 0.9  # eviction goes down to this share of the bound, so it is not constant


class DerivedCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._temp = root / "tmp"
        self._sizes: OrderedDict[str, int] = OrderedDict()  # oldest use first
        self._touched: dict[str, float] = {}
        self._total = 0
        self._making: dict[str, Future[Path]] = {}
        self._guard = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        self._temp.mkdir(exist_ok=True)
        self._load()

    @property
    def total_bytes(self) -> int:
        return self._total

    def path_of(self, name: str) -> Path:
        return self.root / name[:2] / name

    def get(self, name: str) -> Path | None:
        """The cached file `name`, if there (and mark it used). One not known here may have
        been made by another process (`assetdav derive`, another node): it is taken in."""
        with self._guard:
            if name not in self._sizes:
                return self._adopt(name)
            self._sizes.move_to_end(name)
            touch = time.monotonic() - self._touched.get(name, 0.0) > TOUCH_EVERY
            if touch:
                self._touched[name] = time.monotonic()
        path = self.path_of(name)
        if touch:
            try:
                os.utime(path)
            except FileNotFoundError:  # deleted by hand: the cache is disposable
                self._forget(name)
                return None
        return path

    def get_or_make(self, name: str) -> tuple[Future[Path], bool]:
        """A future of the cached file `name`: done at once when cached, else the one
        being made; True with it when it is new and the caller must `run` it (in whatever
        thread it chooses), so that every file is made once however many ask."""
        found = self.get(name)
        future: Future[Path]
        if found is not None:
            future = Future()
            future.set_result(found)
            return future, False
        with self._guard:
            if name in self._making:
                return self._making[name], False
            future = Future()
            self._making[name] = future
        return future, True

    def run(self, name: str, future: Future[Path], make: Callable[[BinaryIO], None]) -> None:
        """Make the file of a new future from `get_or_make` and settle every waiter."""
        try:
            path = self._write(name, make)
        except BaseException as exc:
            with self._guard:
                self._making.pop(name, None)
            future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        with self._guard:
            self._making.pop(name, None)
        future.set_result(path)

    def _write(self, name: str, make: Callable[[BinaryIO], None]) -> Path:
        """Write to a temporary file, then rename it into place: a reader never sees half
        a file. No fsync: after a crash a cache file may be lost, and it is remade."""
        temp = self._temp / f"{uuid.uuid4().hex}.part"
        try:
            with open(temp, "wb") as out:
                make(out)
            size = temp.stat().st_size
            path = self.path_of(name)
            path.parent.mkdir(exist_ok=True)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        with self._guard:
            self._total += size - self._sizes.get(name, 0)
            self._sizes[name] = size
            self._sizes.move_to_end(name)
            self._touched[name] = time.monotonic()
        self._evict()
        return path

    def _evict(self) -> None:
        if self._total <= self.max_bytes:
            return
        doomed = []
        with self._guard:
            while self._sizes and self._total > self.max_bytes * KEEP_FRACTION:
                name, size = self._sizes.popitem(last=False)
                self._touched.pop(name, None)
                self._total -= size
                doomed.append(name)
        for name in doomed:
            self.path_of(name).unlink(missing_ok=True)

    def _adopt(self, name: str) -> Path | None:
        """Called with the guard held."""
        path = self.path_of(name)
        try:
            size = path.stat().st_size
        except OSError:
            return None
        if not size:
            return None
        self._sizes[name] = size
        self._total += size
        self._touched[name] = time.monotonic()
        return path

    def _forget(self, name: str) -> None:
        with self._guard:
            self._total -= self._sizes.pop(name, 0)
            self._touched.pop(name, None)

    def _load(self) -> None:
        """What an earlier run left, oldest use first; unfinished temporary files go."""
        for leftover in self._temp.iterdir():
            leftover.unlink(missing_ok=True)
        found = []
        for folder in self.root.iterdir():
            if folder == self._temp or not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                st = entry.stat()
                if st.st_size == 0:  # cut short by a crash before its data reached disk
                    os.unlink(entry.path)
                    continue
                found.append((st.st_mtime, entry.name, st.st_size))
        for _mtime, name, size in sorted(found):
            self._sizes[name] = size
            self._total += size
        if found:
            log.info("derived cache: %d files, %.1f MiB", len(found), self._total / (1 << 20))
        self._evict()
