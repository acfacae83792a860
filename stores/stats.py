"""How much a store holds: its files, their bytes, and the bytes on disk once hard links
(dedup) are counted once."""

from __future__ import annotations

import os
import stat
from typing import Any

from .access import Actor
from .names import is_internal
from .store import FileStore


def store_stats(store: FileStore, actor: Actor) -> dict[str, Any]:
    """Over the projects `actor` may read; sidecars, journals and temporaries left out."""
    files = total = unique = 0
    seen: set[tuple[int, int]] = set()
    for entry in store.list_folder(actor, store.locate("")):
        if not entry.is_dir:
            continue
        for folder, dirs, names in os.walk(store.fs_path(store.locate(entry.name))):
            dirs[:] = [d for d in dirs if not is_internal(d)]
            for name in names:
                if is_internal(name):
                    continue
                try:
                    st = os.lstat(os.path.join(folder, name))
                except OSError:
                    continue  # removed while counting
                if not stat.S_ISREG(st.st_mode):
                    continue
                files += 1
                total += st.st_size
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    unique += st.st_size
    return {"files": files, "bytes": total, "unique_bytes": unique, "saved_bytes": total - unique}
