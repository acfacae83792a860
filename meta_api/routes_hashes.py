"""Content by hash: where a file's bytes are stored already, and reusing them without
sending them again."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from stores.errors import BadContent, NotFound, StoreError
from stores.versions import place_version

from . import context
from .hash_models import FromHash, HashAnswer
from .models import Uploaded
from .routes_search import search_index
from .spec import endpoint

blueprint = Blueprint("hashes", __name__)
HASH = re.compile(r"(?:xxh3:)?([0-9a-fA-F]{32})")


def parse_hash(text: str) -> str:
    match = HASH.fullmatch(text.strip())
    if match is None:
        raise BadContent(f"{text!r} is not a hash; write xxh3:<32 hex digits>.", rule="hash")
    return match.group(1).lower()


def locations(digest: str) -> list[dict[str, Any]]:
    """Readable places holding these bytes: the index names the projects and assets, their
    sidecars the files; each is checked against the disk (the index may be a moment behind)."""
    readable = context.registry().readable(context.actor())
    allowed = None if readable is None else set(readable)
    found = []
    for store_name, project, asset in search_index().fresh_reader().owners_with_hash(digest):
        store = context.registry().find(store_name)
        if store is None or (allowed is not None and (store_name, project) not in allowed):
            continue
        owner = store.locate(f"{project}/{asset}" if asset else project)
        try:
            files = (store.read_meta(context.actor(), owner) or {}).get("files") or {}
        except StoreError:
            continue
        for path, raw in sorted(files.items()):
            if not isinstance(raw, dict) or raw.get("xxh3_128") != digest:
                continue
            loc = store.locate("/".join((*owner.parts, path)))
            st = store.stat(loc)
            record = store.file_record(loc, st) if st else None
            if record is None or record.xxh3_128 != digest:
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
                    "_source": (store, loc),
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
            digest = parse_hash(spec)
        except BadContent:
            return Response(status=400)
        return Response(status=200 if locations(digest) else 404)
    digest = parse_hash(spec)
    found = locations(digest)
    if not found:
        raise context.ApiError(
            404, "Hash not found", f"No file you may read has the hash xxh3:{digest}."
        )
    for item in found:
        item.pop("_source")
    return jsonify({"hash": f"xxh3:{digest}", "locations": found})


@blueprint.post("/<store_id>/<project_id>/from-hash/<asset_id>")
@endpoint(ok=Uploaded, body=FromHash, errors=(400, 404, 409, 413, 415, 507), tags=["hashes"])
def from_hash(store_id: str, project_id: str, asset_id: str) -> Response:
    """Add content already stored somewhere as the asset's next version, without sending it:
    a hard link on the same filesystem, else a verified copy."""
    body: FromHash = request.context.json
    digest = parse_hash(body.hash)
    store, project = context.project(store_id, project_id)
    asset = context.asset_location(project, asset_id)
    sources = locations(digest)
    if not sources:
        raise context.ApiError(
            404, "Hash not found", f"No file you may read has the hash xxh3:{digest}; upload it."
        )
    source_store, source_loc = sources[0]["_source"]
    source_path = source_store.fs_path(source_loc)
    if not _still_matches(source_store, source_loc, source_path, digest):
        raise NotFound("The stored file changed a moment ago; ask again.")
    slot = place_version(
        store,
        context.actor(),
        asset,
        body.filename,
        source_path,
        mode="link",
        digest=digest,
        create=body.create,
        update=body.update,
    )
    return jsonify({"Asset": asset.name, "Filename": slot.filename, "Version": slot.version})


def _still_matches(store: Any, loc: Any, path: Any, digest: str) -> bool:
    """The sidecar's record of the source still matches the file (size and mtime)."""
    try:
        record = store.file_record(loc, os.stat(path))
    except OSError:
        return False
    return record is not None and record.xxh3_128 == digest


def _version_of(folder: str) -> int | None:
    """The version a first path segment names (`2`), or None (ASCII digits only: `¹` is a
    digit to str.isdigit() but not to int())."""
    return int(folder) if folder.isascii() and folder.isdigit() else None
