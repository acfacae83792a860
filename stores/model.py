"""The contents of project and asset sidecars, in OVE's field names, and how they change."""

from __future__ import annotations

import datetime as dt
import re
import uuid as uuid_module
from dataclasses import dataclass
from typing import Any

from .hashing import Digests

ASSET_EDITABLE = ("name", "description", "tags", "metadata", "mime_type", "preview_id")
PROJECT_EDITABLE = ("name", "description", "tags", "metadata")
PUBLIC_ASSET_FIELDS = (
    "id",
    "name",
    "project",
    "description",
    "index_file",
    "version",
    "history",
    "tags",
    "worker",
    "processing_status",
    "processing_error",
)


def now_text() -> str:
    """OVE's history time format, in UTC."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def history_entry(kind: str, version: int | None = None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"Type": kind, "Time": now_text()}
    if version is not None:
        entry["Version"] = version
    entry.update(extra)
    return entry


def new_uuid() -> str:
    """An asset's global id (its sidecar's `uuid`)."""
    return str(uuid_module.uuid4())


def asset_uuid(data: dict[str, Any]) -> str | None:
    """The sidecar's `uuid` when it is a well-formed one (canonical lowercase), else None."""
    value = data.get("uuid")
    if not isinstance(value, str):
        return None
    try:
        parsed = uuid_module.UUID(value)
    except ValueError:
        return None
    return str(parsed)


def new_asset(asset_id: str, project: str) -> dict[str, Any]:
    return {
        "uuid": new_uuid(),
        "id": asset_id,
        "name": asset_id,
        "project": project,
        "description": "",
        "tags": [],
        "version": 0,
        "filename": "",
        "index_file": "",
        "uploaded": False,
        "worker": "",
        "processing_status": "",
        "processing_error": "",
        "history": [history_entry("Created")],
        "metadata": {},
        "files": {},
    }


def new_project(project_id: str, name: str | None = None) -> dict[str, Any]:
    return {
        "id": project_id,
        "name": name or project_id,
        "description": "",
        "tags": [],
        "groups": [],
        "created": now_text(),
        "history": [history_entry("Created")],
        "metadata": {},
        "files": {},
    }


def clean_tags(value: Any) -> list[str]:
    """Tags are a list of distinct non-empty strings, in the order first given."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError("tags must be a list of strings")
    seen: dict[str, None] = {}
    for tag in value:
        if not isinstance(tag, str | int | float) or isinstance(tag, bool):
            raise ValueError("tags must be a list of strings")
        text = str(tag).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)


MAX_TAG_LENGTH = 256


def new_tags(value: Any) -> list[str]:
    """Tags a client gives (see `clean_tags`), each a printable text of at most
    MAX_TAG_LENGTH characters: a control character (NUL, a line break) is refused."""
    tags = clean_tags(value)
    for tag in tags:
        if len(tag) > MAX_TAG_LENGTH:
            raise ValueError(f"tags may be at most {MAX_TAG_LENGTH} characters long")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in tag):
            raise ValueError("tags may not contain control characters")
    return tags


def apply_edits(data: dict[str, Any], edits: dict[str, Any], allowed: tuple[str, ...]) -> None:
    """Merge the editable fields of `edits` into `data`; other keys of `edits` are ignored."""
    for key in allowed:
        if key not in edits:
            continue
        value = edits[key]
        if key == "tags":
            data["tags"] = new_tags(value)
        elif key == "mime_type":
            data[key] = _mime_type(value)
        elif key == "preview_id":
            if value in (None, ""):
                data[key] = ""
            elif asset_uuid({"uuid": value}) is None:
                raise ValueError("preview_id must be the id (a UUID) of an asset, or null")
            else:
                data[key] = asset_uuid({"uuid": value})
        elif key == "metadata":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise ValueError("metadata must be a mapping")
            data["metadata"] = value
        else:
            if value is None:
                value = ""
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError(f"{key} must be a string")
            data[key] = str(value)


_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")


def _mime_type(value: Any) -> str:
    """A media type as `type/subtype` ("" or None: guessed from the file name again)."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or not _MIME.fullmatch(value.strip()):
        raise ValueError("mime_type must be a media type like image/png")
    return value.strip().lower()


def public_asset(data: dict[str, Any]) -> dict[str, Any]:
    """OVE's public asset fields, with types made dependable (OVE wrote `version` as a string)."""
    out: dict[str, Any] = {}
    for key in PUBLIC_ASSET_FIELDS:
        value = data.get(key, _PUBLIC_DEFAULTS.get(key))
        if key == "version":
            try:
                value = int(value)
            except (TypeError, ValueError):
                value = 0
        elif key == "tags":
            value = [str(t) for t in value] if isinstance(value, list) else []
        elif key == "history":
            value = [h for h in value if isinstance(h, dict)] if isinstance(value, list) else []
        else:
            value = "" if value is None else str(value)
        out[key] = value
    return out


_PUBLIC_DEFAULTS: dict[str, Any] = {
    "description": "",
    "index_file": "",
    "version": 0,
    "history": [],
    "tags": [],
    "worker": "",
    "processing_status": "",
    "processing_error": "",
}


@dataclass(frozen=True)
class FileRecord:
    """What the sidecar knows of one file: enough to spot a change without reading it, and
    its content digests (blake3 and sha256 are "" in records written before they were)."""

    size: int
    xxh3_128: str
    mtime: float
    blake3: str = ""
    sha256: str = ""

    @classmethod
    def of(cls, size: int, digests: Digests, mtime: float) -> FileRecord:
        return cls(size, digests.xxh3_128, mtime, digests.blake3, digests.sha256)

    @property
    def digests(self) -> Digests:
        return Digests(self.xxh3_128, self.blake3, self.sha256)

    def complete(self, sha256: bool) -> bool:
        """Whether it holds every digest a store recording sha256 (or not) wants."""
        return bool(self.blake3) and (bool(self.sha256) or not sha256)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"size": self.size, "xxh3_128": self.xxh3_128}
        if self.blake3:
            out["blake3"] = self.blake3
        if self.sha256:
            out["sha256"] = self.sha256
        out["mtime"] = self.mtime
        return out

    @classmethod
    def from_dict(cls, raw: Any) -> FileRecord | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(
                int(raw["size"]),
                str(raw["xxh3_128"]),
                float(raw["mtime"]),
                str(raw.get("blake3") or ""),
                str(raw.get("sha256") or ""),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def matches(self, size: int, mtime: float) -> bool:
        return self.size == size and abs(self.mtime - mtime) < 1e-6
