"""Removing folders while other threads may still write into them: the folder is first
renamed aside (atomically, to a hidden name beside it) and only then deleted, so nothing
that writes by path can put a file into it while it is being emptied."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path

from .atomic import fsync_dir, temp_path_beside

log = logging.getLogger(__name__)


def remove_folder(path: Path) -> None:
    """Make `path` (a folder) vanish at once, then delete its contents."""
    delete_trash(set_aside(path))


def set_aside(path: Path) -> Path:
    """Rename a folder to a hidden trash name beside it (durably); returns that name.
    From here on nothing can write into it by its path."""
    trash = temp_path_beside(path, ".trash")
    os.rename(path, trash)
    fsync_dir(path.parent)
    return trash


def delete_trash(trash: Path) -> None:
    """Delete a folder set aside. What cannot be deleted now (a file held open elsewhere)
    stays hidden until the sweep of temporaries removes it; the folder is gone either way."""
    if sys.version_info >= (3, 12):
        shutil.rmtree(trash, onexc=_note_leftover)
    else:
        shutil.rmtree(trash, onerror=lambda f, p, info: _note_leftover(f, p, info[1]))


def remove_path(path: Path) -> None:
    """Remove a file, a symlink or a whole folder (see `remove_folder`)."""
    if path.is_dir() and not path.is_symlink():
        remove_folder(path)
    else:
        path.unlink()


def _note_leftover(function: object, path: str, exc: BaseException) -> None:
    if not isinstance(exc, FileNotFoundError):
        log.warning("could not delete %s (%s); the sweep of temporaries does later", path, exc)
