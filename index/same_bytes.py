"""Finding a file of a store that holds given bytes, for dedup on ingest (stores asks,
through `FileStore.same_bytes`, before it puts a new file in place)."""

from __future__ import annotations

import os
from pathlib import Path

from stores import FileStore
from stores.errors import StoreError
from stores.hashing import Digests, mtime_of
from stores.model import FileRecord

from .queries import IndexReader

MAX_OWNERS = 20  # owners looked at per lookup: a file kept in thousands of places needs one


class SameBytes:
    """The index names the owners holding a blake3 digest; their sidecars name the file,
    and it is used only while its record is still true on disk (size and mtime) and all
    its digests agree. The index is read as it is (never waited for): a file whose twin
    landed a moment ago is stored as sent."""

    def __init__(self, reader: IndexReader) -> None:
        self.reader = reader

    def __call__(self, store: FileStore, digests: Digests, size: int) -> Path | None:
        if not digests.blake3:
            return None
        owners = self.reader.owners_with_hash("blake3", digests.blake3, limit=MAX_OWNERS)
        for store_name, project, asset in owners:
            if store_name != store.name:
                continue
            found = _file_in(store, f"{project}/{asset}" if asset else project, digests, size)
            if found is not None:
                return found
        return None


def _file_in(store: FileStore, owner_path: str, digests: Digests, size: int) -> Path | None:
    try:
        owner = store.locate(owner_path)
        data = store.sidecar(owner).read() or {}
        folder = store.fs_path(owner)
    except StoreError:
        return None
    files = data.get("files") if isinstance(data.get("files"), dict) else {}
    for key, raw in files.items():
        record = FileRecord.from_dict(raw)
        if record is None or record.size != size or record.blake3 != digests.blake3:
            continue
        if record.xxh3_128 != digests.xxh3_128:
            continue
        path = folder / key
        try:
            st = os.stat(path)
        except OSError:
            continue
        if record.matches(st.st_size, mtime_of(st)):
            return path
    return None
