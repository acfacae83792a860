"""Sample images and the model library in the native API.

Any asset may hold sample images (`<asset>/samples/<seq>.<ext>`, a model's example
pictures): `GET`/`POST /api/{store}/{project}/samples/{asset}`, each served as webp at
`.../samples/{asset}/{seq}.webp?quality=`, removed with `DELETE .../samples/{asset}/{seq}`
(the later ones move down by one). The model library's administration lives under
`/api/library/`: images for a model by its sha256 (pending until the model arrives), the
staged models, and scan, migration and import as tasks followed in `GET /api/tasks/{id}`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from stores import FileStore, Location
from stores.errors import NotFound

from . import context
from .background import start_in_background
from .errors import ApiError
from .media import QUALITIES
from .model_library import catalog
from .routes_previews import send_preview
from .spec import documented_by_hand, endpoint

blueprint = Blueprint("library", __name__)
TAGS = ["model library"]
SEQ_LIMIT = 999_999_999


class Sample(BaseModel):
    seq: int
    name: str = Field(description="its file name in the asset's samples folder")
    size: int
    url: str = Field(description="the original, over WebDAV")
    webp: str = Field(description="the webp; add ?quality=high|medium|low")


class Samples(BaseModel):
    samples: list[Sample]


class AddedSample(BaseModel):
    seq: int
    pending: bool = Field(False, description="kept until a model with this sha256 arrives")


class StagedModels(BaseModel):
    models: list[dict[str, Any]]


class PendingImage(BaseModel):
    sha256: str
    seq: int
    url: str


class PendingImages(BaseModel):
    images: list[PendingImage]


class ScanBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str | None = Field(None, max_length=255, description="one model type; all when absent")


class MigrateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = Field(
        min_length=1, max_length=4096, description="a legacy SQLite file, or a models folder"
    )
    images: str | None = Field(None, max_length=4096, description="the legacy images folder")


class ImportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(max_length=100_000)
    conflict_strategy: str | None = Field(None, pattern="^(override|merge|ignore|delete)$")


class Task(BaseModel):
    task_id: str = Field(description="follow it in GET /api/tasks/{task_id}")
    id: str
    kind: str
    status: str


def _samples(store: FileStore, asset: Location) -> list[dict[str, Any]]:
    base = quote(asset.url_path())
    api = f"/api/{quote(store.name)}/{quote(asset.parts[0])}/samples/{quote(asset.name)}"
    answers = []
    for seq, name in store.samples(asset):
        st = store.stat(asset.child("samples").child(name))
        answers.append(
            {
                "seq": seq,
                "name": name,
                "size": st.st_size if st is not None else 0,
                "url": f"{base}/samples/{quote(name)}",
                "webp": f"{api}/{seq}.webp",
            }
        )
    return answers


def _seq(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ApiError(404, "Image not found", f"{text[:40]!r} is not a sample's number.")
    return int(text)


def _quality() -> str:
    quality = request.args.get("quality", "high")
    if quality not in QUALITIES or set(request.args) - {"quality"}:
        raise ApiError(400, "Bad parameter", f"quality is one of {', '.join(QUALITIES)}.")
    return quality


@blueprint.get("/<store_id>/<project_id>/samples/<asset_id>")
@endpoint(ok=Samples, errors=(400, 404), tags=TAGS)
def list_samples(store_id: str, project_id: str, asset_id: str) -> Response:
    """The asset's sample images, by seq."""
    store, asset = context.asset(store_id, project_id, asset_id)
    store.check_read(context.actor(), asset)
    return jsonify({"samples": _samples(store, asset)})


@blueprint.post("/<store_id>/<project_id>/samples/<asset_id>")
@documented_by_hand(
    "/api/{store_id}/{project_id}/samples/{asset_id}",
    "post",
    "model library",
    "Add a sample image (multipart: the part `image`, PNG, JPEG, WebP or GIF) as the "
    "asset's next; 201 with its seq.",
    {"201": "added", "400": "no image, or no such asset", "413": "too large", "415": "no image"},
    media_type="application/json",
)
def add_sample(store_id: str, project_id: str, asset_id: str) -> Response:
    store, asset = context.asset(store_id, project_id, asset_id)
    store.check_write(context.actor(), asset)
    with catalog.uploaded_image() as form:
        assert form.spool is not None
        ext = catalog.image_extension(form.spool)
        seq = store.add_sample(context.actor(), asset, form.spool, ext)
    response = jsonify({"seq": seq, "pending": False})
    response.status_code = 201
    response.headers["Location"] = f"{request.path}/{seq}.webp"
    return response


@blueprint.get("/<store_id>/<project_id>/samples/<asset_id>/<seq>.webp")
@documented_by_hand(
    "/api/{store_id}/{project_id}/samples/{asset_id}/{seq}.webp",
    "get",
    "model library",
    "A sample image as webp, from the derived cache (with its ETag).",
    {"200": "the image as webp", "400": "a bad parameter", "404": "no such image"},
    query={"quality": {"type": "string", "enum": list(QUALITIES), "default": "high"}},
    media_type="image/webp",
)
def sample_webp(store_id: str, project_id: str, asset_id: str, seq: str) -> Response:
    quality = _quality()
    store, asset = context.asset(store_id, project_id, asset_id)
    store.check_read(context.actor(), asset)
    path, digest = catalog.sample_file(store, asset, _seq(seq))
    return send_preview(path, digest, quality, f"{asset.name}-{seq}-{quality}.webp")


@blueprint.delete("/<store_id>/<project_id>/samples/<asset_id>/<seq>")
@endpoint(ok=Samples, errors=(400, 404), tags=TAGS)
def delete_sample(store_id: str, project_id: str, asset_id: str, seq: str) -> Response:
    """Remove a sample; the later ones move down by one, in one step. The samples left."""
    store, asset = context.asset(store_id, project_id, asset_id)
    number = _seq(seq)
    try:
        store.delete_sample(context.actor(), asset, number)
    except NotFound:
        raise ApiError(404, "Image not found", f"{asset_id!r} has no sample {number}.") from None
    return jsonify({"samples": _samples(store, asset)})


# --- the model library ----------------------------------------------------------------------


@blueprint.post("/library/images/<sha256>")
@documented_by_hand(
    "/api/library/images/{sha256}",
    "post",
    "model library",
    "Add a sample image to the model with this sha256 (multipart: `image`); pending, and "
    "joining the model when it is imported, while no model has it.",
    {
        "201": "added",
        "400": "no image, or a bad path",
        "404": "not a sha256",
        "413": "too large",
        "415": "no image",
    },
    media_type="application/json",
)
def add_model_image(sha256: str) -> Response:
    if not catalog.SHA256.fullmatch(sha256):
        raise ApiError(404, "Model not found", f"{sha256[:80]!r} is not a sha256.")
    sha256 = sha256.lower()
    catalog.library().check_write(context.actor(), catalog.library().locate(""))
    with catalog.uploaded_image() as form:
        assert form.spool is not None
        seq = catalog.add_image(sha256, form.spool)
    response = jsonify({"seq": seq, "pending": catalog.model_location(sha256) is None})
    response.status_code = 201
    return response


@blueprint.get("/library/pending-images")
@endpoint(ok=PendingImages, errors=(403,), tags=TAGS)
def pending_images() -> Response:
    """Images waiting for their model (administrators)."""
    catalog.require_administrator("see the pending images")
    images = [
        {
            "sha256": sha,
            "seq": seq,
            "url": f"/api/library/pending-images/{sha}_{seq}.webp",
        }
        for sha, seq, _path in catalog.pending()
    ]
    return jsonify({"images": images})


@blueprint.get("/library/pending-images/<sha256>_<seq>.webp")
@documented_by_hand(
    "/api/library/pending-images/{sha256}_{seq}.webp",
    "get",
    "model library",
    "An image waiting for its model, as webp (administrators).",
    {"200": "the image as webp", "400": "a bad parameter", "404": "no such image"},
    query={"quality": {"type": "string", "enum": list(QUALITIES), "default": "high"}},
    media_type="image/webp",
)
def pending_webp(sha256: str, seq: str) -> Response:
    catalog.require_administrator("see the pending images")
    quality = _quality()
    if not catalog.SHA256.fullmatch(sha256):
        raise ApiError(404, "Image not found", f"{sha256[:80]!r} is not a sha256.")
    path, digest = catalog.pending_file(sha256, _seq(seq))
    return send_preview(path, digest, quality, f"{sha256}_{seq}-{quality}.webp")


@blueprint.get("/library/staged")
@endpoint(ok=StagedModels, errors=(403,), tags=TAGS)
def staged_models() -> Response:
    """The staged models waiting to be imported (administrators)."""
    catalog.require_administrator("see the staged models")
    return jsonify({"models": [p.public() for p in catalog.staging().all()]})


@blueprint.post("/library/scan")
@endpoint(ok=Task, ok_status=202, body=ScanBody, errors=(400, 403), tags=TAGS)
def scan_library() -> Response:
    """Stage the model files lying in the library's type folders not yet models (a task)."""
    catalog.require_administrator("scan the model library")
    body: ScanBody = request.context.json
    return start_in_background("model-scan", catalog.scan_work(body.type))


@blueprint.post("/library/migrate")
@endpoint(ok=Task, ok_status=202, body=MigrateBody, errors=(400, 403), tags=TAGS)
def migrate_library() -> Response:
    """Stage a legacy library (a task): its SQLite file with its images folder, or a folder
    laid out as `<type>/<name>.safetensors`; both under `migration.allowed_roots`."""
    catalog.require_administrator("migrate legacy libraries")
    body: MigrateBody = request.context.json
    return start_in_background("model-migration", catalog.migration_work(body.source, body.images))


@blueprint.post("/library/import")
@endpoint(ok=Task, ok_status=202, body=ImportBody, errors=(400, 403), tags=TAGS)
def import_staged() -> Response:
    """Import staged models with a conflict strategy (a task; its result lists each as a
    success, conflict, ignored, deleted or failed)."""
    catalog.require_administrator("import models")
    body: ImportBody = request.context.json
    work = catalog.import_work(body.ids, body.conflict_strategy)
    return start_in_background("model-import", work)
