"""Upload sessions underneath every resumable way in (tus, and the faces built on it such
as llama-stack's files): opening one for a target, finding the caller's, appending a
request's body and landing the upload when it is complete."""

from __future__ import annotations

from flask import current_app

from stores import Actor
from stores.errors import PermissionDenied, TooLarge

from .. import context
from ..requests import body_length, stream_body
from . import landing
from .landing import UploadTarget
from .protocol import Checksum, TusError
from .receive import ChecksumMismatch, append_body
from .records import UploadRecord
from .uploads import ResumableUploads


def open_session(
    service: ResumableUploads, actor: Actor, target: UploadTarget, length: int, metadata: str
) -> UploadRecord:
    """A new upload of `length` bytes to `target`, judged first (rights, rules, size)."""
    store, asset, filename = landing.judge(service, actor, target, length)
    return service.new(
        sha256=store.sha256,
        user=actor.name,
        store=store.name,
        project=asset.parts[0],
        asset=asset.name,
        filename=filename,
        length=length,
        create=target.create,
        update=target.update,
        metadata=metadata,
    )


def uploads() -> ResumableUploads:
    found = current_app.config.get("ASSETDAV_UPLOADS")
    if found is None:
        raise TusError(
            503, "Resumable uploads unavailable", "This server keeps no resumable uploads."
        )
    return found


def owned_upload(service: ResumableUploads, upload_id: str, *, held: bool = False) -> UploadRecord:
    """The caller's upload, or 404 (unknown), 403 (another user's), 410 (expired: removed)."""
    record = service.find(upload_id)
    if record is None:
        raise TusError(
            404,
            "Upload not found",
            f"There is no upload {upload_id!r}: it never existed, was terminated or expired.",
        )
    actor = context.actor()
    if actor.name != record.user and not context.registry().policy.can_administer(actor):
        raise PermissionDenied(f"This upload is not {actor.name!r}'s.")
    if service.expired(record):
        if held:
            service.remove(upload_id)
        else:
            service.remove_if_idle(upload_id)
        raise TusError(410, "Upload expired", f"The upload {upload_id!r} expired and is gone.")
    return record


def busy_error() -> TusError:
    return TusError(
        423,
        "Upload busy",
        "Another request is writing to this upload; ask for its offset (HEAD) and try again "
        "when it has finished.",
    )


def append_request_body(
    service: ResumableUploads, record: UploadRecord, chunk_checksum: Checksum | None
) -> UploadRecord:
    """Append the request body (the caller holds the upload); land the upload when complete."""
    declared = body_length()
    room = record.length - record.offset
    if declared is not None and declared > room:
        raise TooLarge(
            f"The body has {declared} bytes; the upload (Upload-Length) needs {room} more."
        )
    if record.landed is not None:
        return record
    before = record.offset
    if room:
        hasher = service.running_hash(record)
        try:
            written = append_body(
                service.data_path(record),
                record.offset,
                room,
                stream_body(),
                declared=declared,
                hasher=hasher,
                checksum=chunk_checksum,
            )
        except ChecksumMismatch as exc:
            raise TusError(
                460,
                "Checksum mismatch",
                f"The chunk's {exc} digest is not the one in Upload-Checksum; it was "
                f"discarded and the upload stays at offset {record.offset}.",
            ) from None
        record.offset += written
        try:
            landing.judge_head(service, record, before)
        except Exception:
            service.remove(record.id)
            raise
        service.save(record)
        service.keep_hash(record, hasher)
    if record.complete:
        landing.land(service, context.actor(), record)
    return record
