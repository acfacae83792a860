"""Long administrative work run in the background (a migration, an import, a scan, asked
for with `Prefer: respond-async`), kept in `<state_dir>/jobs.sqlite` with its progress and,
once done, its result: `GET /api/tasks/{id}` shows it beside the download tasks. A job
that a restart interrupted ends as failed, saying so (the work itself is safe to run
again: staging skips what is staged, importing what is imported)."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Response, copy_current_request_context, current_app, jsonify, request

from stores import errors
from stores.errors import StoreError
from stores.state.sqlite import open_state_db

from . import context
from .errors import ApiError

log = logging.getLogger(__name__)
Progress = Callable[[int, int | None], None]
Work = Callable[[Progress], dict[str, Any]]  # long work, given a way to report progress
PROGRESS_EVERY = 0.5  # seconds between progress writes

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    username TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER,
    result TEXT,
    error TEXT
);
"""


@dataclass(frozen=True)
class Job:
    id: str
    created: float
    kind: str
    status: str
    username: str
    done: int
    total: int | None
    result: dict[str, Any] | None
    error: str | None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "bytes_done": self.done,
            "bytes_total": self.total,
            "progress": {"done": self.done, "total": self.total},
            "asset_id": None,
            "result": self.result,
            "error": self.error,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
        }


RESTARTED = "A restart interrupted it; run it again (what it finished is kept)."
COLUMNS = ("id", "created", "kind", "status", "username", "done", "total", "result", "error")


class SqliteJobRecords:
    """The jobs of a single process, in `<state_dir>/jobs.sqlite`."""

    def __init__(self, path: Path) -> None:
        self._guard = threading.Lock()
        self._conn = open_state_db(path)
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._guard:
            self._conn.close()

    def add(self, job_id: str, created: float, kind: str, username: str) -> None:
        with self._guard:
            self._conn.execute(
                "INSERT INTO jobs (id, created, kind, status, username) VALUES (?,?,?,?,?)",
                (job_id, created, kind, "running", username),
            )

    def set(self, job_id: str, **values: Any) -> None:
        """Change some of `done`, `total`, `status`, `result` (JSON text), `error`."""
        sets = ", ".join(f"{name} = ?" for name in values)  # names are the code's own
        with self._guard:
            self._conn.execute(
                f"UPDATE jobs SET {sets} WHERE id = ?",  # noqa: S608
                (*values.values(), job_id),
            )

    def get(self, job_id: str) -> tuple[Any, ...] | None:
        with self._guard:
            return self._conn.execute(
                f"SELECT {', '.join(COLUMNS)} FROM jobs WHERE id = ?",  # noqa: S608
                (job_id,),
            ).fetchone()

    def unfinished(self) -> list[str]:
        with self._guard:
            rows = self._conn.execute(
                "SELECT id FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchall()
        return [job_id for (job_id,) in rows]


class BackgroundJobs:
    def __init__(self, records: Any, leases: Any = None) -> None:
        self._records = records
        # in a cluster (stores/state/redis.RedisLeases) a running job's node holds its
        # lease: only the jobs of nodes that stopped are ended here
        self._leases = leases
        try:
            for job_id in records.unfinished():
                if leases is None or not leases.is_taken(job_id):
                    records.set(job_id, status="failed", error=RESTARTED)
        except (StoreError, *errors.UNAVAILABLE_TYPES) as exc:  # a cluster's Redis is down
            log.warning("could not look for jobs a restart interrupted (%s); the next "
                        "start of a node does", exc)

    def close(self) -> None:
        self._records.close()

    def get(self, job_id: str) -> Job | None:
        row = self._records.get(job_id)
        if row is None:
            return None
        values = list(row)
        values[7] = json.loads(values[7]) if values[7] else None
        return Job(*values)

    def start(self, kind: str, username: str, work: Callable[[Progress], dict[str, Any]]) -> Job:
        """Run `work` in a thread; its answer becomes the job's result."""
        job_id = str(uuid.uuid4())
        self._records.add(job_id, time.time(), kind, username)
        thread = threading.Thread(
            target=self._run, args=(job_id, work), name=f"job-{kind}", daemon=True
        )
        thread.start()
        found = self.get(job_id)
        assert found is not None
        return found

    def _run(self, job_id: str, work: Callable[[Progress], dict[str, Any]]) -> None:
        token = self._leases.try_take(job_id) if self._leases is not None else None
        try:
            self._run_held(job_id, work)
        finally:
            if token is not None:
                self._leases.release(job_id, token)

    def _run_held(self, job_id: str, work: Callable[[Progress], dict[str, Any]]) -> None:
        last = 0.0

        def progress(done: int, total: int | None) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY or (total is not None and done >= total):
                last = now
                self._records.set(job_id, done=done, total=total)

        try:
            result = work(progress)
        except Exception as exc:  # noqa: BLE001 - every failure ends as the job's error
            if isinstance(exc, StoreError):
                message = exc.message
            elif isinstance(exc, ApiError):
                message = exc.description
            elif isinstance(exc, ValueError | OSError):
                message = str(exc)
            else:
                log.exception("job %s failed unexpectedly", job_id)
                message = f"It failed unexpectedly ({type(exc).__name__}); see the server log."
            self._records.set(job_id, status="failed", error=message)
            return
        self._records.set(job_id, status="done", result=json.dumps(result))


def queued(job: Job) -> Response:
    """202 with the job to follow in `GET /api/tasks/{task_id}`."""
    response = jsonify({"task_id": job.id, **job.public()})
    response.status_code = 202
    response.headers["Location"] = f"{request.script_root}/api/tasks/{job.id}"
    return response


def start_in_background(kind: str, work: Work) -> Response:
    """Run `work` (which may use the request's context) as the caller's job: 202."""
    jobs: BackgroundJobs = current_app.config["ASSETDAV_JOBS"]
    return queued(jobs.start(kind, context.actor().name, copy_current_request_context(work)))


def answer_or_queue(kind: str, work: Work, status: int = 200) -> Response:
    """Run `work` now and answer its result, or, asked with `Prefer: respond-async`, run it
    in the background: 202 with the task to follow."""
    if "respond-async" not in request.headers.get("Prefer", "").lower():
        response = jsonify(work(lambda _done, _total: None))
        response.status_code = status
        return response
    response = start_in_background(kind, work)
    response.headers["Preference-Applied"] = "respond-async"
    return response
