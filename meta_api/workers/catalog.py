"""The workers this server offers: registered on start (as OVE workers register
themselves), removable until the next restart, each with a status."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from .base import Worker

READY = "ready"
PROCESSING = "processing"
ERROR = "error"


class WorkerCatalog:
    """Registered workers by name; `remove` takes one out of service until a restart."""

    def __init__(self, workers: Iterable[Worker]) -> None:
        self._workers = {worker.name: worker for worker in workers}
        self._guard = threading.Lock()
        self._busy: dict[str, int] = {}
        self._failed: set[str] = set()

    def offered(self) -> list[Worker]:
        with self._guard:
            return list(self._workers.values())

    def named(self, name: str) -> Worker | None:
        with self._guard:
            return self._workers.get(name)

    def of_type(self, worker_type: str) -> Worker | None:
        """The worker that takes tasks of this type, if one is offered."""
        with self._guard:
            return next((w for w in self._workers.values() if w.type == worker_type), None)

    def names_by_type(self) -> dict[str, str]:
        with self._guard:
            found: dict[str, str] = {}
            for worker in self._workers.values():
                found.setdefault(worker.type, worker.name)
            return found

    def remove(self, name: str) -> bool:
        with self._guard:
            return self._workers.pop(name, None) is not None

    def status(self, name: str) -> str:
        """`processing` while it runs a task, `error` when its last task failed
        unexpectedly (a bug or a system problem: see the log), otherwise `ready`."""
        with self._guard:
            if self._busy.get(name):
                return PROCESSING
            return ERROR if name in self._failed else READY

    def started(self, name: str) -> None:
        with self._guard:
            self._busy[name] = self._busy.get(name, 0) + 1

    def ended(self, name: str, *, crashed: bool) -> None:
        with self._guard:
            self._busy[name] = max(0, self._busy.get(name, 0) - 1)
            if crashed:
                self._failed.add(name)
            else:
                self._failed.discard(name)
