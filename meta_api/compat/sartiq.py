"""Sartiq's uploads and export configurations at `/compat/sartiq/` (its client's base URL;
`/compat/sartiq/files/...` are its file URLs, served read-only by WebDAV with conversion).

Uploads go to the user's default upload project (`sartiq.store`/`sartiq.project`), one
new asset per file, and so do bulk imports' rows without a project. Export configurations
are those of meta_api/export_configurations.py, bulk imports those of routes_bulk."""

from __future__ import annotations

import contextlib
import uuid

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from stores.errors import AlreadyExists
from stores.names import normalize_name

from .. import context
from .. import export_configurations as ec
from ..routes_bulk import BulkErrors, BulkJob, bulk_imports, job_of, public_job, start_import
from ..routes_presigned import UploadUrl, upload_url_for
from ..spec import documented_by_hand, endpoint

blueprint = Blueprint("sartiq", __name__)
TAGS = ["sartiq"]


class PresignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=1, max_length=255)
    size: int | None = Field(None, ge=0)


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


# --- export configurations: mine -------------------------------------------------------

ME = "/api/v1/users/me/export-configuration"


@blueprint.get(ME + "s")
@endpoint(ok=ec.ConfigList, tags=TAGS)
def my_configurations() -> Response:
    """All my personal configurations (a JSON list)."""
    return jsonify(ec.configurations().of_user(context.actor().name))


@blueprint.get(ME)
@endpoint(ok=ec.ConfigPublic, errors=(404,), tags=TAGS)
def my_configuration() -> Response:
    """My first personal configuration (404 when I have none)."""
    return jsonify(ec.first_of(ec.configurations().of_user(context.actor().name), "You"))


@blueprint.post(ME)
@endpoint(ok=ec.ConfigPublic, ok_status=201, body=ec.ConfigCreate, errors=(400,), tags=TAGS)
def create_my_configuration() -> Response:
    """Another personal configuration (several are allowed)."""
    values = ec.values_of(request.context.json, partial=False)
    return ec.created(ec.configurations().create(context.actor().name, None, values))


@blueprint.patch(ME)
@endpoint(ok=ec.ConfigPublic, body=ec.ConfigUpdate, errors=(400, 404), tags=TAGS)
def update_my_configuration() -> Response:
    """Change the fields given of my first personal configuration."""
    first = ec.first_of(ec.configurations().of_user(context.actor().name), "You")
    return jsonify(
        ec.configurations().update(first["id"], ec.values_of(request.context.json, partial=True))
    )


@blueprint.delete(ME)
@endpoint(ok=ec.Deleted, errors=(404,), tags=TAGS)
def delete_my_configuration() -> Response:
    """Delete my first personal configuration."""
    return ec.deleted(ec.first_of(ec.configurations().of_user(context.actor().name), "You"))


# --- by id ------------------------------------------------------------------------------

BY_ID = "/api/v1/users/export-configurations/<config_id>"


@blueprint.get(BY_ID)
@endpoint(ok=ec.ConfigPublic, errors=(404,), tags=TAGS)
def get_configuration(config_id: str) -> Response:
    return jsonify(ec.by_id(config_id, change=False))


@blueprint.patch(BY_ID)
@endpoint(ok=ec.ConfigPublic, body=ec.ConfigUpdate, errors=(400, 403, 404), tags=TAGS)
def update_configuration(config_id: str) -> Response:
    found = ec.by_id(config_id, change=True)
    return jsonify(
        ec.configurations().update(found["id"], ec.values_of(request.context.json, partial=True))
    )


@blueprint.delete(BY_ID)
@endpoint(ok=ec.Deleted, errors=(403, 404), tags=TAGS)
def delete_configuration(config_id: str) -> Response:
    return ec.deleted(ec.by_id(config_id, change=True))


# --- a user's (administrators, or the user) ---------------------------------------------

USER = "/api/v1/users/<user_id>/export-configuration"


@blueprint.get(USER)
@endpoint(ok=ec.ConfigPublic, errors=(403, 404), tags=TAGS)
def user_configuration(user_id: str) -> Response:
    return jsonify(
        ec.first_of(ec.configurations().of_user(ec.user_of(user_id)), f"User {user_id!r}")
    )


@blueprint.post(USER)
@endpoint(ok=ec.ConfigPublic, ok_status=201, body=ec.ConfigCreate, errors=(400, 403), tags=TAGS)
def create_user_configuration(user_id: str) -> Response:
    values = ec.values_of(request.context.json, partial=False)
    return ec.created(ec.configurations().create(ec.user_of(user_id), None, values))


@blueprint.patch(USER)
@endpoint(ok=ec.ConfigPublic, body=ec.ConfigUpdate, errors=(400, 403, 404), tags=TAGS)
def update_user_configuration(user_id: str) -> Response:
    first = ec.first_of(ec.configurations().of_user(ec.user_of(user_id)), f"User {user_id!r}")
    return jsonify(
        ec.configurations().update(first["id"], ec.values_of(request.context.json, partial=True))
    )


@blueprint.delete(USER)
@endpoint(ok=ec.Deleted, errors=(403, 404), tags=TAGS)
def delete_user_configuration(user_id: str) -> Response:
    return ec.deleted(
        ec.first_of(ec.configurations().of_user(ec.user_of(user_id)), f"User {user_id!r}")
    )


# --- an organization's (a group's) ------------------------------------------------------

ORG = "/api/v1/users/organizations/<org_id>/export-configuration"


@blueprint.get(ORG + "s")
@endpoint(ok=ec.ConfigList, errors=(403,), tags=TAGS)
def organization_configurations(org_id: str) -> Response:
    return jsonify(ec.configurations().of_organization(ec.organization_of(org_id, change=False)))


@blueprint.get(ORG)
@endpoint(ok=ec.ConfigPublic, errors=(403, 404), tags=TAGS)
def organization_configuration(org_id: str) -> Response:
    found = ec.configurations().of_organization(ec.organization_of(org_id, change=False))
    return jsonify(ec.first_of(found, f"Organization {org_id!r}"))


@blueprint.post(ORG)
@endpoint(ok=ec.ConfigPublic, ok_status=201, body=ec.ConfigCreate, errors=(400, 403), tags=TAGS)
def create_organization_configuration(org_id: str) -> Response:
    values = ec.values_of(request.context.json, partial=False)
    org = ec.organization_of(org_id, change=True)
    return ec.created(ec.configurations().create(context.actor().name, org, values))


@blueprint.patch(ORG)
@endpoint(ok=ec.ConfigPublic, body=ec.ConfigUpdate, errors=(400, 403, 404), tags=TAGS)
def update_organization_configuration(org_id: str) -> Response:
    found = ec.configurations().of_organization(ec.organization_of(org_id, change=True))
    first = ec.first_of(found, f"Organization {org_id!r}")
    return jsonify(
        ec.configurations().update(first["id"], ec.values_of(request.context.json, partial=True))
    )


@blueprint.delete(ORG)
@endpoint(ok=ec.Deleted, errors=(403, 404), tags=TAGS)
def delete_organization_configuration(org_id: str) -> Response:
    found = ec.configurations().of_organization(ec.organization_of(org_id, change=True))
    return ec.deleted(ec.first_of(found, f"Organization {org_id!r}"))


# --- bulk CSV import ----------------------------------------------------------------------


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
    return start_import(store_name, project, "/compat/sartiq/bulk-upload")


@blueprint.get("/bulk-upload/<job_id>")
@endpoint(ok=BulkJob, errors=(404,), tags=TAGS)
def bulk_upload_status(job_id: str) -> Response:
    return jsonify(public_job(job_of(job_id)))


@blueprint.get("/bulk-upload/<job_id>/errors")
@endpoint(ok=BulkErrors, errors=(404,), tags=TAGS)
def bulk_upload_errors(job_id: str) -> Response:
    return jsonify(bulk_imports().errors(job_of(job_id)["id"]))
