"""Sartiq's uploads and export configurations at `/compat/sartiq/` (its client's base URL;
`/compat/sartiq/files/...` are its file URLs, served read-only by WebDAV with conversion).

Uploads go to the user's default upload project (`sartiq.store`/`sartiq.project`), one
new asset per file. Export configurations are kept in the state dir: a user's own, or an
organization's, where an organization is a group: its members (read or write groups)
read its configurations, its writers (write groups) change them, administrators do all.
User ids are user names."""

from __future__ import annotations

import contextlib
import re
import uuid
from pathlib import Path
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, RootModel

from stores.errors import AlreadyExists
from stores.names import normalize_name
from stores.state.export_configs import ExportConfigurations, may_change, may_read

from .. import context
from ..bulk_import import BadCsv, BulkImports
from ..errors import ApiError
from ..form_upload import spool_form
from ..requests import stream_body
from ..routes_presigned import UploadUrl, upload_url_for
from ..spec import documented_by_hand, endpoint

blueprint = Blueprint("sartiq", __name__)
TAGS = ["sartiq"]
MAX_CSV_BYTES = 1 << 30  # a bulk import's CSV (100,000 rows are a few MB)
TEMPLATE_FIELD = "naming_convention_template"
TEMPLATE = re.compile(r"(?:[^{}]|\{[A-Za-z_][A-Za-z0-9_.-]*\})*")


class PresignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=255)
    size: int | None = Field(None, ge=0)


class ConfigCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("Default", min_length=1, max_length=255)
    metadata_adapter: Literal["default", "ovs"] = "default"
    image_format: Literal["webp", "png", "jpeg", "original"] = "webp"
    naming_convention_template: str | None = Field(None, max_length=1024)


class ConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=255)
    metadata_adapter: Literal["default", "ovs"] | None = None
    image_format: Literal["webp", "png", "jpeg", "original"] | None = None
    naming_convention_template: str | None = Field(None, max_length=1024)


class ConfigPublic(BaseModel):
    id: str
    created_at: str
    updated_at: str
    user_id: str
    organization_id: str | None = None
    name: str
    metadata_adapter: str
    image_format: str
    naming_convention_template: str | None = None


class ConfigList(RootModel[list[ConfigPublic]]):
    """Configurations, as a JSON list."""


class Deleted(BaseModel):
    message: str


def configurations() -> ExportConfigurations:
    return current_app.config["ASSETDAV_EXPORT_CONFIGS"]


# --- uploads --------------------------------------------------------------------------


@blueprint.post("/api/v1/uploads/presigned-url")
@endpoint(ok=UploadUrl, body=PresignBody, errors=(400, 413, 415), tags=TAGS)
def presigned_upload() -> Response:
    """A URL taking one PUT of the file, into a new asset of the user's upload project;
    `max_file_size` is the store's limit."""
    body: PresignBody = request.context.json
    store_name, project_name = current_app.config.get("ASSETDAV_SARTIQ_TARGET") or ("", "")
    store = context.store(store_name)
    project = store.locate(normalize_name(project_name or "uploads"))
    if store.stat(project) is None:
        with contextlib.suppress(AlreadyExists):
            store.make_folder(context.actor(), project)
    stem = normalize_name(body.filename.rsplit("/", 1)[-1])[:200]
    asset = context.asset_location(project, f"{uuid.uuid4().hex[:12]}_{stem}")
    answer = upload_url_for(
        store, asset, body.filename, body.content_type, body.size, create=True, update=False
    )
    limit = store.rules.max_file_size or current_app.config["ASSETDAV_UPLOADS"].max_size
    return jsonify({**answer, "max_file_size": limit})


# --- export configurations: rights --------------------------------------------------------


def _values(body: BaseModel, *, partial: bool) -> dict[str, Any]:
    """The fields given; null clears the template and leaves the other fields as they are."""
    values = body.model_dump(exclude_unset=partial)
    values = {k: v for k, v in values.items() if v is not None or k == TEMPLATE_FIELD}
    template = values.get("naming_convention_template")
    if template is not None and not TEMPLATE.fullmatch(template):
        raise ApiError(
            400,
            "Invalid template",
            "naming_convention_template takes text and {placeholders} such as {asset}, "
            "{version}, {ext} or {metadata.KEY}; braces must pair.",
        )
    return values


def _user(user_id: str) -> str:
    """Another user's configurations are an administrator's to see (and one's own)."""
    actor = context.actor()
    if user_id != actor.name and not actor.admin:
        raise ApiError(403, "Not allowed", "Only administrators see other users' configurations.")
    return user_id


def _organization(org_id: str, *, change: bool) -> str:
    actor = context.actor()
    groups = actor.write_groups if change else actor.read_groups | actor.write_groups
    if not actor.admin and org_id not in groups:
        what = "change" if change else "read"
        raise ApiError(
            403, "Not allowed", f"Only members of {org_id!r} may {what} its configurations."
        )
    return org_id


def _first(found: list[dict[str, Any]], whose: str) -> dict[str, Any]:
    if not found:
        raise ApiError(404, "No export configuration", f"{whose} has no export configuration.")
    return found[0]


def _by_id(config_id: str, *, change: bool) -> dict[str, Any]:
    found = configurations().get(config_id[:64])
    actor = context.actor()
    if found is None or not may_read(actor, found):
        raise ApiError(404, "No export configuration", f"There is no configuration {config_id!r}.")
    if change and not may_change(actor, found):
        raise ApiError(403, "Not allowed", "You may read this configuration, not change it.")
    return found


def _created(config: dict[str, Any]) -> Response:
    response = jsonify(config)
    response.status_code = 201
    return response


def _deleted(config: dict[str, Any]) -> Response:
    configurations().delete(config["id"])
    return jsonify({"message": f"Export configuration {config['id']} deleted."})


# --- export configurations: mine -------------------------------------------------------

ME = "/api/v1/users/me/export-configuration"


@blueprint.get(ME + "s")
@endpoint(ok=ConfigList, tags=TAGS)
def my_configurations() -> Response:
    """All my personal configurations (a JSON list)."""
    return jsonify(configurations().of_user(context.actor().name))


@blueprint.get(ME)
@endpoint(ok=ConfigPublic, errors=(404,), tags=TAGS)
def my_configuration() -> Response:
    """My first personal configuration (404 when I have none)."""
    return jsonify(_first(configurations().of_user(context.actor().name), "You"))


@blueprint.post(ME)
@endpoint(ok=ConfigPublic, ok_status=201, body=ConfigCreate, errors=(400,), tags=TAGS)
def create_my_configuration() -> Response:
    """Another personal configuration (several are allowed)."""
    values = _values(request.context.json, partial=False)
    return _created(configurations().create(context.actor().name, None, values))


@blueprint.patch(ME)
@endpoint(ok=ConfigPublic, body=ConfigUpdate, errors=(400, 404), tags=TAGS)
def update_my_configuration() -> Response:
    """Change the fields given of my first personal configuration."""
    first = _first(configurations().of_user(context.actor().name), "You")
    return jsonify(
        configurations().update(first["id"], _values(request.context.json, partial=True))
    )


@blueprint.delete(ME)
@endpoint(ok=Deleted, errors=(404,), tags=TAGS)
def delete_my_configuration() -> Response:
    """Delete my first personal configuration."""
    return _deleted(_first(configurations().of_user(context.actor().name), "You"))


# --- by id ------------------------------------------------------------------------------

BY_ID = "/api/v1/users/export-configurations/<config_id>"


@blueprint.get(BY_ID)
@endpoint(ok=ConfigPublic, errors=(404,), tags=TAGS)
def get_configuration(config_id: str) -> Response:
    return jsonify(_by_id(config_id, change=False))


@blueprint.patch(BY_ID)
@endpoint(ok=ConfigPublic, body=ConfigUpdate, errors=(400, 403, 404), tags=TAGS)
def update_configuration(config_id: str) -> Response:
    found = _by_id(config_id, change=True)
    return jsonify(
        configurations().update(found["id"], _values(request.context.json, partial=True))
    )


@blueprint.delete(BY_ID)
@endpoint(ok=Deleted, errors=(403, 404), tags=TAGS)
def delete_configuration(config_id: str) -> Response:
    return _deleted(_by_id(config_id, change=True))


# --- a user's (administrators, or the user) ---------------------------------------------

USER = "/api/v1/users/<user_id>/export-configuration"


@blueprint.get(USER)
@endpoint(ok=ConfigPublic, errors=(403, 404), tags=TAGS)
def user_configuration(user_id: str) -> Response:
    return jsonify(_first(configurations().of_user(_user(user_id)), f"User {user_id!r}"))


@blueprint.post(USER)
@endpoint(ok=ConfigPublic, ok_status=201, body=ConfigCreate, errors=(400, 403), tags=TAGS)
def create_user_configuration(user_id: str) -> Response:
    values = _values(request.context.json, partial=False)
    return _created(configurations().create(_user(user_id), None, values))


@blueprint.patch(USER)
@endpoint(ok=ConfigPublic, body=ConfigUpdate, errors=(400, 403, 404), tags=TAGS)
def update_user_configuration(user_id: str) -> Response:
    first = _first(configurations().of_user(_user(user_id)), f"User {user_id!r}")
    return jsonify(
        configurations().update(first["id"], _values(request.context.json, partial=True))
    )


@blueprint.delete(USER)
@endpoint(ok=Deleted, errors=(403, 404), tags=TAGS)
def delete_user_configuration(user_id: str) -> Response:
    return _deleted(_first(configurations().of_user(_user(user_id)), f"User {user_id!r}"))


# --- an organization's (a group's) ------------------------------------------------------

ORG = "/api/v1/users/organizations/<org_id>/export-configuration"


@blueprint.get(ORG + "s")
@endpoint(ok=ConfigList, errors=(403,), tags=TAGS)
def organization_configurations(org_id: str) -> Response:
    return jsonify(configurations().of_organization(_organization(org_id, change=False)))


@blueprint.get(ORG)
@endpoint(ok=ConfigPublic, errors=(403, 404), tags=TAGS)
def organization_configuration(org_id: str) -> Response:
    found = configurations().of_organization(_organization(org_id, change=False))
    return jsonify(_first(found, f"Organization {org_id!r}"))


@blueprint.post(ORG)
@endpoint(ok=ConfigPublic, ok_status=201, body=ConfigCreate, errors=(400, 403), tags=TAGS)
def create_organization_configuration(org_id: str) -> Response:
    values = _values(request.context.json, partial=False)
    org = _organization(org_id, change=True)
    return _created(configurations().create(context.actor().name, org, values))


@blueprint.patch(ORG)
@endpoint(ok=ConfigPublic, body=ConfigUpdate, errors=(400, 403, 404), tags=TAGS)
def update_organization_configuration(org_id: str) -> Response:
    found = configurations().of_organization(_organization(org_id, change=True))
    first = _first(found, f"Organization {org_id!r}")
    return jsonify(
        configurations().update(first["id"], _values(request.context.json, partial=True))
    )


@blueprint.delete(ORG)
@endpoint(ok=Deleted, errors=(403, 404), tags=TAGS)
def delete_organization_configuration(org_id: str) -> Response:
    found = configurations().of_organization(_organization(org_id, change=True))
    return _deleted(_first(found, f"Organization {org_id!r}"))


# --- bulk CSV import ----------------------------------------------------------------------


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


def _bulk() -> BulkImports:
    return current_app.config["ASSETDAV_BULK_IMPORTS"]


def _job(job_id: str) -> dict[str, Any]:
    found = _bulk().get(job_id[:64])
    actor = context.actor()
    if found is None or not (actor.admin or found["username"] == actor.name):
        raise ApiError(404, "No such import", f"You have no bulk import {job_id[:64]!r}.")
    return found


def _public_job(job: dict[str, Any]) -> dict[str, Any]:
    return {k: job[k] for k in BulkJob.model_fields}


@blueprint.post("/bulk-upload/")
@documented_by_hand(
    "/compat/sartiq/bulk-upload/",
    "post",
    "sartiq",
    "Start a bulk CSV import (the CSV as the multipart part `file`, or a text/csv body): "
    "202 with the job; a CSV whose header is wrong is 400 and starts nothing.",
    {"202": "started", "400": "a bad header or body", "415": "not CSV"},
    media_type="application/json",
)
def start_bulk_upload() -> Response:
    store_name, project = current_app.config.get("ASSETDAV_SARTIQ_TARGET") or ("", "uploads")
    store = context.store(store_name)
    spool = _bulk().folder / f"incoming-{uuid.uuid4().hex}.csv"
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
        job_id = _bulk().create(context.actor().name, store.name, project, spool)
    except BadCsv as exc:
        raise ApiError(400, "Bad CSV", str(exc)) from None
    except UnicodeDecodeError:
        raise ApiError(400, "Bad CSV", "The CSV is not UTF-8 text.") from None
    finally:
        spool.unlink(missing_ok=True)
    job = _bulk().get(job_id)
    assert job is not None
    response = jsonify(_public_job(job))
    response.status_code = 202
    response.headers["Location"] = f"{request.script_root}/compat/sartiq/bulk-upload/{job_id}"
    return response


def _spool_body(spool: Path) -> None:
    size = 0
    with open(spool, "wb") as out:
        for piece in stream_body():
            size += len(piece)
            if size > MAX_CSV_BYTES:
                raise ApiError(413, "CSV too large", f"A CSV may have {MAX_CSV_BYTES} bytes.")
            out.write(piece)


@blueprint.get("/bulk-upload/<job_id>")
@endpoint(ok=BulkJob, errors=(404,), tags=TAGS)
def bulk_upload_status(job_id: str) -> Response:
    return jsonify(_public_job(_job(job_id)))


@blueprint.get("/bulk-upload/<job_id>/errors")
@endpoint(ok=BulkErrors, errors=(404,), tags=TAGS)
def bulk_upload_errors(job_id: str) -> Response:
    return jsonify(_bulk().errors(_job(job_id)["id"]))
