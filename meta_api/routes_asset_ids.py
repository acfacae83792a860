"""`/api/assets` by id, in ComfyUI's shapes: read, edit, delete, content, tags, upload,
reuse by hash, refine, scan. Every write goes through `stores`, as WebDAV's do."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from stores import FileStore, Location, model
from stores.errors import InvalidName, StoreError
from stores.versions import place_version

from . import context
from .asset_answers import access_times, asset_answer, find_by_id, main_file
from .asset_creation import describe, holding, new_asset, target_project
from .asset_models import (
    AssetAnswer,
    AssetEdit,
    AssetFromHash,
    ComfyRefined,
    ComfyRefineQuery,
    CreatedAsset,
    SeedScan,
    TagList,
    TagsAdded,
    TagsRemoved,
)
from .download_models import DownloadRequest
from .errors import ApiError
from .form_upload import spool_form
from .requests import stream_body
from .routes_downloads import begin as begin_download
from .routes_hashes import HashSpec, locations, parse_hash, stored_source
from .routes_scan import begin_scan
from .routes_search import asset_filter, readable_for, search_index
from .search_models import ScanState
from .sending import send_stored_file
from .spec import documented_by_hand, endpoint

blueprint = Blueprint("assets_by_id", __name__)


def _answer(store: FileStore, owner: Location) -> dict[str, Any]:
    return asset_answer(store, owner, store.read_meta(context.actor(), owner) or {})


@blueprint.get("/assets/<asset_id>")
@endpoint(ok=AssetAnswer, errors=(404,), tags=["assets by id"])
def get_asset(asset_id: str) -> Response:
    """One asset by its id."""
    store, owner, meta = find_by_id(asset_id)
    return jsonify(asset_answer(store, owner, meta))


@blueprint.put("/assets/<asset_id>")
@endpoint(ok=AssetAnswer, body=AssetEdit, errors=(400, 404, 507), tags=["assets by id"])
def edit_asset(asset_id: str) -> Response:
    """Change its name, mime_type, preview_id or user_metadata (tags: .../tags)."""
    store, owner, _meta = find_by_id(asset_id)
    body: AssetEdit = request.context.json
    given = body.model_dump(exclude_unset=True)
    if body.preview_id:
        _require_preview(body.preview_id)
    edits = {("metadata" if k == "user_metadata" else k): v for k, v in given.items()}
    store.update_fields(context.actor(), owner, edits)
    return jsonify(_answer(store, owner))


@blueprint.delete("/assets/<asset_id>")
@endpoint(errors=(404, 409), ok_status=204, tags=["assets by id"])
def delete_asset(asset_id: str) -> Response:
    """Remove the asset's folder with everything in it, as a WebDAV DELETE does."""
    store, owner, _meta = find_by_id(asset_id)
    store.delete(context.actor(), owner)
    return Response(status=204)


@blueprint.get("/assets/<asset_id>/content")
@documented_by_hand(
    "/api/assets/{asset_id}/content",
    "get",
    "assets by id",
    "The asset's current file (Range and conditional requests work), saved under its name.",
    {
        "200": "the file's bytes",
        "206": "the range asked for",
        "304": "not modified",
        "400": "a malformed id (control characters)",
        "404": "no such asset or file",
        "416": "a range outside the file",
    },
    media_type="*/*",
)
def asset_content(asset_id: str) -> Response:
    """The asset's current file, named after the asset."""
    store, owner, meta = find_by_id(asset_id)
    found = main_file(meta)
    if found is None:
        raise ApiError(404, "No file", f"The asset {asset_id!r} holds no file yet.")
    loc = store.locate("/".join((*owner.parts, found[0])))
    name = str(meta.get("name") or "") or loc.name
    if "." not in name and "." in loc.name:
        name += "." + loc.name.rsplit(".", 1)[1]  # a name without the file's extension
    response = send_stored_file(store, context.actor(), loc, download_name=name)
    access_times().touch(model.asset_uuid(meta) or "")
    return response


@blueprint.post("/assets/<asset_id>/tags")
@endpoint(ok=TagsAdded, body=TagList, errors=(400, 404), tags=["assets by id"])
def add_tags(asset_id: str) -> Response:
    """Add tags; answers which were new and the asset's tags now."""
    wanted, before, total = _change_tags(asset_id, adding=True)
    return jsonify(
        {
            "added": [t for t in wanted if t not in before],
            "already_present": [t for t in wanted if t in before],
            "total_tags": total,
        }
    )


@blueprint.delete("/assets/<asset_id>/tags")
@endpoint(ok=TagsRemoved, body=TagList, errors=(400, 404), tags=["assets by id"])
def remove_tags(asset_id: str) -> Response:
    """Remove tags; answers which were there and the asset's tags now."""
    wanted, before, total = _change_tags(asset_id, adding=False)
    return jsonify(
        {
            "removed": [t for t in wanted if t in before],
            "not_present": [t for t in wanted if t not in before],
            "total_tags": total,
        }
    )


def _change_tags(asset_id: str, *, adding: bool) -> tuple[list[str], set[str], list[str]]:
    """(the tags asked for, those the asset had, those it has now) of one locked edit."""
    store, owner, meta = find_by_id(asset_id)
    body: TagList = request.context.json
    before = set(model.clean_tags(meta.get("tags")))
    change = {"add": body.tags} if adding else {"remove": body.tags}
    total = store.change_tags(context.actor(), owner, **change)
    return model.clean_tags(body.tags), before, total


@blueprint.route("/assets/hash/<spec>", methods=["HEAD"])
@documented_by_hand(
    "/api/assets/hash/{spec}",
    "head",
    "assets by id",
    "Whether a file you may read has these bytes (xxh3:, blake3: or sha256:).",
    {"200": "known", "400": "not a hash", "404": "unknown"},
)
def asset_hash_known(spec: str) -> Response:
    try:
        wanted = parse_hash(spec)
    except StoreError:
        return Response(status=400, mimetype="application/json")
    return Response(status=200 if locations(wanted) else 404, mimetype="application/json")


@blueprint.post("/assets/from-hash")
@endpoint(
    ok=CreatedAsset,
    body=AssetFromHash,
    errors=(400, 404, 409, 413, 415, 507),
    tags=["assets by id"],
)
def asset_from_hash() -> Response:
    """A new asset from bytes already stored (201), or the asset of that project that
    holds them already (200); 404 when no file you may read has them: upload it."""
    body: AssetFromHash = request.context.json
    wanted = parse_hash(body.hash)
    store, project = _target(body.store, body.project)
    existing = holding(context.actor(), store, project, wanted)
    if existing is not None:
        return _created(store, existing, created_new=False)
    source, digests = stored_source(wanted)
    owner = new_asset(
        store,
        project,
        body.name,
        lambda asset: place_version(
            store,
            context.actor(),
            asset,
            body.name,
            source,
            mode="link",
            digests=digests,
            create=True,
        ),
    )
    describe(context.actor(), store, owner, body.name, body.tags, body.user_metadata)
    return _created(store, owner, created_new=True)


@blueprint.post("/assets")
@documented_by_hand(
    "/api/assets",
    "post",
    "assets by id",
    "Upload a file as a new asset: multipart/form-data with `file` and, optionally, `name`, "
    "`tags` (a JSON list or comma-separated), `user_metadata` (a JSON object), `preview_id`, "
    "`store` and `project` (default: assets.default_store and assets.default_project). "
    "201 with the asset, or 200 with the asset of that project holding the same bytes. "
    "A JSON body {url, name, tags, user_metadata, preview_id, store, project} downloads "
    "the file instead, as POST /api/assets/download does.",
    {
        "200": "the same bytes are an asset of that project already",
        "201": "created",
        "400": "a malformed body or field",
        "413": "too large",
        "415": "a type the store does not take",
        "202": "a JSON body {url, name, tags, ...}: a download task (see /api/assets/download)",
        "507": "the disk is full",
    },
    media_type="application/json",
)
def upload_asset() -> Response:
    boundary = request.mimetype_params.get("boundary")
    if request.mimetype == "application/json":
        return _download(request.get_json(silent=True))
    if request.mimetype != "multipart/form-data" or not boundary:
        raise ApiError(
            415,
            "Unsupported body",
            "Send multipart/form-data with the file in a part named 'file'.",
        )
    service = current_app.config["ASSETDAV_UPLOADS"]
    spool = Path(service.files.path) / f"{model.new_uuid()}.data"  # removed at start if left
    spool.parent.mkdir(parents=True, exist_ok=True)
    form = spool_form(stream_body(), boundary, spool, service.max_size)
    try:
        if form.spool is None:
            raise ApiError(400, "No file", "Send the file in a part named 'file'.")
        fields = form.fields
        unknown = sorted(
            set(fields) - {"name", "tags", "user_metadata", "preview_id", "store", "project"}
        )
        if unknown:
            raise ApiError(
                400,
                "Unknown field",
                f"{', '.join(map(repr, unknown))}: not a field "
                "of an upload (name, tags, user_metadata, preview_id, store, project).",
            )
        name = (fields.get("name") or form.filename).strip()
        if not name:
            raise InvalidName(
                "Name the asset: a 'name' field or the file part's file name.",
                rule="missing-filename",
            )
        tags = _tags_field(fields.get("tags"))
        user_metadata = _json_object_field(fields.get("user_metadata"))
        preview_id = fields.get("preview_id") or None
        if preview_id:
            _require_preview(preview_id)
        store, project = _target(fields.get("store"), fields.get("project"))
        digests = form.digests if store.sha256 else replace(form.digests, sha256="")
        existing = holding(context.actor(), store, project, HashSpec("xxh3", digests.xxh3_128))
        if existing is not None:
            return _created(store, existing, created_new=False)
        filename = form.filename or name
        owner = new_asset(
            store,
            project,
            name,
            lambda asset: place_version(
                store,
                context.actor(),
                asset,
                filename,
                form.spool,
                mode="move",
                digests=digests,
                create=True,
            ),
        )
        describe(context.actor(), store, owner, name, tags, user_metadata, preview_id)
        return _created(store, owner, created_new=True)
    finally:
        form.discard()


@blueprint.get("/assets/tags/refine")
@endpoint(ok=ComfyRefined, query=ComfyRefineQuery, tags=["assets by id"])
def refine() -> Response:
    """The tags of the filtered assets with how many carry each (the next filters)."""
    query: ComfyRefineQuery = request.context.query
    counts = search_index().fresh_reader().tag_counts(asset_filter(query), readable_for(query))
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: query.limit]
    return jsonify({"tags": [{"name": n, "count": c} for n, c in top]})


@blueprint.post("/assets/scan/seed")
@endpoint(ok=ScanState, ok_status=202, body=SeedScan, errors=(400, 403, 409), tags=["assets by id"])
def seed_scan() -> Response:
    """Adopt folders copied into a store without sidecars (default: assets.default_store);
    follow it with GET /api/{store}/scan."""
    body: SeedScan = request.context.json
    return begin_scan(body.store or _default_target()[0])


# --- helpers -------------------------------------------------------------------------------


def _download(body: Any) -> Response:
    """POST /api/assets with a JSON body: a download from its `url` (see routes_downloads)."""
    try:
        wanted = DownloadRequest.model_validate(body)
    except ValidationError as exc:
        raise ApiError(400, "Invalid body", _first_problem(exc)) from None
    return begin_download(wanted)


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ())) or "the body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _require_preview(preview_id: str) -> None:
    """A preview is an asset the caller may read (400 when it is not)."""
    try:
        find_by_id(preview_id)
    except ApiError:
        raise ApiError(
            400, "Unknown preview", f"preview_id {preview_id[:100]!r} is no asset you may read."
        ) from None


def _default_target() -> tuple[str, str]:
    return current_app.config.get("ASSETDAV_DEFAULT_TARGET") or ("", "assets")


def _target(store_name: str | None, project_name: str | None) -> tuple[FileStore, Location]:
    """The store and project an upload goes to (see asset_creation.target_project)."""
    default_store, default_project = _default_target()
    store = context.store(store_name or default_store)
    return store, target_project(context.actor(), store, project_name, default_project)


def _created(store: FileStore, owner: Location, *, created_new: bool) -> Response:
    response = jsonify({**_answer(store, owner), "created_new": created_new})
    response.status_code = 201 if created_new else 200
    return response


def _tags_field(text: str | None) -> list[str]:
    if not text:
        return []
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list):
            raise ApiError(400, "Invalid field", "tags must be a JSON list or comma-separated.")
        return model.clean_tags(value)
    return model.clean_tags([part.strip() for part in text.split(",")])


def _json_object_field(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ApiError(400, "Invalid field", 'user_metadata must be a JSON object, e.g. {"a": 1}.')
    return value
