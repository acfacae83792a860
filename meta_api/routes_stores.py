"""Stores and their projects: `/api/list`, `/api/{store}/list`, `/api/{store}/create`."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from stores.errors import InvalidName

from . import context, projects
from .models import (
    CreateProject,
    Names,
    ProjectCreated,
    ProjectList,
    ProjectListQuery,
    StoreStats,
)
from .routes_search import search_index
from .spec import endpoint

blueprint = Blueprint("stores", __name__)


@blueprint.get("/list")
@endpoint(ok=Names, errors=(), tags=["stores"])
def list_stores() -> Response:
    """The names of the stores."""
    return jsonify(context.registry().names())


@blueprint.get("/<store_id>/list")
@endpoint(ok=ProjectList, query=ProjectListQuery, tags=["projects"])
def list_projects(store_id: str) -> Response:
    """The projects of a store the caller may read; `metadata=true` adds their metadata,
    `filterByTag` keeps those with that tag."""
    query: ProjectListQuery = request.context.query
    store = context.store(store_id)
    with_metadata = query.metadata or query.filterByTag is not None or query.includeEmpty
    tagged = None
    if query.filterByTag is not None:
        reader = search_index().fresh_reader()
        tagged = reader.names_with_tag("project", query.filterByTag, store.name)
    result = [
        projects.summary(store, entry, context.actor(), with_metadata=with_metadata)
        for entry in projects.readable_projects(store, context.actor())
        if tagged is None or entry.name in tagged
    ]
    return jsonify(result)


@blueprint.get("/<store_id>/stats")
@endpoint(ok=StoreStats, tags=["stores"])
def store_stats(store_id: str) -> Response:
    """How many files the projects you may read hold, their bytes, and the bytes they take
    on disk (`unique_bytes`: a file hard-linked by dedup counts once)."""
    store = context.store(store_id)
    return jsonify(store.stats(context.actor()))


@blueprint.post("/<store_id>/create")
@endpoint(ok=ProjectCreated, body=CreateProject, errors=(400, 409, 507), tags=["projects"])
def create_project(store_id: str) -> Response:
    """Create a project (a folder with a sidecar) with the groups that may use it."""
    body: CreateProject = request.context.json
    store = context.store(store_id)
    if "/" in body.id:
        raise InvalidName(f"{body.id!r} is not a project id: ids are one name.", rule="separator")
    loc = store.locate(body.id)
    store.make_folder(context.actor(), loc, display_name=body.name, groups=body.groups)
    return jsonify({"Project": loc.name})
