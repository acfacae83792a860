"""Bulk CSV imports in the native API: `POST /api/bulk-imports?store=&project=` (the CSV as
a `text/csv` body or the multipart part `file`) starts a job that lands each row whole;
`GET /api/bulk-imports/{id}` follows it, `.../errors` lists the rows' problems. Sartiq's
`/bulk-upload/` is the same job (meta_api/bulk_import.py does the work)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, RootModel

from . import context
from .bulk_import import BadCsv, BulkImports
from .errors import ApiError
from .form_upload import spool_form
from .requests import stream_body
from .spec import documented_by_hand, endpoint

blueprint = Blueprint("bulk", __name__)
TAGS = ["bulk import"]
MAX_CSV_BYTES = 1 << 30  # a bulk import's CSV (100,000 rows are a few MB)


class BulkJob(BaseModel):
    id: str
    status: str
    total_rows: int
    processed: int
    succeeded: int
    failed: int
    created_at: str
    finished_at: str | None = None


class BulkError(BaseModel):
    row: int
    column: str | None = None
    value: str | None = None
    message: str


class BulkErrors(RootModel[list[BulkError]]):
    """The rows' problems, as a JSON list."""


def bulk_imports() -> BulkImports:
    return current_app.config["ASSETDAV_BULK_IMPORTS"]


def job_of(job_id: str) -> dict[str, Any]:
    """The caller's job (an administrator's: anyone's); 404 otherwise."""
    found = bulk_imports().get(job_id[:64])
    actor = context.actor()
    if found is None or not (actor.admin or found["username"] == actor.name):
        raise ApiError(404, "No such import", f"You have no bulk import {job_id[:64]!r}.")
    return found


def public_job(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in BulkJob.model_fields}


def start_import(store_name: str, project: str, status_base: str) -> Response:
    """Take the request's CSV (checked before anything runs: a bad header is 400) and start
    its job in `project` of the store: 202 with the job, followed at `status_base/{id}`."""
    store = context.store(store_name)
    store.check_write(context.actor(), store.locate(""))
    spool = bulk_imports().folder / f"incoming-{uuid.uuid4().hex}.csv"
    boundary = request.mimetype_params.get("boundary")
    try:
        if request.mimetype == "multipart/form-data" and boundary:
            form = spool_form(stream_body(), boundary, spool, MAX_CSV_BYTES)
            if form.spool is None:
                raise ApiError(400, "No CSV", "Send the CSV in a part named 'file'.")
        elif request.mimetype in ("text/csv", "text/plain", "application/csv"):
            _spool_body(spool)
        else:
            raise ApiError(415, "Unsupported body", "Send the CSV as text/csv or a 'file' part.")
        job_id = bulk_imports().create(context.actor().name, store.name, project, spool)
    except BadCsv as exc:
        raise ApiError(400, "Bad CSV", str(exc)) from None
    except UnicodeDecodeError:
        raise ApiError(400, "Bad CSV", "The CSV is not UTF-8 text.") from None
    finally:
        spool.unlink(missing_ok=True)
    job = bulk_imports().get(job_id)
    assert job is not None
    response = jsonify(public_job(job))
    response.status_code = 202
    response.headers["Location"] = f"{request.script_root}{status_base}/{job_id}"
    return response


def _spool_body(spool: Path) -> None:
    size = 0
    with open(spool, "wb") as out:
        for piece in stream_body():
            size += len(piece)
            if size > MAX_CSV_BYTES:
                raise ApiError(413, "CSV too large", f"A CSV may have {MAX_CSV_BYTES} bytes.")
            out.write(piece)


@blueprint.post("/bulk-imports")
@documented_by_hand(
    "/api/bulk-imports",
    "post",
    "bulk import",
    "Start a bulk CSV import into a store (default: assets.default_store; rows without a "
    "project go to `project`, default assets.default_project): 202 with the job; a CSV "
    "whose header is wrong is 400 and starts nothing.",
    {"202": "started", "400": "a bad header or body", "413": "too large", "415": "not CSV"},
    query={"store": {"type": "string"}, "project": {"type": "string"}},
    media_type="application/json",
)
def start_bulk_import() -> Response:
    default_store, default_project = current_app.config.get("ASSETDAV_DEFAULT_TARGET") or (
        "",
        "assets",
    )
    unknown = set(request.args) - {"store", "project"}
    if unknown:
        raise ApiError(400, "Bad parameter", f"Unknown parameter(s) {sorted(unknown)}.")
    store = request.args.get("store") or default_store
    project = request.args.get("project") or default_project
    return start_import(store, project, "/api/bulk-imports")


@blueprint.get("/bulk-imports/<job_id>")
@endpoint(ok=BulkJob, errors=(404,), tags=TAGS)
def bulk_import_status(job_id: str) -> Response:
    """How far the job is: rows processed, succeeded and failed."""
    return jsonify(public_job(job_of(job_id)))


@blueprint.get("/bulk-imports/<job_id>/errors")
@endpoint(ok=BulkErrors, errors=(404,), tags=TAGS)
def bulk_import_errors(job_id: str) -> Response:
    """Each problem: its row, column, value and what is wrong."""
    return jsonify(bulk_imports().errors(job_of(job_id)["id"]))
