"""Which file of an asset its preview shows: the index file of the version asked for, else
that version's first previewable file (by name), from the sidecar's records alone."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stores.names import is_internal, is_junk

from .decode import previewable_name


def version_files(files: dict[str, Any], version: int) -> list[str]:
    """Keys of one version's files, in name order. Version 0 is what sits outside the
    numbered version folders (files dropped in over WebDAV)."""
    if version:
        prefix = f"{version}/"
        return sorted(key for key in files if key.startswith(prefix))
    return sorted(key for key in files if not key.split("/", 1)[0].isdigit())


def current_version(meta: dict[str, Any]) -> int:
    try:
        return max(0, int(meta.get("version") or 0))
    except (TypeError, ValueError):
        return 0


def preview_key(
    meta: dict[str, Any],
    version: int | None = None,
    file: str | None = None,
    on_disk: Callable[[], list[str]] | None = None,
) -> str | None:
    """The key (in the sidecar's `files`) of the file to preview, or None. `on_disk`: the
    asset's keys on disk, for an asset whose sidecar records no files yet (copied in)."""
    files = meta.get("files")
    if (not isinstance(files, dict) or not files) and on_disk is not None:
        files = dict.fromkeys(on_disk())
    if not isinstance(files, dict) or not files:
        return None
    version = current_version(meta) if version is None else version
    if file is not None:
        key = f"{version}/{file}" if version else file
        return key if key in files and previewable_name(key) else None
    index_file = meta.get("filename")
    if version and isinstance(index_file, str):
        key = f"{version}/{index_file}"
        if key in files and previewable_name(key):
            return key
    keys = version_files(files, version)
    if not keys and version and version == current_version(meta):
        keys = version_files(files, 0)  # an asset whose uploads sit beside dropped files
    return next((key for key in keys if previewable_name(key)), None)


def preview_url(store: str, project: str, asset: str) -> str:
    """Where the preview of an asset is served (the API route)."""
    return f"/api/{quote(store, safe='')}/{quote(project, safe='')}/preview/{quote(asset, safe='')}"


def with_preview_url(store: str, public: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """An asset's public metadata with `preview_url` (None when it has nothing to show)."""
    has_preview = preview_key(meta) is not None
    url = preview_url(store, public["project"], public["id"]) if has_preview else None
    return {**public, "preview_url": url}


def is_tile(key: str) -> bool:
    """Tiles of the dzi worker (`<version>/dzi/<stem>/...`): thousands of small images
    that are themselves a view of one image; they get previews only when asked for."""
    parts = key.split("/")
    return len(parts) > 3 and parts[0].isdigit() and parts[1] == "dzi"


def keys_on_disk(root: Path) -> list[str]:
    """The images, videos and PDFs in an asset's folder as they are on disk (keys relative
    to it), dzi tiles left out: for trees copied in before their sidecars were made."""
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not is_internal(d) and not is_junk(d))
        relative = os.path.relpath(folder, root)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        for name in sorted(names):
            key = prefix + name
            wanted = previewable_name(name) and not is_internal(name) and not is_junk(name)
            if wanted and not is_tile(key):
                found.append(key)
    return found
