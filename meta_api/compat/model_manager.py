"""The model manager's API at `/compat/model-manager/` (its client's base URL): the model
library is the store `models.store` (which records every file's sha256); a model type is
one of its projects, a model an asset holding its model file, known by that file's sha256.
Tags are named by stable ids (stores/state). This face maps the manager's routes onto the
stores, the index and the tag ids; it holds no logic of its own."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from index.queries import AssetFilter
from stores import model
from stores.errors import NotFound

from .. import context
from ..background import answer_or_queue
from ..errors import ApiError
from ..model_library import catalog
from ..model_library.catalog import SHA256
from ..routes_previews import send_preview
from ..routes_search import search_index, tag_ids
from ..spec import documented_by_hand, endpoint

blueprint = Blueprint("model_manager", __name__)
TAGS = ["model manager"]


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


@blueprint.get("/api/hello")
@endpoint(ok=Status, tags=TAGS)
def hello() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/api/models/get_types")
@endpoint(ok=Types, tags=TAGS)
def get_types() -> Response:
    """The model types: the library's projects you may read."""
    store = catalog.library()
    entries = store.list_folder(context.actor(), store.locate(""))
    return jsonify({"types": sorted(e.name for e in entries if e.is_dir)})


@blueprint.get("/api/models")
@endpoint(ok=ModelList, query=TypeQuery, errors=(400,), tags=TAGS)
def list_models() -> Response:
    """The models of one type (each asset of that project whose file has a sha256)."""
    query: TypeQuery = request.context.query
    store = catalog.library()
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
        summary = catalog.summary(owner, meta) if meta else None
        if summary is not None:
            models.append(summary)
    return jsonify({"models": models})


@blueprint.get("/api/models/<sha256>")
@endpoint(ok=ModelRecord, errors=(404,), tags=TAGS)
def get_model(sha256: str) -> Response:
    """A model's whole record: its meta_json (the asset's metadata as JSON text) and its
    tags with their ids."""
    store, owner, meta = catalog.find(sha256)
    return jsonify(catalog.record(owner, meta))


@blueprint.patch("/api/models/<sha256>")
@endpoint(ok=ModelRecord, body=ModelEdit, errors=(400, 404, 409), tags=TAGS)
def edit_model(sha256: str) -> Response:
    """Change a model's name, type (its asset moves to that type's project), tags (by id)
    and meta_json (a JSON object, replacing the asset's metadata)."""
    body: ModelEdit = request.context.json
    owner = catalog.edit(sha256, body.name, body.type, body.tags, body.meta_json)
    store = catalog.library()
    return jsonify(catalog.record(owner, store.read_meta(context.actor(), owner) or {}))


@blueprint.get("/api/tags")
@endpoint(ok=TagsAnswer, tags=TAGS)
def all_tags() -> Response:
    """Every tag with its id: those given ids so far and those of the library's models."""
    readable = context.registry().readable(context.actor())
    flt = AssetFilter(store=catalog.library().name)
    counts = search_index().fresh_reader().tag_counts(flt, readable)
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
    return jsonify({"tags": catalog.tag_refs(names)})


# --- sample images ---------------------------------------------------------------------

BASE_NAME = re.compile(r"([0-9a-fA-F]{64})(?:_(0|[1-9][0-9]{0,8}))?")
QUALITIES = ("high", "medium", "low")


class Uploaded(BaseModel):
    status: str
    base_name: str


class Count(BaseModel):
    count: int


class Sha256Query(BaseModel):
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


class DeleteQuery(Sha256Query):
    seq: int = Field(ge=0, le=999_999_999)


class QualityQuery(BaseModel):
    quality: str = Field("high", pattern="^(high|medium|low)$")
    seq: int | None = Field(None, ge=0, le=999_999_999)


class SampleList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    quality: str = Field("high", pattern="^(high|medium|low)$")


class Images(BaseModel):
    images: list[str]
    quality: str
    count: int


@blueprint.post("/api/images/upload")
@documented_by_hand(
    "/compat/model-manager/api/images/upload",
    "post",
    "model manager",
    "Upload a sample image (multipart: `image`, `sha256`); kept beside the model as "
    "samples/<seq>.<ext>, or pending until the model is in the library.",
    {"200": "stored", "400": "no image, or not a sha256", "404": "", "415": "not an image"},
    media_type="application/json",
)
def upload_image() -> Response:
    with catalog.uploaded_image() as form:
        sha256 = form.fields.get("sha256", "").strip().lower()
        if not SHA256.fullmatch(sha256):
            raise ApiError(400, "Invalid sha256", "sha256 must be 64 hex digits.")
        assert form.spool is not None
        seq = catalog.add_image(sha256, form.spool)
    return jsonify({"status": "success", "base_name": f"{sha256}_{seq}"})


IMAGE_QUERY = {
    "quality": {"type": "string", "enum": list(QUALITIES), "default": "high"},
    "seq": {"type": "integer", "minimum": 0},
}
WEBP_ANSWERS = {"200": "the image as webp", "400": "a bad parameter", "404": "no such image"}


def _image_query() -> QualityQuery:
    try:
        return QualityQuery.model_validate(request.args.to_dict())
    except ValidationError:
        raise ApiError(
            400, "Bad parameter", "quality is high, medium or low; seq a whole number."
        ) from None


@blueprint.get("/api/images/<base>.webp")
@documented_by_hand(
    "/compat/model-manager/api/images/{base}.webp",
    "get",
    "model manager",
    "A sample as webp: <sha256>_<seq>.webp, or <sha256>.webp?seq=N (default 0).",
    WEBP_ANSWERS,
    query=IMAGE_QUERY,
    media_type="image/webp",
)
def sample_image(base: str) -> Response:
    """A sample as webp: `<sha256>_<seq>.webp`, or `<sha256>.webp?seq=N` (default 0)."""
    query = _image_query()
    match = BASE_NAME.fullmatch(base)
    if match is None:
        raise ApiError(404, "Image not found", f"{base[:80]!r} is not <sha256>_<seq>.")
    seq = int(match.group(2)) if match.group(2) is not None else (query.seq or 0)
    sha256 = match.group(1).lower()
    found = catalog.model_with_samples(sha256)
    if found is None:
        raise ApiError(404, "Image not found", f"{sha256} has no sample image {seq}.")
    path, digest = catalog.sample_file(*found, seq)
    return send_preview(path, digest, query.quality, f"{base}.webp")


@blueprint.get("/api/images/pending/<base>.webp")
@documented_by_hand(
    "/compat/model-manager/api/images/pending/{base}.webp",
    "get",
    "model manager",
    "An image whose model is not in the library yet, as webp.",
    WEBP_ANSWERS,
    query=IMAGE_QUERY,
    media_type="image/webp",
)
def pending_image(base: str) -> Response:
    """An image whose model is not in the library yet, as webp."""
    query = _image_query()
    match = BASE_NAME.fullmatch(base)
    if match is None or match.group(2) is None:
        raise ApiError(404, "Image not found", f"{base[:80]!r} is not <sha256>_<seq>.")
    path, digest = catalog.pending_file(match.group(1), int(match.group(2)))
    return send_preview(path, digest, query.quality, f"{base}.webp")


@blueprint.get("/api/images/get_img_num")
@endpoint(ok=Count, query=Sha256Query, errors=(400,), tags=TAGS)
def image_count() -> Response:
    """How many sample images a model has (a sha256 not in the library: its pending ones)."""
    sha256 = request.context.query.sha256.lower()
    found = catalog.model_with_samples(sha256)
    count = len(found[0].samples(found[1])) if found else len(catalog.pending(sha256))
    return jsonify({"count": count})


@blueprint.post("/api/images/get_sample_imgs")
@endpoint(ok=Images, body=SampleList, errors=(400, 404), tags=TAGS)
def sample_urls() -> Response:
    """The URLs of a model's sample images at a quality."""
    body: SampleList = request.context.json
    sha256 = body.sha256.lower()
    found = catalog.model_with_samples(sha256)
    if found is None:
        raise ApiError(404, "Model not found", f"No model in the library has the sha256 {sha256}.")
    seqs = [seq for seq, _name in found[0].samples(found[1])]
    images = [
        url_for("model_manager.sample_image", base=f"{sha256}_{seq}", quality=body.quality)
        for seq in seqs
    ]
    return jsonify({"images": images, "quality": body.quality, "count": len(images)})


@blueprint.delete("/api/images/delete")
@endpoint(ok=Status, query=DeleteQuery, errors=(400, 404), tags=TAGS)
def delete_image() -> Response:
    """Remove one sample; the later ones move down by one (in one step)."""
    query: DeleteQuery = request.context.query
    sha256 = query.sha256.lower()
    found = catalog.model_with_samples(sha256)
    if found is None:
        raise ApiError(404, "Model not found", f"No model in the library has the sha256 {sha256}.")
    try:
        found[0].delete_sample(context.actor(), found[1], query.seq)
    except NotFound:
        raise ApiError(
            404, "Image not found", f"{sha256} has no sample image {query.seq}."
        ) from None
    return jsonify({"status": "success"})


# --- scan and migration ----------------------------------------------------------------


class ScanBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str | None = Field(None, max_length=255)


class ScanAnswer(BaseModel):
    status: str
    scanned: int
    pending_added: int
    skipped: int
    pending_ids: list[int]


class PendingList(BaseModel):
    models: list[dict[str, Any]]


class LegacyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    legacy_db_path: str = Field(min_length=1, max_length=4096)
    legacy_images_dir: str | None = Field(None, max_length=4096)


class MigrationAnswer(BaseModel):
    status: str
    db_migration: dict[str, Any]
    image_migration: dict[str, Any]


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: list[int] = Field(max_length=100_000)
    conflict_strategy: str | None = Field(None, pattern="^(override|merge|ignore|delete)$")


class ImportOneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: int
    conflict_strategy: str | None = Field(None, pattern="^(override|merge|ignore|delete)$")


class ImportAnswer(BaseModel):
    total: int
    success: list[dict[str, Any]]
    conflict: list[dict[str, Any]]
    ignored: list[dict[str, Any]]
    deleted: list[dict[str, Any]]
    failed: list[dict[str, Any]]


class ImportOneAnswer(BaseModel):
    status: str
    id: int
    deprecated: bool
    detail: dict[str, Any] | None = None


@blueprint.post("/api/models/scan")
@endpoint(ok=ScanAnswer, body=ScanBody, errors=(400, 403), tags=TAGS)
def scan_models() -> Response:
    """Stage the model files lying directly in the library's type folders (administrators)."""
    catalog.require_administrator("scan the model library")
    body: ScanBody = request.context.json
    return answer_or_queue("model-scan", catalog.scan_work(body.type))


@blueprint.get("/api/migration/pending_models")
@endpoint(ok=PendingList, errors=(403,), tags=TAGS)
def pending_models() -> Response:
    """The staged models waiting to be imported."""
    catalog.require_administrator("see the staged models")
    return jsonify({"models": [p.public() for p in catalog.staging().all()]})


@blueprint.post("/api/migration/migrate_legacy_db")
@endpoint(ok=MigrationAnswer, body=LegacyBody, errors=(400, 403), tags=TAGS)
def migrate_legacy() -> Response:
    """Stage a legacy library: its SQLite file (and images folder), or a folder laid out
    as `<type>/<name>.safetensors` with previews and .civitai.info beside the models."""
    catalog.require_administrator("migrate legacy libraries")
    body: LegacyBody = request.context.json
    work = catalog.migration_work(body.legacy_db_path, body.legacy_images_dir)
    return answer_or_queue("model-migration", work)


@blueprint.post("/api/migration/import_models")
@endpoint(ok=ImportAnswer, ok_status=207, body=ImportBody, errors=(400, 403), tags=TAGS)
def import_staged() -> Response:
    """Import staged models (207): each a success, a conflict (nothing changed, without a
    strategy), ignored, deleted or failed."""
    catalog.require_administrator("import models")
    body: ImportBody = request.context.json
    work = catalog.import_work(body.id, body.conflict_strategy)
    return answer_or_queue("model-import", work, status=207)


@blueprint.post("/api/migration/import_a_model")
@endpoint(ok=ImportOneAnswer, body=ImportOneBody, errors=(400, 403), tags=TAGS)
def import_one() -> Response:
    """One staged model (deprecated: use import_models)."""
    catalog.require_administrator("import models")
    body: ImportOneBody = request.context.json
    report = catalog.import_work([body.id], body.conflict_strategy)(lambda _d, _t: None)
    for status in ("success", "conflict", "ignored", "deleted", "failed"):
        if report[status]:
            name = "error" if status == "failed" else status
            return jsonify(
                {"status": name, "id": body.id, "deprecated": True, "detail": report[status][0]}
            )
    return jsonify({"status": "error", "id": body.id, "deprecated": True, "detail": None})
