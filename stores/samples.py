"""Sample images of an asset (a model's example pictures), kept in the tree beside its
files as `<asset>/samples/<seq>.<ext>` (seq from 0), so they travel with it in a backup.
Adding and removing happen under the asset's sidecar lock; removing one shifts the later
ones down by one in a single step (a new folder swapped in for the old one), so a reader
never sees a gap or a duplicate, and the sidecar's records follow in the same step."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .access import Actor
from .atomic import exchange, fsync_dir, temp_path_beside
from .errors import NotFound
from .events import META, Change
from .layout import Location
from .removal import remove_path
from .store import FileStore
from .undo import UndoLog

FOLDER = "samples"
_NAME = re.compile(r"(0|[1-9][0-9]{0,8})\.([A-Za-z0-9]{1,8})")


def samples(store: FileStore, owner: Location) -> list[tuple[int, str]]:
    """(seq, file name) of the asset's samples, by seq; a name out of the pattern is
    not a sample (left alone)."""
    try:
        names = os.listdir(store.fs_path(owner) / FOLDER)
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [(int(m.group(1)), name) for name in names if (m := _NAME.fullmatch(name))]
    return sorted(found)


def add_sample(
    actor: Actor, store: FileStore, owner: Location, source: Path, ext: str, mode: str = "move"
) -> int:
    """Put `source` in as the next sample (`mode`: "move" it, or "link": a hard link, else
    a copy, leaving it where it is); returns its seq."""
    store.check_write(actor, owner)
    with store.sidecar(owner).locked():
        present = samples(store, owner)
        seq = present[-1][0] + 1 if present else 0
        folder = owner.child(FOLDER)
        if store.stat(folder) is None:
            store.make_folder(actor, folder)
        store.place_existing(actor, folder.child(f"{seq}.{ext.lower()}"), source, mode=mode)
    return seq


def delete_sample(actor: Actor, store: FileStore, owner: Location, seq: int) -> None:
    """Remove sample `seq`; those after it move down by one, all in one step."""
    store.check_write(actor, owner)
    sidecar = store.sidecar(owner)
    with sidecar.locked():
        present = samples(store, owner)
        if seq not in {s for s, _name in present}:
            raise NotFound(f"{owner.url_path()} has no sample {seq}.")
        folder = store.fs_path(owner) / FOLDER
        staged = temp_path_beside(folder, ".samples")
        os.mkdir(staged)
        try:
            kept = [name for s, name in present if s != seq]
            for new_seq, name in enumerate(kept):
                os.link(folder / name, staged / f"{new_seq}.{name.split('.', 1)[1]}")
            fsync_dir(staged)
            if not exchange(staged, folder):
                _swap_by_renames(staged, folder)
            fsync_dir(folder.parent)
            try:
                with UndoLog() as undo:
                    store.rewrite_sidecar(owner, undo)
            except BaseException:
                exchange(staged, folder) or _swap_by_renames(staged, folder)
                raise
        finally:
            if staged.exists():
                remove_path(staged)
    store.feed.emit(Change(META, owner, True))


def _swap_by_renames(a: Path, b: Path) -> bool:
    """Where the filesystem cannot swap in one step (NFS): three renames, with a moment
    in which `b` is missing."""
    aside = temp_path_beside(b, ".old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)
    return True
