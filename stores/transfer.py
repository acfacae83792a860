"""Moving and copying files, assets and projects, within a store or between stores,
so that every sidecar involved stays true (ids follow a moved asset, hashes follow files)."""

from __future__ import annotations

import copy
import errno
import os
import shutil
from pathlib import Path
from typing import Any

from . import model
from .access import Actor
from .atomic import fsync_dir
from .errors import AlreadyExists, Conflict, Forbidden, NotFound
from .events import COPIED, CREATED, MOVED, Change
from .hashing import mtime_of
from .layout import ASSET_LEVEL, PROJECT_LEVEL, STORE_LEVEL, Location
from .model import FileRecord
from .names import check_id, is_internal
from .removal import remove_folder
from .sidecar import forget_cached
from .store import FileStore, HintMap

COPY_CHUNK = 1 << 20


def check_destination(store: FileStore, dst: Location, is_dir: bool) -> None:
    """Naming and placement rules for something arriving at `dst`."""
    if dst.level == STORE_LEVEL:
        raise Forbidden("Nothing can replace a store's root.")
    if is_internal(dst.name):
        raise Forbidden(f"{dst.name!r} is a name the server keeps for itself.")
    if is_dir:
        if dst.is_owner_folder():
            check_id(dst.name, "project" if dst.level == PROJECT_LEVEL else "asset")
    else:
        store.check_file_place(dst)
    store._require_parent_folder(dst)


def move(
    actor: Actor, src_store: FileStore, src: Location, dst_store: FileStore, dst: Location
) -> None:
    """Move a file or folder to a place that does not exist yet."""
    src_store.check_write(actor, src)
    dst_store.check_write(actor, dst)
    if src.level == STORE_LEVEL or is_internal(src.name):
        raise Forbidden(f"{src.url_path()} cannot be moved.")
    src_path = src_store.fs_path(src)
    if not os.path.lexists(src_path):
        raise NotFound(f"{src.url_path()} does not exist.")
    is_dir = src_path.is_dir() and not src_path.is_symlink()
    if dst.is_same_or_below(src):
        raise Forbidden("A folder cannot be moved into itself.")
    check_destination(dst_store, dst, is_dir)
    dst_path = dst_store.fs_path(dst)
    if os.path.lexists(dst_path):
        raise AlreadyExists(f"{dst.url_path()} already exists.")

    src_owner = src_store._containing_owner(src, is_dir)
    dst_owner = dst_store._containing_owner(dst, is_dir)
    for store, owner in ((src_store, src_owner), (dst_store, dst_owner)):
        if owner is not None:
            store.sidecar(owner).read()  # refuse before touching anything if it does not parse
    hints = collect_hints(src_store, src, is_dir, dst_path)
    moved_from = model.history_entry("Moved", From=src.url_path())

    renamed = (src.name, dst.name) if is_dir and dst.is_owner_folder() else None
    if src_owner is not None and src_owner == dst_owner:
        with src_store.sidecar(src_owner).editing() as data:
            _rename(src_path, dst_path, is_dir)
            src_store._settle(src_owner, data, hints)
    elif is_dir and src.is_owner_folder():
        with src_store.sidecar(src).locked():  # a write into it finishes first
            _rename(src_path, dst_path, is_dir)
    else:
        _rename(src_path, dst_path, is_dir)
    if src_owner is None or src_owner != dst_owner:
        if src_owner is not None and src_store.fs_path(src_owner).is_dir():
            with src_store.sidecar(src_owner).editing() as data:
                src_store._settle(src_owner, data)
        settle_arrival(dst_store, dst, is_dir, hints, moved_from, renamed)
    src_store.feed.emit(Change(MOVED, src, is_dir, dest=dst))


def _rename(src_path: Path, dst_path: Path, is_dir: bool) -> None:
    try:
        os.rename(src_path, dst_path)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        if is_dir:
            shutil.copytree(src_path, dst_path, symlinks=True)
            remove_folder(src_path)
        else:
            shutil.copy2(src_path, dst_path)
            os.unlink(src_path)
    if is_dir:
        forget_cached(src_path)
    fsync_dir(src_path.parent)
    if dst_path.parent != src_path.parent:
        fsync_dir(dst_path.parent)


def collect_hints(store: FileStore, src: Location, is_dir: bool, dst_path: Path) -> HintMap:
    """Records of the files under `src` that are still true, keyed by their new path."""
    hints: HintMap = {}

    def take(owner: Location, prefix: str, base: Path) -> None:
        data = store.sidecar(owner).read() or {}
        files = data.get("files") if isinstance(data.get("files"), dict) else {}
        owner_path = store.fs_path(owner)
        for key, raw in files.items():
            if prefix and not (key == prefix or key.startswith(prefix + "/")):
                continue
            record = FileRecord.from_dict(raw)
            if record is None:
                continue
            try:
                st = os.stat(owner_path / key)
            except OSError:
                continue
            if record.matches(st.st_size, mtime_of(st)):
                rest = key[len(prefix) :].lstrip("/") if prefix else key
                hints[str(base / rest) if rest else str(base)] = record

    if not is_dir:
        owner = store._recording_owner(src)
        if owner is not None:
            take(owner, src.key_in(owner), dst_path)
    elif src.level > ASSET_LEVEL:
        owner = Location(src.store, src.parts[:ASSET_LEVEL])
        take(owner, src.key_in(owner), dst_path)
    elif src.level == ASSET_LEVEL:
        take(src, "", dst_path)
    elif src.level == PROJECT_LEVEL:
        take(src, "", dst_path)
        for entry in os.scandir(store.fs_path(src)):
            if entry.is_dir(follow_symlinks=False) and not is_internal(entry.name):
                take(src.child(entry.name), "", dst_path / entry.name)
    return hints


def settle_arrival(
    store: FileStore,
    dst: Location,
    is_dir: bool,
    hints: HintMap,
    entry: dict[str, Any] | None,
    renamed: tuple[str, str] | None = None,
) -> None:
    """Fix the sidecars at a destination: records for arrived files, ids for arrived owners."""
    if not is_dir or dst.level > ASSET_LEVEL:
        owner = store._containing_owner(dst, is_dir)
        if owner is not None:
            _settle_owner(store, owner, hints, None)
        return
    _settle_owner(store, dst, hints, entry, renamed)
    if dst.level == PROJECT_LEVEL:
        for item in os.scandir(store.fs_path(dst)):
            if item.is_dir(follow_symlinks=False) and not is_internal(item.name):
                _settle_owner(store, dst.child(item.name), hints, None)


def _settle_owner(
    store: FileStore,
    owner: Location,
    hints: HintMap,
    entry: dict[str, Any] | None,
    renamed: tuple[str, str] | None = None,
) -> None:
    with store.sidecar(owner).editing() as data:
        had_sidecar = bool(data)
        store._settle(owner, data, hints)
        _follow_rename(data, renamed)
        if had_sidecar and entry is not None:
            data.setdefault("history", []).append(dict(entry))


def _follow_rename(data: dict[str, Any], renamed: tuple[str, str] | None) -> None:
    """A display name that was just the old folder name follows the folder."""
    if renamed is not None and data.get("name") == renamed[0]:
        data["name"] = renamed[1]


def copy_file(
    actor: Actor, src_store: FileStore, src: Location, dst_store: FileStore, dst: Location
) -> None:
    """Copy one file (replacing the destination), hashing the bytes on the way."""
    src_store.check_read(actor, src)
    check_destination(dst_store, dst, is_dir=False)
    with (
        src_store.open_read(actor, src) as source,
        dst_store.open_writer(actor, dst, apply_rules=False) as writer,
    ):
        while chunk := source.read(COPY_CHUNK):
            writer.write(chunk)
        writer.commit()


def copy_folder(
    actor: Actor,
    src_store: FileStore,
    src: Location,
    dst_store: FileStore,
    dst: Location,
    *,
    recursive: bool,
) -> None:
    """Copy a folder; a project or asset arriving at its own level brings its metadata
    (with a `Copied` history entry) but gets a sidecar of its own."""
    src_store.check_read(actor, src)
    dst_store.check_write(actor, dst)
    if dst.is_same_or_below(src):
        raise Forbidden("A folder cannot be copied into itself.")
    check_destination(dst_store, dst, is_dir=True)
    dst_path = dst_store.fs_path(dst)
    if dst_path.exists() and not dst_path.is_dir():
        raise Conflict(f"{dst.url_path()} exists and is not a folder.")
    created = not dst_path.exists()
    if created:
        os.mkdir(dst_path)
        fsync_dir(dst_path.parent)
    if dst.is_owner_folder():
        source_meta = src_store.sidecar(src).read() if src.level == dst.level else None
        with dst_store.sidecar(dst).editing() as data:
            kept_files = data.get("files")
            if source_meta:
                data.clear()
                data.update(copy.deepcopy(source_meta))
                data["files"] = kept_files if isinstance(kept_files, dict) else {}
                data.setdefault("history", []).append(
                    model.history_entry("Copied", From=src.url_path())
                )
            dst_store._settle(dst, data)
            _follow_rename(data, (src.name, dst.name))
    dst_store.feed.emit(Change(CREATED if created else COPIED, dst, True))
    if not recursive:
        return
    for member in src_store.list_folder(actor, src):
        child_src, child_dst = src.child(member.name), dst.child(member.name)
        if member.is_dir:
            copy_folder(actor, src_store, child_src, dst_store, child_dst, recursive=True)
        else:
            copy_file(actor, src_store, child_src, dst_store, child_dst)
