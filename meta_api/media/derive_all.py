"""`assetdav derive`: the missing `low` and `medium` previews of whole stores (a tree copied
in, or a cache deleted), made by one thread per CPU (Pillow decodes outside the GIL)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from stores import FileStore, Location, Registry
from stores.listing import subfolders

from .background import make_previews
from .choice import keys_on_disk
from .service import Media

Progress = Callable[[int, int, str], None]
IN_FLIGHT = 64  # files queued ahead of the threads


@dataclass
class Derived:
    files: int = 0  # previewable files seen
    made: int = 0  # previews made (the others were there already or could not be made)


def derive_all(registry: Registry, media: Media, progress: Progress, threads: int = 0) -> Derived:
    assets = [
        (store, Location(store.name, (project, asset)))
        for store in registry
        for project in subfolders(store.root)
        for asset in subfolders(store.root / project)
    ]
    result = Derived()
    pending: list[Future[int]] = []
    with ThreadPoolExecutor(threads or os.cpu_count() or 1, "derive") as pool:
        for done, (store, asset) in enumerate(assets):
            progress(done, len(assets), asset.url_path())
            for key in keys_on_disk(store.fs_path(asset)):
                loc = Location(asset.store, (*asset.parts, *key.split("/")))
                result.files += 1
                pending.append(pool.submit(_previews_of, media, store, loc))
                if len(pending) >= IN_FLIGHT:
                    result.made += pending.pop(0).result()
        for future in pending:
            result.made += future.result()
    progress(len(assets), len(assets), "")
    return result


def _previews_of(media: Media, store: FileStore, loc: Location) -> int:
    return make_previews(media, store, loc) or 0
