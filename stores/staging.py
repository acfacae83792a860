"""Many files at once (worker output: tiles, an unpacked zip): built in a hidden folder
beside their destination and put in place with one rename and one sidecar write."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from typing import IO

from .access import Actor
from .atomic import fsync_dir, raise_if_no_space
from .errors import Conflict, Forbidden, NotFound
from .events import CREATED, MODIFIED, Change
from .layout import ASSET_LEVEL, Location
from .names import TEMP_PREFIX, split_path
from .store import FileStore
from .undo import UndoLog


class _DurableFile:
    """A file opened inside the staging folder; fsynced when closed."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def write(self, data: bytes) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            raise_if_no_space(exc)
            raise

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> _DurableFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str):  # tell, seek... for writers like Pillow
        return getattr(self._handle, name)


class Staging:
    """`open(relpath)` files, then `commit()` to replace `dest` with them all at once.
    Until then nothing is visible (the folder's name is internal); `abort()` or an error
    removes it."""

    def __init__(self, store: FileStore, actor: Actor, dest: Location) -> None:
        if dest.level <= ASSET_LEVEL:
            raise Forbidden("Staged output goes inside an asset, below its version folders.")
        store.check_write(actor, dest)
        self.store = store
        self.actor = actor
        self.dest = dest
        parent = store.fs_path(dest.parent)
        try:  # only the last folder: a version folder removed meanwhile is not made again
            parent.mkdir(exist_ok=True)
            self.path = parent / f"{TEMP_PREFIX}stage-{uuid.uuid4().hex}"
            os.mkdir(self.path)
        except FileNotFoundError:
            raise NotFound(f"{dest.parent.parent.url_path()} no longer exists.") from None
        except OSError as exc:
            raise_if_no_space(exc)
            raise
        self._open: list[_DurableFile] = []
        self.committed = False

    def open(self, relpath: str) -> _DurableFile:
        """A new file at `relpath` (slash-separated, checked) inside the staged folder."""
        parts = split_path(relpath)
        if not parts:
            raise Forbidden("A staged file needs a name.")
        target = self.path.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = open(target, "xb")  # noqa: SIM115 - closed by the caller or commit
        except FileExistsError as exc:
            raise Conflict(f"{relpath!r} was already written.") from exc
        except OSError as exc:
            raise_if_no_space(exc)
            raise
        durable = _DurableFile(handle)
        self._open.append(durable)
        return durable

    def commit(self) -> None:
        """Replace the destination with the staged folder and record its files."""
        for handle in self._open:
            handle.close()
        target = self.store.fs_path(self.dest)
        owner = Location(self.dest.store, self.dest.parts[:ASSET_LEVEL])
        existed = target.exists()
        sidecar = self.store.sidecar(owner)
        # all or nothing: if the sidecar cannot be written, the earlier output comes back
        with sidecar.locked(), UndoLog() as undo, sidecar.editing() as data:
            if existed:
                undo.remove(target)
            undo.rename(self.path, target)
            fsync_dir(target.parent)
            self.store._settle(owner, data)
        self.committed = True
        self.store.feed.emit(Change(MODIFIED if existed else CREATED, self.dest, True))

    def abort(self) -> None:
        for handle in self._open:
            with contextlib.suppress(OSError):
                handle.close()
        if not self.committed:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self.committed:
            self.abort()
