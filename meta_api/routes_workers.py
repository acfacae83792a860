"""The workers and OVE's task queue: `/api/workers`, `/api/workers/status` and
`/api/workers/queue` (list, add, cancel, reset)."""

from __future__ import annotations

import os
import stat
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from stores import FileStore, Location, model
from stores.access import require_admin
from stores.names import is_internal, normalize_name

from . import context
from .errors import ApiError
from .projects import date_text
from .spec import endpoint
from .worker_models import (
    Queued,
    QueueRequest,
    StatusOK,
    TaskList,
    TaskRef,
    WorkerList,
    WorkerName,
    WorkerQuery,
    WorkerStatuses,
)
from .workers import NewTask, Task, Worker, WorkerPool
from .workers.queue import FINISHED, PROCESSING

blueprint = Blueprint("workers", __name__)
TAGS = ["workers"]
MAX_TASK_ID = (1 << 63) - 1


def pool() -> WorkerPool:
    found = current_app.config.get("ASSETDAV_WORKERS")
    if found is None:
        raise ApiError(503, "Workers unavailable", "This server runs no worker pool.")
    return found


def _worker_not_found(name: str) -> ApiError:
    return ApiError(
        400, "Worker not found", f"There is no worker {name!r}; GET /api/workers lists them."
    )


def _public_worker(worker: Worker) -> dict[str, Any]:
    return {
        "name": worker.name,
        "type": worker.type,
        "description": worker.description,
        "extensions": list(worker.extensions),
        "status": pool().catalog.status(worker.name),
        "docs": worker.docs,
        "parameters": worker.parameters,
    }


def _date(timestamp: float | None) -> str | None:
    return None if timestamp is None else date_text(timestamp)


def _public_task(task: Task) -> dict[str, Any]:
    return {
        "_id": str(task.id),
        "id": str(task.id),
        "createdOn": date_text(task.created_on),
        "priority": task.priority,
        "status": task.status,
        "username": task.username,
        "storeID": task.store_id,
        "projectID": task.project_id,
        "assetID": task.asset_id,
        "filename": task.filename,
        "extension": task.extension,
        "workerType": task.worker_type,
        "taskOptions": task.options,
        "workerName": task.worker_name,
        "startTime": _date(task.start_time),
        "endTime": _date(task.end_time),
        "error": task.error,
    }


# --- workers -------------------------------------------------------------------------


@blueprint.get("/workers")
@endpoint(ok=WorkerList, query=WorkerQuery, errors=(400,), tags=TAGS)
def list_workers() -> Response:
    """The workers this server offers (all, or the one named by `name`)."""
    query: WorkerQuery = request.context.query
    offered = pool().catalog.offered()
    return jsonify(
        [_public_worker(w) for w in offered if query.name is None or w.name == query.name]
    )


@blueprint.delete("/workers")
@endpoint(ok=StatusOK, body=WorkerName, errors=(400,), tags=TAGS)
def remove_worker() -> Response:
    """Stop offering a worker until the server restarts (administrators only); its tasks
    stay in the queue."""
    require_admin(context.registry().policy, context.actor(), "remove workers")
    body: WorkerName = request.context.json
    if not pool().catalog.remove(body.name):
        raise _worker_not_found(body.name)
    return jsonify({"status": "OK"})


@blueprint.get("/workers/status")
@endpoint(ok=WorkerStatuses, query=WorkerQuery, errors=(400,), tags=TAGS)
def worker_status() -> Response:
    """`{"<name>": "ready" | "processing" | "error"}` for every worker, or the named one."""
    query: WorkerQuery = request.context.query
    catalog = pool().catalog
    names = [w.name for w in catalog.offered()]
    if query.name is not None:
        if query.name not in names:
            raise _worker_not_found(query.name)
        names = [query.name]
    return jsonify({name: catalog.status(name) for name in names})


# --- the queue -----------------------------------------------------------------------


def _may_change(task: Task) -> bool:
    actor = context.actor()
    store = context.registry().find(task.store_id)
    if store is None:
        return context.registry().policy.can_administer(actor)
    return store.may_write(actor, Location(store.name, (task.project_id,)))


def _known_task(raw: int | str) -> Task:
    text = str(raw).strip()
    task_id = int(text) if text.isascii() and text.isdigit() else 0
    task = pool().queue.get(task_id) if 0 < task_id <= MAX_TASK_ID else None
    if task is None:
        raise ApiError(400, "Task not found", f"There is no task {raw!r} in the queue.")
    return task


def _changeable_task(raw: int | str) -> Task:
    """A task the caller may cancel or reset (403 otherwise)."""
    task = _known_task(raw)
    store = context.registry().find(task.store_id)
    if store is None:
        require_admin(context.registry().policy, context.actor(), "change tasks of this store")
    else:
        store.check_write(context.actor(), Location(store.name, (task.project_id,)))
    return task


@blueprint.get("/workers/queue")
@endpoint(ok=TaskList, errors=(), tags=TAGS)
def list_tasks() -> Response:
    """The tasks of projects the caller may write (administrators: all), newest first."""
    return jsonify([_public_task(t) for t in pool().queue.newest_first() if _may_change(t)])


def _task_file(
    store: FileStore, asset: Location, meta: dict[str, Any], parameters: dict[str, Any]
) -> tuple[int, str]:
    """The version and file a task works on: `parameters.filename`, or the asset's file,
    in its current version."""
    where = f"/api/{store.name}/{asset.parts[0]}/upload/{asset.name}"
    version = model.public_asset(meta)["version"]
    wanted = parameters.get("filename")
    if wanted is not None and (not isinstance(wanted, str) or not wanted.strip()):
        raise ApiError(400, "Invalid request", "parameters.filename must be a file name.")
    filename = normalize_name(wanted.strip()) if wanted else str(meta.get("filename") or "")
    if not filename or version < 1:
        raise ApiError(
            400,
            "Nothing to process",
            f"The asset {asset.name!r} has no uploaded file yet; upload one first "
            f"(POST {where}?filename=NAME).",
        )
    if is_internal(filename):
        raise ApiError(400, "Invalid request", f"{filename!r} is a name the server keeps.")
    found = store.stat(asset.child(str(version)).child(filename))
    if found is None or not stat.S_ISREG(found.st_mode):
        raise ApiError(
            400,
            "File not found",
            f"Version {version} of asset {asset.name!r} has no file {filename!r}; upload it "
            f"first (POST {where}?filename={filename}&update=true) or name another file.",
        )
    return version, filename


@blueprint.post("/workers/queue")
@endpoint(ok=Queued, body=QueueRequest, errors=(400, 409), tags=TAGS)
def add_task() -> Response:
    """Queue a worker on an asset's file; the caller needs write access to the project."""
    body: QueueRequest = request.context.json
    store, asset = context.asset(body.store_id, body.project_id, body.asset_id)
    actor = context.actor()
    store.check_write(actor, asset)
    worker = pool().catalog.of_type(body.worker_type)
    if worker is None:
        raise _worker_not_found(body.worker_type)
    meta = store.read_meta(actor, asset) or {}
    parameters = body.parameters or {}
    version, filename = _task_file(store, asset, meta, parameters)
    extension = os.path.splitext(filename)[1]
    if extension.lower() not in worker.extensions:
        raise ApiError(
            400,
            "Unsupported file type",
            f"The {worker.name} worker takes {', '.join(worker.extensions)} files, "
            f"not {filename!r}.",
        )
    task = pool().add(
        NewTask(
            username=actor.name,
            store_id=store.name,
            project_id=asset.parts[0],
            asset_id=asset.name,
            version=version,
            filename=filename,
            extension=extension,
            worker_type=worker.type,
            options=parameters,
            priority=body.priority,
        )
    )
    return jsonify({"Status": "OK", "task_id": str(task.id)})


@blueprint.delete("/workers/queue")
@endpoint(ok=StatusOK, body=TaskRef, errors=(400, 409), tags=TAGS)
def cancel_task() -> Response:
    """Cancel a task: a new one at once, a running one at its next checkpoint."""
    body: TaskRef = request.context.json
    task = _changeable_task(body.task_id)
    before = pool().cancel(task.id)
    if before in FINISHED:
        raise ApiError(
            409,
            "Task already finished",
            f"Task {task.id} already ended {before}; PATCH /api/workers/queue puts it back "
            "in the queue.",
        )
    return jsonify({"status": "OK"})


@blueprint.patch("/workers/queue")
@endpoint(ok=StatusOK, body=TaskRef, errors=(400, 409), tags=TAGS)
def reset_task() -> Response:
    """Put a task back to `new` (its worker, times and error are cleared)."""
    body: TaskRef = request.context.json
    task = _changeable_task(body.task_id)
    if pool().reset(task.id) == PROCESSING:
        raise ApiError(
            409,
            "Task is processing",
            f"Task {task.id} is running; cancel it first (DELETE /api/workers/queue).",
        )
    return jsonify({"status": "OK"})
