"""Exports: the assets matching a search, written into one zip by an export configuration
(the name template, the image format, the metadata adapter), with a manifest. The zip is
written entry by entry from files and derived images on disk (ZIP64, never held in
memory) into `<state_dir>/exports/<id>.zip`, downloaded through a presigned URL."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from index.queries import AssetFilter, IndexReader
from stores import Actor, Registry, model
from stores.errors import StoreError
from stores.hashing import hash_file

from .asset_answers import main_file
from .media import Media, MediaError
from .media.decode import previewable_name
from .media.params import Conversion

PAGE = 500
CHUNK = 1 << 20
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
DEFAULT_TEMPLATE = "{project}/{asset}"
EXTENSIONS = {"webp": "webp", "png": "png", "jpeg": "jpg"}
Progress = Callable[[int, int | None], None]


class Unfillable(Exception):
    """A placeholder of the template has no value for an asset."""


def render_name(template: str | None, values: dict[str, Any], metadata: dict[str, Any]) -> str:
    """The template filled in: our placeholders, `{metadata.KEY}`, and any other name
    looked up in the asset's metadata (`{brand}`); `.{ext}` is added when the template
    does not place it. An empty or missing value is Unfillable, never a silent blank."""
    template = template or DEFAULT_TEMPLATE

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        value: Any = values.get(key) if key in values else None
        if key not in values:
            path = key[len("metadata.") :] if key.startswith("metadata.") else key
            value = metadata
            for part in path.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, dict | list) or str(value) == "":
            raise Unfillable(f"{{{key}}} has no value")
        return _safe(str(value))

    name = PLACEHOLDER.sub(fill, template)
    if "{ext}" not in template:
        name = f"{name}.{values['ext']}"
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    if not parts:
        raise Unfillable("the name is empty")
    return "/".join(parts)


def _safe(text: str) -> str:
    """A value as part of a zip entry's name: no separators or control characters."""
    return "".join("_" if ch in "/\\" or ord(ch) < 0x20 else ch for ch in text).strip()


def matching(reader: IndexReader, flt: AssetFilter, readable: Any) -> Iterator[Any]:
    offset = 0
    while True:
        hits, total = reader.search(flt, readable, sort="name", limit=PAGE, offset=offset)
        yield from hits
        offset += len(hits)
        if not hits or offset >= total:
            return


def run_export(
    actor: Actor,
    registry: Registry,
    media: Media,
    reader: IndexReader,
    flt: AssetFilter,
    readable: Any,
    config: dict[str, Any],
    out: Path,
    progress: Progress,
) -> dict[str, Any]:
    hits = list(matching(reader, flt, readable))
    errors: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    names: set[str] = set()
    image_format = config.get("image_format") or "original"
    adapter = config.get("metadata_adapter") or "default"
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_suffix(".zip.part")
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for done, hit in enumerate(hits):
            progress(done, len(hits))
            where = f"/{hit.store}/{hit.project}/{hit.asset}"
            try:
                entry = _export_one(
                    actor, registry, media, hit, config, image_format, adapter, names, zf
                )
            except (Unfillable, StoreError, MediaError, OSError) as exc:
                message = getattr(exc, "message", None) or getattr(exc, "description", None)
                errors.append({"asset": where, "error": message or str(exc)})
                continue
            if entry is not None:
                manifest.append(entry)
        zf.writestr("manifest.csv", _manifest_csv(manifest))
    with open(part, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, out)
    progress(len(hits), len(hits))
    return {
        "assets": len(hits),
        "exported": len(manifest),
        "errors": errors,
        "bytes": out.stat().st_size,
    }


def _export_one(
    actor: Actor,
    registry: Registry,
    media: Media,
    hit: Any,
    config: dict[str, Any],
    image_format: str,
    adapter: str,
    names: set[str],
    zf: zipfile.ZipFile,
) -> dict[str, Any] | None:
    store = registry.get(hit.store)
    owner = store.locate(f"{hit.project}/{hit.asset}")
    meta = store.read_meta(actor, owner) or {}
    found = main_file(meta)
    if found is None:
        raise Unfillable("the asset holds no file")
    key, record = found
    loc = store.locate("/".join((*owner.parts, key)))
    source = store.fs_path(loc)
    convert = image_format != "original" and previewable_name(key)
    ext = EXTENSIONS[image_format] if convert else (key.rsplit(".", 1)[1] if "." in key else "bin")
    metadata = meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {}
    tags = model.clean_tags(meta.get("tags"))
    values = {
        "store": store.name,
        "project": hit.project,
        "asset": hit.asset,
        "name": str(meta.get("name") or hit.asset),
        "version": model.public_asset(meta)["version"],
        "ext": ext,
        "tag": tags[0] if tags else None,
    }
    name = render_name(config.get("naming_convention_template"), values, metadata)
    if name in names:
        raise Unfillable(f"its name {name!r} is another asset's already")
    names.add(name)
    if convert:
        digest = str(record.get("xxh3_128") or "") or hash_file(source)[1]
        source = media.derivative(source, digest, Conversion(type=image_format, q=90))
    _copy_into(zf, name, source)
    stem = name.rsplit(".", 1)[0]
    described = {
        "id": model.asset_uuid(meta) or "",
        "store": store.name,
        "project": hit.project,
        "asset": hit.asset,
        "name": values["name"],
        "description": str(meta.get("description") or ""),
        "tags": tags,
        "version": values["version"],
        "metadata": metadata,
        "source": key,
        "xxh3_128": record.get("xxh3_128"),
        "blake3": record.get("blake3"),
    }
    if adapter == "ovs":
        meta_name = f"{stem}.ovemeta"
        zf.writestr(meta_name, yaml.safe_dump(described, sort_keys=False, allow_unicode=True))
    else:
        meta_name = f"{stem}.json"
        zf.writestr(meta_name, json.dumps(described, ensure_ascii=False, indent=1))
    return {
        "file": name,
        "metadata_file": meta_name,
        "store": store.name,
        "project": hit.project,
        "asset": hit.asset,
        "version": values["version"],
        "source": key,
        "xxh3_128": record.get("xxh3_128") or "",
        "size": os.stat(source).st_size,
    }


def _copy_into(zf: zipfile.ZipFile, name: str, source: Path) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    with open(source, "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)


def _manifest_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    fields = [
        "file",
        "metadata_file",
        "store",
        "project",
        "asset",
        "version",
        "source",
        "xxh3_128",
        "size",
    ]
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
