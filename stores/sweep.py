"""Remove what interrupted writes left behind: hidden temporary files and staging folders
(`.~assetdav-*`) old enough that no write can still be using them."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from .names import TEMP_PREFIX
from .store import FileStore

log = logging.getLogger(__name__)

STALE_AFTER = 6 * 3600  # seconds; longer than any upload still writing its temporary file


def temporaries(root: Path) -> Iterator[tuple[str, bool]]:
    """(path, is a folder) of every temporary file or folder under `root`."""
    for folder, dirs, files in os.walk(root):
        for name in [d for d in dirs if d.startswith(TEMP_PREFIX)]:
            dirs.remove(name)
            yield os.path.join(folder, name), True
        for name in files:
            if name.startswith(TEMP_PREFIX):
                yield os.path.join(folder, name), False


def sweep_stale_temporaries(store: FileStore, older_than: float = STALE_AFTER) -> int:
    """Delete temporaries untouched for `older_than` seconds anywhere in the store (at
    start, no write of this server can be using one); returns how many went."""
    cutoff = time.time() - older_than
    removed = 0
    for path, is_dir in temporaries(store.root):
        removed += _remove_if_old(path, cutoff, is_dir=is_dir)
    if removed:
        log.info(
            "removed %d temporary file(s) left by interrupted writes in store %s",
            removed,
            store.name,
        )
    return removed


def _remove_if_old(path: str, cutoff: float, *, is_dir: bool) -> int:
    try:
        if os.lstat(path).st_mtime > cutoff:
            return 0
        if is_dir:
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return 1
    except OSError:
        return 0
