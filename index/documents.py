"""Index documents from a project's or asset's sidecar: what search and refine need."""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Iterator
from typing import Any

from stores import ASSET_LEVEL, Location, model

from .schema import ASSET, FILE, PROJECT, SEP


def owner_key(loc: Location) -> str:
    return SEP.join((loc.store, *loc.parts))


def project_key(store: str, project: str) -> str:
    return f"{store}{SEP}{project}"


def flatten(metadata: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, value as text) pairs; lists give one pair per item."""
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(metadata, list | tuple):
        for item in metadata:
            yield from flatten(item, prefix)
    elif prefix:
        yield prefix, scalar_text(metadata)


def scalar_text(value: Any) -> str:
    """How a metadata value is compared: JSON's spelling for true, false and null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _time(text: Any) -> float | None:
    try:
        return (
            dt.datetime.strptime(str(text)[:26], "%Y-%m-%d %H:%M:%S.%f")
            .replace(tzinfo=dt.UTC)
            .timestamp()
        )
    except ValueError:
        try:
            return (
                dt.datetime.strptime(str(text)[:19], "%Y-%m-%d %H:%M:%S")
                .replace(tzinfo=dt.UTC)
                .timestamp()
            )
        except ValueError:
            return None


def _history_times(meta: dict[str, Any]) -> tuple[float, float]:
    times = [
        t
        for t in (_time(h.get("Time")) for h in meta.get("history") or [] if isinstance(h, dict))
        if t is not None
    ]
    created = times[0] if times else 0.0
    return created, max(times) if times else created


def _mime(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def owner_documents(
    loc: Location, meta: dict[str, Any], signature: str, folder_mtime: float
) -> list[dict[str, Any]]:
    """The documents of one owner: its files, and for an asset the asset itself."""
    key = owner_key(loc)
    pkey = project_key(loc.store, loc.parts[0])
    asset = loc.parts[1] if loc.level == ASSET_LEVEL else ""
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    docs: list[dict[str, Any]] = []
    total = 0
    names: list[str] = []
    mimes: set[str] = set()
    for path, record in files.items():
        if not isinstance(record, dict):
            continue
        size = record.get("size") if isinstance(record.get("size"), int) else 0
        total += size
        file_name = path.rsplit("/", 1)[-1]
        names.append(file_name)
        mimes.add(_mime(file_name))
        docs.append(
            {
                "doc_id": f"{FILE}{SEP}{key}{SEP}{path}",
                "kind": FILE,
                "owner": key,
                "project_key": pkey,
                "store": loc.store,
                "project": loc.parts[0],
                "asset": asset,
                "path": path,
                "name": file_name,
                "name_sort": file_name.lower(),
                "hash": str(record.get("xxh3_128") or ""),
                "size": size,
                "mime_types": _mime(file_name),
            }
        )
    if loc.level == ASSET_LEVEL:
        public = model.public_asset(meta)
        created, updated = _history_times(meta)
        name = public["name"] or loc.name
        doc: dict[str, Any] = {
            "doc_id": f"{ASSET}{SEP}{key}",
            "kind": ASSET,
            "owner": key,
            "project_key": pkey,
            "store": loc.store,
            "project": loc.parts[0],
            "asset": loc.name,
            "name": name,
            "name_sort": name.lower(),
            "name_grams": name.lower(),
            "description": public["description"],
            "tags": SEP.join(public["tags"]),
            "tags_text": " ".join(public["tags"]),
            "file_names": " ".join(names),
            "mime_types": SEP.join(sorted(mimes)),
            "size": total,
            "created": created or folder_mtime,
            "updated": max(updated, folder_mtime),
            "version": public["version"],
            "signature": signature,
        }
        values: dict[str, list[str]] = {}
        for path, text in flatten(meta.get("metadata") or {}):
            values.setdefault(f"meta_{path}", []).append(text)
        doc.update({field: SEP.join(texts) for field, texts in values.items()})
        docs.append(doc)
    else:
        tags = [str(t) for t in meta.get("tags") or [] if isinstance(t, str | int | float)]
        name = str(meta.get("name") or loc.name)
        docs.append(
            {
                "doc_id": f"{PROJECT}{SEP}{key}",
                "kind": PROJECT,
                "owner": key,
                "project_key": pkey,
                "store": loc.store,
                "project": loc.name,
                "asset": "",
                "name": name,
                "name_sort": name.lower(),
                "description": str(meta.get("description") or ""),
                "tags": SEP.join(tags),
                "tags_text": " ".join(tags),
                "signature": signature,
            }
        )
    return docs
