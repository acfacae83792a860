"""Where pending models come from: model files dropped straight into a type's folder of
the library (a scan), a legacy library's SQLite file with its images folder, and the
folder layout every ComfyUI/A1111 user has (`<type>/<name>.safetensors` with
`<name>.preview.png` and `<name>.civitai.info` or `<name>.json` beside it)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stores import Actor, FileStore
from stores.hashing import digest_file
from stores.names import is_internal, is_junk

from .staging import Staging

MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".onnx")
PREVIEW_SUFFIXES = (
    ".preview.png",
    ".preview.jpg",
    ".preview.jpeg",
    ".preview.webp",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
)
META_SUFFIXES = (".civitai.info", ".json")
Progress = Callable[[int, int | None], None]
_IMAGE = re.compile(r"([0-9a-fA-F]{64})_(\d{1,9})\.(png|jpe?g|webp|gif)", re.IGNORECASE)


@dataclass(frozen=True)
class LegacySource:
    db_path: Path
    images_dir: Path | None


def _sha256(path: Path) -> str:
    return digest_file(path, sha256=True)[1].sha256


def _beside(model: Path) -> tuple[str, list[str]]:
    """(meta_json, preview images) of a model file from the files beside it."""
    stem = model.name[: -len(model.suffix)] if model.suffix else model.name
    meta: dict[str, Any] = {}
    for suffix in META_SUFFIXES:
        candidate = model.with_name(stem + suffix)
        if candidate.is_file():
            try:
                loaded = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(loaded, dict):
                meta = loaded
                break
    images = [
        str(model.with_name(stem + s))
        for s in PREVIEW_SUFFIXES
        if model.with_name(stem + s).is_file()
    ]
    return json.dumps(meta, ensure_ascii=False), images[:1]


def _tags_of(meta_json: str) -> list[str]:
    try:
        tags = json.loads(meta_json).get("tags")
    except (ValueError, AttributeError):
        return []
    return [t for t in tags if isinstance(t, str) and t.strip()] if isinstance(tags, list) else []


def scan_library(
    actor: Actor, store: FileStore, staging: Staging, type_: str | None = None
) -> dict[str, Any]:
    """Stage the model files lying directly in the library's type folders (not yet in an
    asset of their own)."""
    staged = staging.staged_sources()
    scanned = skipped = 0
    added: list[int] = []
    for entry in sorted(store.list_folder(actor, store.locate("")), key=lambda e: e.name):
        if not entry.is_dir or (type_ and entry.name != type_):
            continue
        folder = store.fs_path(store.locate(entry.name))
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix.lower() not in MODEL_EXTENSIONS:
                continue
            if is_internal(path.name) or is_junk(path.name):
                continue
            scanned += 1
            if str(path) in staged:
                skipped += 1
                continue
            meta_json, images = _beside(path)
            pending = staging.add(
                "scan",
                _sha256(path),
                path.stem,
                entry.name,
                path,
                meta_json,
                _tags_of(meta_json),
                images,
            )
            if pending is None:
                skipped += 1
            else:
                added.append(pending)
    return {
        "status": "success",
        "scanned": scanned,
        "pending_added": len(added),
        "skipped": skipped,
        "pending_ids": added,
    }


def stage_folder_convention(
    root: Path, staging: Staging, progress: Progress | None = None
) -> dict[str, Any]:
    """Stage `<root>/<type>/<name>.<model extension>` with what lies beside each."""
    found = staged = skipped = 0
    images = 0
    models = [
        path
        for type_dir in sorted(p for p in root.iterdir() if p.is_dir())
        for path in sorted(type_dir.iterdir())
        if path.is_file() and path.suffix.lower() in MODEL_EXTENSIONS
    ]
    for path in models:
        if progress is not None:
            progress(found, len(models))
        found += 1
        meta_json, previews = _beside(path)
        pending = staging.add(
            "folder",
            _sha256(path),
            path.stem,
            path.parent.name,
            path,
            meta_json,
            _tags_of(meta_json),
            previews,
        )
        if pending is None:
            skipped += 1
        else:
            staged += 1
            images += len(previews)
    return {
        "db_migration": {
            "source": "folder",
            "models": found,
            "staged": staged,
            "skipped": skipped,
            "errors": [],
        },
        "image_migration": {"images": images, "matched": images, "unmatched": 0},
    }


def stage_legacy_db(
    source: LegacySource, staging: Staging, progress: Progress | None = None
) -> dict[str, Any]:
    """Stage the models of a legacy library's SQLite file (schema in the README) and the
    images named `<sha256>_<seq>.<ext>` in its images folder."""
    by_sha: dict[str, list[tuple[int, str]]] = {}
    unmatched_names: list[str] = []
    if source.images_dir is not None:
        for path in sorted(source.images_dir.iterdir()):
            match = _IMAGE.fullmatch(path.name)
            if match and path.is_file():
                by_sha.setdefault(match.group(1).lower(), []).append(
                    (int(match.group(2)), str(path))
                )
    uri = f"file:{source.db_path}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = conn.execute(
                "SELECT id, sha256, name, type, path, meta_json FROM models ORDER BY id"
            ).fetchall()
            links = conn.execute(
                "SELECT model_tags.model_id, tags.name FROM model_tags "
                "JOIN tags ON tags.id = model_tags.tag_id ORDER BY tags.id"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ValueError(f"{source.db_path} is not a legacy library's database: {exc}") from None
    tags: dict[int, list[str]] = {}
    for model_id, name in links:
        tags.setdefault(int(model_id), []).append(str(name))
    staged = skipped = 0
    errors: list[dict[str, Any]] = []
    matched = 0
    for done, (model_id, sha256, name, type_, path, meta_json) in enumerate(rows):
        if progress is not None:
            progress(done, len(rows))
        file = Path(str(path))
        file = file if file.is_absolute() else source.db_path.parent / file
        sha = str(sha256 or "").lower()
        if not re.fullmatch(r"[0-9a-f]{64}", sha):
            errors.append({"id": model_id, "error": "no sha256"})
            continue
        if not file.is_file():
            errors.append({"id": model_id, "sha256": sha, "error": f"{file} is missing"})
            continue
        images = [p for _seq, p in sorted(by_sha.pop(sha, []))]
        pending = staging.add(
            "legacy_db",
            sha,
            str(name or file.stem),
            str(type_ or "other"),
            file,
            str(meta_json or "{}"),
            tags.get(int(model_id), []),
            images,
        )
        if pending is None:
            skipped += 1
        else:
            staged += 1
            matched += len(images)
    unmatched_names = [Path(p).name for items in by_sha.values() for _s, p in items]
    return {
        "db_migration": {
            "source": "sqlite",
            "models": len(rows),
            "staged": staged,
            "skipped": skipped,
            "errors": errors,
        },
        "image_migration": {
            "images": matched + len(unmatched_names),
            "matched": matched,
            "unmatched": len(unmatched_names),
        },
    }


def check_legacy_db(path: Path) -> None:
    """ValueError unless `path` is an SQLite file with the legacy tables."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.execute("SELECT id, sha256, name, type, path, meta_json FROM models LIMIT 1")
            conn.execute("SELECT model_id, tag_id FROM model_tags LIMIT 1")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ValueError(f"{path} is not a legacy library's database: {exc}") from None


def under_roots(path: str, roots: list[Path]) -> Path | None:
    """`path` resolved, when it lies under one of `roots` (symlinks resolved too)."""
    if not path or "\x00" in path:
        return None
    resolved = Path(os.path.realpath(path))
    for root in roots:
        real_root = Path(os.path.realpath(root))
        if resolved == real_root or real_root in resolved.parents:
            return resolved
    return None
