"""`assetdav check`: compare every sidecar with the files beside it, without changing anything."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import SidecarInvalid
from .hashing import ALGORITHMS, digest_file, mtime_of
from .layout import ASSET_LEVEL, Location
from .listing import subfolders
from .model import FileRecord
from .reconcile import iter_owned_files
from .store import FileStore
from .sweep import temporaries

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Problem:
    kind: str  # sidecar-invalid | sidecar-missing | not-recorded | size-mismatch |
    #            hash-mismatch | missing-on-disk | temporary
    path: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


def owners(store: FileStore) -> list[Location]:
    """Every project and asset folder of a store."""
    found: list[Location] = []
    for project in subfolders(store.root):
        loc = store.locate(project)
        found.append(loc)
        for asset in subfolders(store.fs_path(loc)):
            found.append(loc.child(asset))
    return found


def check_store(
    store: FileStore, *, quick: bool = False, progress: Progress | None = None
) -> Iterator[Problem]:
    """Yield every disagreement between the sidecars of `store` and its files.

    Without `quick`, every recorded file is hashed; with it, only files whose size or
    mtime changed are.
    """
    folders = owners(store)
    for done, owner in enumerate(folders):
        if progress:
            progress(done, len(folders), owner.url_path())
        yield from _check_owner(store, owner, quick)
    if progress:
        progress(len(folders), len(folders), "")
    now = time.time()
    for path, is_dir in temporaries(store.root):
        try:
            age = now - os.lstat(path).st_mtime
        except OSError:
            continue
        where = "/" + store.name + "/" + os.path.relpath(path, store.root)
        yield Problem(
            "temporary",
            where + ("/" if is_dir else ""),
            f"left by an interrupted write {age / 60:.0f} min ago; a starting server removes it",
        )


def _check_owner(store: FileStore, owner: Location, quick: bool) -> Iterator[Problem]:
    folder = store.fs_path(owner)
    sidecar = store.sidecar(owner)
    where = owner.url_path()
    try:
        data = sidecar.read()
    except SidecarInvalid as exc:
        yield Problem("sidecar-invalid", where + "/.ovemeta", str(exc))
        return
    if data is None:
        kind = "asset" if owner.level == ASSET_LEVEL else "project"
        yield Problem(
            "sidecar-missing",
            where,
            f"this {kind} folder has no .ovemeta yet; it is adopted on the next write or scan",
        )
        data = {}
    files = data.get("files") if isinstance(data.get("files"), dict) else {}
    seen: set[str] = set()
    for key, st in iter_owned_files(folder, owner.level):
        seen.add(key)
        path = f"{where}/{key}"
        record = FileRecord.from_dict(files.get(key))
        if record is None:
            if data:
                yield Problem("not-recorded", path, "on disk but not in the sidecar")
            continue
        if record.size != st.st_size:
            yield Problem(
                "size-mismatch", path, f"sidecar says {record.size} bytes, disk has {st.st_size}"
            )
            continue
        if not record.complete(store.sha256):
            yield Problem(
                "hash-missing",
                path,
                "the record lacks a digest this store keeps (blake3"
                + (", sha256" if store.sha256 else "")
                + "); the next write to its folder, or a scan, adds it",
            )
        if quick and record.matches(st.st_size, mtime_of(st)):
            continue
        _size, found = digest_file(os.path.join(folder, key), sha256=bool(record.sha256))
        for algorithm in ALGORITHMS:
            recorded = record.digests.of(algorithm)
            if recorded and recorded != found.of(algorithm):
                yield Problem(
                    "hash-mismatch",
                    path,
                    f"content changed ({algorithm}: sidecar {recorded}, "
                    f"disk {found.of(algorithm)})",
                )
                break
    for key in sorted(set(files) - seen):
        yield Problem("missing-on-disk", f"{where}/{key}", "recorded in the sidecar, not on disk")
