"""OVE uploads: each upload of an asset's file lands in the next version folder
(`<asset>/<N>/<filename>`), and the sidecar's version, filename, index_file and history
follow in the same locked write that records the file."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from . import model
from .access import Actor
from .errors import AlreadyExists, AssetNotFound, Forbidden
from .layout import ASSET_LEVEL, Location
from .names import SIDECAR_NAME, check_id, is_internal, normalize_name
from .store import FileStore
from .writer import FileWriter


class VersionUpload:
    """A streamed upload into a reserved version folder: `write()`, then `commit()`;
    an aborted upload leaves neither the file nor the empty version folder behind."""

    def __init__(self, writer: FileWriter, folder: str, version: int, filename: str) -> None:
        self._writer = writer
        self._folder = folder
        self.version = version
        self.filename = filename

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
        with contextlib.suppress(OSError):
            os.rmdir(self._folder)  # only if still empty

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
    """Reserve the next version folder of `asset` and open a writer for `filename` in it.

    A missing asset is made when `create`; an asset that already has a file needs
    `update` (AlreadyExists otherwise, OVE's "Asset exists").
    """
    if asset.level != ASSET_LEVEL:
        raise Forbidden(f"{asset.url_path()} is not an asset.")
    name = upload_filename(filename)
    store.check_write(actor, asset)
    created_now = False
    if not store.fs_path(asset).is_dir():
        if not create:
            raise AssetNotFound(
                f"The asset {asset.name!r} does not exist; create it first or pass create=true."
            )
        check_id(asset.name, "asset")
        with contextlib.suppress(AlreadyExists):
            store.make_folder(actor, asset)
            created_now = True
    sidecar = store.sidecar(asset)
    asset_path = store.fs_path(asset)
    with sidecar.locked():
        meta = sidecar.read() or {}
        if meta.get("uploaded") and not update:
            raise AlreadyExists(
                "Asset exists: this asset already has a file; pass update=true to upload "
                "a new version."
            )
        version = _as_int(meta.get("version")) + 1
        while (asset_path / str(version)).exists():
            version += 1
        os.mkdir(asset_path / str(version))
    folder = str(asset_path / str(version))
    kind = "Created" if created_now else "Updated"

    def record_version(data: dict[str, Any]) -> None:
        if version >= _as_int(data.get("version")):
            data["version"] = version
            data["filename"] = name
            data["index_file"] = f"{asset.url_path()}/{version}/{name}"
        data["uploaded"] = True
        data["processing_status"] = ""
        data["processing_error"] = ""
        history = data.setdefault("history", [])
        if kind == "Created" and history and history[-1].get("Type") == "Created":
            history[-1]["Version"] = version  # the asset was made by this very upload
        else:
            history.append(model.history_entry(kind, version))

    try:
        writer = store.open_writer(
            actor,
            asset.child(str(version)).child(name),
            expected_size=expected_size,
            max_size=max_size,
            on_placed=record_version,
        )
    except BaseException:
        with contextlib.suppress(OSError):
            os.rmdir(folder)
        raise
    return VersionUpload(writer, folder, version, name)


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
