"""Durable, atomic file replacement: temporary file in the same folder, fsync, rename."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import itertools
import os
from collections.abc import Callable
from pathlib import Path

from .errors import InsufficientStorage, from_os_error
from .names import TEMP_PREFIX


def temp_path_beside(path: Path, suffix: str = ".part") -> Path:
    """A hidden temporary name in the target's own folder, so the final rename is atomic.
    Unique: a random tag of this process and a counter (a uuid4 per name cost a system
    call and 4% of a small PUT); callers create it with O_EXCL all the same."""
    return path.parent / f"{TEMP_PREFIX}{_process_tag}{next(_temp_numbers):x}{suffix}"


def _new_process_tag() -> None:
    global _process_tag, _temp_numbers  # noqa: PLW0603 - one per process, forks included
    _process_tag = os.urandom(8).hex() + "-"
    _temp_numbers = itertools.count()


_process_tag = ""
_temp_numbers = itertools.count()
_new_process_tag()
os.register_at_fork(after_in_child=_new_process_tag)


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """os.write until every byte is written; a full disk is InsufficientStorage."""
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    except OSError as exc:
        raise_if_no_space(exc)
        raise


def raise_if_no_space(exc: OSError) -> None:
    """Raise InsufficientStorage for a full disk (ENOSPC, EDQUOT); else nothing."""
    mapped = from_os_error(exc)
    if isinstance(mapped, InsufficientStorage):
        raise mapped from exc


def write_atomic(
    path: Path, data: bytes, before_replace: Callable[[os.stat_result], None] | None = None
) -> os.stat_result:
    """Replace `path` with `data` so that readers see the old or the new bytes, never a mix.

    `before_replace` gets the new file's stat (the same after the rename) just before it
    takes `path`'s place: a cache keyed by it is then never behind the file.
    """
    tmp = temp_path_beside(path, ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_all(fd, data)
            os.fsync(fd)
            if before_replace is not None:
                before_replace(os.fstat(fd))
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        unlink_quietly(tmp)
        raise_if_no_space(exc)
        raise
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_dir(path.parent)
    return os.stat(path)


def unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux `renameat2` with RENAME_EXCHANGE): whoever looks
    sees one or the other, never neither. False where the system or filesystem cannot
    (then nothing changed)."""
    rename = getattr(libc(), "renameat2", None)
    if rename is None:
        return False
    done = rename(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


@functools.lru_cache(maxsize=1)
def libc() -> ctypes.CDLL:
    """The C library, for the system calls Python's os module does not offer."""
    return ctypes.CDLL(None, use_errno=True)
