"""Bulk imports from a CSV file: one asset file per row, its bytes from a URL (fetched under
the download rules), from bytes the store holds already (a content hash: linked, never
fetched), or from a path under `migration.allowed_roots`. Every row is checked before
anything is fetched; each lands whole or not at all; a row whose asset already holds that
file changes nothing (running the same CSV again is harmless); a job a restart interrupted
goes on from the rows it had not finished. The CSV is read as a stream, never whole."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stores import Actor, FileStore, Location, model
from stores.errors import UNAVAILABLE_TYPES, AlreadyExists, StoreError
from stores.hashing import RECORD_FIELDS, digest_file
from stores.names import check_id, normalize_name
from stores.state.sqlite import open_state_db
from stores.versions import place_version

from .downloads import RefusedUrl, UrlGuard, open_url
from .model_library.sources import under_roots

log = logging.getLogger(__name__)
COLUMNS = ("source", "project", "asset", "filename", "tags", "description")
HASH = re.compile(r"(xxh3|blake3|sha256):[0-9a-fA-F]{32,64}")
PIECE = 1 << 20

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
    username TEXT NOT NULL, store TEXT NOT NULL, project TEXT NOT NULL, csv TEXT NOT NULL,
    total_rows INTEGER NOT NULL DEFAULT 0, processed INTEGER NOT NULL DEFAULT 0,
    succeeded INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS errors (
    job TEXT NOT NULL, row INTEGER NOT NULL, col TEXT, value TEXT, message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS done (job TEXT NOT NULL, row INTEGER NOT NULL, PRIMARY KEY (job, row));
"""


class BadCsv(Exception):
    """The CSV cannot be imported at all (its header); nothing was started."""


@dataclass(frozen=True)
class Row:
    number: int  # the data row's number, from 1
    source: str
    project: str
    asset: str
    filename: str
    tags: list[str]
    description: str | None
    metadata: dict[str, str]


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise BadCsv("The CSV is empty; its first line names the columns.")
    unknown = [c for c in header if c not in COLUMNS and not c.startswith("metadata.")]
    if unknown:
        raise BadCsv(
            f"Unknown column(s) {unknown}: the columns are {', '.join(COLUMNS)} and metadata.<key>."
        )
    if "source" not in header or "asset" not in header:
        raise BadCsv("The CSV needs a source and an asset column.")
    if len(set(header)) != len(header):
        raise BadCsv("A column is named twice.")
    return header


def rows(path: Path, default_project: str) -> Iterator[tuple[Row | None, list[dict[str, Any]]]]:
    """Every data row, checked: (the row, []) or (None, its problems)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        for number, raw in enumerate(reader, start=1):
            yield _checked(number, raw, default_project)


def _checked(
    number: int, raw: dict[str, Any], default_project: str
) -> tuple[Row | None, list[dict[str, Any]]]:
    problems: list[dict[str, Any]] = []

    def problem(column: str, value: Any, message: str) -> None:
        problems.append({"row": number, "column": column, "value": value, "message": message})

    if None in raw:
        problem("", raw[None], "more values than columns")
    values = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    source = values.get("source", "")
    if not source:
        problem("source", source, "give a URL, a content hash or a path")
    elif not (
        source.startswith(("http://", "https://"))
        or HASH.fullmatch(source)
        or source.startswith("/")
    ):
        problem("source", source, "not an http(s) URL, an algo:hex hash, or an absolute path")
    names = {}
    for column in ("project", "asset", "filename"):
        value = values.get(column, "") or (default_project if column == "project" else "")
        if column == "filename" and not value:
            value = _name_of(source)
        try:
            if column == "filename":
                names[column] = normalize_name(value) if value else ""
            else:
                names[column] = check_id(value, column) if value else ""
        except StoreError as exc:
            problem(column, value, exc.message)
            names[column] = ""
        if not names[column] and not any(p["column"] == column for p in problems):
            problem(column, value, f"{column} is needed")
    try:
        tags = model.new_tags([t for t in values.get("tags", "").split(";") if t.strip()])
    except ValueError as exc:
        problem("tags", values.get("tags"), str(exc))
        tags = []
    metadata = {
        k[len("metadata.") :]: v for k, v in values.items() if k.startswith("metadata.") and v
    }
    if problems:
        return None, problems
    return Row(
        number,
        source,
        names["project"],
        names["asset"],
        names["filename"],
        tags,
        values.get("description") or None,
        metadata,
    ), []


def _name_of(source: str) -> str:
    if HASH.fullmatch(source):
        return ""
    return source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


JOB_FIELDS = ("id", "status", "total_rows", "processed", "succeeded", "failed", "created_at",
              "finished_at", "username", "store", "project")  # fmt: skip


class SqliteBulkRecords:
    """The bulk import jobs of a single process, in `<state_dir>/bulk-imports.sqlite`."""

    def __init__(self, path: Path) -> None:
        self._guard = threading.Lock()
        self._conn = open_state_db(path)
        self._conn.executescript(SCHEMA)

    def _sql(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._guard:
            return self._conn.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._guard:
            self._conn.close()

    def add(self, job_id: str, username: str, store: str, project: str, csv: str) -> None:
        self._sql(
            "INSERT INTO jobs (id, created_at, status, username, store, project, csv) "
            "VALUES (?,?,?,?,?,?,?)",
            (job_id, now(), "running", username, store, project, csv),
        )

    def running(self) -> list[str]:
        return [job_id for (job_id,) in self._sql("SELECT id FROM jobs WHERE status = 'running'")]

    def get(self, job_id: str) -> dict[str, Any] | None:
        found = self._sql(f"SELECT {', '.join(JOB_FIELDS)} FROM jobs WHERE id = ?", (job_id,))
        return dict(zip(JOB_FIELDS, found[0], strict=True)) if found else None

    def csv_of(self, job_id: str) -> str:
        return str(self._sql("SELECT csv FROM jobs WHERE id = ?", (job_id,))[0][0])

    def done_rows(self, job_id: str) -> set[int]:
        return {r for (r,) in self._sql("SELECT row FROM done WHERE job = ?", (job_id,))}

    def errors(self, job_id: str) -> list[tuple[Any, ...]]:
        """(row, column, value, message), by row, in the order they were found."""
        return self._sql(
            "SELECT row, col, value, message FROM errors WHERE job = ? ORDER BY row, rowid",
            (job_id,),
        )

    def finish_row(self, job_id: str, number: int, problems: list[tuple[Any, ...]]) -> None:
        """Count a row once: succeeded, or failed with its (column, value, message)s."""
        with self._guard:
            added = self._conn.execute(
                "INSERT OR IGNORE INTO done (job, row) VALUES (?, ?)", (job_id, number)
            ).rowcount
            if not added:
                return
            self._conn.executemany(
                "INSERT INTO errors (job, row, col, value, message) VALUES (?,?,?,?,?)",
                [(job_id, number, *problem) for problem in problems],
            )
            column = "failed" if problems else "succeeded"
            self._conn.execute(
                f"UPDATE jobs SET processed = processed + 1, {column} = {column} + 1 WHERE id = ?",
                (job_id,),
            )

    def set_total(self, job_id: str, total: int) -> None:
        self._sql("UPDATE jobs SET total_rows = ? WHERE id = ?", (total, job_id))

    def end(self, job_id: str, status: str) -> None:
        self._sql(
            "UPDATE jobs SET status = ?, finished_at = ? WHERE id = ?", (status, now(), job_id)
        )


class BulkImports:
    """The jobs (their records: SqliteBulkRecords, or a cluster's in Redis) and the threads
    that run them."""

    def __init__(
        self,
        state_dir: Path,
        run_row: Callable[[dict[str, Any], Row], None],
        leases: Any = None,
        records: Any = None,
    ) -> None:
        self.folder = state_dir / "bulk-imports"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._records = records or SqliteBulkRecords(state_dir / "bulk-imports.sqlite")
        self._run_row = run_row
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # in a cluster (stores/state/redis.RedisLeases): a job runs on one node at a time;
        # a node that starts goes on only with those no live node holds
        self._leases = leases

    def start(self) -> None:
        """Go on with the jobs a restart interrupted."""
        try:
            running = self._records.running()
        except (StoreError, *UNAVAILABLE_TYPES) as exc:  # a cluster's Redis is down
            log.warning("could not look for bulk imports to go on with (%s); the next "
                        "start of a node does", exc)
            return
        for job_id in running:
            if self._leases is not None and self._leases.is_taken(job_id):
                continue  # another node runs it
            log.info("bulk import %s goes on after the restart", job_id)
            self._spawn(job_id)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        self._records.close()

    def create(self, username: str, store: str, project: str, csv_path: Path) -> str:
        header = read_header(csv_path)  # BadCsv: nothing starts
        del header
        job_id = uuid.uuid4().hex
        final = self.folder / f"{job_id}.csv"
        csv_path.replace(final)
        self._records.add(job_id, username, store, project, str(final))
        self._spawn(job_id)
        return job_id

    def _spawn(self, job_id: str) -> None:
        thread = threading.Thread(target=self._run, args=(job_id,), name="bulk-import", daemon=True)
        thread.start()
        self._threads.append(thread)

    def get(self, job_id: str) -> dict[str, Any] | None:
        return self._records.get(job_id)

    def errors(self, job_id: str) -> list[dict[str, Any]]:
        return [
            {"row": r, "column": c or None, "value": v, "message": m}
            for r, c, v, m in self._records.errors(job_id)
        ]

    def _run(self, job_id: str) -> None:
        token = self._leases.try_take(job_id) if self._leases is not None else None
        if self._leases is not None and token is None:
            return  # another node took it meanwhile
        try:
            self._run_rows(job_id)
        except Exception:  # noqa: BLE001 - a job never just stops: it says it failed
            log.exception("bulk import %s failed", job_id)
            with contextlib.suppress(Exception):  # (its records' store may be what failed)
                self._records.end(job_id, "failed")
        finally:
            if token is not None:
                self._leases.release(job_id, token)

    def _run_rows(self, job_id: str) -> None:
        job = self.get(job_id)
        if job is None:
            return
        path = Path(self._records.csv_of(job_id))
        done = self._records.done_rows(job_id)
        # every row is checked before anything is fetched; a bad one is reported at once
        # (the CSV is read twice, as a stream: never held whole)
        total = 0
        for _row, problems in rows(path, job["project"]):
            total += 1
            if problems and problems[0]["row"] not in done:
                self._records.finish_row(job_id, problems[0]["row"], [
                    (p["column"], _text(p["value"]), p["message"]) for p in problems
                ])  # fmt: skip
        self._records.set_total(job_id, total)
        for row, _problems in rows(path, job["project"]):
            if row is None or row.number in done:
                continue
            if self._stop.is_set():
                return  # goes on after the restart
            try:
                self._run_row(job, row)
                failure: list[tuple[Any, ...]] = []
            except Exception as exc:  # noqa: BLE001 - a row's failure is the row's error
                message = (
                    getattr(exc, "message", None)
                    or getattr(exc, "description", None)
                    or str(exc)
                    or type(exc).__name__
                )
                if not isinstance(exc, StoreError | RefusedUrl | ValueError | OSError):
                    log.exception("bulk import %s row %d failed", job_id, row.number)
                failure = [("source", row.source, message)]
            self._records.finish_row(job_id, row.number, failure)
        self._records.end(job_id, "done")


def _text(value: Any) -> str | None:
    return None if value is None else (value if isinstance(value, str) else json.dumps(value))


# --- one row ---------------------------------------------------------------------------


def import_row(
    actor: Actor,
    store: FileStore,
    row: Row,
    *,
    guard: UrlGuard,
    roots: list[Path],
    spool_dir: Path,
    find_hash: Callable[[Actor, str], tuple[Path, Any] | None],
    max_size: int,
) -> None:
    """One row, all or nothing: the file lands as the asset's next version and its fields
    are set, or nothing of it stays. A row whose asset already holds that file is done."""
    project = store.locate(row.project)
    if store.stat(project) is None:
        with contextlib.suppress(AlreadyExists):  # made a moment ago
            store.make_folder(actor, project)
    asset = project.child(row.asset)
    if _already_there(store, asset, row.filename):
        return
    spool: Path | None = None
    try:
        if HASH.fullmatch(row.source):
            found = find_hash(actor, row.source)
            if found is None:
                raise ValueError(f"No file you may read has the hash {row.source}.")
            source, digests, mode = found[0], found[1], "link"
        elif row.source.startswith("/"):
            allowed = under_roots(row.source, roots)
            if allowed is None or not allowed.is_file():
                raise ValueError(f"{row.source} is not a file under migration.allowed_roots.")
            source, digests, mode = allowed, None, "link"
        else:
            spool = spool_dir / f"{uuid.uuid4().hex}.data"
            _fetch(guard, row.source, spool, min(store.rules.max_file_size or max_size, max_size))
            source, digests, mode = spool, digest_file(spool, store.sha256)[1], "move"
        existed = store.stat(asset) is not None
        place_version(
            store,
            actor,
            asset,
            row.filename,
            source,
            mode=mode,
            digests=digests,
            create=not existed,
            update=existed,
        )
        try:
            edits: dict[str, Any] = {"tags": row.tags, "metadata": row.metadata}
            if row.description is not None:
                edits["description"] = row.description
            store.update_fields(actor, asset, edits)
        except BaseException:
            if not existed:
                store.delete(actor, asset)  # all or nothing
            raise
    finally:
        if spool is not None:
            spool.unlink(missing_ok=True)


def find_by_hash(registry: Any, reader: Any, actor: Actor, spec: str) -> tuple[Path, Any] | None:
    """A file `actor` may read with these bytes, and its digests (from the index and the
    sidecars, checked against the disk), without a request: jobs go on after restarts."""
    algorithm, _, hexdigest = spec.partition(":")
    hexdigest = hexdigest.lower()
    field_name = RECORD_FIELDS[algorithm]
    for store_name, project, asset in reader.owners_with_hash(algorithm, hexdigest, limit=50):
        store = registry.find(store_name)
        if store is None:
            continue
        owner = store.locate(f"{project}/{asset}" if asset else project)
        try:
            files = (store.read_meta(actor, owner) or {}).get("files") or {}
        except StoreError:
            continue
        for key, raw in files.items():
            if not isinstance(raw, dict) or raw.get(field_name) != hexdigest:
                continue
            loc = store.locate("/".join((*owner.parts, key)))
            st = store.stat(loc)
            record = store.file_record(loc, st) if st is not None else None
            if record is not None and record.digests.of(algorithm) == hexdigest:
                return store.fs_path(loc), record.digests
    return None


def _already_there(store: FileStore, asset: Location, filename: str) -> bool:
    meta = store.sidecar(asset).read() if store.stat(asset) is not None else None
    if not meta:
        return False
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    return any(key.rsplit("/", 1)[-1] == filename for key in files)


def _fetch(guard: UrlGuard, url: str, spool: Path, limit: int) -> None:
    response, _final = open_url(guard, url)
    with response, open(spool, "wb") as out:
        if response.status != 200:
            raise ValueError(f"The source answered {response.status} {response.reason}.")
        size = 0
        while piece := response.read(PIECE):
            size += len(piece)
            if size > limit:
                raise ValueError(f"The source's file is larger than the limit of {limit} bytes.")
            out.write(piece)
