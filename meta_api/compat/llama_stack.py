"""llama-stack's files API at `/compat/llama-stack/` (point a llama-stack client there).

A bucket is a project of the store `llama.store` (made on first use), a key an asset
holding one file named after it (`/<store>/<bucket>/<key>/<N>/<key>` over WebDAV, N the
version: uploading a key again makes its next version). Upload sessions are the tus
uploads underneath: same durability, same rules, same expiry."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Field

from index.documents import history_times
from stores import FileStore, Location
from stores.errors import AlreadyExists, ProjectNotFound, StoreError

from .. import context
from ..asset_answers import main_file
from ..errors import ApiError
from ..spec import endpoint
from ..tus.landing import UploadTarget
from ..tus.protocol import parse_metadata
from ..tus.sessions import append_request_body, busy_error, open_session, owned_upload, uploads
from ..tus.uploads import UploadBusy

blueprint = Blueprint("llama_stack", __name__)
TAGS = ["llama-stack"]


class NewSession(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=255)
    bucket: str = Field(min_length=1, max_length=255)
    mime_type: str = Field("application/octet-stream", max_length=255)
    size: int = Field(ge=0)


class Session(BaseModel):
    id: str
    url: str
    offset: int
    size: int


class FileInfo(BaseModel):
    key: str
    bucket: str
    mime_type: str
    bytes: int
    created_at: int


class Appended(BaseModel):
    """The file's info once the session is complete, else the session."""

    id: str | None = None
    url: str | None = None
    offset: int | None = None
    size: int | None = None
    key: str | None = None
    bucket: str | None = None
    mime_type: str | None = None
    bytes: int | None = None
    created_at: int | None = None


class FileList(BaseModel):
    data: list[FileInfo]


class BucketName(BaseModel):
    name: str


class BucketList(BaseModel):
    data: list[BucketName]


def _store() -> FileStore:
    return context.store(current_app.config.get("ASSETDAV_LLAMA_STORE") or "")


def _bucket(store: FileStore, bucket: str, *, make: bool = False) -> Location:
    """The bucket's project; made on first use when `make`, else 404 when missing."""
    try:
        loc = context.asset_location(store.locate(""), bucket)  # one checked folder name
    except StoreError as exc:
        raise ApiError(400, "Invalid bucket", exc.message) from None
    loc = store.locate(loc.name)
    if store.stat(loc) is None:
        if not make:
            raise ApiError(404, "Bucket not found", f"There is no bucket {bucket!r}.")
        with contextlib.suppress(AlreadyExists):  # made a moment ago by another request
            store.make_folder(context.actor(), loc)
    store.check_read(context.actor(), loc)
    return loc


def _session(record: Any) -> dict[str, Any]:
    url = url_for("llama_stack.session_status", session_id=record.id, _external=True)
    return {"id": record.id, "url": url, "offset": record.offset, "size": record.length}


def _file(store: FileStore, owner: Location, meta: dict[str, Any]) -> dict[str, Any]:
    found = main_file(meta)
    created, _updated = history_times(meta)
    mime = meta.get("mime_type") if isinstance(meta.get("mime_type"), str) else ""
    return {
        "key": owner.name,
        "bucket": owner.parts[0],
        "mime_type": mime or "application/octet-stream",
        "bytes": int(found[1].get("size") or 0) if found else 0,
        "created_at": int(created),
    }


@blueprint.post("/v1/files")
@endpoint(ok=Appended, body=NewSession, errors=(400, 403, 409, 413, 415, 507), tags=TAGS)
def create_session() -> Response:
    """Start uploading a file: `{"key", "bucket", "mime_type", "size"}` -> the session."""
    body: NewSession = request.context.json
    store = _store()
    bucket = _bucket(store, body.bucket, make=True)
    target = UploadTarget(
        store=store.name,
        project=bucket.name,
        asset=body.key,
        filename=body.key,
        create=True,
        update=True,
    )
    mime = base64.b64encode(body.mime_type.encode()).decode()
    record = open_session(uploads(), context.actor(), target, body.size, f"mime_type {mime}")
    if body.size == 0:
        return _append(record.id)
    return jsonify(_session(record))


@blueprint.get("/v1/files/session:<session_id>")
@endpoint(ok=Session, errors=(403, 404, 410), tags=TAGS)
def session_status(session_id: str) -> Response:
    """How far a session got."""
    return jsonify(_session(owned_upload(uploads(), session_id)))


@blueprint.post("/v1/files/session:<session_id>")
@endpoint(
    ok=Appended,
    errors=(400, 403, 404, 409, 410, 413, 415, 423, 507),
    tags=TAGS,
    raw_body="application/octet-stream",
)
def upload_content(session_id: str) -> Response:
    """Append the body at the session's offset; the file's info once it is complete, else
    the session (send the rest in further requests)."""
    return _append(session_id)


def _append(session_id: str) -> Response:
    service = uploads()
    owned_upload(service, session_id)
    try:
        with service.writing(session_id):
            record = append_request_body(
                service, service.settle(owned_upload(service, session_id, held=True)), None
            )
    except UploadBusy:
        raise busy_error() from None
    if record.landed is None:
        return jsonify(_session(record))
    store = context.store(record.store)
    owner = store.locate(f"{record.project}/{record.asset}")
    mime = parse_metadata(record.metadata).get("mime_type", "")
    if mime:
        store.update_fields(context.actor(), owner, {"mime_type": mime})
    return jsonify(_file(store, owner, store.read_meta(context.actor(), owner) or {}))


@blueprint.get("/v1/files")
@endpoint(ok=BucketList, tags=TAGS)
def list_buckets() -> Response:
    """The buckets you may read."""
    store = _store()
    names = [e.name for e in store.list_folder(context.actor(), store.locate("")) if e.is_dir]
    return jsonify({"data": [{"name": name} for name in names]})


@blueprint.get("/v1/files/<bucket>")
@endpoint(ok=FileList, errors=(400, 404), tags=TAGS)
def list_files(bucket: str) -> Response:
    """The files of a bucket."""
    store = _store()
    project = _bucket(store, bucket)
    files = []
    for entry in sorted(store.list_folder(context.actor(), project), key=lambda e: e.name):
        if not entry.is_dir:
            continue
        owner = project.child(entry.name)
        meta = store.read_meta(context.actor(), owner)
        if meta is not None and main_file(meta) is not None:
            files.append(_file(store, owner, meta))
    return jsonify({"data": files})


@blueprint.route("/v1/files/<bucket>/<key>", methods=["GET", "DELETE"])
@endpoint(ok=FileInfo, errors=(400, 404, 409), tags=TAGS)
def one_file(bucket: str, key: str) -> Response:
    """A file's info; DELETE removes it (its asset, every version) and answers its info."""
    store = _store()
    project = _bucket(store, bucket)
    try:
        owner = context.asset_location(project, key)
        meta = store.read_meta(context.actor(), owner) if store.stat(owner) else None
    except (StoreError, ProjectNotFound):
        meta = None
    if not meta or main_file(meta) is None:
        raise ApiError(404, "File not found", f"There is no file {key!r} in bucket {bucket!r}.")
    info = _file(store, owner, meta)
    if request.method == "DELETE":
        store.delete(context.actor(), owner)
    return jsonify(info)
