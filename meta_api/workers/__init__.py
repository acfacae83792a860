"""Workers: a durable task queue (SQLite) and a pool of threads running the built-in
workers (`zip`, `dzi`) on uploaded files, with OVE's task model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stores import Registry

from .base import Worker
from .catalog import WorkerCatalog
from .dzi_worker import DziWorker
from .pool import WorkerPool
from .queue import NewTask, Task, TaskQueue
from .zip_worker import ZipWorker

QUEUE_FILE = "workers.sqlite"


def builtin_workers(
    *, zip_max_files: int, zip_max_total_bytes: int, dzi_max_pixels: int, dzi_max_tiles: int
) -> list[Worker]:
    return [
        ZipWorker(max_files=zip_max_files, max_total_bytes=zip_max_total_bytes),
        DziWorker(max_pixels=dzi_max_pixels, max_tiles=dzi_max_tiles),
    ]


def build_pool(
    state_dir: Path,
    registry: Registry,
    workers: list[Worker],
    threads: int,
    queue: Any = None,
) -> WorkerPool:
    """The pool over the queue in `<state_dir>/workers.sqlite`, or over `queue` (a
    cluster's, in Redis); not started yet."""
    queue = queue if queue is not None else TaskQueue(state_dir / QUEUE_FILE)
    return WorkerPool(queue, registry, WorkerCatalog(workers), threads)


__all__ = [
    "NewTask",
    "Task",
    "TaskQueue",
    "Worker",
    "WorkerCatalog",
    "WorkerPool",
    "build_pool",
    "builtin_workers",
]
