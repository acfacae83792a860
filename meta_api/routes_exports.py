"""`POST /api/exports`: the assets of a search written into one zip by an export
configuration, as background work followed in `GET /api/tasks/{id}` (which gives the
finished zip's presigned download URL)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ConfigDict, Field

from index.queries import AssetFilter

from . import context, export_configurations
from .background import Progress, queued
from .errors import ApiError
from .exports import run_export
from .routes_search import search_index
from .spec import endpoint

blueprint = Blueprint("exports", __name__)


class ExportFilter(BaseModel):
    """The filters of GET /api/assets."""

    model_config = ConfigDict(extra="forbid")
    store: str | None = None
    project: str | None = None
    include_tags: list[str] = Field(default_factory=list)
    exclude_tags: list[str] = Field(default_factory=list)
    name_contains: str | None = None
    metadata_filter: dict[str, Any] | str | None = None
    q: str | None = None
    include_public: bool = True


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    configuration_id: str = Field(min_length=1, max_length=64)
    filter: ExportFilter = Field(default_factory=ExportFilter)


class ExportStarted(BaseModel):
    task_id: str
    id: str
    kind: str
    status: str


def _filter(flt: ExportFilter) -> AssetFilter:
    metadata = flt.metadata_filter or {}
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata)
        except ValueError:
            metadata = None
    if not isinstance(metadata, dict):
        raise ApiError(400, "Invalid filter", "metadata_filter must be a JSON object.")
    if flt.store is not None:
        context.store(flt.store)
    return AssetFilter(
        store=flt.store,
        project=flt.project,
        include_tags=tuple(flt.include_tags),
        exclude_tags=tuple(flt.exclude_tags),
        name_contains=flt.name_contains or None,
        metadata=metadata,
        q=flt.q or None,
    )


@blueprint.post("/exports")
@endpoint(ok=ExportStarted, ok_status=202, body=ExportRequest, errors=(400, 404), tags=["exports"])
def start_export() -> Response:
    """Start an export (202); follow it, then download it, with GET /api/tasks/{task_id}."""
    body: ExportRequest = request.context.json
    config = export_configurations.by_id(body.configuration_id, change=False)
    actor = context.actor()
    flt = _filter(body.filter)
    readable = context.registry().readable(actor, include_public=body.filter.include_public)
    reader = search_index().fresh_reader()
    registry, media = context.registry(), current_app.config["ASSETDAV_MEDIA"]
    jobs = current_app.config["ASSETDAV_JOBS"]
    folder = current_app.config["ASSETDAV_EXPORTS_DIR"]
    export_id = uuid.uuid4().hex

    def work(progress: Progress) -> dict[str, Any]:
        out = folder / f"{export_id}.zip"
        done = run_export(actor, registry, media, reader, flt, readable, config, out, progress)
        return {"export": export_id, "configuration_id": config["id"], **done}

    return queued(jobs.start("export", actor.name, work))
