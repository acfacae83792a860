"""Adopt folders that arrived without a sidecar (a tree copied in from elsewhere): each
becomes a project or asset with a `Created` history entry and its files hashed in."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .access import Actor
from .check import owners
from .errors import StoreError
from .store import FileStore

log = logging.getLogger(__name__)

Progress = Callable[[int, int, int], None]  # (done, total, adopted)


def adopt_unowned(store: FileStore, actor: Actor, progress: Progress | None = None) -> int:
    """Give every project and asset folder of `store` without a sidecar one; folders in
    projects `actor` may not write are left alone, and those they may not read are not
    even counted. Returns how many were adopted."""
    folders = [owner for owner in owners(store) if store.may_read(actor, owner)]
    adopted = 0
    for done, owner in enumerate(folders):
        if progress:
            progress(done, len(folders), adopted)
        if store.sidecar(owner).exists() or not store.may_write(actor, owner):
            continue
        try:
            store.refresh_owner(actor, owner)
            adopted += 1
        except StoreError as exc:
            log.warning("cannot adopt %s: %s", owner.url_path(), exc.message)
    if progress:
        progress(len(folders), len(folders), adopted)
    return adopted
