"""Stores and their projects: `/api/list`, `/api/{store}/list`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from . import context, projects
from .requests import flag

blueprint = Blueprint("stores", __name__)


@blueprint.get("/list")
def list_stores() -> Response:
    return jsonify(context.registry().names())


@blueprint.get("/<store_id>/list")
def list_projects(store_id: str) -> Response:
    store = context.store(store_id)
    tag = request.args.get("filterByTag")
    with_metadata = flag("metadata") or tag is not None
    result = []
    for entry in projects.readable_projects(store, context.actor()):
        summary = projects.summary(store, entry, context.actor(), with_metadata=with_metadata)
        if tag is not None and tag not in summary.get("tags", []):
            continue
        result.append(summary)
    return jsonify(result)
