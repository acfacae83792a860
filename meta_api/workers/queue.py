"""The durable task queue: one SQLite table in the state dir that survives restarts.

Tasks follow OVE's states (`new`, `processing`, `canceled`, `done`, `error`), plus
`canceling`: a running task whose cancel was asked for, until its worker lets go (at its
next checkpoint) and it is `canceled`. Workers claim the highest priority first, oldest
first within a priority, and never two tasks of one asset at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stores.state.sqlite import open_state_db

NEW = "new"
PROCESSING = "processing"
CANCELING = "canceling"
CANCELED = "canceled"
DONE = "done"
ERROR = "error"
FINISHED = frozenset({CANCELED, DONE, ERROR})
RUNNING = (PROCESSING, CANCELING)  # a worker holds the task
# cancel_requested: 0 no, 1 cancel, 2 cancel and then put back to `new` (a reset asked
# for while the worker was still letting go)
CANCEL, CANCEL_THEN_RESET = 1, 2
_CLEARED = "worker_name=NULL, start_time=NULL, end_time=NULL, error=NULL, cancel_requested=0"

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_on REAL NOT NULL,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    username TEXT NOT NULL,
    store_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    filename TEXT NOT NULL,
    extension TEXT NOT NULL,
    worker_type TEXT NOT NULL,
    task_options TEXT NOT NULL,
    worker_name TEXT,
    start_time REAL,
    end_time REAL,
    error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS tasks_claim ON tasks (status, priority DESC, created_on, id);
CREATE INDEX IF NOT EXISTS tasks_asset ON tasks (store_id, project_id, asset_id, status);
"""

COLUMNS = (
    "id, created_on, priority, status, username, store_id, project_id, asset_id, version, "
    "filename, extension, worker_type, task_options, worker_name, start_time, end_time, "
    "error, cancel_requested"
)


@dataclass(frozen=True)
class NewTask:
    """What a client asks for: run `worker_type` on one file of an asset's version."""

    username: str
    store_id: str
    project_id: str
    asset_id: str
    version: int
    filename: str
    extension: str
    worker_type: str
    options: dict[str, Any] = field(default_factory=dict)
    priority: int = 1


@dataclass(frozen=True)
class Task:
    """One row of the queue."""

    id: int
    created_on: float
    priority: int
    status: str
    username: str
    store_id: str
    project_id: str
    asset_id: str
    version: int
    filename: str
    extension: str
    worker_type: str
    options: dict[str, Any]
    worker_name: str | None
    start_time: float | None
    end_time: float | None
    error: str | None
    cancel_requested: bool

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Task:
        values = list(row)
        values[12] = json.loads(values[12])
        values[17] = bool(values[17])
        return cls(*values)


class TaskQueue:
    """The queue in `<state_dir>/workers.sqlite`: one connection, guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._guard = threading.Lock()
        self._conn = open_state_db(path, synchronous="FULL")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._guard:
            self._conn.close()

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._guard:
            return self._conn.execute(sql, args).fetchall()

    def add(self, new: NewTask) -> Task:
        with self._guard:
            cursor = self._conn.execute(
                "INSERT INTO tasks (created_on, priority, status, username, store_id, "
                "project_id, asset_id, version, filename, extension, worker_type, task_options) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    new.priority,
                    NEW,
                    new.username,
                    new.store_id,
                    new.project_id,
                    new.asset_id,
                    new.version,
                    new.filename,
                    new.extension,
                    new.worker_type,
                    json.dumps(new.options),
                ),
            )
            task_id = cursor.lastrowid
        found = self.get(task_id)
        assert found is not None
        return found

    def get(self, task_id: int) -> Task | None:
        rows = self._query(f"SELECT {COLUMNS} FROM tasks WHERE id=?", (task_id,))
        return Task.from_row(rows[0]) if rows else None

    def newest_first(self) -> list[Task]:
        rows = self._query(f"SELECT {COLUMNS} FROM tasks ORDER BY created_on DESC, id DESC")
        return [Task.from_row(row) for row in rows]

    def claim(self, worker_types: Iterable[str], worker_names: dict[str, str]) -> Task | None:
        """Atomically take the next task for one of `worker_types` (highest priority, then
        oldest), skipping assets that already have a task processing."""
        types = sorted(set(worker_types))
        if not types:
            return None
        marks = ",".join("?" * len(types))
        with self._guard:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute(
                    f"SELECT {COLUMNS} FROM tasks t WHERE status=? AND worker_type IN ({marks}) "
                    "AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.status IN (?, ?) "
                    "AND p.store_id=t.store_id AND p.project_id=t.project_id "
                    "AND p.asset_id=t.asset_id) "
                    "ORDER BY priority DESC, created_on ASC, id ASC LIMIT 1",
                    (NEW, *types, *RUNNING),
                ).fetchone()
                if row is None:
                    self._conn.execute("COMMIT")
                    return None
                task = Task.from_row(row)
                self._conn.execute(
                    "UPDATE tasks SET status=?, worker_name=?, start_time=?, end_time=NULL, "
                    "error=NULL, cancel_requested=0 WHERE id=?",
                    (PROCESSING, worker_names[task.worker_type], time.time(), task.id),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return self.get(task.id)

    def finish(self, task_id: int, status: str, error: str | None = None) -> None:
        """End a running task as done, error or canceled; one reset while it was being
        canceled goes back to `new` instead."""
        with self._guard:
            self._conn.execute(
                f"UPDATE tasks SET status=?, {_CLEARED} "
                "WHERE id=? AND cancel_requested=? AND status IN (?, ?)",
                (NEW, task_id, CANCEL_THEN_RESET, *RUNNING),
            )
            self._conn.execute(
                "UPDATE tasks SET status=?, end_time=?, error=? WHERE id=? AND status IN (?, ?)",
                (status, time.time(), error, task_id, *RUNNING),
            )

    def requeue(self, task_id: int) -> None:
        """Put an interrupted task back to `new`, as if it had never started (one being
        canceled ends `canceled`)."""
        with self._guard:
            self._conn.execute(
                f"UPDATE tasks SET status=?, {_CLEARED} WHERE id=? "
                "AND (status=? OR cancel_requested=?)",
                (NEW, task_id, PROCESSING, CANCEL_THEN_RESET),
            )
            self._conn.execute(
                "UPDATE tasks SET status=?, end_time=? WHERE id=? AND status=?",
                (CANCELED, time.time(), task_id, CANCELING),
            )

    def cancel(self, task_id: int) -> str | None:
        """Cancel a task; returns the status it had (None: no such task). A `new` task is
        canceled at once; a running one is `canceling` until its worker lets go."""
        with self._guard:
            row = self._conn.execute("SELECT status FROM tasks WHERE id=?", (task_id,)).fetchone()
            if row is None:
                return None
            if row[0] == NEW:
                self._conn.execute(
                    "UPDATE tasks SET status=?, end_time=? WHERE id=?",
                    (CANCELED, time.time(), task_id),
                )
            elif row[0] == PROCESSING:
                self._conn.execute(
                    "UPDATE tasks SET status=?, cancel_requested=? WHERE id=?",
                    (CANCELING, CANCEL, task_id),
                )
            return row[0]

    def reset(self, task_id: int) -> str | None:
        """Put a task back to `new`; returns the status it had. A `processing` one stays
        (cancel it first); a `canceling` one goes back to `new` once its worker lets go."""
        with self._guard:
            row = self._conn.execute("SELECT status FROM tasks WHERE id=?", (task_id,)).fetchone()
            if row is None:
                return None
            if row[0] == CANCELING:
                self._conn.execute(
                    "UPDATE tasks SET cancel_requested=? WHERE id=?",
                    (CANCEL_THEN_RESET, task_id),
                )
            elif row[0] != PROCESSING:
                self._conn.execute(
                    f"UPDATE tasks SET status=?, {_CLEARED} WHERE id=?", (NEW, task_id)
                )
            return row[0]

    def recover(self) -> list[Task]:
        """After a crash or restart: tasks a worker held go back to `new` (or end
        `canceled` when a cancel was asked for). Returns them as they are now."""
        with self._guard:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    r[0]
                    for r in self._conn.execute(
                        "SELECT id FROM tasks WHERE status IN (?, ?)", RUNNING
                    ).fetchall()
                ]
                self._conn.execute(
                    "UPDATE tasks SET status=?, end_time=? WHERE status IN (?, ?) "
                    "AND cancel_requested=?",
                    (CANCELED, time.time(), *RUNNING, CANCEL),
                )
                self._conn.execute(
                    f"UPDATE tasks SET status=?, {_CLEARED} WHERE status IN (?, ?)",
                    (NEW, *RUNNING),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return [task for task in (self.get(i) for i in ids) if task is not None]

    def is_cancel_requested(self, task_id: int) -> bool:
        rows = self._query("SELECT cancel_requested FROM tasks WHERE id=?", (task_id,))
        return bool(rows and rows[0][0])
