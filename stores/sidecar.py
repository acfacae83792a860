"""One `.ovemeta` file: cached reads, and locked, atomic read-modify-write edits."""

from __future__ import annotations

import copy
import fcntl
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .errors import NotFound, SidecarInvalid
from .names import SIDECAR_NAME
from .sidecar_format import parse_sidecar, render_sidecar

_Signature = tuple[int, int, int]

CACHE_ENTRIES = 20_000  # parsed sidecars kept (least recently used go first)
# Per sidecar, its last two known versions, newest first: a writer registers the new one
# just before the rename while a reader may still be parsing the old one.
VERSIONS_KEPT = 2
_cache: OrderedDict[str, list[tuple[_Signature, dict[str, Any]]]] = OrderedDict()
_cache_guard = threading.Lock()
_locks: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()
_locks_guard = threading.Lock()
# flock descriptors held by the thread that owns the matching thread lock
_flock_fds: dict[str, int] = {}


def _signature(st: os.stat_result) -> _Signature:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _thread_lock(key: str) -> threading.RLock:
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = threading.RLock()
            _locks[key] = lock
        return lock


class Sidecar:
    """The sidecar of a project or asset folder.

    Reads are served from a cache validated by the file's inode, size and mtime, so
    listing thousands of files costs one parse. Edits hold a thread lock and an
    `flock` on the folder (other processes), reload from disk, and write atomically.
    """

    def __init__(self, folder: Path, label: str | None = None) -> None:
        self.folder = folder
        self.path = folder / SIDECAR_NAME
        # how messages name it: its path in the store, never the server's path
        self.label = label or SIDECAR_NAME
        self.changed = False  # whether the last `editing()` block wrote anything

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> dict[str, Any] | None:
        """The parsed sidecar, or None when there is none. Treat the result as read-only."""
        key = str(self.path)
        try:
            st = os.stat(key)
        except (FileNotFoundError, NotADirectoryError):
            return None
        sig = _signature(st)
        with _cache_guard:
            for known, data in _cache.get(key, ()):
                if known == sig:
                    _cache.move_to_end(key)
                    return data
        raw = self.path.read_bytes()
        data = parse_sidecar(raw, self._origin())
        _remember(key, sig, data)
        return data

    def raw_bytes(self) -> bytes:
        return self.path.read_bytes()

    def _origin(self) -> str:
        return self.label

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold this sidecar's lock (threads, and other processes by `flock`); re-entrant.

        The lock is on the folder itself, and held only while the folder is still at its
        path: one removed (renamed aside, see removal.py) while this waited is NotFound,
        so nothing is ever written into a folder on its way out.
        """
        key = str(self.path)
        with _thread_lock(key):
            outermost = key not in _flock_fds
            if outermost:
                _flock_fds[key] = self._lock_folder()
            try:
                yield
            finally:
                if outermost:
                    os.close(_flock_fds.pop(key))

    def held_here(self) -> bool:
        """Whether this thread holds this sidecar's lock already."""
        key = str(self.path)
        with _locks_guard:
            lock = _locks.get(key)
        return lock is not None and lock._is_owned() and key in _flock_fds

    def _lock_folder(self) -> int:
        """An `flock`ed descriptor of the folder that is at our path now."""
        gone = NotFound(f"{self.label.rsplit('/', 1)[0]} no longer exists.")
        while True:
            try:
                fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
            except (FileNotFoundError, NotADirectoryError):
                raise gone from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held, now = os.fstat(fd), os.stat(self.folder)
                if (held.st_ino, held.st_dev) == (now.st_ino, now.st_dev):
                    return fd
            except (FileNotFoundError, NotADirectoryError):
                os.close(fd)
                raise gone from None
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # another folder took the path meanwhile: lock that one

    @contextmanager
    def editing(self, *, replace_invalid: bool = False) -> Iterator[dict[str, Any]]:
        """Yield a private copy of the sidecar; it is written back if the block succeeds.

        A sidecar that does not parse raises SidecarInvalid instead of being
        overwritten, unless `replace_invalid` (a whole new sidecar from a user):
        then the unreadable one is kept beside it as `.ovemeta.invalid-<time>`.
        """
        with self.locked():
            try:
                current, data = self.draft()
            except SidecarInvalid:
                if not replace_invalid:
                    raise
                self._set_aside_invalid()
                current, data = None, {}
            yield data
            self.changed = data != current
            if self.changed:
                self.write(data)

    def draft(self) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The sidecar as it is (None when there is none) and a private copy to change."""
        current = self.read()
        return current, (_private_copy(current) if current is not None else {})

    def write(self, data: dict[str, Any]) -> None:
        """Write `data` atomically; callers hold `locked()`. The cache learns the new
        contents before the file changes, so a reader never parses what was just written."""
        key = str(self.path)
        write_atomic(
            self.path, render_sidecar(data), lambda st: _remember(key, _signature(st), data)
        )

    def _set_aside_invalid(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        os.replace(self.path, self.folder / f"{SIDECAR_NAME}.invalid-{stamp}")


def _remember(key: str, sig: _Signature, data: dict[str, Any]) -> None:
    with _cache_guard:
        versions = [(known, old) for known, old in _cache.get(key, ()) if known != sig]
        _cache[key] = [(sig, data), *versions][:VERSIONS_KEPT]
        _cache.move_to_end(key)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)


def _private_copy(data: dict[str, Any]) -> dict[str, Any]:
    """A copy safe to edit. File records are replaced, never edited in place, so the
    (possibly large) `files` map only needs a shallow copy."""
    return {
        key: dict(value) if key == "files" and isinstance(value, dict) else copy.deepcopy(value)
        for key, value in data.items()
    }


def forget_cached(folder: Path) -> None:
    """Drop cache entries below `folder` (after a move or delete of a whole tree)."""
    prefix = str(folder).rstrip("/") + "/"
    with _cache_guard:
        for key in [k for k in _cache if k.startswith(prefix)]:
            del _cache[key]
