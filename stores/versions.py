"""OVE uploads: each upload of an asset's file lands in the next version folder
(`<asset>/<N>/<filename>`), and the sidecar's version, filename, index_file and history
follow in the same locked write that records the file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import model
from .access import Actor
from .errors import AlreadyExists, AssetNotFound, Forbidden, StoreError
from .hashing import Digests
from .layout import ASSET_LEVEL, Location
from .names import SIDECAR_NAME, check_id, is_internal, normalize_name
from .store import FileStore
from .writer import FileWriter


class VersionUpload:
    """A streamed upload into a reserved version folder: `write()`, then `commit()`;
    an aborted upload leaves neither the file nor the empty version folder behind."""

    def __init__(self, writer: FileWriter, slot: VersionSlot) -> None:
        self._writer = writer
        self._slot = slot
        self.version = slot.version
        self.filename = slot.filename

    def write(self, data: bytes) -> int:
        try:
            return self._writer.write(data)
        except BaseException:
            self.abort()
            raise

    def commit(self) -> None:
        try:
            self._writer.commit()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        self._writer.abort()
        if not self._writer.done:
            self._slot.release()

    def __enter__(self) -> VersionUpload:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if not self._writer.done:
            self.abort()


def upload_filename(filename: str) -> str:
    """A file name as the upload route takes it: one safe name, never the sidecar's."""
    name = normalize_name(filename.strip())
    if name == SIDECAR_NAME or is_internal(name):
        raise Forbidden(f"{name!r} is a reserved file name.", rule="reserved-filename")
    return name


@dataclass(frozen=True)
class VersionSlot:
    """A reserved (created, empty) version folder and how to record a file placed in it."""

    folder: str
    version: int
    filename: str
    target: Location
    record: Callable[[dict[str, Any]], None]
    made_asset: Callable[[], None] | None = None  # undoes an asset this upload created

    def release(self) -> None:
        """Give the folder back when nothing came of the upload (and the asset, when the
        upload made it): a refused upload leaves nothing behind."""
        with contextlib.suppress(OSError):
            os.rmdir(self.folder)  # only if still empty
        if self.made_asset is not None:
            self.made_asset()


def reserve_version(
    store: FileStore,
    actor: Actor,
    asset: Location,
    filename: str,
    *,
    create: bool = False,
    update: bool = False,
    expected_size: int | None = None,
) -> VersionSlot:
    """Reserve the next version folder of `asset` for `filename`.

    A missing asset is made when `create`; an asset that already has a file needs
    `update` (AlreadyExists otherwise, OVE's "Asset exists"). The store's name rules and a
    declared size are judged first, so a refused upload makes nothing.
    """
    name = check_upload(
        store, actor, asset, filename, create=create, update=update, expected_size=expected_size
    )
    created_now = False
    if not store.fs_path(asset).is_dir():
        with contextlib.suppress(AlreadyExists):
            store.make_folder(actor, asset)
            created_now = True
    sidecar = store.sidecar(asset)
    asset_path = store.fs_path(asset)
    with sidecar.locked():
        meta = sidecar.read() or {}
        if meta.get("uploaded") and not update:
            raise _asset_exists()
        version = _as_int(meta.get("version")) + 1
        while (asset_path / str(version)).exists():
            version += 1
        os.mkdir(asset_path / str(version))

    def record_version(data: dict[str, Any]) -> None:
        """Every upload appends `Updated` with its version, the first one too (after the
        `Created` of the asset), as OVE's own code does."""
        if version >= _as_int(data.get("version")):
            data["version"] = version
            data["filename"] = name
            data["index_file"] = f"{asset.url_path()}/{version}/{name}"
        data["uploaded"] = True
        data["processing_status"] = ""
        data["processing_error"] = ""
        data.setdefault("history", []).append(model.history_entry("Updated", version))

    def unmake_asset() -> None:
        with contextlib.suppress(StoreError, OSError):
            store.delete(actor, asset)

    return VersionSlot(
        str(asset_path / str(version)),
        version,
        name,
        asset.child(str(version)).child(name),
        record_version,
        unmake_asset if created_now else None,
    )


def begin_upload(
    store: FileStore,
    actor: Actor,
    asset: Location,
    filename: str,
    *,
    create: bool = False,
    update: bool = False,
    expected_size: int | None = None,
    max_size: int | None = None,
) -> VersionUpload:
    """Reserve the next version folder of `asset` and open a writer for `filename` in it."""
    slot = reserve_version(
        store, actor, asset, filename, create=create, update=update, expected_size=expected_size
    )
    try:
        writer = store.open_writer(
            actor,
            slot.target,
            expected_size=expected_size,
            max_size=max_size,
            on_placed=slot.record,
        )
    except BaseException:
        slot.release()
        raise
    return VersionUpload(writer, slot)


def place_version(
    store: FileStore,
    actor: Actor,
    asset: Location,
    filename: str,
    source: Path,
    *,
    mode: str,
    digests: Digests | None = None,
    create: bool = False,
    update: bool = False,
) -> VersionSlot:
    """A file that exists already (a finished resumable upload, content found by its hash)
    becomes the asset's next version, exactly as an upload would."""
    slot = reserve_version(
        store,
        actor,
        asset,
        filename,
        create=create,
        update=update,
        expected_size=os.stat(source).st_size,
    )
    try:
        store.place_existing(
            actor, slot.target, source, mode=mode, digests=digests, on_placed=slot.record
        )
    except BaseException:
        slot.release()
        raise
    return slot


def check_upload(
    store: FileStore,
    actor: Actor,
    asset: Location,
    filename: str,
    *,
    create: bool = False,
    update: bool = False,
    expected_size: int | None = None,
) -> str:
    """Judge an upload whose bytes come later (a resumable upload, when it is created) as
    `reserve_version` will when it lands, making nothing. Returns the file name to use."""
    if asset.level != ASSET_LEVEL:
        raise Forbidden(f"{asset.url_path()} is not an asset.")
    name = upload_filename(filename)
    store.check_write(actor, asset)
    store.rules.check_new_file(name, expected_size)
    if not store.fs_path(asset).is_dir():
        if not create:
            raise AssetNotFound(
                f"The asset {asset.name!r} does not exist; create it first or pass create=true."
            )
        check_id(asset.name, "asset")
    elif not update and (store.sidecar(asset).read() or {}).get("uploaded"):
        raise _asset_exists()
    return name


def _asset_exists() -> AlreadyExists:
    """OVE's "Asset exists": a second upload without `update`."""
    return AlreadyExists(
        "Asset exists: this asset already has a file; pass update=true to upload a new version."
    )


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
