"""`POST /api/{store}/scan` adopts folders copied in without sidecars, in the background."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from stores.errors import PermissionDenied

from . import context
from .errors import ApiError
from .scan import ScanRunner
from .search_models import ScanState
from .spec import endpoint

blueprint = Blueprint("scan", __name__)


def runner() -> ScanRunner:
    return current_app.config.setdefault("ASSETDAV_SCANS", ScanRunner())


@blueprint.post("/<store_id>/scan")
@endpoint(ok=ScanState, ok_status=202, errors=(400, 403, 409), tags=["search"])
def start_scan(store_id: str) -> Response:
    """Start adopting folders without a sidecar (202); 409 while a scan of this store runs."""
    return begin_scan(store_id)


def begin_scan(store_id: str) -> Response:
    """Start a scan of the store (see start_scan) for the caller, if they may."""
    store = context.store(store_id)
    actor = context.actor()
    if not store.policy.can_administer(actor) and not any(
        store.may_write(actor, store.locate(entry.name))
        for entry in store.list_folder(actor, store.locate(""))
        if entry.is_dir
    ):
        raise PermissionDenied(
            f"Scanning store {store_id!r} adopts folders as projects and assets: it needs "
            "write access to one of its projects at least."
        )
    started = runner().start(store, actor)
    if started is None:
        raise ApiError(
            409,
            "Scan running",
            f"A scan of store {store_id!r} is running already; "
            f"follow it with GET /api/{store_id}/scan.",
        )
    response = jsonify(started)
    response.status_code = 202
    return response


@blueprint.get("/<store_id>/scan")
@endpoint(ok=ScanState, tags=["search"])
def scan_progress(store_id: str) -> Response:
    context.store(store_id)
    return jsonify(runner().state(store_id))
