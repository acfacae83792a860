"""How a project looks in the API. Name, description and tags live in the project sidecar
(WebDAV edits them too); OVE's other fields live in `project.json` → Metadata, which is
kept in step so OVE tools reading it see the same."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from stores import Actor, FileStore, Location
from stores.errors import StoreError
from stores.model import clean_tags
from stores.store import Entry

PROJECT_FILE = "project.json"
TEXT_FIELDS = (
    "authors",
    "publications",
    "notes",
    "thumbnail",
    "controller",
    "default_mode",
    "presenter_notes",
)
FLAG_FIELDS = ("video_controller", "html_controller")
SIDECAR_FIELDS = ("name", "description", "tags")


def readable_projects(store: FileStore, actor: Actor) -> list[Entry]:
    root = store.locate("")
    return sorted((e for e in store.list_folder(actor, root) if e.is_dir), key=lambda e: e.name)


def date_text(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def read_project_file(store: FileStore, actor: Actor, project: Location) -> dict[str, Any] | None:
    """`project.json` ({"Metadata": {...}, "Sections": [...]}), or None when there is none
    (or it is not a JSON object)."""
    loc = project.child(PROJECT_FILE)
    if store.stat(loc) is None:
        return None
    try:
        with store.open_read(actor, loc) as fh:
            data = json.load(fh)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def project_meta(store: FileStore, actor: Actor, project: Location) -> dict[str, Any]:
    """The public project metadata, with what the caller may do there."""
    sidecar = store.read_meta(actor, project) or {}
    stored = read_project_file(store, actor, project)
    metadata = stored.get("Metadata") if stored else None
    metadata = metadata if isinstance(metadata, dict) else {}
    meta: dict[str, Any] = {"id": project.name}
    meta["name"] = str(sidecar.get("name") or metadata.get("name") or project.name)
    meta["description"] = str(sidecar.get("description") or metadata.get("description") or "")
    meta["tags"] = clean_tags(sidecar.get("tags") or metadata.get("tags") or [])
    for key in TEXT_FIELDS:
        value = metadata.get(key)
        meta[key] = (
            value
            if isinstance(value, str)
            else ("" if value in (None, False) else json.dumps(value))
        )
    for key in FLAG_FIELDS:
        meta[key] = bool(metadata.get(key)) and str(metadata.get(key)).lower() != "false"
    versions = metadata.get("versions")
    meta["versions"] = (
        [v for v in versions if _is_snapshot(v)] if isinstance(versions, list) else []
    )
    meta["url"] = f"{project.url_path()}/{PROJECT_FILE}" if stored is not None else ""
    meta["hasProject"] = stored is not None
    sections = stored.get("Sections") if stored else None
    meta["projectType"] = (
        "controller"
        if meta["controller"]
        else "launcher"
        if isinstance(sections, list) and sections
        else "none"
    )
    meta["access"] = sorted(store.project_groups(project.name))
    meta["read_access"] = True
    meta["write_access"] = store.may_write(actor, project)
    return meta


def _is_snapshot(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and all(isinstance(value.get(k), str) for k in ("name", "description", "date_added"))
        and isinstance(value.get("versions"), dict)
    )


def edit_project(
    store: FileStore, actor: Actor, project: Location, change: Callable[[dict[str, Any]], None]
) -> None:
    """Change `project.json`'s Metadata (created when missing), under the project's lock."""
    store.check_write(actor, project)
    with store.sidecar(project).locked():
        stored = read_project_file(store, actor, project) or {"Metadata": {}, "Sections": []}
        if not isinstance(stored.get("Metadata"), dict):
            stored["Metadata"] = {}
        stored.setdefault("Sections", [])
        change(stored["Metadata"])
        body = json.dumps(stored, indent=2, ensure_ascii=False).encode("utf-8")
        store.write_bytes(actor, project.child(PROJECT_FILE), body)


def update_project_meta(
    store: FileStore, actor: Actor, project: Location, edits: dict[str, Any]
) -> None:
    """Apply an edit of project metadata to both homes of it."""
    sidecar_edits = {k: edits[k] for k in SIDECAR_FIELDS if edits.get(k) is not None}
    if sidecar_edits:
        store.update_fields(actor, project, sidecar_edits)
    file_edits = {k: v for k, v in edits.items() if v is not None}
    if file_edits:
        edit_project(store, actor, project, lambda metadata: metadata.update(file_edits))


def creation_date(store: FileStore, actor: Actor, entry: Entry) -> str:
    """When the project was made, as its sidecar says (`created`, else its `Created`
    history entry): a folder's ctime moves with every rename, chmod or restore."""
    try:
        meta = store.read_meta(actor, store.locate(entry.name)) or {}
    except StoreError:
        meta = {}
    created = meta.get("created")
    if not isinstance(created, str) or not created:
        history = meta.get("history") if isinstance(meta.get("history"), list) else []
        created = next(
            (
                str(h.get("Time"))
                for h in history
                if isinstance(h, dict) and h.get("Type") == "Created" and h.get("Time")
            ),
            "",
        )
    return created[:19] if created else date_text(entry.stat.st_ctime)


def summary(store: FileStore, entry: Entry, actor: Actor, *, with_metadata: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": entry.name,
        "id": entry.name,
        "creationDate": creation_date(store, actor, entry),
    }
    if with_metadata:
        meta = project_meta(store, actor, store.locate(entry.name))
        meta.pop("id")
        result.update(
            {
                **meta,
                "name": entry.name,
                "display_name": meta["name"],
                "updateDate": date_text(entry.stat.st_mtime),
            }
        )
    return result
