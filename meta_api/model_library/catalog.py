"""The model library as the API sees it: the store `models.store`, whose projects are the
model types and whose assets are models known by their file's sha256; sample images of
a model, and images waiting for a model not in the library yet (pending, kept in the
state dir until the model arrives, then joining it in their order). The model manager's
face and the native routes both ask here."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import current_app, request

from index.documents import history_times
from stores import FileStore, Location, model
from stores.errors import AlreadyExists, StoreError
from stores.hashing import hash_file
from stores.sniff import SNIFF_BYTES, sniff
from stores.transfer import move

from .. import context
from ..asset_answers import iso, main_file
from ..background import Progress, Work
from ..errors import ApiError
from ..form_upload import SpooledForm, spool_form
from ..requests import stream_body
from ..routes_hashes import HashSpec, locations
from ..routes_search import tag_ids
from .importing import import_models
from .sources import (
    LegacySource,
    check_legacy_db,
    scan_library,
    stage_folder_convention,
    stage_legacy_db,
    under_roots,
)
from .staging import Staging

SHA256 = re.compile(r"[0-9a-fA-F]{64}")
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
MAX_IMAGE_BYTES = 64 << 20  # a sample image


def library() -> FileStore:
    return context.store(current_app.config.get("ASSETDAV_MODELS_STORE") or "")


def staging() -> Staging:
    return current_app.config["ASSETDAV_MODEL_STAGING"]


def tag_refs(names: list[str]) -> list[dict[str, Any]]:
    ids = tag_ids().ids_of(names)
    return [{"id": ids[n], "name": n} for n in names]


def summary(owner: Location, meta: dict[str, Any]) -> dict[str, Any] | None:
    """A model's short record, or None for an asset whose file has no sha256."""
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


def record(owner: Location, meta: dict[str, Any]) -> dict[str, Any]:
    """A model's whole record: its metadata as JSON text, its tags with their ids."""
    short = summary(owner, meta)
    assert short is not None
    found = main_file(meta)
    metadata = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    return {
        **short,
        "size": int(found[1].get("size") or 0) if found else 0,
        "meta_json": json.dumps(metadata, ensure_ascii=False),
        "tags": tag_refs(short["tags"]),
        "asset_id": model.asset_uuid(meta) or "",
        "created_at": iso(history_times(meta)[0]),
    }


def find(sha256: str) -> tuple[FileStore, Location, dict[str, Any]]:
    """The model whose file has this sha256 (404 when none you may read)."""
    if not SHA256.fullmatch(sha256):
        raise ApiError(404, "Model not found", f"{sha256[:80]!r} is not a sha256.")
    store = library()
    for place in locations(HashSpec("sha256", sha256.lower())):
        if place["store"] != store.name or not place["asset"]:
            continue
        owner = store.locate(f"{place['project']}/{place['asset']}")
        try:
            meta = store.read_meta(context.actor(), owner) or {}
        except StoreError:
            continue
        short = summary(owner, meta)
        if short is not None and short["sha256"] == sha256.lower():
            return store, owner, meta
    raise ApiError(404, "Model not found", f"No model in the library has the sha256 {sha256}.")


def model_location(sha256: str) -> Location | None:
    try:
        return find(sha256)[1]
    except ApiError:
        return None


# --- sample images ---------------------------------------------------------------------


@contextlib.contextmanager
def uploaded_image() -> Iterator[SpooledForm]:
    """The request's multipart form with its image (the part `image`) spooled to disk,
    removed afterwards unless taken; 415 for another body, 400 without an image."""
    boundary = request.mimetype_params.get("boundary")
    if request.mimetype != "multipart/form-data" or not boundary:
        raise ApiError(415, "Unsupported body", "Send multipart/form-data with an 'image' part.")
    service = current_app.config["ASSETDAV_UPLOADS"]
    spool = Path(service.files.path) / f"{model.new_uuid()}.data"
    spool.parent.mkdir(parents=True, exist_ok=True)
    form = spool_form(stream_body(), boundary, spool, MAX_IMAGE_BYTES, file_field="image")
    try:
        if form.spool is None:
            raise ApiError(400, "No image", "Send the image in a part named 'image'.")
        yield form
    finally:
        form.discard()


def image_extension(path: Path) -> str:
    """The extension of an uploaded sample, by its bytes (415 for what is no image)."""
    with open(path, "rb") as fh:
        kind = sniff(fh.read(SNIFF_BYTES))
    ext = IMAGE_TYPES.get(kind)
    if ext is None:
        raise ApiError(
            415, "Not an image", f"The upload is {kind}, not a PNG, JPEG, WebP or GIF image."
        )
    return ext


def sample_file(store: FileStore, owner: Location, seq: int) -> tuple[Path, str]:
    """The file of an asset's sample and its content hash (404 when there is none)."""
    names = dict(store.samples(owner))
    if seq in names:
        loc = owner.child("samples").child(names[seq])
        st = store.stat(loc)
        if st is not None:
            found = store.file_record(loc, st)
            path = store.fs_path(loc)
            return path, found.xxh3_128 if found else hash_file(path)[1]
    raise ApiError(404, "Image not found", f"{owner.url_path()} has no sample image {seq}.")


def pending_folder() -> Path:
    folder = Path(current_app.config["ASSETDAV_PENDING_IMAGES"])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pending(sha256: str | None = None) -> list[tuple[str, int, Path]]:
    """The pending images (of one sha256, or all), as (sha256, seq, file), in order."""
    found = []
    for path in pending_folder().glob(f"{sha256 or '*'}_*.*"):
        match = re.fullmatch(r"([0-9a-f]{64})_(\d+)\.\w+", path.name)
        if match:
            found.append((match.group(1), int(match.group(2)), path))
    return sorted(found)


def pending_file(sha256: str, seq: int) -> tuple[Path, str]:
    """A pending image's file and content hash (404 when there is none)."""
    paths = {n: path for _sha, n, path in pending(sha256.lower())}
    path = paths.get(seq)
    if path is None:
        raise ApiError(404, "Image not found", f"There is no pending image {sha256}_{seq}.")
    return path, hash_file(path)[1]


def model_with_samples(sha256: str) -> tuple[FileStore, Location] | None:
    """The model of this sha256 with its pending images joined to it, or None."""
    try:
        store, owner, _meta = find(sha256)
    except ApiError:
        return None
    for _sha, _seq, path in pending(sha256):
        store.add_sample(context.actor(), owner, path, path.suffix.lstrip("."))
    return store, owner


def add_image(sha256: str, spool: Path) -> int:
    """Keep an uploaded image as the model's next sample, or pending when the sha256 is
    no model yet; its seq."""
    ext = image_extension(spool)
    found = model_with_samples(sha256)
    if found is not None:
        return found[0].add_sample(context.actor(), found[1], spool, ext)
    waiting = pending(sha256)
    seq = waiting[-1][1] + 1 if waiting else 0
    os.replace(spool, pending_folder() / f"{sha256}_{seq}.{ext}")
    return seq


# --- administration ----------------------------------------------------------------------


def require_administrator(what: str) -> None:
    if not context.registry().policy.can_administer(context.actor()):
        raise ApiError(403, "Administrators only", f"Only administrators may {what}.")


def allowed_path(path: str, what: str) -> Path:
    """A path the migration may read: under `migration.allowed_roots` (403 otherwise)."""
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


def scan_work(model_type: str | None) -> Work:
    """Stage the model files lying directly in the library's type folders."""
    actor, store = context.actor(), library()
    return lambda _progress: scan_library(actor, store, staging(), model_type)


def migration_work(legacy_path: str, images_path: str | None) -> Work:
    """Stage a legacy library: a SQLite file (with its images folder), or a folder laid out
    as `<type>/<name>.safetensors`. The paths are checked now (403, 400), the work later."""
    source = allowed_path(legacy_path, "legacy_db_path")
    images = allowed_path(images_path, "legacy_images_dir") if images_path else None
    if not source.is_dir():
        try:
            check_legacy_db(source)  # a file that is no such database: 400 now, not later
        except ValueError as exc:
            raise ApiError(400, "Not a legacy library", str(exc)) from None

    def work(progress: Progress) -> dict[str, Any]:
        if source.is_dir():
            report = stage_folder_convention(source, staging(), progress)
        else:
            report = stage_legacy_db(LegacySource(source, images), staging(), progress)
        failed = bool(report["db_migration"]["errors"]) and not report["db_migration"]["staged"]
        return {"status": "failed" if failed else "success", **report}

    return work


def import_work(ids: list[int], strategy: str | None) -> Work:
    """Import staged models with a conflict strategy; the images waiting for an imported
    model join it at once."""
    actor, store = context.actor(), library()

    def work(progress: Progress) -> dict[str, Any]:
        report = import_models(actor, store, staging(), ids, strategy, model_location, progress)
        for item in report.success:
            model_with_samples(item["sha256"])
        return report.public()

    return work


def edit(
    sha256: str,
    name: str | None,
    model_type: str | None,
    tags: list[int] | None,
    meta_json: str | None,
) -> Location:
    """Change a model's name, type (its asset moves to that type's project, made when
    new), tags (by id) and metadata (a JSON object's text); where it is now."""
    store, owner, _meta = find(sha256)
    edits: dict[str, Any] = {}
    if name is not None:
        edits["name"] = name
    if tags is not None:
        names = tag_ids().names_of(tags)
        unknown = [i for i in tags if i not in names]
        if unknown:
            raise ApiError(400, "Unknown tag", f"No tag has the id(s) {unknown}; add it first.")
        edits["tags"] = [names[i] for i in tags]
    if meta_json is not None:
        try:
            parsed = json.loads(meta_json) if meta_json.strip() else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ApiError(400, "Invalid meta_json", "meta_json must be a JSON object's text.")
        edits["metadata"] = parsed
    actor = context.actor()
    if model_type is not None and model_type != owner.parts[0]:
        target = store.locate(context.asset_location(store.locate(""), model_type).name)
        if store.stat(target) is None:
            with contextlib.suppress(AlreadyExists):
                store.make_folder(actor, target)
        moved = target.child(owner.name)
        move(actor, store, owner, store, moved)
        owner = moved
    if edits:
        store.update_fields(actor, owner, edits)
    return owner
