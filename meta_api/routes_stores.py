"""Store-level routes of the OVE API: the list of stores."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .context import registry

blueprint = Blueprint("stores", __name__)


@blueprint.get("/list")
def list_stores() -> Response:
    return jsonify(registry().names())
