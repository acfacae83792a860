"""Compare the index with the tree and repair it: after a restart, a crash, an rsync."""

from __future__ import annotations

import logging
from collections.abc import Callable

from stores import SYSTEM, Location, Registry
from stores.check import owners
from stores.errors import StoreError
from stores.reconcile import records_agree

from .documents import owner_key
from .queries import IndexReader
from .schema import SEP
from .writer import IndexWriterThread, Job, sidecar_signature

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


def files_changed_behind_the_back(store, owner: Location) -> bool:
    """True when a file of `owner` differs from its sidecar record, or is missing or new."""
    try:
        data = store.sidecar(owner).read()
    except StoreError:
        return False  # reported by `check`; never overwritten silently
    if data is None:
        return False
    known = data.get("files") if isinstance(data.get("files"), dict) else {}
    return not records_agree(store.fs_path(owner), owner.level, known, None)


def reconcile(
    registry: Registry,
    reader: IndexReader,
    writer: IndexWriterThread,
    *,
    progress: Progress | None = None,
) -> int:
    """Repair sidecars that missed files written on disk, then queue every owner whose
    documents are missing, stale or orphaned. Returns how many owners were queued."""
    indexed = reader.indexed_owners()
    seen: set[str] = set()
    queued = 0
    everything = [(store, owner) for store in registry for owner in owners(store)]
    for done, (store, owner) in enumerate(everything):
        if progress:
            progress(done, len(everything), owner.url_path())
        key = owner_key(owner)
        seen.add(key)
        if files_changed_behind_the_back(store, owner):
            try:
                store.refresh_owner(SYSTEM, owner)
            except StoreError as exc:
                log.warning("cannot bring %s up to date: %s", owner.url_path(), exc.message)
        signature = sidecar_signature(store.sidecar(owner))
        if indexed.get(key, "") != signature or (signature and key not in indexed):
            writer.submit(Job(owner))
            queued += 1
    for key in set(indexed) - seen:
        store_name, *parts = key.split(SEP)
        writer.submit(Job(Location(store_name, tuple(parts))))
        queued += 1
    if progress:
        progress(len(everything), len(everything), "")
    return queued
