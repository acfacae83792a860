"""Making a new asset from a finished file (an upload, stored bytes, a download): named
after what the client calls it, described, and found again when the bytes are there
already. Used by requests and by background downloads alike (the actor is explicit)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from stores import Actor, FileStore, Location
from stores.errors import AlreadyExists, ProjectNotFound, StoreError
from stores.hashing import RECORD_FIELDS
from stores.names import normalize_name

from . import context
from .asset_answers import main_file
from .errors import ApiError
from .routes_hashes import HashSpec, locations

MAX_SUFFIX = 1000  # "photo.png", "photo.png-2", ... when names repeat in a project


def target_project(
    actor: Actor, store: FileStore, project_name: str | None, default_project: str
) -> Location:
    """The project a new asset goes to; the default project is made on first use (a project
    named explicitly must exist). The caller must be able to write it."""
    name = project_name or default_project
    loc = store.locate(normalize_name(name))
    if not store.fs_path(loc).is_dir():
        if project_name:
            raise ProjectNotFound(f"The project {name!r} does not exist in store {store.name!r}.")
        with contextlib.suppress(AlreadyExists):  # made a moment ago by another upload
            store.make_folder(actor, loc)
    store.check_write(actor, loc)
    return loc


def holding(actor: Actor, store: FileStore, project: Location, wanted: HashSpec) -> Location | None:
    """The asset of `project` whose current file has these bytes, if any (request only:
    it looks the hash up among what the caller may read)."""
    field_name = RECORD_FIELDS[wanted.algorithm]
    for place in locations(wanted):
        if (place["store"], place["project"]) != (store.name, project.name) or not place["asset"]:
            continue
        owner = project.child(place["asset"])
        try:
            meta = store.read_meta(actor, owner) or {}
        except StoreError:
            continue
        found = main_file(meta)
        if found is not None and found[1].get(field_name) == wanted.digest:
            return owner
    return None


def new_asset(
    store: FileStore, project: Location, name: str, place: Callable[[Location], Any]
) -> Location:
    """Place the first version of a new asset named after `name` ("name", "name-2"...)."""
    base = normalize_name(name.strip())
    for n in range(1, MAX_SUFFIX + 1):
        asset = context.asset_location(project, base if n == 1 else f"{base}-{n}")
        if store.fs_path(asset).exists():
            continue
        try:
            place(asset)
        except AlreadyExists:
            continue  # taken a moment ago by another upload of the same name
        return asset
    raise ApiError(409, "Name taken", f"Too many assets are named {name!r} in this project.")


def describe(
    actor: Actor,
    store: FileStore,
    owner: Location,
    name: str,
    tags: list[str],
    user_metadata: dict[str, Any],
    preview_id: str | None = None,
) -> None:
    edits: dict[str, Any] = {"name": name, "tags": tags, "metadata": user_metadata}
    if preview_id:
        edits["preview_id"] = preview_id
    store.update_fields(actor, owner, edits)
