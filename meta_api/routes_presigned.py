"""Presigned URLs: a page or script without credentials uploads or downloads one file
through a short-lived URL that an authenticated user asked for."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, send_file
from pydantic import BaseModel, Field

from stores import SYSTEM
from stores.errors import NotFound, TooLarge, UnsupportedType
from stores.tokens import OneTimeTokens, SignedPayloads, TokenInvalid
from stores.versions import begin_upload, upload_filename

from . import context
from .auth import users
from .errors import ApiError
from .models import Uploaded
from .requests import body_length, stream_body
from .sending import send_stored_file
from .spec import documented_by_hand, endpoint

blueprint = Blueprint("presigned", __name__)

BASE_TTL = 15 * 60  # seconds
MAX_TTL = 24 * 3600
SLOWEST_RATE = 1 << 20  # bytes per second a presigned upload is given time for
UPLOAD_PATH = "/api/uploads/presigned/"
DOWNLOAD_PATH = "/api/downloads/presigned/"


class UploadGrant(BaseModel):
    store: str
    project: str
    asset: str
    filename: str = Field(min_length=1)
    content_type: str | None = None
    size: int | None = Field(None, ge=0)
    create: bool = False
    update: bool = False


class UploadUrl(BaseModel):
    upload_url: str
    file_url: str
    upload_method: str = "PUT"
    expires_in_seconds: int
    max_file_size: int | None


class DownloadGrant(BaseModel):
    store: str
    project: str
    asset: str
    path: str | None = Field(None, description="inside the asset; default: its current file")


class DownloadUrl(BaseModel):
    download_url: str
    expires_in_seconds: int


def _signer() -> SignedPayloads:
    return current_app.config["ASSETDAV_PRESIGN"]


def _spent() -> OneTimeTokens:
    return current_app.config["ASSETDAV_PRESIGN_SPENT"]


def upload_ttl(size: int | None) -> int:
    """15 minutes, and longer for large files (time for 1 MiB/s), at most a day."""
    return min(MAX_TTL, BASE_TTL + (size or 0) // SLOWEST_RATE)


def _absolute(path: str) -> str:
    return request.host_url.rstrip("/") + path


@blueprint.post("/uploads/presigned-url")
@endpoint(ok=UploadUrl, body=UploadGrant, errors=(400, 413, 415), tags=["presigned"])
def presign_upload() -> Response:
    """A URL that accepts one PUT of the file, without other credentials."""
    grant: UploadGrant = request.context.json
    store, project = context.project(grant.store, grant.project)
    asset = context.asset_location(project, grant.asset)
    return jsonify(
        upload_url_for(
            store,
            asset,
            grant.filename,
            grant.content_type,
            grant.size,
            create=grant.create,
            update=grant.update,
        )
    )


def upload_url_for(
    store: Any,
    asset: Any,
    filename: str,
    content_type: str | None,
    size: int | None,
    *,
    create: bool,
    update: bool,
) -> dict[str, Any]:
    """A presigned upload of `filename` into `asset` for the caller: its URLs and limits
    (the caller's rights and the store's rules are checked here, and again on the PUT)."""
    store.check_write(context.actor(), asset)
    name = upload_filename(filename)
    store.rules.check_new_file(name, size)
    ttl = upload_ttl(size)
    limit = size if size is not None else store.rules.max_file_size
    token = _signer().sign(
        {
            "op": "put",
            "user": context.actor().name,
            "store": store.name,
            "project": asset.parts[0],
            "asset": asset.name,
            "filename": name,
            "type": content_type,
            "max": limit,
            "create": create,
            "update": update,
        },
        ttl,
    )
    nonce = _signer().verify(token)["nonce"]
    file_token = _signer().sign(
        {"op": "get-upload", "upload": nonce, "store": store.name}, ttl + 3600
    )
    return {
        "upload_url": _absolute(UPLOAD_PATH + token),
        "file_url": _absolute(DOWNLOAD_PATH + file_token),
        "upload_method": "PUT",
        "expires_in_seconds": ttl,
        "max_file_size": limit,
    }


def export_download_url(export_id: str) -> str:
    """A presigned URL of a finished export's zip, for 15 minutes."""
    return _absolute(
        DOWNLOAD_PATH + _signer().sign({"op": "get-export", "export": export_id}, BASE_TTL)
    )


def _send_export(export_id: str) -> Response:
    path = current_app.config["ASSETDAV_EXPORTS_DIR"] / f"{export_id}.zip"
    if not export_id.isalnum() or not path.is_file():
        raise ApiError(404, "Gone", "The export is no longer there; export again.")
    response = send_file(
        path,
        mimetype="application/zip",
        download_name=f"export-{export_id}.zip",
        as_attachment=True,
        conditional=False,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response.make_conditional(
        request, accept_ranges=True, complete_length=path.stat().st_size
    )


def _grant(token: str, op: str) -> dict[str, Any]:
    try:
        payload = _signer().verify(token)
    except TokenInvalid as exc:
        raise ApiError(
            403, "Invalid URL", f"This URL is not valid ({exc}); ask for a new one."
        ) from None
    if payload.get("op") != op:
        raise ApiError(403, "Invalid URL", "This URL is not meant for this.")
    return payload


@blueprint.put("/uploads/presigned/<token>")
@endpoint(
    ok=Uploaded,
    errors=(400, 409, 413, 415, 507),
    tags=["presigned"],
    raw_body="application/octet-stream",
)
def presigned_put(token: str) -> Response:
    """The upload through a presigned URL: once, before it expires."""
    grant = _grant(token, "put")
    user = users().get(grant["user"]) if users().has_users() else None
    if users().has_users() and user is None:
        raise ApiError(403, "Invalid URL", "The user who asked for this URL no longer exists.")
    if grant.get("type") and request.mimetype and request.mimetype != grant["type"]:
        raise UnsupportedType(
            f"This URL takes {grant['type']}, not {request.mimetype}.", rule="content_type"
        )
    declared = body_length()
    if grant.get("max") is not None and declared is not None and declared > grant["max"]:
        raise TooLarge(f"This URL takes at most {grant['max']} bytes.", rule="max_file_size")
    if not _spent().claim(grant["nonce"], grant["exp"]):
        raise ApiError(
            403, "URL already used", "This URL took an upload already; ask for a new one."
        )
    actor = user.actor() if user is not None else context.actor()
    request.environ["assetdav.actor"] = actor  # the URL acts for the user who asked for it
    try:
        store, project = context.project(grant["store"], grant["project"])
        asset = context.asset_location(project, grant["asset"])
        with begin_upload(
            store,
            actor,
            asset,
            grant["filename"],
            create=grant["create"],
            update=grant["update"],
            expected_size=declared,
            max_size=grant.get("max"),
        ) as upload:
            for chunk in stream_body():
                upload.write(chunk)
            upload.commit()
    except BaseException:
        _spent().release(grant["nonce"])
        raise
    path = f"{asset.url_path()}/{upload.version}/{upload.filename}"
    _spent().finish(grant["nonce"], path)
    return jsonify({"Asset": asset.name, "Filename": upload.filename, "Version": upload.version})


@blueprint.post("/downloads/presigned-url")
@endpoint(ok=DownloadUrl, body=DownloadGrant, errors=(400,), tags=["presigned"])
def presign_download() -> Response:
    """A URL that serves one file of an asset, without other credentials, for 15 minutes."""
    grant: DownloadGrant = request.context.json
    store, asset = context.asset(grant.store, grant.project, grant.asset)
    meta = store.read_meta(context.actor(), asset) or {}
    path = grant.path or (
        f"{meta.get('version')}/{meta.get('filename')}" if meta.get("filename") else None
    )
    if not path:
        raise NotFound(f"The asset {asset.name!r} has no file yet; name one with `path`.")
    loc = store.locate(f"{asset.parts[0]}/{asset.name}/{path}")
    if store.stat(loc) is None or store.fs_path(loc).is_dir():
        raise NotFound(f"There is no file {path!r} in asset {asset.name!r}.")
    token = _signer().sign({"op": "get", "store": store.name, "path": loc.url_path()}, BASE_TTL)
    return jsonify(
        {"download_url": _absolute(DOWNLOAD_PATH + token), "expires_in_seconds": BASE_TTL}
    )


@blueprint.get("/downloads/presigned/<token>")
@documented_by_hand(
    "/api/downloads/presigned/{token}",
    "get",
    "presigned",
    "The file behind a presigned download URL (Range and conditional requests work).",
    {
        "200": "the file's bytes",
        "400": "a path that is not UTF-8 or holds control characters",
        "403": "tampered or expired",
        "404": "not there (yet)",
    },
    media_type="*/*",
)
def presigned_get(token: str) -> Response:
    """The file behind a presigned download URL (Range and conditional requests work)."""
    with contextlib.suppress(ApiError):
        grant = _grant(token, "get-export")
        return _send_export(str(grant["export"]))
    try:
        grant = _grant(token, "get")
        path = grant["path"]
    except ApiError:
        grant = _grant(token, "get-upload")
        path = _spent().result(grant["upload"])
        if path is None:
            raise ApiError(
                404, "Not uploaded yet", "Nothing was uploaded through this URL yet."
            ) from None
    store_name, _, rest = path.lstrip("/").partition("/")
    store = context.registry().get(store_name)
    return send_stored_file(store, SYSTEM, store.locate(rest))
