"""How a project looks in the API: its summary, and OVE's `project.json` metadata."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from stores import Actor, FileStore
from stores.store import Entry

PROJECT_FILE = "project.json"
PROJECT_META_FIELDS: dict[str, Any] = {
    "name": "",
    "description": "",
    "tags": [],
    "authors": "",
    "publications": "",
    "notes": "",
    "thumbnail": "",
    "controller": "",
    "video_controller": False,
    "html_controller": False,
    "default_mode": "",
    "versions": [],
    "presenter_notes": "",
}


def readable_projects(store: FileStore, actor: Actor) -> list[Entry]:
    root = store.locate("")
    return sorted((e for e in store.list_folder(actor, root) if e.is_dir), key=lambda e: e.name)


def _date(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def project_file(store: FileStore, actor: Actor, project_id: str) -> dict[str, Any]:
    """`project.json` as OVE keeps it ({"Metadata": {...}, "Sections": [...]}), or a default."""
    loc = store.locate(f"{project_id}/{PROJECT_FILE}")
    try:
        with store.open_read(actor, loc) as fh:
            data = json.load(fh)
    except Exception:  # noqa: BLE001 - missing or unreadable: OVE's defaults
        data = {}
    if not isinstance(data, dict):
        data = {}
    data.setdefault("Metadata", {})
    data.setdefault("Sections", [])
    if not isinstance(data["Metadata"], dict):
        data["Metadata"] = {}
    return data


def project_meta(store: FileStore, actor: Actor, project_id: str) -> dict[str, Any]:
    """The public project metadata: `project.json`'s Metadata over the defaults."""
    stored = project_file(store, actor, project_id)["Metadata"]
    meta: dict[str, Any] = {"id": project_id}
    for key, default in PROJECT_META_FIELDS.items():
        value = stored.get(key, default)
        meta[key] = value if value not in (None, "") or key == "name" else default
    if not meta["name"]:
        meta["name"] = project_id
    if not isinstance(meta["versions"], list):
        meta["versions"] = []
    if not isinstance(meta["tags"], list):
        meta["tags"] = []
    return meta


def summary(store: FileStore, entry: Entry, actor: Actor, *, with_metadata: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": entry.name,
        "id": entry.name,
        "creationDate": _date(entry.stat.st_ctime),
    }
    if not with_metadata:
        return result
    meta = project_meta(store, actor, entry.name)
    sidecar = store.sidecar(store.locate(entry.name)).read() or {}
    groups = sorted(store.project_groups(entry.name))
    loc = store.locate(entry.name)
    result.update(meta)
    result["name"] = entry.name
    result["tags"] = meta["tags"] or list(sidecar.get("tags") or [])
    result.update(
        {
            "updateDate": _date(entry.stat.st_mtime),
            "hasProject": store.stat(store.locate(f"{entry.name}/{PROJECT_FILE}")) is not None,
            "access": groups,
            "read_access": True,
            "write_access": store.may_write(actor, loc),
        }
    )
    return result
