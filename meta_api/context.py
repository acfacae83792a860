"""What every route needs from the running server: the stores and the acting user."""

from __future__ import annotations

from flask import current_app, request

from stores import NOBODY, Actor, FileStore, Location, Registry
from stores.errors import AssetNotFound, InvalidName, ProjectNotFound
from stores.names import normalize_name

from .errors import ApiError

__all__ = ["ApiError", "actor", "asset", "asset_location", "project", "registry", "store"]


def registry() -> Registry:
    return current_app.config["ASSETDAV_REGISTRY"]


def actor() -> Actor:
    return request.environ.get("assetdav.actor", NOBODY)


def store(store_id: str) -> FileStore:
    return registry().get(store_id)


def project(store_id: str, project_id: str) -> tuple[FileStore, Location]:
    """The store and an existing project's location, or ProjectNotFound (400 in this API);
    a name no folder could have (NUL, too long, a separator) is InvalidName (400)."""
    found = store(store_id)
    loc = Location(found.name, (normalize_name(project_id),))
    if "/" in project_id or not found.fs_path(loc).is_dir():
        raise ProjectNotFound(f"The project {project_id!r} does not exist in store {store_id!r}.")
    found.check_read(actor(), loc)
    return found, loc


def asset_location(project: Location, asset_id: str) -> Location:
    """Where the asset `asset_id` of `project` is (or would be): one folder name, checked
    (an empty id, a path, NUL or an over-long name is InvalidName, 400)."""
    if not asset_id or not asset_id.strip():
        raise InvalidName("Give the asset an id.", rule="missing-id")
    if "/" in asset_id or "\\" in asset_id:
        raise InvalidName(f"{asset_id!r} is not an asset id: ids are one name.", rule="separator")
    return project.child(normalize_name(asset_id))


def asset(store_id: str, project_id: str, asset_id: str) -> tuple[FileStore, Location]:
    """The store and an existing asset's location, or AssetNotFound (400 in this API)."""
    found, loc = project(store_id, project_id)
    asset_loc = asset_location(loc, asset_id)
    if not found.fs_path(asset_loc).is_dir():
        raise AssetNotFound(f"The asset {asset_id!r} does not exist in project {project_id!r}.")
    return found, asset_loc
