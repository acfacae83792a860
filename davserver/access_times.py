"""When each asset's content was last fetched (ComfyUI's `last_access_time`), kept in the
state dir: a read must not rewrite the asset's sidecar (that would make a read look like
an edit to backups, rsync and the index)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .sqlite_state import connect

WRITE_EVERY = 60.0  # seconds: an asset fetched again sooner is not written again


class AccessTimes:
    def __init__(self, path: Path) -> None:
        self._conn = connect(path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS access (uuid TEXT PRIMARY KEY, at REAL NOT NULL)"
        )
        self._lock = threading.Lock()
        self._written: dict[str, float] = {}

    def touch(self, uuid: str) -> None:
        now = time.time()
        with self._lock:
            if now - self._written.get(uuid, 0.0) < WRITE_EVERY:
                return
            self._written[uuid] = now
            self._conn.execute(
                "INSERT INTO access (uuid, at) VALUES (?, ?) "
                "ON CONFLICT(uuid) DO UPDATE SET at = excluded.at",
                (uuid, now),
            )

    def last(self, uuid: str) -> float | None:
        with self._lock:
            row = self._conn.execute("SELECT at FROM access WHERE uuid = ?", (uuid,)).fetchone()
        return float(row[0]) if row else None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
