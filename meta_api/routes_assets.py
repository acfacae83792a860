"""One asset: its metadata, its files by version, and OVE uploads of new versions."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from stores import model
from stores.errors import StoreError
from stores.versions import begin_upload

from . import context
from .models import AssetMeta, AssetMetaEdit, FileList, FilesQuery, Uploaded, UploadQuery
from .requests import body_length, stream_body
from .spec import endpoint

blueprint = Blueprint("assets", __name__)


def _public(store, asset) -> dict:
    meta = store.read_meta(context.actor(), asset) or {}
    return model.public_asset({**meta, "id": asset.name, "project": asset.parts[0]})


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
    edits = {k: v for k, v in body.model_dump().items() if v is not None}
    store.update_fields(context.actor(), asset, edits)
    return jsonify(_public(store, asset))


@blueprint.get("/<store_id>/<project_id>/files/<asset_id>")
@endpoint(ok=FileList, query=FilesQuery, tags=["assets"])
def list_files(store_id: str, project_id: str, asset_id: str) -> Response:
    """The files of one version (default: the current one), each with its WebDAV URL."""
    store, asset = context.asset(store_id, project_id, asset_id)
    query: FilesQuery = request.context.query
    meta = store.read_meta(context.actor(), asset) or {}
    public = model.public_asset(meta)
    version = query.version or public["version"]
    if query.version is not None and query.version > public["version"]:
        raise context.ApiError(
            400,
            "Version not found",
            f"The asset {asset.name!r} has no version {query.version} "
            f"(its current version is {public['version']}).",
        )
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    prefix = f"{version}/"
    base = request.host_url.rstrip("/") + quote(asset.url_path())
    entries = (
        [
            {
                "name": key[len(prefix) :],
                "url": f"{base}/{quote(key)}",
                "default": key[len(prefix) :] == meta.get("filename"),
            }
            for key in sorted(files)
            if key.startswith(prefix)
        ]
        if version
        else []
    )
    return jsonify(entries)


@blueprint.post("/<store_id>/<project_id>/upload/<asset_id>")
@endpoint(
    ok=Uploaded,
    query=UploadQuery,
    errors=(400, 409, 413, 415, 507),
    tags=["assets"],
    raw_body="application/octet-stream",
)
def upload(store_id: str, project_id: str, asset_id: str) -> Response:
    """Upload the request body as `filename` in the asset's next version folder.

    A second upload needs `update=true`; a missing asset needs `create=true`.
    """
    query: UploadQuery = request.context.query
    store, project = context.project(store_id, project_id)
    asset = store.locate(f"{project.name}/{asset_id}")
    with begin_upload(
        store,
        context.actor(),
        asset,
        query.filename,
        create=query.create,
        update=query.update,
        expected_size=body_length(),
    ) as upload_:
        for chunk in stream_body():
            upload_.write(chunk)
        upload_.commit()
    return jsonify({"Asset": asset.name, "Filename": upload_.filename, "Version": upload_.version})
