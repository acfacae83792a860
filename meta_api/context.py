"""What every route needs from the running server: the stores and the acting user."""

from __future__ import annotations

from flask import current_app, request

from stores import NOBODY, PROJECT_LEVEL, Actor, FileStore, Location, Registry
from stores.errors import AssetNotFound, ProjectNotFound

from .errors import ApiError

__all__ = ["ApiError", "actor", "asset", "project", "registry", "store"]


def registry() -> Registry:
    return current_app.config["ASSETDAV_REGISTRY"]


def actor() -> Actor:
    return request.environ.get("assetdav.actor", NOBODY)


def store(store_id: str) -> FileStore:
    return registry().get(store_id)


def project(store_id: str, project_id: str) -> tuple[FileStore, Location]:
    """The store and an existing project's location, or ProjectNotFound (400 in this API)."""
    found = store(store_id)
    loc = found.locate(project_id)
    if loc.level != PROJECT_LEVEL or found.stat(loc) is None or not found.fs_path(loc).is_dir():
        raise ProjectNotFound(f"The project {project_id!r} does not exist in store {store_id!r}.")
    found.check_read(actor(), loc)
    return found, loc


def asset(store_id: str, project_id: str, asset_id: str) -> tuple[FileStore, Location]:
    """The store and an existing asset's location, or AssetNotFound (400 in this API)."""
    found, loc = project(store_id, project_id)
    asset_loc = loc.child(asset_id) if "/" not in asset_id else None
    if asset_loc is None or found.stat(asset_loc) is None:
        raise AssetNotFound(f"The asset {asset_id!r} does not exist in project {project_id!r}.")
    return found, found.locate(f"{project_id}/{asset_id}")
