"""Download tasks, kept in `<state_dir>/downloads.sqlite` so they survive a restart (the
bytes so far wait in `<state_dir>/downloads/<id>.part` and the download resumes there)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stores.state.sqlite import open_state_db

QUEUED, RUNNING, DONE, FAILED, CANCELED = "queued", "running", "done", "failed", "canceled"
FINISHED = (DONE, FAILED, CANCELED)

SCHEMA = """
CREATE TABLE IF NOT EXISTS downloads (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    status TEXT NOT NULL,
    username TEXT NOT NULL,
    request TEXT NOT NULL,
    bytes_done INTEGER NOT NULL DEFAULT 0,
    bytes_total INTEGER,
    asset_id TEXT,
    error TEXT,
    validator TEXT,
    cancel INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS downloads_queue ON downloads (status, created);
"""
COLUMNS = (
    "id, created, status, username, request, bytes_done, bytes_total, asset_id, error, "
    "validator, cancel"
)


@dataclass(frozen=True)
class DownloadTask:
    id: str
    created: float
    status: str
    username: str
    request: dict[str, Any]  # source_url, store, project, name, tags, user_metadata, preview_id
    bytes_done: int
    bytes_total: int | None
    asset_id: str | None
    error: str | None
    validator: str | None  # the source's ETag or Last-Modified, for If-Range on resuming
    cancel: bool

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "asset_id": self.asset_id,
            "error": self.error,
            "source_url": self.request.get("source_url"),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
        }


class DownloadTasks:
    def __init__(self, path: Path) -> None:
        self._guard = threading.Lock()
        self._conn = open_state_db(path, synchronous="FULL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._guard:
            self._conn.close()

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[DownloadTask]:
        with self._guard:
            rows = self._conn.execute(sql, args).fetchall()
        return [_task(row) for row in rows]

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._guard:
            return self._conn.execute(sql, args).rowcount

    def add(self, username: str, request: dict[str, Any]) -> DownloadTask:
        task_id = str(uuid.uuid4())
        self._run(
            "INSERT INTO downloads (id, created, status, username, request) VALUES (?,?,?,?,?)",
            (task_id, time.time(), QUEUED, username, json.dumps(request)),
        )
        found = self.get(task_id)
        assert found is not None
        return found

    def get(self, task_id: str) -> DownloadTask | None:
        found = self._rows(f"SELECT {COLUMNS} FROM downloads WHERE id = ?", (task_id,))
        return found[0] if found else None

    def claim(self) -> DownloadTask | None:
        """The oldest queued task, now running (taken in one step: other processes sharing
        the file, a cluster's nodes, never take the same one)."""
        with self._guard:
            while True:
                row = self._conn.execute(
                    f"SELECT {COLUMNS} FROM downloads WHERE status = ? ORDER BY created LIMIT 1",
                    (QUEUED,),
                ).fetchone()
                if row is None:
                    return None
                taken = self._conn.execute(
                    "UPDATE downloads SET status = ? WHERE id = ? AND status = ?",
                    (RUNNING, row[0], QUEUED),
                )
                if taken.rowcount == 1:
                    return _task((*row[:2], RUNNING, *row[3:]))

    def recover(self, still_running: Callable[[str], bool] | None = None) -> int:
        """After a restart: running tasks are queued again (they resume where they were),
        but those `still_running` says another node runs."""
        with self._guard:
            ids = [
                r[0]
                for r in self._conn.execute(
                    "SELECT id FROM downloads WHERE status = ?", (RUNNING,)
                ).fetchall()
            ]
        again = [i for i in ids if still_running is None or not still_running(i)]
        for task_id in again:
            self.requeue(task_id)
        return len(again)

    def progress(self, task_id: str, done: int, total: int | None, validator: str | None) -> None:
        self._run(
            "UPDATE downloads SET bytes_done = ?, bytes_total = ?, validator = ? WHERE id = ?",
            (done, total, validator, task_id),
        )

    def finish(
        self, task_id: str, status: str, *, asset_id: str | None = None, error: str | None = None
    ) -> None:
        self._run(
            "UPDATE downloads SET status = ?, asset_id = ?, error = ? WHERE id = ?",
            (status, asset_id, error, task_id),
        )

    def requeue(self, task_id: str) -> None:
        self._run(
            "UPDATE downloads SET status = ? WHERE id = ? AND status = ?",
            (QUEUED, task_id, RUNNING),
        )

    def cancel(self, task_id: str) -> str | None:
        """Cancel: a queued task at once, a running one at its next piece. Returns the
        status it had (None: no such task)."""
        with self._guard:
            row = self._conn.execute(
                "SELECT status FROM downloads WHERE id = ?", (task_id,)
            ).fetchone()
            if row is None:
                return None
            if row[0] == QUEUED:
                self._conn.execute(
                    "UPDATE downloads SET status = ? WHERE id = ?", (CANCELED, task_id)
                )
            elif row[0] == RUNNING:
                self._conn.execute("UPDATE downloads SET cancel = 1 WHERE id = ?", (task_id,))
            return str(row[0])

    def cancel_asked(self, task_id: str) -> bool:
        with self._guard:
            row = self._conn.execute(
                "SELECT cancel FROM downloads WHERE id = ?", (task_id,)
            ).fetchone()
        return bool(row and row[0])


def _task(row: tuple[Any, ...]) -> DownloadTask:
    values = list(row)
    values[4] = json.loads(values[4])
    values[10] = bool(values[10])
    return DownloadTask(*values)
