"""The model manager's API at `/compat/model-manager/` (its client's base URL): the model
library is the store `models.store` (which records every file's sha256); a model type is
one of its projects, a model an asset holding its model file, known by that file's sha256.
Tags are named by stable ids (stores/state). This face maps the manager's routes onto the
stores, the index and the tag ids; it holds no logic of its own."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    copy_current_request_context,
    current_app,
    jsonify,
    request,
    url_for,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from index.documents import history_times
from index.queries import AssetFilter
from stores import FileStore, Location, model
from stores.errors import AlreadyExists, NotFound, StoreError
from stores.hashing import hash_file
from stores.sniff import SNIFF_BYTES, sniff
from stores.transfer import move

from .. import context
from ..asset_answers import iso, main_file
from ..background import Progress
from ..errors import ApiError
from ..form_upload import spool_form
from ..model_library import (
    LegacySource,
    Staging,
    import_models,
    scan_library,
    stage_folder_convention,
    stage_legacy_db,
)
from ..model_library.sources import check_legacy_db, under_roots
from ..requests import stream_body
from ..routes_hashes import HashSpec, locations
from ..routes_previews import send_preview
from ..routes_search import search_index, tag_ids
from ..spec import documented_by_hand, endpoint

blueprint = Blueprint("model_manager", __name__)
TAGS = ["model manager"]
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
MAX_IMAGE_BYTES = 64 << 20  # a sample image


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


# --- sample images ---------------------------------------------------------------------

IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
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


def _pending_folder() -> Path:
    folder = Path(current_app.config["ASSETDAV_PENDING_IMAGES"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pending(sha256: str) -> list[tuple[int, Path]]:
    """The pending images of a sha256 that is no model yet, by seq."""
    found = []
    for path in _pending_folder().glob(f"{sha256}_*.*"):
        match = re.fullmatch(rf"{sha256}_(\d+)\.\w+", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def _model_or_none(sha256: str) -> tuple[FileStore, Location] | None:
    try:
        store, owner, _meta = _find(sha256)
    except ApiError:
        return None
    _join_pending(store, owner, sha256)
    return store, owner


def _join_pending(store: FileStore, owner: Location, sha256: str) -> None:
    """Images uploaded before their model was in the library join it, in their order."""
    for _seq, path in _pending(sha256):
        store.add_sample(context.actor(), owner, path, path.suffix.lstrip("."))


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
    boundary = request.mimetype_params.get("boundary")
    if request.mimetype != "multipart/form-data" or not boundary:
        raise ApiError(415, "Unsupported body", "Send multipart/form-data: image, sha256.")
    service = current_app.config["ASSETDAV_UPLOADS"]
    spool = Path(service.files.path) / f"{model.new_uuid()}.data"
    spool.parent.mkdir(parents=True, exist_ok=True)
    form = spool_form(stream_body(), boundary, spool, MAX_IMAGE_BYTES, file_field="image")
    try:
        sha256 = form.fields.get("sha256", "").strip().lower()
        if not SHA256.fullmatch(sha256):
            raise ApiError(400, "Invalid sha256", "sha256 must be 64 hex digits.")
        if form.spool is None:
            raise ApiError(400, "No image", "Send the image in a part named 'image'.")
        with open(form.spool, "rb") as fh:
            kind = sniff(fh.read(SNIFF_BYTES))
        ext = IMAGE_TYPES.get(kind)
        if ext is None:
            raise ApiError(
                415, "Not an image", f"The upload is {kind}, not a PNG, JPEG, WebP or GIF image."
            )
        found = _model_or_none(sha256)
        if found is not None:
            seq = found[0].add_sample(context.actor(), found[1], form.spool, ext)
        else:
            pending = _pending(sha256)
            seq = pending[-1][0] + 1 if pending else 0
            os.replace(form.spool, _pending_folder() / f"{sha256}_{seq}.{ext}")
        return jsonify({"status": "success", "base_name": f"{sha256}_{seq}"})
    finally:
        form.discard()


def _sample_path(sha256: str, seq: int) -> tuple[Path, str]:
    """The file of a model's sample (or a pending one), and its content hash."""
    found = _model_or_none(sha256)
    if found is not None:
        store, owner = found
        names = dict(store.samples(owner))
        if seq in names:
            loc = owner.child("samples").child(names[seq])
            st = store.stat(loc)
            if st is not None:
                record = store.file_record(loc, st)
                path = store.fs_path(loc)
                return path, record.xxh3_128 if record else hash_file(path)[1]
    raise ApiError(404, "Image not found", f"{sha256} has no sample image {seq}.")


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
    path, digest = _sample_path(match.group(1).lower(), seq)
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
    paths = dict(_pending(match.group(1).lower()))
    path = paths.get(int(match.group(2)))
    if path is None:
        raise ApiError(404, "Image not found", f"There is no pending image {base!r}.")
    return send_preview(path, hash_file(path)[1], query.quality, f"{base}.webp")


@blueprint.get("/api/images/get_img_num")
@endpoint(ok=Count, query=Sha256Query, errors=(400,), tags=TAGS)
def image_count() -> Response:
    """How many sample images a model has (a sha256 not in the library: its pending ones)."""
    sha256 = request.context.query.sha256.lower()
    found = _model_or_none(sha256)
    count = len(found[0].samples(found[1])) if found else len(_pending(sha256))
    return jsonify({"count": count})


@blueprint.post("/api/images/get_sample_imgs")
@endpoint(ok=Images, body=SampleList, errors=(400, 404), tags=TAGS)
def sample_urls() -> Response:
    """The URLs of a model's sample images at a quality."""
    body: SampleList = request.context.json
    sha256 = body.sha256.lower()
    found = _model_or_none(sha256)
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
    found = _model_or_none(sha256)
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


def _staging() -> Staging:
    return current_app.config["ASSETDAV_MODEL_STAGING"]


def _administrator(what: str) -> None:
    if not context.registry().policy.can_administer(context.actor()):
        raise ApiError(403, "Administrators only", f"Only administrators may {what}.")


def _allowed(path: str, what: str) -> Path:
    roots = current_app.config.get("ASSETDAV_MIGRATION_ROOTS") or []
    found = under_roots(path, roots)
    if found is None:
        raise ApiError(
            403,
            "Path not allowed",
            f"{what} must lie under migration.allowed_roots "
            f"({', '.join(map(str, roots)) or 'none configured'}); ask an administrator.",
        )
    if not found.exists():
        raise ApiError(400, "Path not found", f"{what} {path!r} does not exist.")
    return found


def _answer_or_queue(
    kind: str, work: Callable[[Progress], dict[str, Any]], status: int = 200
) -> Response:
    """Run `work` now and answer its result, or, asked with `Prefer: respond-async`, run it
    in the background: 202 with the task to follow (`GET /api/tasks/{task_id}`)."""
    if "respond-async" not in request.headers.get("Prefer", "").lower():
        response = jsonify(work(lambda _done, _total: None))
        response.status_code = status
        return response
    job = current_app.config["ASSETDAV_JOBS"].start(
        kind, context.actor().name, copy_current_request_context(work)
    )
    response = jsonify({"task_id": job.id, **job.public()})
    response.status_code = 202
    response.headers["Preference-Applied"] = "respond-async"
    response.headers["Location"] = f"{request.script_root}/api/tasks/{job.id}"
    return response


def _model_by_sha(sha256: str) -> Location | None:
    try:
        return _find(sha256)[1]
    except ApiError:
        return None


@blueprint.post("/api/models/scan")
@endpoint(ok=ScanAnswer, body=ScanBody, errors=(400, 403), tags=TAGS)
def scan_models() -> Response:
    """Stage the model files lying directly in the library's type folders (administrators)."""
    _administrator("scan the model library")
    body: ScanBody = request.context.json
    actor, store = context.actor(), _library()
    return _answer_or_queue(
        "model-scan", lambda _p: scan_library(actor, store, _staging(), body.type)
    )


@blueprint.get("/api/migration/pending_models")
@endpoint(ok=PendingList, errors=(403,), tags=TAGS)
def pending_models() -> Response:
    """The staged models waiting to be imported."""
    _administrator("see the staged models")
    return jsonify({"models": [p.public() for p in _staging().all()]})


@blueprint.post("/api/migration/migrate_legacy_db")
@endpoint(ok=MigrationAnswer, body=LegacyBody, errors=(400, 403), tags=TAGS)
def migrate_legacy() -> Response:
    """Stage a legacy library: its SQLite file (and images folder), or a folder laid out
    as `<type>/<name>.safetensors` with previews and .civitai.info beside the models."""
    _administrator("migrate legacy libraries")
    body: LegacyBody = request.context.json
    source = _allowed(body.legacy_db_path, "legacy_db_path")
    images = (
        _allowed(body.legacy_images_dir, "legacy_images_dir") if body.legacy_images_dir else None
    )
    if not source.is_dir():
        try:
            check_legacy_db(source)  # a file that is no such database: 400 now, not later
        except ValueError as exc:
            raise ApiError(400, "Not a legacy library", str(exc)) from None

    def work(progress: Progress) -> dict[str, Any]:
        if source.is_dir():
            report = stage_folder_convention(source, _staging(), progress)
        else:
            report = stage_legacy_db(LegacySource(source, images), _staging(), progress)
        failed = bool(report["db_migration"]["errors"]) and not report["db_migration"]["staged"]
        return {"status": "failed" if failed else "success", **report}

    return _answer_or_queue("model-migration", work)


@blueprint.post("/api/migration/import_models")
@endpoint(ok=ImportAnswer, ok_status=207, body=ImportBody, errors=(400, 403), tags=TAGS)
def import_staged() -> Response:
    """Import staged models (207): each a success, a conflict (nothing changed, without a
    strategy), ignored, deleted or failed."""
    _administrator("import models")
    body: ImportBody = request.context.json
    actor, store = context.actor(), _library()

    def work(progress: Progress) -> dict[str, Any]:
        return import_models(
            actor, store, _staging(), body.id, body.conflict_strategy, _model_by_sha, progress
        ).public()

    return _answer_or_queue("model-import", work, status=207)


@blueprint.post("/api/migration/import_a_model")
@endpoint(ok=ImportOneAnswer, body=ImportOneBody, errors=(400, 403), tags=TAGS)
def import_one() -> Response:
    """One staged model (deprecated: use import_models)."""
    _administrator("import models")
    body: ImportOneBody = request.context.json
    report = import_models(
        context.actor(), _library(), _staging(), [body.id], body.conflict_strategy, _model_by_sha
    ).public()
    for status in ("success", "conflict", "ignored", "deleted", "failed"):
        if report[status]:
            name = "error" if status == "failed" else status
            return jsonify(
                {"status": name, "id": body.id, "deprecated": True, "detail": report[status][0]}
            )
    return jsonify({"status": "error", "id": body.id, "deprecated": True, "detail": None})
