"""OVE objects: JSON documents kept as `<project>/<object_id>.json`."""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, jsonify, request

from stores.errors import InvalidName, StoreError

from . import context, projects
from .errors import ApiError
from .models import AnyJson, ObjectInfo, Status
from .spec import endpoint

blueprint = Blueprint("objects", __name__)
ROUTE = "/<store_id>/<project_id>/object/<object_id>"
OBJECT_ID = re.compile(r"[A-Za-z0-9]{1,200}")
MAX_OBJECT_BYTES = 10 << 20


def _object(store_id: str, project_id: str, object_id: str):
    if not OBJECT_ID.fullmatch(object_id):
        raise InvalidName(
            f"The object id {object_id!r} is invalid; use letters and digits.", rule="object-id"
        )
    store, project = context.project(store_id, project_id)
    return store, project, project.child(f"{object_id}.json")


def _object_not_found(loc) -> ApiError:
    """OVE's answer for an object that does not exist (400, as its documentation says)."""
    return ApiError(
        400,
        "Object not found",
        f"There is no object {loc.name[:-5]!r} in project {loc.parts[0]!r}; create it with POST.",
    )


def _read(store, loc) -> object:
    if store.stat(loc) is None:
        raise _object_not_found(loc)
    with store.open_read(context.actor(), loc) as fh:
        try:
            return json.load(fh)
        except ValueError as exc:
            raise ApiError(
                409,
                "Object does not parse",
                f"{loc.url_path()} is not valid JSON; replace it with PUT.",
            ) from exc


def _body() -> bytes:
    if (request.content_length or 0) > MAX_OBJECT_BYTES:
        raise ApiError(413, "Too large", f"Objects may be at most {MAX_OBJECT_BYTES} bytes.")
    return json.dumps(request.context.json.root, ensure_ascii=False).encode("utf-8")


@blueprint.route(ROUTE, methods=["GET", "HEAD"])
@endpoint(ok=AnyJson, errors=(400, 404, 409), tags=["objects"])
def get_object(store_id: str, project_id: str, object_id: str) -> Response:
    """The JSON document. HEAD answers 200 or 404 without a body."""
    if request.method == "HEAD":
        try:
            store, _project, loc = _object(store_id, project_id, object_id)
        except StoreError:
            return Response(status=404)
        return Response(status=200 if store.stat(loc) is not None else 404)
    store, _project, loc = _object(store_id, project_id, object_id)
    return jsonify(_read(store, loc))


@blueprint.post(ROUTE)
@endpoint(ok=Status, body=AnyJson, errors=(400, 409, 413, 507), tags=["objects"])
def create_object(store_id: str, project_id: str, object_id: str) -> Response:
    """Store a new object; 409 when one with that id exists."""
    store, _project, loc = _object(store_id, project_id, object_id)
    store.write_bytes(context.actor(), loc, _body(), create_only=True)
    return jsonify({"Status": "OK"})


@blueprint.put(ROUTE)
@endpoint(ok=Status, body=AnyJson, errors=(400, 409, 413, 507), tags=["objects"])
def put_object(store_id: str, project_id: str, object_id: str) -> Response:
    """Replace an object (400 "Object not found" when there is none: POST creates). The
    object `project` is `project.json`: a body without `Metadata` keeps the project's
    metadata instead of wiping it."""
    store, project, loc = _object(store_id, project_id, object_id)
    if store.stat(loc) is None:
        raise _object_not_found(loc)
    if loc.name == projects.PROJECT_FILE:
        document = request.context.json.root
        if isinstance(document, dict) and "Metadata" not in document:
            kept = projects.read_project_file(store, context.actor(), project) or {}
            if isinstance(kept.get("Metadata"), dict):
                document = {**document, "Metadata": kept["Metadata"]}
        store.write_bytes(context.actor(), loc, json.dumps(document, ensure_ascii=False).encode())
    else:
        store.write_bytes(context.actor(), loc, _body())
    return jsonify({"Status": "OK"})


@blueprint.get(ROUTE + "/info")
@endpoint(ok=ObjectInfo, tags=["objects"])
def object_info(store_id: str, project_id: str, object_id: str) -> Response:
    store, _project, loc = _object(store_id, project_id, object_id)
    if store.stat(loc) is None:
        raise _object_not_found(loc)
    return jsonify({"name": object_id, "index_file": loc.url_path()})
