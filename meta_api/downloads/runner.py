"""Running download tasks in the server process: each fetched (through the URL guard) into
`<state_dir>/downloads/<id>.part` with the store's rules applied as bytes arrive, resumed
with Range after a restart where the source allows, and made a new asset when complete."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stores import Actor, Registry, model
from stores.errors import StoreError, TooLarge
from stores.hashing import digest_file
from stores.sniff import SNIFF_BYTES
from stores.versions import place_version

from ..asset_creation import describe, new_asset
from ..errors import ApiError
from . import remote
from .guard import RefusedUrl, UrlGuard, open_url
from .tasks import CANCELED, DONE, FAILED, DownloadTask, DownloadTasks

log = logging.getLogger(__name__)
PIECE = 1 << 20
PROGRESS_EVERY = 0.5  # seconds between progress writes
IDLE_POLL = 1.0


class Stopping(Exception):
    """The server stops: the task is queued again and resumes after the restart."""


class Canceled(Exception):
    pass


class Failed(Exception):
    """The download cannot be done; the message is the task's error."""


class DownloadRunner:
    def __init__(
        self,
        state_dir: Path,
        registry: Registry,
        actor_of: Callable[[str], Actor | None],
        guard: UrlGuard,
        *,
        threads: int = 2,
        timeout: float = 3600.0,
        max_size: int = 1 << 40,
        tasks: Any = None,
    ) -> None:
        # a cluster's are in Redis (meta_api/downloads/redis_tasks.py)
        self.tasks = tasks or DownloadTasks(state_dir / "downloads.sqlite")
        self.folder = state_dir / "downloads"
        self.registry = registry
        self.actor_of = actor_of
        self.guard = guard
        self.threads = threads
        self.timeout = timeout
        self.max_size = max_size
        # in a cluster (stores/state/redis.RedisLeases): the node running a download holds
        # its lease, so a node that starts puts back only the downloads of stopped nodes
        self.leases: Any = None
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []

    # --- life -----------------------------------------------------------------------

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        resumed = self.tasks.recover(self.leases.is_taken if self.leases is not None else None)
        if resumed:
            log.info("downloads: %d interrupted by a restart resume now", resumed)
        for number in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"download-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(10)
        self.tasks.close()

    def add(self, username: str, request: dict[str, Any]) -> DownloadTask:
        task = self.tasks.add(username, request)
        with self._wake:
            self._wake.notify_all()
        return task

    def part_path(self, task_id: str) -> Path:
        return self.folder / f"{task_id}.part"

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                task = self.tasks.claim()
            except Exception:  # noqa: BLE001 - a broken database must not end the thread
                log.exception("could not take a download from the queue")
                task = None
            if task is None:
                with self._wake:
                    if not self._stopping.is_set():
                        self._wake.wait(IDLE_POLL)
                continue
            self._run(task)

    # --- one task ---------------------------------------------------------------------

    def _run(self, task: DownloadTask) -> None:
        token = self.leases.try_take(task.id) if self.leases is not None else None
        try:
            self._run_held(task)
        finally:
            if token is not None:
                self.leases.release(task.id, token)

    def _run_held(self, task: DownloadTask) -> None:
        part = self.part_path(task.id)
        try:
            asset_id = self._download(task, part)
        except Stopping:
            self.tasks.requeue(task.id)
            return
        except Canceled:
            part.unlink(missing_ok=True)
            self.tasks.finish(task.id, CANCELED)
            log.info("download %s canceled", task.id)
            return
        except Exception as exc:  # noqa: BLE001 - every failure ends as the task's error
            message = _message(exc)
            if not isinstance(exc, Failed | StoreError | RefusedUrl | ApiError | ConnectionError):
                log.exception("download %s failed unexpectedly", task.id)
            part.unlink(missing_ok=True)
            self.tasks.finish(task.id, FAILED, error=message)
            log.info("download %s failed: %s", task.id, message)
            return
        part.unlink(missing_ok=True)
        self.tasks.finish(task.id, DONE, asset_id=asset_id)
        log.info("download %s done: asset %s", task.id, asset_id)

    def _download(self, task: DownloadTask, part: Path) -> str:
        request = task.request
        actor = self.actor_of(task.username)
        if actor is None:
            raise Failed(f"The user {task.username!r} no longer exists.")
        store = self.registry.get(request["store"])
        project = store.locate(request["project"])
        store.check_write(actor, project)
        offset = part.stat().st_size if part.exists() else 0
        headers = {}
        if offset and task.validator:
            headers = {"Range": f"bytes={offset}-", "If-Range": task.validator}
        try:
            response, final_url = open_url(self.guard, request["source_url"], headers=headers)
        except TimeoutError as exc:
            raise Failed(f"The source did not answer in time ({exc}).") from None
        with response:
            if response.status == 200:
                offset = 0
            elif not (response.status == 206 and offset):
                raise Failed(f"The source answered {response.status} {response.reason}.")
            total = remote.total_size(response.status, response.headers)
            validator = _validator(response.headers)
            file_name = remote.file_name(response.headers, final_url) or "download"
            name = request.get("name") or file_name
            store.rules.check_new_file(file_name, total)
            limit = min(store.rules.max_file_size or self.max_size, self.max_size)
            if total is not None and total > limit:
                raise TooLarge(
                    f"The source's file has {total} bytes; the limit is {limit}.",
                    rule="max_file_size",
                )
            done = self._receive(
                task, response, part, offset, total, validator, limit, file_name, store
            )
        if total is not None and done != total:
            raise Failed(f"The source sent {done} of {total} bytes; queue the download again.")
        size, digests = digest_file(part, store.sha256)
        owner = new_asset(
            store,
            project,
            name,
            lambda asset: place_version(
                store, actor, asset, file_name, part, mode="move", digests=digests, create=True
            ),
        )
        describe(
            actor,
            store,
            owner,
            name,
            request.get("tags") or [],
            request.get("user_metadata") or {},
            request.get("preview_id"),
        )
        meta = store.sidecar(owner).read() or {}
        return model.asset_uuid(meta) or ""

    def _receive(
        self,
        task: DownloadTask,
        response: Any,
        part: Path,
        offset: int,
        total: int | None,
        validator: str | None,
        limit: int,
        name: str,
        store: Any,
    ) -> int:
        """Append the body to the part file; the bytes so far count as done."""
        deadline = time.monotonic() + self.timeout
        head = b""
        if offset:
            with open(part, "rb") as fh:
                head = fh.read(SNIFF_BYTES)
        judged = len(head) >= SNIFF_BYTES
        done = offset
        last_progress = 0.0
        with open(part, "r+b" if offset else "wb") as fh:
            fh.seek(offset)
            fh.truncate()
            while True:
                if self._stopping.is_set():
                    fh.flush()
                    os.fsync(fh.fileno())
                    self.tasks.progress(task.id, done, total, validator)
                    raise Stopping
                if self.tasks.cancel_asked(task.id):
                    raise Canceled
                if time.monotonic() > deadline:
                    raise Failed(f"The download took longer than {self.timeout:.0f} s.")
                piece = response.read(PIECE)
                if not piece:
                    break
                done += len(piece)
                if done > limit:
                    raise TooLarge(
                        f"The source's file is larger than the limit of {limit} bytes.",
                        rule="max_file_size",
                    )
                fh.write(piece)
                if not judged:
                    head += piece[: SNIFF_BYTES - len(head)]
                    if len(head) >= SNIFF_BYTES:
                        store.rules.check_head(name, head)
                        judged = True
                now = time.monotonic()
                if now - last_progress >= PROGRESS_EVERY:
                    self.tasks.progress(task.id, done, total, validator)
                    last_progress = now
            fh.flush()
            os.fsync(fh.fileno())
        if not judged:
            store.rules.check_head(name, head)
        self.tasks.progress(task.id, done, total, validator)
        return done


def _validator(headers: Any) -> str | None:
    """A strong ETag, else Last-Modified: what If-Range may name on resuming."""
    etag = (headers.get("ETag") or "").strip()
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified") or None


def _message(exc: BaseException) -> str:
    if isinstance(exc, StoreError):
        return exc.message
    if isinstance(exc, ApiError):
        return exc.description
    if isinstance(exc, ConnectionError | OSError):
        return f"The source could not be reached or broke off: {exc}"
    return str(exc) or type(exc).__name__
