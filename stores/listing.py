"""The folders of a folder that may be projects or assets: real folders (no symlinks),
not the server's own temporaries, in name order."""

from __future__ import annotations

import os
from pathlib import Path

from .names import is_internal


def subfolders(path: str | Path) -> list[str]:
    """The names of the folders in `path` ([] when it cannot be read)."""
    try:
        with os.scandir(path) as entries:
            names = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    return sorted(name for name in names if not is_internal(name))
