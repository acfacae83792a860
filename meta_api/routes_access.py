"""A project's access groups (OVE's `projectAccessMeta`)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from . import context
from .errors import ApiError
from .requests import json_object

blueprint = Blueprint("access", __name__)


@blueprint.get("/<store_id>/<project_id>/projectAccessMeta")
def get_access(store_id: str, project_id: str) -> Response:
    store, _loc = context.project(store_id, project_id)
    return jsonify({"groups": sorted(store.project_groups(project_id))})


@blueprint.post("/<store_id>/<project_id>/projectAccessMeta")
def set_access(store_id: str, project_id: str) -> Response:
    store, loc = context.project(store_id, project_id)
    groups = json_object().get("groups")
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise ApiError(400, "Invalid data", 'Send {"groups": ["group", ...]}.')
    return jsonify({"groups": store.set_project_groups(context.actor(), loc, groups)})
