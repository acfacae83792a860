"""The model manager's API at `/compat/model-manager/` (its client's base URL): the model
library is the store `models.store` (which records every file's sha256); a model type is
one of its projects, a model an asset holding its model file, known by that file's sha256.
Tags are named by stable ids (stores/state). This face maps the manager's routes onto the
stores, the index and the tag ids; it holds no logic of its own."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from index.documents import history_times
from index.queries import AssetFilter
from stores import FileStore, Location, model
from stores.errors import AlreadyExists, StoreError
from stores.transfer import move

from .. import context
from ..asset_answers import iso, main_file
from ..errors import ApiError
from ..routes_hashes import HashSpec, locations
from ..routes_search import search_index, tag_ids
from ..spec import endpoint

blueprint = Blueprint("model_manager", __name__)
TAGS = ["model manager"]
SHA256 = re.compile(r"[0-9a-fA-F]{64}")


class Status(BaseModel):
    status: str


class Types(BaseModel):
    types: list[str]


class TypeQuery(BaseModel):
    type: str = Field(min_length=1, max_length=255)


class TagRef(BaseModel):
    id: int
    name: str


class ModelSummary(BaseModel):
    sha256: str
    name: str
    type: str
    path: str
    tags: list[str]


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelRecord(BaseModel):
    sha256: str
    name: str
    type: str
    path: str
    size: int
    meta_json: str
    tags: list[TagRef]
    asset_id: str
    created_at: str | None = None


class ModelEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=255)
    type: str | None = Field(None, min_length=1, max_length=255)
    tags: list[int] | None = None
    meta_json: str | None = Field(None, max_length=1 << 20)


class TagsAnswer(BaseModel):
    tags: list[TagRef]


class NewTags(BaseModel):
    model_config = ConfigDict(extra="forbid")
    newtags: list[str]


def _library() -> FileStore:
    return context.store(current_app.config.get("ASSETDAV_MODELS_STORE") or "")


def _tag_refs(names: list[str]) -> list[dict[str, Any]]:
    ids = tag_ids().ids_of(names)
    return [{"id": ids[n], "name": n} for n in names]


def _summary(store: FileStore, owner: Location, meta: dict[str, Any]) -> dict[str, Any] | None:
    found = main_file(meta)
    if found is None or not found[1].get("sha256"):
        return None
    return {
        "sha256": str(found[1]["sha256"]),
        "name": str(meta.get("name") or owner.name),
        "type": owner.parts[0],
        "path": "/".join((*owner.parts, found[0])),
        "tags": model.clean_tags(meta.get("tags")),
    }


def _record(store: FileStore, owner: Location, meta: dict[str, Any]) -> dict[str, Any]:
    summary = _summary(store, owner, meta)
    assert summary is not None
    found = main_file(meta)
    metadata = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    return {
        **summary,
        "size": int(found[1].get("size") or 0) if found else 0,
        "meta_json": json.dumps(metadata, ensure_ascii=False),
        "tags": _tag_refs(summary["tags"]),
        "asset_id": model.asset_uuid(meta) or "",
        "created_at": iso(history_times(meta)[0]),
    }


def _find(sha256: str) -> tuple[FileStore, Location, dict[str, Any]]:
    """The model whose file has this sha256 (404 when none you may read)."""
    if not SHA256.fullmatch(sha256):
        raise ApiError(404, "Model not found", f"{sha256[:80]!r} is not a sha256.")
    store = _library()
    for place in locations(HashSpec("sha256", sha256.lower())):
        if place["store"] != store.name or not place["asset"]:
            continue
        owner = store.locate(f"{place['project']}/{place['asset']}")
        try:
            meta = store.read_meta(context.actor(), owner) or {}
        except StoreError:
            continue
        summary = _summary(store, owner, meta)
        if summary is not None and summary["sha256"] == sha256.lower():
            return store, owner, meta
    raise ApiError(404, "Model not found", f"No model in the library has the sha256 {sha256}.")


@blueprint.get("/api/hello")
@endpoint(ok=Status, tags=TAGS)
def hello() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/api/models/get_types")
@endpoint(ok=Types, tags=TAGS)
def get_types() -> Response:
    """The model types: the library's projects you may read."""
    store = _library()
    entries = store.list_folder(context.actor(), store.locate(""))
    return jsonify({"types": sorted(e.name for e in entries if e.is_dir)})


@blueprint.get("/api/models")
@endpoint(ok=ModelList, query=TypeQuery, errors=(400,), tags=TAGS)
def list_models() -> Response:
    """The models of one type (each asset of that project whose file has a sha256)."""
    query: TypeQuery = request.context.query
    store = _library()
    project = store.locate(query.type) if "/" not in query.type else None
    if project is None or store.stat(project) is None:
        return jsonify({"models": []})
    store.check_read(context.actor(), project)
    models = []
    for entry in sorted(store.list_folder(context.actor(), project), key=lambda e: e.name):
        if not entry.is_dir:
            continue
        owner = project.child(entry.name)
        meta = store.read_meta(context.actor(), owner)
        summary = _summary(store, owner, meta) if meta else None
        if summary is not None:
            models.append(summary)
    return jsonify({"models": models})


@blueprint.get("/api/models/<sha256>")
@endpoint(ok=ModelRecord, errors=(404,), tags=TAGS)
def get_model(sha256: str) -> Response:
    """A model's whole record: its meta_json (the asset's metadata as JSON text) and its
    tags with their ids."""
    store, owner, meta = _find(sha256)
    return jsonify(_record(store, owner, meta))


@blueprint.patch("/api/models/<sha256>")
@endpoint(ok=ModelRecord, body=ModelEdit, errors=(400, 404, 409), tags=TAGS)
def edit_model(sha256: str) -> Response:
    """Change a model's name, type (its asset moves to that type's project), tags (by id)
    and meta_json (a JSON object, replacing the asset's metadata)."""
    store, owner, _meta = _find(sha256)
    body: ModelEdit = request.context.json
    edits: dict[str, Any] = {}
    if body.name is not None:
        edits["name"] = body.name
    if body.tags is not None:
        names = tag_ids().names_of(body.tags)
        unknown = [i for i in body.tags if i not in names]
        if unknown:
            raise ApiError(400, "Unknown tag", f"No tag has the id(s) {unknown}; add it first.")
        edits["tags"] = [names[i] for i in body.tags]
    if body.meta_json is not None:
        try:
            parsed = json.loads(body.meta_json) if body.meta_json.strip() else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ApiError(400, "Invalid meta_json", "meta_json must be a JSON object's text.")
        edits["metadata"] = parsed
    actor = context.actor()
    if body.type is not None and body.type != owner.parts[0]:
        target = context.asset_location(store.locate(""), body.type)  # one folder name
        target = store.locate(target.name)
        if store.stat(target) is None:
            with contextlib.suppress(AlreadyExists):
                store.make_folder(actor, target)
        moved = target.child(owner.name)
        move(actor, store, owner, store, moved)
        owner = moved
    if edits:
        store.update_fields(actor, owner, edits)
    return jsonify(_record(store, owner, store.read_meta(actor, owner) or {}))


@blueprint.get("/api/tags")
@endpoint(ok=TagsAnswer, tags=TAGS)
def all_tags() -> Response:
    """Every tag with its id: those given ids so far and those of the library's models."""
    readable = context.registry().readable(context.actor())
    counts = search_index().fresh_reader().tag_counts(AssetFilter(store=_library().name), readable)
    tag_ids().ids_of(sorted(counts))
    return jsonify({"tags": [{"id": i, "name": n} for n, i in tag_ids().all().items()]})


@blueprint.post("/api/tags_add")
@endpoint(ok=TagsAnswer, body=NewTags, errors=(400,), tags=TAGS)
def add_tags() -> Response:
    """The ids of these tag names, making ids for the new ones."""
    body: NewTags = request.context.json
    try:
        names = model.new_tags(body.newtags)
    except ValueError as exc:
        raise ApiError(400, "Invalid tag", str(exc)) from None
    return jsonify({"tags": _tag_refs(names)})
