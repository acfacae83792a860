"""Downloads from URLs: `POST /api/assets/download` (and `POST /api/assets` with a JSON
`url`), the tasks that run them (`/api/tasks/{id}`), and what a URL holds without
downloading it (`/api/assets/remote-metadata`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from stores.versions import place_version

from . import context
from .asset_answers import asset_answer
from .asset_creation import describe, holding, new_asset, target_project
from .download_models import DownloadRequest, RemoteMetadata, RemoteQuery, TaskAnswer
from .downloads import DownloadRunner, RefusedUrl, open_url
from .downloads import describe as describe_remote
from .errors import ApiError
from .routes_hashes import HashSpec, locations, parse_hash, stored_source
from .routes_presigned import export_download_url
from .spec import endpoint

blueprint = Blueprint("downloads", __name__)
HEAD_TIMEOUT = 10.0


def runner() -> DownloadRunner:
    found = current_app.config.get("ASSETDAV_DOWNLOADS")
    if found is None:
        raise ApiError(503, "Downloads unavailable", "This server runs no downloads.")
    return found


@blueprint.post("/assets/download")
@endpoint(
    ok=TaskAnswer,
    ok_status=202,
    body=DownloadRequest,
    errors=(400, 403, 404, 409, 503),
    tags=["downloads"],
)
def start_download() -> Response:
    """Fetch a file from a URL into a new asset, as a task (202 `{"task_id"}`); 200 with the
    asset when its content is known already (a `hash` given, or one the source states)."""
    return begin(request.context.json)


def begin(body: DownloadRequest) -> Response:
    source = body.source_url or body.url or ""
    if not source:
        raise ApiError(400, "Missing URL", "Give the file's URL as source_url.")
    guard = runner().guard
    try:
        _scheme, host, port, _path = guard.check(source)
        guard.addresses(host, port)
    except RefusedUrl as exc:
        raise ApiError(400, "Refused URL", str(exc)) from None
    default_store, default_project = current_app.config.get("ASSETDAV_DEFAULT_TARGET") or (
        "",
        "assets",
    )
    store = context.store(body.store or default_store)
    project = target_project(context.actor(), store, body.project, default_project)
    known = parse_hash(body.hash) if body.hash else _stated_hash(source)
    if known is not None:
        found = _known(store, project, known, body)
        if found is not None:
            return found
    request_fields = {
        "source_url": source,
        "store": store.name,
        "project": project.name,
        "name": body.name or "",
        "tags": body.tags,
        "user_metadata": body.user_metadata,
        "preview_id": body.preview_id,
    }
    task = runner().add(context.actor().name, request_fields)
    response = jsonify({"task_id": task.id, **task.public()})
    response.status_code = 202
    response.headers["Location"] = f"/api/tasks/{task.id}"
    return response


def _stated_hash(url: str) -> HashSpec | None:
    """The sha256 the source states in its headers, asked with HEAD (None: none, or the
    source did not answer)."""
    try:
        response, _final = open_url(runner().guard, url, method="HEAD", timeout=HEAD_TIMEOUT)
    except (RefusedUrl, ConnectionError, OSError):
        return None  # the task reports it properly
    with response:
        stated = describe_remote(response.status, response.headers, url)["hash"]
    return parse_hash(stated) if stated else None


def _known(store: Any, project: Any, known: HashSpec, body: DownloadRequest) -> Response | None:
    """The asset (200) when these bytes are stored already: the one in the project, else a
    new asset linking to them."""
    actor = context.actor()
    existing = holding(actor, store, project, known)
    if existing is None:
        if not locations(known):
            return None
        source_path, digests = stored_source(known)
        name = body.name or source_path.name
        existing = new_asset(
            store,
            project,
            name,
            lambda asset: place_version(
                store,
                actor,
                asset,
                source_path.name,
                source_path,
                mode="link",
                digests=digests,
                create=True,
            ),
        )
        describe(actor, store, existing, name, body.tags, body.user_metadata, body.preview_id)
    meta = store.read_meta(actor, existing) or {}
    return jsonify({**asset_answer(store, existing, meta), "created_new": False})


@blueprint.get("/tasks/<task_id>")
@endpoint(ok=TaskAnswer, errors=(404,), tags=["downloads"])
def get_task(task_id: str) -> Response:
    """A task: a download (status queued|running|done|failed|canceled, bytes, the asset
    made) or background work (a migration, an import: progress, then its result)."""
    task = _own_task(task_id)
    answer = task.public()
    if getattr(task, "kind", "") == "export" and task.status == "done" and task.result:
        answer["download_url"] = export_download_url(task.result["export"])
    return jsonify(answer)


@blueprint.delete("/tasks/<task_id>")
@endpoint(ok=TaskAnswer, errors=(404, 409), tags=["downloads"])
def cancel_task(task_id: str) -> Response:
    """Cancel a queued or running download (a running one stops at its next piece)."""
    task = _own_task(task_id)
    before = runner().tasks.cancel(task.id) if hasattr(task, "request") else task.status
    if before not in ("queued", "running"):
        raise ApiError(
            409, "Task not cancelable", f"The task is {before}; it cannot be canceled now."
        )
    found = runner().tasks.get(task.id)
    assert found is not None
    return jsonify(found.public())


def _own_task(task_id: str) -> Any:
    """A download task, or background work (a migration...), of the caller's."""
    task = runner().tasks.get(task_id[:64])
    if task is None and current_app.config.get("ASSETDAV_JOBS") is not None:
        task = current_app.config["ASSETDAV_JOBS"].get(task_id[:64])
    actor = context.actor()
    if task is None or not (actor.admin or task.username == actor.name):
        raise ApiError(404, "Task not found", f"You have no task {task_id[:64]!r}.")
    return task


@blueprint.get("/assets/remote-metadata")
@endpoint(ok=RemoteMetadata, query=RemoteQuery, errors=(400, 414, 502), tags=["downloads"])
def remote_metadata() -> Response:
    """What a URL holds (name, size, type, a hash where the source states one), read from
    its headers without downloading the body."""
    query: RemoteQuery = request.context.query
    guard = runner().guard
    try:
        response, final = open_url(guard, query.url, method="HEAD", timeout=HEAD_TIMEOUT)
        if response.status in (405, 501):  # no HEAD here: the first byte says as much
            response.close()
            response, final = open_url(
                guard, query.url, headers={"Range": "bytes=0-0"}, timeout=HEAD_TIMEOUT
            )
    except RefusedUrl as exc:
        raise ApiError(400, "Refused URL", str(exc)) from None
    except (ConnectionError, OSError) as exc:
        raise ApiError(
            502, "Source unreachable", f"The source could not be reached: {exc}"
        ) from None
    with response:
        if response.status >= 400:
            raise ApiError(
                502, "Source error", f"The source answered {response.status} {response.reason}."
            )
        return jsonify(describe_remote(response.status, response.headers, final))
