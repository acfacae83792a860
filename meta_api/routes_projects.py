"""One project: its metadata, version snapshots, and its assets (list, create)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from stores import model

from . import context, projects
from .media import with_preview_url
from .models import (
    AssetCreated,
    AssetList,
    AssetListQuery,
    CreateAsset,
    ProjectMeta,
    ProjectMetaEdit,
    VersionRequest,
)
from .routes_search import search_index
from .spec import endpoint

blueprint = Blueprint("projects", __name__)


@blueprint.get("/<store_id>/<project_id>/projectMeta")
@endpoint(ok=ProjectMeta, tags=["projects"])
def get_project_meta(store_id: str, project_id: str) -> Response:
    store, project = context.project(store_id, project_id)
    return jsonify(projects.project_meta(store, context.actor(), project))


@blueprint.post("/<store_id>/<project_id>/projectMeta")
@endpoint(ok=ProjectMeta, body=ProjectMetaEdit, errors=(400, 409, 507), tags=["projects"])
def set_project_meta(store_id: str, project_id: str) -> Response:
    """Change any of the editable fields; the others stay as they are."""
    store, project = context.project(store_id, project_id)
    body: ProjectMetaEdit = request.context.json
    projects.update_project_meta(store, context.actor(), project, body.model_dump())
    return jsonify(projects.project_meta(store, context.actor(), project))


@blueprint.post("/<store_id>/<project_id>/version")
@endpoint(ok=ProjectMeta, body=VersionRequest, errors=(400, 409, 507), tags=["projects"])
def snapshot_project(store_id: str, project_id: str) -> Response:
    """Record each asset's current version in a named snapshot (newest first)."""
    store, project = context.project(store_id, project_id)
    body: VersionRequest = request.context.json
    actor = context.actor()
    versions = {
        str(meta["id"]): str(meta["version"])
        for meta in (model.public_asset(m) for m in _asset_sidecars(store, project))
    }
    snapshot = {
        "name": body.version_name,
        "description": body.version_description,
        "date_added": model.now_text(),
        "versions": versions,
    }

    def prepend(metadata: dict) -> None:
        existing = metadata.get("versions")
        metadata["versions"] = [snapshot] + (existing if isinstance(existing, list) else [])

    projects.edit_project(store, actor, project, prepend)
    return jsonify(projects.project_meta(store, actor, project))


def _asset_sidecars(store, project):
    actor = context.actor()
    for entry in store.list_folder(actor, project):
        if entry.is_dir:
            meta = store.read_meta(actor, project.child(entry.name))
            if meta:
                yield {**meta, "id": entry.name}


@blueprint.get("/<store_id>/<project_id>/list")
@endpoint(ok=AssetList, query=AssetListQuery, tags=["assets"])
def list_assets(store_id: str, project_id: str) -> Response:
    """The assets of a project with their public metadata; `filterByTag` keeps those with
    that tag; `includeEmpty=true` adds folders that have no sidecar yet."""
    store, project = context.project(store_id, project_id)
    query: AssetListQuery = request.context.query
    actor = context.actor()
    tagged = None
    if query.filterByTag is not None:
        tagged = (
            search_index()
            .fresh_reader()
            .names_with_tag("asset", query.filterByTag, store.name, project.name)
        )
    assets = []
    for entry in sorted(store.list_folder(actor, project), key=lambda e: e.name):
        if not entry.is_dir or (tagged is not None and entry.name not in tagged):
            continue
        meta = store.read_meta(actor, project.child(entry.name))
        if meta:
            public = model.public_asset({**meta, "id": entry.name, "project": project.name})
            assets.append(with_preview_url(store.name, public, meta))
        elif query.includeEmpty and tagged is None:
            assets.append({"name": entry.name, "project": project.name})
    return jsonify({"Assets": assets})


@blueprint.post("/<store_id>/<project_id>/create")
@endpoint(ok=AssetCreated, body=CreateAsset, errors=(400, 409, 507), tags=["assets"])
def create_asset(store_id: str, project_id: str) -> Response:
    """Create an asset (a folder with a sidecar and a `Created` history entry)."""
    store, project = context.project(store_id, project_id)
    body: CreateAsset = request.context.json
    loc = context.asset_location(project, body.id or body.name or "")
    store.make_folder(context.actor(), loc, display_name=body.name)
    return jsonify({"Asset": loc.name})
