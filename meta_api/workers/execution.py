"""Running one claimed task: hold its asset in the sidecar, run the worker, publish the
output or leave nothing, and record how the task ended in the sidecar and the queue."""

from __future__ import annotations

import logging
import threading
from pathlib import PurePosixPath
from typing import Any

from stores import SYSTEM, FileStore, Location, Registry
from stores.errors import StoreError, from_os_error

from .base import Canceled, Interrupted, Job, TaskFailed, Worker
from .queue import CANCELED, DONE, ERROR, NEW, PROCESSING, Task, TaskQueue

log = logging.getLogger(__name__)


def output_stem(filename: str) -> str:
    """`photo.png` -> `photo`: the folder a worker's output of that file goes in."""
    return PurePosixPath(filename).stem or filename


def prepare_job(task: Task, registry: Registry, worker: Worker, stopping: threading.Event) -> Job:
    """The job of a task: `<asset>/<version>/<filename>` in, `<asset>/<version>/<worker>/<stem>/`
    out."""
    store = registry.find(task.store_id)
    if store is None:
        raise TaskFailed(f"The store {task.store_id!r} is no longer served.")
    try:
        version = store.locate(f"{task.project_id}/{task.asset_id}/{task.version}")
        source = version.child(task.filename)
        dest = version.child(worker.name).child(output_stem(task.filename))
    except StoreError as exc:
        raise TaskFailed(exc.message) from None
    return Job(task, store, source, dest, stopping)


def _asset(job: Job) -> Location:
    return Location(job.source.store, job.source.parts[:2])


def _mark(store: FileStore, asset: Location, **fields: Any) -> None:
    store.edit_meta(SYSTEM, asset, lambda data: data.update(fields))


def _mark_quietly(store: FileStore, asset: Location, **fields: Any) -> None:
    """The sidecar follows the task when it still can (the asset may be gone by now)."""
    try:
        _mark(store, asset, **fields)
    except StoreError as exc:
        log.warning("could not record %s in %s: %s", fields, asset.url_path(), exc.message)


def execute(queue: TaskQueue, job: Job, worker: Worker) -> tuple[str, bool]:
    """Run `job` to its end; returns the final status and whether the worker crashed."""
    task = job.task
    asset = _asset(job)
    try:
        _mark(
            job.store, asset, worker=worker.name, processing_status=PROCESSING, processing_error=""
        )
        job.checkpoint()
        if job.store.stat(job.source) is None:
            raise TaskFailed(
                f"{task.filename} is no longer in version {task.version} of asset "
                f"{task.asset_id!r}; upload it again and queue a new task."
            )
        worker.run(job)
        job.checkpoint()
        job.commit()
    except Interrupted:
        job.abort()
        _mark_quietly(job.store, asset, worker="", processing_status=NEW, processing_error="")
        queue.requeue(task.id)
        log.info("task %d put back in the queue: the server is stopping", task.id)
        return NEW, False
    except Canceled:
        job.abort()
        return _end(queue, job, CANCELED, ""), False
    except TaskFailed as exc:
        job.abort()
        return _end(queue, job, ERROR, str(exc)), False
    except StoreError as exc:
        job.abort()
        return _end(queue, job, ERROR, exc.message), False
    except OSError as exc:
        mapped = from_os_error(exc)  # a full disk: the operator's to fix, not a crash
        if mapped is None:
            return _crashed(queue, job, worker, exc)
        log.warning("task %d (%s): %s", task.id, worker.name, mapped.message)
        job.abort()
        return _end(queue, job, ERROR, mapped.message), False
    except Exception as exc:  # noqa: BLE001 - a broken worker must not take the pool down
        return _crashed(queue, job, worker, exc)
    return _end(queue, job, DONE, ""), False


def _crashed(queue: TaskQueue, job: Job, worker: Worker, exc: Exception) -> tuple[str, bool]:
    """A broken worker: logged with its traceback, the task ends in error."""
    log.error("worker %s failed on task %d", worker.name, job.task.id, exc_info=exc)
    job.abort()
    message = (
        f"The {worker.name} worker failed unexpectedly ({type(exc).__name__}); "
        "the server log has the details."
    )
    return _end(queue, job, ERROR, message), True


def _end(queue: TaskQueue, job: Job, status: str, error: str) -> str:
    """The sidecar first, then the queue: whoever sees the task finished sees the sidecar too."""
    _mark_quietly(
        job.store, _asset(job), worker="", processing_status=status, processing_error=error
    )
    queue.finish(job.task.id, status, error or None)
    if status == ERROR:
        log.info("task %d (%s) failed: %s", job.task.id, job.task.worker_type, error)
    else:
        log.info("task %d (%s) %s", job.task.id, job.task.worker_type, status)
    return status


def fail_unprepared(queue: TaskQueue, task: Task, message: str) -> None:
    """A task whose job could not even be set up (its store is gone)."""
    queue.finish(task.id, ERROR, message)
    log.info("task %d (%s) failed: %s", task.id, task.worker_type, message)


def release_recovered(registry: Registry, task: Task) -> None:
    """After a restart: the sidecar of an asset whose task was interrupted says so."""
    store = registry.find(task.store_id)
    if store is None:
        return
    try:
        asset = store.locate(f"{task.project_id}/{task.asset_id}")
    except StoreError:
        return
    _mark_quietly(store, asset, worker="", processing_status=task.status, processing_error="")
