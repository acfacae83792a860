"""Moving and copying files, assets and projects, within a store or between stores.

Every sidecar involved stays true (ids follow a moved asset, hashes follow files), and
each operation is all or nothing: it runs under the locks of every sidecar it changes,
and if any step fails (a full disk while writing the last sidecar) the tree and every
sidecar are put back as they were. Something that `dst` replaces is set aside in the
same step and only deleted once the operation has succeeded.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from copy import deepcopy
from pathlib import Path
from typing import Any

from . import model
from .access import Actor
from .atomic import fsync_dir, raise_if_no_space, temp_path_beside
from .errors import AlreadyExists, Forbidden, NotFound, StoreError
from .events import COPIED, CREATED, DELETED, MODIFIED, MOVED, Change
from .hashing import ContentHasher, digest_file, mtime_of
from .layout import ASSET_LEVEL, PROJECT_LEVEL, STORE_LEVEL, Location
from .listing import subfolders
from .model import FileRecord
from .names import check_id, is_internal, is_within
from .removal import remove_path
from .sidecar import Sidecar, forget_cached
from .store import FileStore, HintMap
from .undo import UndoLog
from .writeback import WritebackPacer

log = logging.getLogger(__name__)

COPY_CHUNK = 1 << 20
Records = dict[str, FileRecord]  # path relative to the copied root ("" for a file) -> record


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


def _source(store: FileStore, src: Location) -> tuple[Path, bool]:
    """The path of an existing source and whether it is a folder."""
    if src.level == STORE_LEVEL or is_internal(src.name):
        raise Forbidden(f"{src.url_path()} cannot be moved or copied.")
    path = store.fs_path(src)
    if not os.path.lexists(path):
        raise NotFound(f"{src.url_path()} does not exist.")
    return path, path.is_dir() and not path.is_symlink()


def _target(store: FileStore, dst: Location, is_dir: bool, overwrite: bool) -> tuple[Path, bool]:
    """The path of the destination and whether something is there to be replaced."""
    check_destination(store, dst, is_dir)
    path = store.fs_path(dst)
    replaced = os.path.lexists(path)
    if replaced and not overwrite:
        raise AlreadyExists(f"{dst.url_path()} already exists.")
    return path, replaced


@contextmanager
def _locked(sidecars: Iterable[Sidecar]) -> Iterator[None]:
    """Hold several sidecar locks, taken in one global order (by path) so that two
    operations locking the same sidecars can never wait for each other."""
    unique = {str(sidecar.path): sidecar for sidecar in sidecars}
    with ExitStack() as stack:
        for key in sorted(unique):
            stack.enter_context(unique[key].locked())
        yield


def _sidecars(*pairs: tuple[FileStore, Location | None]) -> list[Sidecar]:
    return [store.sidecar(loc) for store, loc in pairs if loc is not None]


def _replaced_owner(dst: Location, dst_path: Path, replaced: bool) -> Location | None:
    """The project or asset folder a destination replaces (locked while it goes)."""
    if replaced and dst.is_owner_folder() and dst_path.is_dir() and not dst_path.is_symlink():
        return dst
    return None


# --- move ----------------------------------------------------------------------------


def move(
    actor: Actor,
    src_store: FileStore,
    src: Location,
    dst_store: FileStore,
    dst: Location,
    *,
    overwrite: bool = False,
) -> bool:
    """Move a file or folder; with `overwrite`, what is at `dst` is replaced. Returns
    whether `dst` is new."""
    src_store.check_write(actor, src)
    dst_store.check_write(actor, dst)
    src_path, is_dir = _source(src_store, src)
    if dst.is_same_or_below(src):
        raise Forbidden("A folder cannot be moved into itself.")
    if src.is_same_or_below(dst):
        raise Forbidden("A folder cannot be replaced by something inside it.")
    dst_path, replaced = _target(dst_store, dst, is_dir, overwrite)

    src_owner = src_store._containing_owner(src, is_dir)
    dst_owner = dst_store._containing_owner(dst, is_dir)
    moved_owner = src if is_dir and src.is_owner_folder() else None
    replaced_owner = _replaced_owner(dst, dst_path, replaced)
    same_owner = src_owner is not None and (src_store, src_owner) == (dst_store, dst_owner)
    sidecars = _sidecars(
        (src_store, src_owner),
        (dst_store, dst_owner),
        (src_store, moved_owner),
        (dst_store, replaced_owner),
    )
    with _locked(sidecars):
        for store, owner in ((src_store, src_owner), (dst_store, dst_owner)):
            if owner is not None:
                store.sidecar(owner).read()  # refuse before touching anything if unreadable
        hints = collect_hints(src_store, src, is_dir, dst_path)
        arrival = _arrival(dst, src, "Moved") if is_dir and dst.is_owner_folder() else None
        gone = [src.key_in(src_owner) + ("/" if is_dir else "")] if src_owner else []
        if replaced and same_owner:
            gone.append(dst.key_in(src_owner) + ("/" if dst_path.is_dir() else ""))
        with UndoLog() as undo:
            if replaced:
                undo.remove(dst_path)
            _move_path(undo, src_path, dst_path, is_dir, src_store.root_real)
            if is_dir:
                forget_cached(src_path)
            if same_owner and src_store.appendable(src_owner):
                src_store.append_changes(src_owner, undo, removed=gone, hints=hints)
            elif same_owner:
                src_store.rewrite_sidecar(src_owner, undo, hints=hints)
            else:
                if src_owner is not None:
                    src_store.rewrite_sidecar(src_owner, undo)
                if dst_owner is not None:
                    dst_store.rewrite_sidecar(dst_owner, undo, hints=hints)
            if arrival is not None:
                dst_store.rewrite_sidecar(dst, undo, hints=hints, change=arrival)
    if is_dir and dst.level == PROJECT_LEVEL:
        _follow_into_assets(dst_store, dst, hints)
    if replaced:
        dst_store.feed.emit(Change(DELETED, dst, is_dir))
    src_store.feed.emit(Change(MOVED, src, is_dir, dest=dst))
    return not replaced


def _move_path(
    undo: UndoLog, src_path: Path, dst_path: Path, is_dir: bool, src_root_real: str
) -> None:
    """Rename; across filesystems (stores on different disks), copy and take the source
    away. Undoable either way."""
    try:
        undo.rename(src_path, dst_path)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        staging = temp_path_beside(dst_path, ".move")
        try:
            _copy_tree(src_path, staging, is_dir, src_root_real)
            undo.rename(staging, dst_path)
        except BaseException:
            if os.path.lexists(staging):
                remove_path(staging)
            raise
        undo.remove(src_path)
    fsync_dir(src_path.parent)
    if dst_path.parent != src_path.parent:
        fsync_dir(dst_path.parent)


def _arrival(dst: Location, src: Location, kind: str) -> Callable[[dict[str, Any]], None]:
    """The change a folder arriving at the project or asset `dst` makes to its own
    sidecar: a display name that was just the old folder name follows the folder, and an
    owner that came at its own level gets a history entry (`Moved` from `src`)."""
    entry = model.history_entry(kind, From=src.url_path())
    came_as_owner = src.is_owner_folder() and src.level == dst.level

    def change(data: dict[str, Any]) -> None:
        if data.get("name") == src.name:
            data["name"] = dst.name
        if came_as_owner:
            data.setdefault("history", []).append(dict(entry))

    return change


def _follow_into_assets(store: FileStore, project: Location, hints: HintMap) -> None:
    """A project that moved: each asset's sidecar learns its new project. Each is its own
    locked write; one that fails (a full disk) is corrected by its next write, since
    `id`, `project` and `index_file` always follow from where the folder is."""
    for name in subfolders(store.fs_path(project)):
        asset = project.child(name)
        try:
            with store.sidecar(asset).editing() as data:
                store._settle(asset, data, hints)
        except (StoreError, OSError) as exc:
            log.warning(
                "%s moved; its sidecar names the old place until its next write: %s",
                asset.url_path(),
                exc,
            )


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
        for name in subfolders(store.fs_path(src)):
            take(src.child(name), "", dst_path / name)
    return hints


# --- copy ----------------------------------------------------------------------------


def copy(
    actor: Actor,
    src_store: FileStore,
    src: Location,
    dst_store: FileStore,
    dst: Location,
    *,
    recursive: bool = True,
    overwrite: bool = False,
) -> bool:
    """Copy a file, or a folder (with everything in it when `recursive`); with
    `overwrite`, what is at `dst` is replaced. Returns whether `dst` is new.

    The copy is built under a hidden name beside `dst` (its bytes hashed on the way, the
    sidecars of projects and assets in it made for where they will be), then renamed into
    place: nothing of it is visible until it is whole. A project or asset arriving at its
    own level brings its metadata (with a `Copied` entry) but gets a sidecar of its own.
    """
    src_store.check_read(actor, src)
    dst_store.check_write(actor, dst)
    src_path, is_dir = _source(src_store, src)
    if is_dir and dst.is_same_or_below(src):
        raise Forbidden("A folder cannot be copied into itself.")
    dst_path, replaced = _target(dst_store, dst, is_dir, overwrite)
    staging = temp_path_beside(dst_path, ".copy")
    try:
        records = _copy_tree(
            src_path,
            staging,
            is_dir,
            src_store.root_real,
            recursive=recursive,
            sha256=dst_store.sha256,
            link=dst_store.dedup,
        )
        if is_dir:
            _stage_sidecars(src_store, src, dst_store, dst, staging, records)
        _commit_copy(dst_store, dst, dst_path, staging, is_dir, replaced, records)
    except BaseException:
        if os.path.lexists(staging):
            remove_path(staging)
        raise
    kind = (COPIED if replaced else CREATED) if is_dir else (MODIFIED if replaced else CREATED)
    dst_store.feed.emit(Change(kind, dst, is_dir))
    return not replaced


def _commit_copy(
    store: FileStore,
    dst: Location,
    dst_path: Path,
    staging: Path,
    is_dir: bool,
    replaced: bool,
    records: Records,
) -> None:
    """Put a finished copy in place and record it in the sidecar that owns `dst`."""
    owner = store._containing_owner(dst, is_dir)
    replaced_owner = _replaced_owner(dst, dst_path, replaced)
    hints = {str(dst_path / rel) if rel else str(dst_path): r for rel, r in records.items()}
    with _locked(_sidecars((store, owner), (store, replaced_owner))), UndoLog() as undo:
        if replaced and (is_dir or dst_path.is_dir()):
            undo.remove(dst_path)
        if is_dir or not os.path.lexists(dst_path):
            undo.rename(staging, dst_path)
        else:
            undo.replace(staging, dst_path)
        fsync_dir(dst_path.parent)
        if owner is not None:
            store.rewrite_sidecar(owner, undo, hints=hints)


def _stage_sidecars(
    src_store: FileStore,
    src: Location,
    dst_store: FileStore,
    dst: Location,
    staging: Path,
    records: Records,
) -> None:
    """The sidecars of the projects and assets inside a copy being built: made for their
    final place, with the metadata of the owner each was copied from."""
    owners: list[tuple[Location, Location, Path]] = []  # (source owner, copy's owner, folder)
    if dst.is_owner_folder():
        owners.append((src, dst, staging))
    if dst.level == PROJECT_LEVEL:
        for name in subfolders(staging):
            owners.append((src.child(name), dst.child(name), staging / name))
    for source, owner, folder in owners:
        prefix = str(folder.relative_to(staging)) if folder != staging else ""
        hints = {
            str(staging / rel): record
            for rel, record in records.items()
            if not prefix or rel.startswith(prefix + "/")
        }
        source_meta = (
            src_store.sidecar(source).read()
            if source.is_owner_folder() and source.level == owner.level
            else None
        )
        data = deepcopy(source_meta) if source_meta else {}
        if data:
            data["files"] = {}
            if owner.level == ASSET_LEVEL:
                data["uuid"] = model.new_uuid()  # a copy is another asset
            data.setdefault("history", []).append(
                model.history_entry("Copied", From=source.url_path())
            )
        dst_store._settle(owner, data, hints, folder=folder)
        if owner == dst and data.get("name") == src.name:
            data["name"] = dst.name
        dst_store.sidecar(owner, folder).write(data)


def _copy_tree(
    src: Path,
    dst: Path,
    is_dir: bool,
    root_real: str,
    *,
    recursive: bool = True,
    sha256: bool = False,
    link: bool = False,
) -> Records:
    """Copy a file or folder to the new path `dst`, durably, hashing every file; returns
    their records. Sidecars and temporary files are not copied, nor symlinks that leave
    the store; other symlinks are copied as what they point at."""
    if not is_dir:
        return {"": _copy_file(src, dst, sha256, link)}
    records: Records = {}
    _make_folder(dst)
    if not recursive:
        return records
    stack = [("", src, dst)]
    while stack:
        prefix, source, target = stack.pop()
        for entry in sorted(os.scandir(source), key=lambda e: e.name):
            if is_internal(entry.name):
                continue
            if entry.is_symlink() and not is_within(root_real, os.path.realpath(entry.path)):
                continue
            rel = prefix + entry.name
            if entry.is_dir():
                _make_folder(target / entry.name)
                stack.append((rel + "/", Path(entry.path), target / entry.name))
            elif entry.is_file():
                records[rel] = _copy_file(Path(entry.path), target / entry.name, sha256, link)
        fsync_dir(target)
    return records


def _make_folder(path: Path) -> None:
    try:
        os.mkdir(path)
    except OSError as exc:
        raise_if_no_space(exc)
        raise


def _copy_file(src: Path, dst: Path, sha256: bool, link: bool = False) -> FileRecord:
    """Copy the bytes of one file, hashing them on the way, and fsync the copy; with `link`
    (a store that dedups), a hard link to the same bytes when the filesystem allows."""
    if link:
        try:
            os.link(src, dst)
        except OSError:
            pass  # across filesystems, too many links...: copy the bytes
        else:
            size, digests = digest_file(dst, sha256)
            return FileRecord.of(size, digests, mtime_of(os.stat(dst)))
    hasher = ContentHasher(sha256)
    size = 0
    with open(src, "rb") as source:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        writeback = WritebackPacer(fd)
        try:
            while chunk := source.read(COPY_CHUNK):
                writeback.write(chunk)
                hasher.update(chunk)
                size += len(chunk)
            os.fsync(fd)
            st = os.fstat(fd)
        except OSError as exc:
            raise_if_no_space(exc)
            raise
        finally:
            os.close(fd)
    return FileRecord.of(size, hasher.digests(), mtime_of(st))


__all__ = ["check_destination", "collect_hints", "copy", "move"]
