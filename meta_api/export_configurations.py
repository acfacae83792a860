"""Export configurations (how an export names, converts and describes its files), kept in
the state dir: a user's own, or an organization's, where an organization is a group: its
members (read or write groups) read its configurations, its writers change them,
administrators do all. User ids are user names. Sartiq's face and the native
`/api/export-configurations` both use these shapes and rules."""

from __future__ import annotations

import re
from typing import Any, Literal

from flask import Response, current_app, jsonify
from pydantic import BaseModel, ConfigDict, Field, RootModel

from stores.state.export_configs import ExportConfigurations, may_change, may_read

from . import context
from .errors import ApiError

TEMPLATE_FIELD = "naming_convention_template"
TEMPLATE = re.compile(r"(?:[^{}]|\{[A-Za-z_][A-Za-z0-9_.-]*\})*")


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


def values_of(body: BaseModel, *, partial: bool) -> dict[str, Any]:
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


def user_of(user_id: str) -> str:
    """Another user's configurations are an administrator's to see (and one's own)."""
    actor = context.actor()
    if user_id != actor.name and not actor.admin:
        raise ApiError(403, "Not allowed", "Only administrators see other users' configurations.")
    return user_id


def organization_of(org_id: str, *, change: bool) -> str:
    actor = context.actor()
    groups = actor.write_groups if change else actor.read_groups | actor.write_groups
    if not actor.admin and org_id not in groups:
        what = "change" if change else "read"
        raise ApiError(
            403, "Not allowed", f"Only members of {org_id!r} may {what} its configurations."
        )
    return org_id


def first_of(found: list[dict[str, Any]], whose: str) -> dict[str, Any]:
    if not found:
        raise ApiError(404, "No export configuration", f"{whose} has no export configuration.")
    return found[0]


def by_id(config_id: str, *, change: bool) -> dict[str, Any]:
    found = configurations().get(config_id[:64])
    actor = context.actor()
    if found is None or not may_read(actor, found):
        raise ApiError(404, "No export configuration", f"There is no configuration {config_id!r}.")
    if change and not may_change(actor, found):
        raise ApiError(403, "Not allowed", "You may read this configuration, not change it.")
    return found


def created(config: dict[str, Any]) -> Response:
    response = jsonify(config)
    response.status_code = 201
    return response


def deleted(config: dict[str, Any]) -> Response:
    configurations().delete(config["id"])
    return jsonify({"message": f"Export configuration {config['id']} deleted."})
