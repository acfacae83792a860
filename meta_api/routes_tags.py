"""An asset's tags: read, replace, add or remove, clear. Each answer is the tag list."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from . import context
from .models import TagChange, Tags
from .spec import endpoint

blueprint = Blueprint("tags", __name__)
ROUTE = "/<store_id>/<project_id>/tags/<asset_id>"


@blueprint.get(ROUTE)
@endpoint(ok=Tags, tags=["tags"])
def get_tags(store_id: str, project_id: str, asset_id: str) -> Response:
    store, asset = context.asset(store_id, project_id, asset_id)
    meta = store.read_meta(context.actor(), asset) or {}
    return jsonify([str(t) for t in meta.get("tags") or []])


@blueprint.post(ROUTE)
@endpoint(ok=Tags, body=Tags, errors=(400, 409, 507), tags=["tags"])
def replace_tags(store_id: str, project_id: str, asset_id: str) -> Response:
    """Replace the tags with the list in the body."""
    store, asset = context.asset(store_id, project_id, asset_id)
    new_tags: Tags = request.context.json
    return jsonify(store.change_tags(context.actor(), asset, replace=new_tags.root))


@blueprint.patch(ROUTE)
@endpoint(ok=Tags, body=TagChange, errors=(400, 409, 507), tags=["tags"])
def change_tags(store_id: str, project_id: str, asset_id: str) -> Response:
    """`{"action": "add" | "remove", "data": [...]}`; the order of the other tags is kept."""
    store, asset = context.asset(store_id, project_id, asset_id)
    body: TagChange = request.context.json
    if body.action == "add":
        return jsonify(store.change_tags(context.actor(), asset, add=body.data))
    return jsonify(store.change_tags(context.actor(), asset, remove=body.data))


@blueprint.delete(ROUTE)
@endpoint(ok=Tags, errors=(400, 409, 507), tags=["tags"])
def clear_tags(store_id: str, project_id: str, asset_id: str) -> Response:
    store, asset = context.asset(store_id, project_id, asset_id)
    return jsonify(store.change_tags(context.actor(), asset, replace=[]))
