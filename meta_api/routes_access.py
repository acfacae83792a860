"""A project's access groups (OVE's `projectAccessMeta`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from . import context
from .models import Groups
from .spec import endpoint

blueprint = Blueprint("access", __name__)
ROUTE = "/<store_id>/<project_id>/projectAccessMeta"


@blueprint.get(ROUTE)
@endpoint(ok=Groups, tags=["projects"])
def get_access(store_id: str, project_id: str) -> Response:
    store, _loc = context.project(store_id, project_id)
    return jsonify({"groups": sorted(store.project_groups(project_id))})


@blueprint.post(ROUTE)
@endpoint(ok=Groups, body=Groups, errors=(400, 409, 507), tags=["projects"])
def set_access(store_id: str, project_id: str) -> Response:
    """Replace the groups that may use a project (administrators only)."""
    store, loc = context.project(store_id, project_id)
    body: Groups = request.context.json
    return jsonify({"groups": store.set_project_groups(context.actor(), loc, body.groups)})
