"""Content by hash: where a file's bytes are stored already, and reusing them without
sending them again."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from stores.errors import BadContent, NotFound, StoreError
from stores.hashing import HEX_LENGTHS, RECORD_FIELDS, Digests
from stores.model import FileRecord
from stores.versions import place_version

from . import context
from .hash_models import FromHash, HashAnswer
from .models import Uploaded
from .routes_search import search_index
from .spec import endpoint

blueprint = Blueprint("hashes", __name__)
HASH = re.compile(r"(?:(xxh3|blake3|sha256):)?([0-9a-fA-F]+)")
HASH_FORMS = "xxh3:<32 hex digits>, blake3:<64 hex digits> or sha256:<64 hex digits>"


@dataclass(frozen=True)
class HashSpec:
    algorithm: str  # xxh3, blake3 or sha256
    digest: str  # lowercase hex

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.digest}"


def parse_hash(text: str) -> HashSpec:
    """`algorithm:hex`; bare hex of 32 digits is xxh3 (what this API answered before)."""
    match = HASH.fullmatch(text.strip())
    algorithm = match.group(1) or ("xxh3" if len(match.group(2)) == 32 else "") if match else ""
    if match is None or not algorithm or len(match.group(2)) != HEX_LENGTHS[algorithm]:
        raise BadContent(f"{text[:200]!r} is not a hash; write {HASH_FORMS}.", rule="hash")
    return HashSpec(algorithm, match.group(2).lower())


def locations(spec: HashSpec) -> list[dict[str, Any]]:
    """Readable places holding these bytes: the index names the projects and assets, their
    sidecars the files; each is checked against the disk (the index may be a moment behind)."""
    readable = context.registry().readable(context.actor())
    allowed = None if readable is None else set(readable)
    found = []
    field_name = RECORD_FIELDS[spec.algorithm]
    reader = search_index().fresh_reader()
    for store_name, project, asset in reader.owners_with_hash(spec.algorithm, spec.digest):
        store = context.registry().find(store_name)
        if store is None or (allowed is not None and (store_name, project) not in allowed):
            continue
        owner = store.locate(f"{project}/{asset}" if asset else project)
        try:
            files = (store.read_meta(context.actor(), owner) or {}).get("files") or {}
        except StoreError:
            continue
        for path, raw in sorted(files.items()):
            if not isinstance(raw, dict) or raw.get(field_name) != spec.digest:
                continue
            loc = store.locate("/".join((*owner.parts, path)))
            st = store.stat(loc)
            record = store.file_record(loc, st) if st else None
            if record is None or record.digests.of(spec.algorithm) != spec.digest:
                continue
            first = path.split("/", 1)[0]
            found.append(
                {
                    "store": store.name,
                    "project": project,
                    "asset": asset,
                    "version": _version_of(first) if asset and "/" in path else None,
                    "path": path,
                    "size": record.size,
                    "url": request.host_url.rstrip("/") + quote(loc.url_path()),
                    "_source": (store, loc, record),
                }
            )
    return found


@blueprint.route("/hash/<spec>", methods=["GET", "HEAD"])
@endpoint(ok=HashAnswer, errors=(400, 404), tags=["hashes"])
def find_hash(spec: str) -> Response:
    """Where these bytes are stored, among the places the caller may read. HEAD: 200 when
    somewhere, 404 when nowhere, 400 for a malformed hash (no bodies)."""
    if request.method == "HEAD":
        try:
            wanted = parse_hash(spec)
        except BadContent:
            return Response(status=400)
        return Response(status=200 if locations(wanted) else 404)
    wanted = parse_hash(spec)
    found = locations(wanted)
    if not found:
        raise context.ApiError(
            404, "Hash not found", f"No file you may read has the hash {wanted}."
        )
    for item in found:
        item.pop("_source")
    return jsonify({"hash": str(wanted), "locations": found})


@blueprint.post("/<store_id>/<project_id>/from-hash/<asset_id>")
@endpoint(ok=Uploaded, body=FromHash, errors=(400, 404, 409, 413, 415, 507), tags=["hashes"])
def from_hash(store_id: str, project_id: str, asset_id: str) -> Response:
    """Add content already stored somewhere as the asset's next version, without sending it:
    a hard link on the same filesystem, else a verified copy."""
    body: FromHash = request.context.json
    store, project = context.project(store_id, project_id)
    asset = context.asset_location(project, asset_id)
    source_path, digests = stored_source(parse_hash(body.hash))
    slot = place_version(
        store,
        context.actor(),
        asset,
        body.filename,
        source_path,
        mode="link",
        digests=digests,
        create=body.create,
        update=body.update,
    )
    return jsonify({"Asset": asset.name, "Filename": slot.filename, "Version": slot.version})


def stored_source(wanted: HashSpec) -> tuple[Path, Digests]:
    """A readable file holding these bytes, and its digests; 404 when there is none."""
    sources = locations(wanted)
    if not sources:
        raise context.ApiError(
            404, "Hash not found", f"No file you may read has the hash {wanted}; upload it."
        )
    source_store, source_loc, record = sources[0]["_source"]
    source_path = source_store.fs_path(source_loc)
    if not _still_matches(source_store, source_loc, source_path, record):
        raise NotFound("The stored file changed a moment ago; ask again.")
    return source_path, record.digests


def _still_matches(store: Any, loc: Any, path: Path, record: FileRecord) -> bool:
    """The sidecar's record of the source still matches the file (size and mtime)."""
    try:
        now = store.file_record(loc, os.stat(path))
    except OSError:
        return False
    return now is not None and now.xxh3_128 == record.xxh3_128


def _version_of(folder: str) -> int | None:
    """The version a first path segment names (`2`), or None (ASCII digits only: `¹` is a
    digit to str.isdigit() but not to int())."""
    return int(folder) if folder.isascii() and folder.isdigit() else None
