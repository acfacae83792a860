"""One asset: its metadata, its files by version, and OVE uploads of new versions."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request
from werkzeug.http import parse_options_header

from stores import model
from stores.errors import InvalidName, StoreError
from stores.versions import begin_upload

from . import context
from .media import with_preview_url
from .models import AssetMeta, AssetMetaEdit, FileList, FilesQuery, Uploaded, UploadQuery
from .multipart import FilePart
from .requests import body_length, stream_body
from .spec import endpoint

blueprint = Blueprint("assets", __name__)


def _public(store, asset) -> dict:
    meta = store.read_meta(context.actor(), asset) or {}
    public = model.public_asset({**meta, "id": asset.name, "project": asset.parts[0]})
    own = meta.get("metadata")
    return {
        **with_preview_url(store.name, public, meta),
        "metadata": own if isinstance(own, dict) else {},
        "uuid": model.asset_uuid(meta) or "",
    }


@blueprint.route("/<store_id>/<project_id>/meta/<asset_id>", methods=["GET", "HEAD"])
@endpoint(ok=AssetMeta, errors=(400, 404), tags=["assets"])
def get_asset_meta(store_id: str, project_id: str, asset_id: str) -> Response:
    """The public metadata of an asset. HEAD answers 200 or 404 without a body."""
    if request.method == "HEAD":
        try:
            context.asset(store_id, project_id, asset_id)
        except StoreError:
            return Response(status=404)
        return Response(status=200)
    store, asset = context.asset(store_id, project_id, asset_id)
    return jsonify(_public(store, asset))


@blueprint.post("/<store_id>/<project_id>/meta/<asset_id>")
@endpoint(ok=AssetMeta, body=AssetMetaEdit, errors=(400, 409, 507), tags=["assets"])
def set_asset_meta(store_id: str, project_id: str, asset_id: str) -> Response:
    """Change the name, description or tags of an asset (nothing else)."""
    store, asset = context.asset(store_id, project_id, asset_id)
    body: AssetMetaEdit = request.context.json
    _refuse_other_fields(body.model_extra or {}, _public(store, asset))
    edits = {k: v for k, v in body.model_dump(exclude=set(body.model_extra or {})).items()}
    store.update_fields(context.actor(), asset, {k: v for k, v in edits.items() if v is not None})
    return jsonify(_public(store, asset))


EDITABLE = ("name", "description", "tags", "metadata")


def _refuse_other_fields(extra: dict, current: dict) -> None:
    """Fields that are not editable: 400 when unknown or when they would change."""
    unknown = sorted(k for k in extra if k not in current)
    if unknown:
        raise context.ApiError(
            400,
            "Unknown field",
            f"{', '.join(map(repr, unknown))}: an asset's metadata takes "
            f"{', '.join(EDITABLE)} (the other fields of its answer are the server's).",
        )
    changed = sorted(k for k, v in extra.items() if v != current[k])
    if changed:
        raise context.ApiError(
            400,
            "Read-only field",
            f"{', '.join(map(repr, changed))} cannot be changed through the metadata; only "
            f"{', '.join(EDITABLE)} can.",
        )


@blueprint.get("/<store_id>/<project_id>/files/<asset_id>")
@endpoint(ok=FileList, query=FilesQuery, tags=["assets"])
def list_files(store_id: str, project_id: str, asset_id: str) -> Response:
    """The files of one version (default: the current one), each with its WebDAV URL."""
    store, asset = context.asset(store_id, project_id, asset_id)
    query: FilesQuery = request.context.query
    meta = store.read_meta(context.actor(), asset) or {}
    public = model.public_asset(meta)
    version = public["version"] if query.version is None else query.version
    if query.version is not None and query.version > public["version"]:
        raise context.ApiError(
            400,
            "Version not found",
            f"The asset {asset.name!r} has no version {query.version} "
            f"(its current version is {public['version']}).",
        )
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    base = request.host_url.rstrip("/") + quote(asset.url_path())
    entries = [
        {"name": name, "url": f"{base}/{quote(key)}", "default": name == meta.get("filename")}
        for key, name in _files_of_version(files, version)
    ]
    return jsonify(entries)


def _files_of_version(files: dict, version: int) -> list[tuple[str, str]]:
    """(key in `files`, name within the version) of one version's files. Version 0 is
    what sits outside the numbered version folders (files dropped in over WebDAV, or
    an asset never uploaded to through the API)."""
    if version:
        prefix = f"{version}/"
        return [(key, key[len(prefix) :]) for key in sorted(files) if key.startswith(prefix)]
    return [(key, key) for key in sorted(files) if not key.split("/", 1)[0].isdigit()]


@blueprint.post("/<store_id>/<project_id>/upload/<asset_id>")
@endpoint(
    ok=Uploaded,
    query=UploadQuery,
    errors=(400, 409, 413, 415, 507),
    tags=["assets"],
    raw_body="application/octet-stream",
)
def upload(store_id: str, project_id: str, asset_id: str) -> Response:
    """Upload a file as the asset's next version (`<asset>/<N>/<filename>`): the raw body,
    or the file part of a multipart/form-data body (as OVE's clients send it). The name
    is `filename`, else the body's `Content-Disposition: filename=`, else the file part's.

    A second upload needs `update=true`; a missing asset needs `create=true`.
    """
    query: UploadQuery = request.context.query
    store, project = context.project(store_id, project_id)
    asset = context.asset_location(project, asset_id)
    boundary = request.mimetype_params.get("boundary")
    if request.mimetype == "multipart/form-data" and boundary:
        part = FilePart(stream_body(), boundary)
        name, chunks, expected = query.filename or part.filename(), iter(part), None
    else:
        name, chunks, expected = query.filename or _disposition_name(), stream_body(), body_length()
    if not name:
        raise InvalidName(
            "Name the file: ?filename=NAME, a Content-Disposition: filename= header, or a "
            "multipart file part with a file name.",
            rule="missing-filename",
        )
    with begin_upload(
        store,
        context.actor(),
        asset,
        name,
        create=query.create,
        update=query.update,
        expected_size=expected,
    ) as upload_:
        for chunk in chunks:
            upload_.write(chunk)
        upload_.commit()
    return jsonify({"Asset": asset.name, "Filename": upload_.filename, "Version": upload_.version})


def _disposition_name() -> str:
    """The file name of a `Content-Disposition` header (`filename*=` too), "" if none."""
    header = request.headers.get("Content-Disposition", "")
    return parse_options_header(header)[1].get("filename", "") if header else ""
