"""What a worker is, and the job it is handed: its input file, its output folder, and
checkpoints where a canceled task or a stopping server interrupts it."""

from __future__ import annotations

import logging
import threading
from typing import Any, BinaryIO, Protocol

from stores import SYSTEM, FileStore, Location
from stores.errors import StoreError
from stores.staging import Staging

from .queue import Task

log = logging.getLogger(__name__)


class TaskFailed(Exception):
    """The task cannot be done (a corrupt input, a refused archive); the message says why
    in words a user understands and ends up in the sidecar's `processing_error`."""


class Canceled(Exception):
    """The task was canceled while it ran."""


class Interrupted(Exception):
    """The server is stopping; the task goes back to `new` and runs again after a restart."""


class Worker(Protocol):
    """A built-in worker; its attributes are what `GET /api/workers` shows."""

    name: str
    type: str
    description: str
    extensions: tuple[str, ...]
    docs: str
    parameters: dict[str, Any]

    def run(self, job: Job) -> None:
        """Read `job.open_input()`, write into `job.output()`, call `job.checkpoint()` often."""
        ...


class Job:
    """One task being worked on. Output is staged and only appears when the task succeeds."""

    def __init__(
        self,
        task: Task,
        store: FileStore,
        source: Location,
        dest: Location,
        stopping: threading.Event,
    ) -> None:
        self.task = task
        self.store = store
        self.source = source
        self.dest = dest
        self._stopping = stopping
        self._canceled = threading.Event()
        self._staging: Staging | None = None
        self._made_worker_folder = False

    @property
    def filename(self) -> str:
        return self.source.name

    def open_input(self) -> BinaryIO:
        return self.store.open_read(SYSTEM, self.source)

    def output(self) -> Staging:
        """The staged output folder (made on first use, so a task refused before it writes
        anything leaves no folder behind)."""
        if self._staging is None:
            self._made_worker_folder = self.store.stat(self.dest.parent) is None
            self._staging = Staging(self.store, SYSTEM, self.dest)
        return self._staging

    def request_cancel(self) -> None:
        self._canceled.set()

    def checkpoint(self) -> None:
        """Raise Canceled or Interrupted when the task must stop here."""
        if self._canceled.is_set():
            raise Canceled
        if self._stopping.is_set():
            raise Interrupted

    def commit(self) -> None:
        self.output().commit()

    def abort(self) -> None:
        """Drop the staged output, and the worker's folder when this job made it."""
        if self._staging is None:
            return
        self._staging.abort()
        folder = self.dest.parent
        try:
            if self._made_worker_folder and not self.store.list_folder(SYSTEM, folder):
                self.store.delete(SYSTEM, folder)
        except StoreError as exc:
            log.warning("could not remove the empty folder %s: %s", folder.url_path(), exc)
