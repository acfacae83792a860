"""All-or-nothing changes to the tree: each step that changes something records how to put
it back, so an operation that fails midway (a full disk while writing the last sidecar)
leaves the tree and every sidecar exactly as they were.

The steps that can run out of space (writing bytes) come first or are undoable; the
undo steps themselves only rename and unlink, which never need space.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from .atomic import fsync_dir, temp_path_beside
from .removal import delete_trash, set_aside
from .sidecar import forget_cached

log = logging.getLogger(__name__)

Step = Callable[[], None]


class UndoLog:
    """Use as a context manager: on an exception every recorded undo step runs, newest
    first; on success the clean-up steps run (dropping the backups)."""

    def __init__(self) -> None:
        self._undo: list[Step] = []
        self._cleanup: list[Step] = []

    def on_failure(self, step: Step) -> None:
        self._undo.append(step)

    def on_success(self, step: Step) -> None:
        self._cleanup.append(step)

    # --- the steps ---------------------------------------------------------------------

    def replace(self, temp: Path, target: Path, st: os.stat_result | None = None) -> bool:
        """Rename a finished `temp` (whose `stat` the caller may have) over `target`,
        keeping the old file (a hard link, no bytes copied) until the end; returns whether
        `target` existed. Taken back only while `target` is still this file: never over a
        later write of the same name."""
        placed = (st or os.stat(temp)).st_ino
        backup = self._keep(target, placed)
        os.replace(temp, target)
        if backup is None:
            self.on_failure(lambda: _unlink(target, placed))
        return backup is not None

    def place_new(self, temp: Path, target: Path, st: os.stat_result | None = None) -> None:
        """Link `temp` (whose `stat` the caller may have) to `target`, which must not exist
        (AlreadyExists is the caller's)."""
        os.link(temp, target)
        placed = (st or os.stat(target)).st_ino
        self.on_failure(lambda: _unlink(target, placed))
        os.unlink(temp)

    def write(self, target: Path, write: Step) -> None:
        """Run `write`, which replaces `target` atomically (a sidecar), keeping the old one."""
        backup = self._keep(target)
        if backup is None:
            self.on_failure(lambda: _unlink(target))
        write()

    def remove_file(self, path: Path) -> None:
        """Unlink a file, or put it back on failure."""
        backup = self._keep(path)
        if backup is not None:
            os.unlink(path)
            fsync_dir(path.parent)

    def remove_folder(self, path: Path) -> None:
        """Set a folder aside (see removal.py): renamed back on failure, deleted on success."""
        trash = set_aside(path)
        forget_cached(path)
        self.on_failure(lambda: _rename_back(trash, path))
        self.on_success(lambda: delete_trash(trash))

    def remove(self, path: Path) -> None:
        """Remove a file or a folder, whichever is there (see above)."""
        if path.is_dir() and not path.is_symlink():
            self.remove_folder(path)
        else:
            self.remove_file(path)

    def rename(self, src: Path, dst: Path) -> None:
        """Rename `src` to the free name `dst`; renamed back on failure."""
        os.rename(src, dst)
        self.on_failure(lambda: _rename_back(dst, src))

    def keep(self, path: Path) -> None:
        """Keep the file at `path` as it is now (if any), to put back on failure."""
        self._keep(path)

    def _keep(self, path: Path, replaced_by: int | None = None) -> Path | None:
        """A hard link to `path` under a hidden name (None when there is no file): restored
        over `path` on failure (only while `path` is still the inode `replaced_by`, when
        given), removed on success."""
        backup = temp_path_beside(path, ".old")
        try:
            os.link(path, backup)
        except FileNotFoundError:
            return None
        self.on_failure(lambda: _restore(backup, path, replaced_by))
        self.on_success(lambda: _drop(backup))
        return backup

    # --- running them --------------------------------------------------------------------

    def rollback(self) -> None:
        steps, self._undo, self._cleanup = self._undo, [], []
        for step in reversed(steps):
            try:
                step()
            except OSError as exc:  # keep undoing the rest; say what could not be undone
                log.error("could not undo a step of a failed write: %s", exc)

    def commit(self) -> None:
        steps, self._undo, self._cleanup = self._cleanup, [], []
        for step in steps:
            try:
                step()
            except OSError as exc:
                log.warning("could not remove a backup after a write: %s", exc)

    def __enter__(self) -> UndoLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()


def _unlink(path: Path, only_inode: int | None = None) -> None:
    if only_inode is not None and not _is_inode(path, only_inode):
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    fsync_dir(path.parent)


def _is_inode(path: Path, inode: int) -> bool:
    try:
        return os.lstat(path).st_ino == inode
    except (FileNotFoundError, NotADirectoryError):
        return False


def _drop(backup: Path) -> None:
    """A backup no longer needed; one left by a crash is swept as a temporary file."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(backup)


def _restore(backup: Path, path: Path, only_over: int | None = None) -> None:
    if only_over is not None and not _is_inode(path, only_over):
        _drop(backup)  # a later write took the name: it stays
        return
    os.replace(backup, path)
    _drop(backup)  # rename(2) does nothing when both names are links to one file already
    fsync_dir(path.parent)


def _rename_back(now: Path, before: Path) -> None:
    os.rename(now, before)
    fsync_dir(before.parent)
    if now.parent != before.parent:
        fsync_dir(now.parent)
