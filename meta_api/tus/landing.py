"""Where a resumable upload goes: judged when it is created (target, rights, the store's
rules), its first bytes judged by type as soon as they are in, and landed as the asset's
next version when it is complete, exactly as an OVE upload."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stores import Actor, FileStore, Location
from stores.errors import TooLarge
from stores.sniff import SNIFF_BYTES
from stores.versions import check_upload, place_version

from .. import context
from ..requests import describe
from .protocol import TusError
from .records import UploadRecord
from .uploads import ResumableUploads

log = logging.getLogger(__name__)

FLAGS = ("create", "update")


class UploadTarget(BaseModel):
    """The `Upload-Metadata` keys assetdav reads; others (filetype...) are kept, unused."""

    model_config = ConfigDict(extra="allow")

    store: str = Field(min_length=1)
    project: str = Field(min_length=1)
    asset: str = Field(min_length=1)
    filename: str = Field(min_length=1)
    create: bool = False
    update: bool = False


def read_target(metadata: dict[str, str]) -> UploadTarget:
    """The target named by the metadata; `create` or `update` without a value mean true."""
    values = {k: ("true" if k in FLAGS and v == "" else v) for k, v in metadata.items()}
    try:
        return UploadTarget.model_validate(values)
    except ValidationError as exc:
        raise TusError(
            400,
            "Invalid Upload-Metadata",
            f"{describe(exc)}. Upload-Metadata names the target: store, project, asset, "
            "filename (and optionally create, update: true or false).",
        ) from None


def locate(store_id: str, project_id: str, asset_id: str) -> tuple[FileStore, Location]:
    """An asset's place in an existing project (which the caller may read)."""
    store, project = context.project(store_id, project_id)
    return store, context.asset_location(project, asset_id)


def max_size(service: ResumableUploads, store: FileStore | None) -> int:
    """The largest upload: the store's rule, within the server's limit (uploads.max_size)."""
    limit = store.rules.max_file_size if store is not None else None
    return service.max_size if limit is None else min(limit, service.max_size)


def judge(
    service: ResumableUploads, actor: Actor, target: UploadTarget, length: int
) -> tuple[FileStore, Location, str]:
    """Everything that can be said before the first byte: (store, asset, file name)."""
    store, asset = locate(target.store, target.project, target.asset)
    if length > service.max_size:
        raise TooLarge(
            f"This server takes uploads of at most {service.max_size} bytes; this one has "
            f"{length}.",
            rule="uploads.max_size",
        )
    name = check_upload(
        store,
        actor,
        asset,
        target.filename,
        create=target.create,
        update=target.update,
        expected_size=length,
    )
    return store, asset, name


def judge_head(service: ResumableUploads, record: UploadRecord, before: int) -> None:
    """Type by content, once the first bytes (or the whole of a small file) are in. A
    refusal (415) deletes the whole upload (the caller does): nothing is left, and no
    client can resume it into something the store takes."""
    after = record.offset
    if before >= SNIFF_BYTES or after == before or (after < SNIFF_BYTES and not record.complete):
        return
    store = context.registry().get(record.store)
    with open(service.data_path(record), "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    store.rules.check_head(record.filename, head)


def land(service: ResumableUploads, actor: Actor, record: UploadRecord) -> None:
    """The complete upload becomes the asset's next version; on failure it is removed."""
    hasher = service.running_hash(record)
    try:
        store = context.registry().get(record.store)
        asset = store.locate(f"{record.project}/{record.asset}")
        slot = place_version(
            store,
            actor,
            asset,
            record.filename,
            service.data_path(record),
            mode="move",
            digests=hasher.digests() if hasher is not None else None,
            create=record.create,
            update=record.update,
        )
    except Exception:
        service.remove(record.id)
        raise
    record.landed = {
        "version": slot.version,
        "filename": slot.filename,
        "index_file": slot.target.url_path(),
    }
    service.keep_hash(record, None)
    service.save(record)
    log.info("upload %s landed as %s", record.id, record.landed["index_file"])
