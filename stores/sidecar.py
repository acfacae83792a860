"""One `.ovemeta` file: cached reads, and locked, atomic read-modify-write edits."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import journal
from .atomic import fsync_dir, write_atomic
from .errors import Conflict, NotFound, SidecarInvalid
from .folding import folding
from .names import SIDECAR_NAME
from .sidecar_format import parse_sidecar, render_sidecar

_FileSignature = tuple[int, int, int]
_Signature = tuple[_FileSignature, _FileSignature | None]  # the sidecar's, the journal's


@dataclass(frozen=True)
class _Known:
    """One version of a sidecar (with its journal), parsed."""

    signature: _Signature
    data: dict[str, Any]
    base: str  # journal.base_of the sidecar's bytes
    journal_lines: int
    # the journal's signature when it extends `base` and ends with a whole line: the next
    # append to that very file need not read its header and last line again
    whole_journal: _FileSignature | None = None


CACHE_ENTRIES = 20_000  # parsed sidecars kept (least recently used go first)
# Per sidecar, its last known versions, newest first: a writer registers the new one just
# before the rename (with and without the journal it folds in) while a reader may still be
# parsing the old one.
VERSIONS_KEPT = 3
_cache: OrderedDict[str, list[_Known]] = OrderedDict()
_cache_guard = threading.Lock()
# Per sidecar being written by a thread of this process, set when it is written and
# remembered: a reader that meets the new file first waits for that, instead of parsing
# what the writer is about to hand the cache (a big sidecar takes milliseconds to parse).
_writing: dict[str, threading.Event] = {}
WRITE_WAIT = 0.2  # seconds
LOAD_ATTEMPTS = 5  # reads of a sidecar replaced under them before a reader gives up
# per sidecar, the signature of what this process last wrote (see `written_here`)
_written: OrderedDict[str, _Signature] = OrderedDict()
_locks: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()
_locks_guard = threading.Lock()
# flock descriptors held by the thread that owns the matching thread lock
_flock_fds: dict[str, int] = {}
# In a cluster `flock` on a network filesystem is not to be trusted: the outermost holder
# of a sidecar's lock also holds a Redis lease named by the sidecar's place in its store
# (stores/state/redis.RedisLeases), and a write checks that the lease is still its own
# (its fencing token) just before it replaces the file. None: one machine, flock alone.
cluster_leases: Any = None
CLUSTER_LOCK_WAIT = 30.0  # seconds to wait for another node's edit of the same sidecar
_fences: dict[str, str] = {}  # sidecar path -> the fencing token of this process's lease


def _signature(st: os.stat_result) -> _FileSignature:
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _stat_signature(path: str) -> _FileSignature | None:
    try:
        return _signature(os.stat(path))
    except (FileNotFoundError, NotADirectoryError):
        return None


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
        """The parsed sidecar with its journal applied, or None when there is none. Treat
        the result as read-only."""
        known = self._known()
        return None if known is None else known.data

    def read_signed(self) -> tuple[dict[str, Any], _Signature] | None:
        """`read()`, and the signature (see `signature_now`) of the very version read."""
        known = self._known()
        return None if known is None else (known.data, known.signature)

    def read_signed_once(self) -> tuple[dict[str, Any], _Signature] | None:
        """`read_signed()` for a reader of every sidecar of a store (a rebuild), which
        reads each once: the cache is neither asked first (two `stat`s) nor kept up."""
        for _attempt in range(LOAD_ATTEMPTS):
            loaded = self._load()
            if loaded is not None:
                return loaded.data, loaded.signature
            if self.signature_now() is None:
                return None
        raise self._keeps_changing()

    def _known(self) -> _Known | None:
        key = str(self.path)
        waited_until = time.monotonic() + 10 * WRITE_WAIT
        loads = 0
        while True:
            sig = self.signature_now()
            if sig is None:
                return None
            with _cache_guard:
                for known in _cache.get(key, ()):
                    if known.signature == sig:
                        _cache.move_to_end(key)
                        return known
                writing = _writing.get(key)
            if writing is not None and time.monotonic() < waited_until and writing.wait(WRITE_WAIT):
                continue  # a thread of this process is writing it: its version comes next
            loaded = self._load()
            if loaded is not None:
                _remember(key, loaded)
                return loaded
            loads += 1
            if loads >= LOAD_ATTEMPTS:
                raise self._keeps_changing()

    def _keeps_changing(self) -> SidecarInvalid:
        return SidecarInvalid(f"{self.label} keeps changing while it is read; try again.")

    def signature_now(self) -> _Signature | None:
        """The signature of the sidecar and its journal on disk (None: no sidecar)."""
        sidecar = _stat_signature(str(self.path))
        if sidecar is None:
            return None
        return sidecar, _stat_signature(str(self.journal_path))

    def _load(self) -> _Known | None:
        """Parse the sidecar and its journal as one version; None when the sidecar was
        replaced meanwhile (the caller tries again)."""
        try:
            with open(self.path, "rb") as fh:
                st = os.fstat(fh.fileno())
                raw = fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        jst, journal_raw = None, b""
        try:
            with open(self.journal_path, "rb") as fh:
                jst = os.fstat(fh.fileno())
                journal_raw = fh.read()
        except (FileNotFoundError, NotADirectoryError):
            pass
        if _stat_signature(str(self.path)) != _signature(st):
            return None
        data = parse_sidecar(raw, self._origin())
        base = journal.base_of(raw)
        changes = journal.parse(journal_raw, base) if jst is not None else None
        if changes and isinstance(data.get("files"), dict):
            data["files"] = journal.applied(data["files"], changes)
        sig = (_signature(st), None if jst is None else _signature(jst))
        whole = changes is not None and journal_raw.endswith(b"\n")
        return _Known(sig, data, base, len(changes or ()), sig[1] if whole else None)

    @property
    def journal_path(self) -> Path:
        return journal.journal_path(self.path)

    def written_here(self) -> bool:
        """Whether the sidecar and its journal on disk are as this process last wrote them
        (the watcher's own-write test)."""
        with _cache_guard:
            written = _written.get(str(self.path))
        return written is not None and written == self.signature_now()

    def ensure_readable(self) -> None:
        """Raise SidecarInvalid when the sidecar does not parse. A version in the cache (the
        last one read or written) is proof enough: an upload about to start need not
        wait for a write in progress (the write that records it checks again)."""
        with _cache_guard:
            if _cache.get(str(self.path)):
                return
        self.read()

    def raw_bytes(self) -> bytes:
        """The sidecar as a client downloads it: with the journal folded in, if any."""
        known = self._known()
        if known is not None and known.journal_lines:
            return render_sidecar(known.data)
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
                leases = cluster_leases
                if leases is not None:
                    _fences[key] = self._take_lease(leases)
                try:
                    _flock_fds[key] = self._lock_folder()
                except BaseException:
                    self._release_lease(key)
                    raise
            try:
                yield
            finally:
                if outermost:
                    os.close(_flock_fds.pop(key))
                    self._release_lease(key)

    def _take_lease(self, leases: Any) -> str:
        token = leases.take(self.label, CLUSTER_LOCK_WAIT)  # Unavailable when Redis is down
        if token is None:
            raise Conflict(
                f"Another node has been changing {self.label} for over "
                f"{CLUSTER_LOCK_WAIT:.0f} s; try again later."
            )
        return token

    def _release_lease(self, key: str) -> None:
        token = _fences.pop(key, None)
        if token is not None and cluster_leases is not None:
            cluster_leases.release(self.label, token)

    def _check_fence(self) -> None:
        """Just before a write: is this process's lease on the sidecar still its own?"""
        token = _fences.get(str(self.path))
        if token is None or cluster_leases is None:
            return
        if not cluster_leases.still_held(self.label, token):
            raise Conflict(
                f"This node's hold on {self.label} ran out before it could write (another "
                "node may have changed it meanwhile); nothing was changed. Try again."
            )

    def sync_folder(self) -> None:
        """Make new entries of the sidecar's folder durable; callers hold `locked()`, whose
        descriptor of the folder is fsynced (no second open of it)."""
        fd = _flock_fds.get(str(self.path))
        if fd is None:
            fsync_dir(self.folder)
        else:
            os.fsync(fd)

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
        """Write `data` atomically, folding in the journal; callers hold `locked()`. The
        cache learns the new contents before the file changes, so a reader never parses
        what was just written."""
        key = str(self.path)
        raw = render_sidecar(data)
        base = journal.base_of(raw)
        jsig = _stat_signature(str(self.journal_path))

        def before_replace(st: os.stat_result) -> None:
            # both: with the stale journal still there for a moment, and without it
            _remember(key, _Known((_signature(st), jsig), data, base, 0))
            _remember(key, _Known((_signature(st), None), data, base, 0))

        self._check_fence()
        with _announced(key):
            st = write_atomic(self.path, raw, before_replace)
        if jsig is not None:  # folded in: stale now (its base is the old bytes) and removed
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.journal_path)
        _note_written(key, (_signature(st), None))

    def fold_journal(self) -> None:
        """Write the sidecar whole, with its journal folded in (nothing when it has none)."""
        with self.locked():
            known = self._known()
            if known is not None and known.signature[1] is not None:
                self.write(_files_sorted(known.data))

    def record_files(
        self, changes: list[journal.Change], before_sync: Callable[[], None] | None = None
    ) -> journal.Appended | None:
        """Record file changes (key, record or None) cheaply: appended to the journal, or
        folded into a full write when the journal is due for it (returns None then: the
        caller keeps the old sidecar itself if it must be able to undo). `before_sync`
        runs between writing the lines and their fsync (the caller's folder fsyncs: on
        ext4 the first fsync commits both). Callers hold `locked()`; the sidecar must
        exist and hold a `files` map."""
        known = self._known()
        if known is None or not isinstance(known.data.get("files"), dict):
            raise SidecarInvalid(f"{self.label} has no files map to record files in.")
        files = journal.applied(known.data["files"], changes)
        data = {**known.data, "files": files}
        lines = known.journal_lines + len(changes)
        if journal.due_for_folding(lines, len(files)):
            if before_sync is not None:
                before_sync()
            self.write(_files_sorted(data))
            return None
        with _announced(str(self.path)):
            appended, jst = journal.append(
                self.journal_path, known.base, changes, before_sync, known.whole_journal
            )
            sig = (known.signature[0], _signature(jst))
            _remember(str(self.path), _Known(sig, data, known.base, lines, sig[1]))
        _note_written(str(self.path), sig)
        folding.appended(self)
        return appended

    def _set_aside_invalid(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        os.replace(self.path, self.folder / f"{SIDECAR_NAME}.invalid-{stamp}")


@contextmanager
def _announced(key: str) -> Iterator[None]:
    """While a writer (holding the sidecar's lock) changes the files and tells the cache."""
    done = threading.Event()
    with _cache_guard:
        _writing[key] = done
    try:
        yield
    finally:
        with _cache_guard:
            del _writing[key]
        done.set()


def _remember(key: str, known: _Known) -> None:
    with _cache_guard:
        versions = [old for old in _cache.get(key, ()) if old.signature != known.signature]
        _cache[key] = [known, *versions][:VERSIONS_KEPT]
        _cache.move_to_end(key)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)


def _note_written(key: str, sig: _Signature) -> None:
    with _cache_guard:
        _written[key] = sig
        _written.move_to_end(key)
        while len(_written) > CACHE_ENTRIES:
            _written.popitem(last=False)


def _files_sorted(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its `files` map in key order, as a full reconcile writes it."""
    files = data.get("files")
    if not isinstance(files, dict):
        return data
    return {**data, "files": dict(sorted(files.items()))}


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
