"""Pending models, staged before their import: `<state_dir>/model-staging.sqlite`."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stores.state.sqlite import open_state_db

SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    origin TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    meta_json TEXT NOT NULL,
    tags TEXT NOT NULL,
    images TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS pending_source ON pending (source);
"""


@dataclass(frozen=True)
class PendingModel:
    id: int
    origin: str  # scan, legacy_db or folder
    sha256: str
    name: str
    type: str
    source: str  # the model file's path
    meta_json: str
    tags: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)  # paths of its sample images, in order

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "origin": self.origin,
            "sha256": self.sha256,
            "name": self.name,
            "type": self.type,
            "path": self.source,
            "meta_json": self.meta_json,
            "tags": self.tags,
            "images": len(self.images),
        }


class Staging:
    def __init__(self, path: Path) -> None:
        self._guard = threading.Lock()
        self._conn = open_state_db(path)
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._guard:
            self._conn.close()

    def add(
        self,
        origin: str,
        sha256: str,
        name: str,
        type_: str,
        source: Path,
        meta_json: str = "{}",
        tags: list[str] | None = None,
        images: list[str] | None = None,
    ) -> int | None:
        """Stage one model; None when its file is staged already."""
        with self._guard:
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO pending (created, origin, sha256, name, type, source, "
                "meta_json, tags, images) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    time.time(),
                    origin,
                    sha256.lower(),
                    name,
                    type_,
                    str(source),
                    meta_json,
                    json.dumps(tags or []),
                    json.dumps(images or []),
                ),
            )
            return int(cursor.lastrowid) if cursor.rowcount else None

    def all(self) -> list[PendingModel]:
        with self._guard:
            rows = self._conn.execute(
                "SELECT id, origin, sha256, name, type, source, meta_json, tags, images "
                "FROM pending ORDER BY id"
            ).fetchall()
        return [_pending(row) for row in rows]

    def get(self, ids: list[int]) -> dict[int, PendingModel]:
        wanted = set(ids)
        return {p.id: p for p in self.all() if p.id in wanted}

    def staged_sources(self) -> set[str]:
        with self._guard:
            return {row[0] for row in self._conn.execute("SELECT source FROM pending")}

    def remove(self, pending_id: int) -> None:
        with self._guard:
            self._conn.execute("DELETE FROM pending WHERE id = ?", (pending_id,))


def _pending(row: tuple[Any, ...]) -> PendingModel:
    values = list(row)
    values[7] = json.loads(values[7])
    values[8] = json.loads(values[8])
    return PendingModel(*values)
