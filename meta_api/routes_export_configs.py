"""Export configurations in the native API: `GET /api/export-configurations` lists those
you may use (your own and your organizations'), `POST` makes one (with `organization_id`:
a group's, if you write for it), `GET`/`PATCH`/`DELETE .../{id}` one of them. The same
records as Sartiq's face (meta_api/export_configurations.py)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from pydantic import Field

from . import context
from . import export_configurations as ec
from .spec import endpoint

blueprint = Blueprint("export_configs", __name__)
TAGS = ["exports"]
ROUTE = "/export-configurations"


class NewConfiguration(ec.ConfigCreate):
    organization_id: str | None = Field(
        None, min_length=1, max_length=255, description="a group you write for: shared with it"
    )


@blueprint.get(ROUTE)
@endpoint(ok=ec.ConfigList, tags=TAGS)
def list_configurations() -> Response:
    """The configurations you may use: your own, then your organizations' (by name)."""
    actor = context.actor()
    found = ec.configurations().of_user(actor.name)
    for group in sorted(actor.read_groups | actor.write_groups):
        found += ec.configurations().of_organization(group)
    return jsonify(found)


@blueprint.post(ROUTE)
@endpoint(ok=ec.ConfigPublic, ok_status=201, body=NewConfiguration, errors=(400, 403), tags=TAGS)
def create_configuration() -> Response:
    """A new configuration: yours, or an organization's when `organization_id` is given."""
    body: NewConfiguration = request.context.json
    org = body.organization_id
    if org is not None:
        ec.organization_of(org, change=True)
    values = ec.values_of(
        ec.ConfigCreate(**body.model_dump(exclude={"organization_id"})), partial=False
    )
    return ec.created(ec.configurations().create(context.actor().name, org, values))


@blueprint.get(ROUTE + "/<config_id>")
@endpoint(ok=ec.ConfigPublic, errors=(404,), tags=TAGS)
def get_configuration(config_id: str) -> Response:
    return jsonify(ec.by_id(config_id, change=False))


@blueprint.patch(ROUTE + "/<config_id>")
@endpoint(ok=ec.ConfigPublic, body=ec.ConfigUpdate, errors=(400, 403, 404), tags=TAGS)
def update_configuration(config_id: str) -> Response:
    """Change the fields given (a null template clears it)."""
    found = ec.by_id(config_id, change=True)
    changes = ec.values_of(request.context.json, partial=True)
    return jsonify(ec.configurations().update(found["id"], changes))


@blueprint.delete(ROUTE + "/<config_id>")
@endpoint(ok=ec.Deleted, errors=(403, 404), tags=TAGS)
def delete_configuration(config_id: str) -> Response:
    return ec.deleted(ec.by_id(config_id, change=True))
