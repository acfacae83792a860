"""An asset as `/api/assets` answers it: ComfyUI's fields (id, asset_hash, size, mime_type,
user_metadata, times...) beside ours (store, project, asset, version, files, OVE's
fields), built from the sidecar alone; and finding an asset by its id."""

from __future__ import annotations

import datetime as dt
import mimetypes
from typing import Any

from flask import current_app

from index.documents import history_times
from stores import FileStore, Location, model
from stores.errors import StoreError

from . import context
from .errors import ApiError
from .media import with_preview_url
from .media.choice import current_version, version_files


def main_file(meta: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(key, record) of the asset's current file: its version's index file, else that
    version's first file by name (files dropped in over WebDAV are version 0)."""
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    if not files:
        return None
    version = current_version(meta)
    index_file = meta.get("filename")
    key = f"{version}/{index_file}" if version and isinstance(index_file, str) else None
    if key is None or key not in files:
        keys = version_files(files, version) or version_files(files, 0) or sorted(files)
        key = keys[0] if keys else None
    record = files.get(key) if key is not None else None
    return (key, record) if isinstance(record, dict) else None


def iso(seconds: float | None) -> str | None:
    if not seconds:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def asset_answer(store: FileStore, owner: Location, meta: dict[str, Any]) -> dict[str, Any]:
    """The whole answer for one asset, given its sidecar."""
    public = with_preview_url(
        store.name, model.public_asset({**meta, "id": owner.name, "project": owner.parts[0]}), meta
    )
    found = main_file(meta)
    key, record = found if found is not None else (None, {})
    created, updated = history_times(meta)
    uuid = model.asset_uuid(meta) or ""
    accessed = access_times().last(uuid) if uuid else None
    mime = meta.get("mime_type") if isinstance(meta.get("mime_type"), str) else None
    if not mime and key:
        mime = mimetypes.guess_type(key.rsplit("/", 1)[-1])[0] or "application/octet-stream"
    user_metadata = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    preview_id = meta.get("preview_id")
    return {
        **public,
        "id": uuid,
        "asset_hash": f"blake3:{record['blake3']}" if record.get("blake3") else None,
        "size": int(record.get("size") or 0),
        "mime_type": mime or None,
        "preview_id": preview_id if isinstance(preview_id, str) and preview_id else None,
        "user_metadata": user_metadata,
        "created_at": iso(created),
        "updated_at": iso(updated or created),
        "last_access_time": iso(max(accessed or 0.0, updated or created or 0.0)),
        "store": store.name,
        "asset": owner.name,
        "file": key,
        "files": [
            {
                "name": name,
                "size": int(r.get("size", 0)),
                "xxh3_128": str(r.get("xxh3_128", "")),
                **{k: str(r[k]) for k in ("blake3", "sha256") if r.get(k)},
            }
            for name, r in sorted(files.items())
            if isinstance(r, dict)
        ],
    }


def access_times() -> Any:
    return current_app.config["ASSETDAV_ACCESS_TIMES"]


def find_by_id(asset_id: str) -> tuple[FileStore, Location, dict[str, Any]]:
    """The readable asset with this id, and its sidecar; 404 otherwise (a malformed id
    too: it names no asset)."""
    wanted = model.asset_uuid({"uuid": asset_id})
    if wanted is not None:
        reader = _search().fresh_reader()
        for hit in reader.assets_with_uuid(wanted):
            store = context.registry().find(hit.store)
            if store is None:
                continue
            owner = store.locate(f"{hit.project}/{hit.asset}")
            try:
                meta = store.read_meta(context.actor(), owner)
            except StoreError:
                continue
            if meta is not None and model.asset_uuid(meta) == wanted:
                return store, owner, meta
    raise ApiError(404, "Asset not found", f"No asset you may read has the id {asset_id[:100]!r}.")


def _search() -> Any:
    return current_app.config["ASSETDAV_INDEX"]
