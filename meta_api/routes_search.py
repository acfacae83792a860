"""Search and tag refine over the index, limited to what the caller may read."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from index.queries import AssetFilter
from index.service import SearchIndex
from stores.state import TagIds

from . import context
from .asset_answers import asset_answer
from .asset_models import AssetPage
from .errors import ApiError
from .search_models import AssetQuery, Filters, Refined, RefineQuery, TagPage, TagQuery
from .spec import endpoint

blueprint = Blueprint("search", __name__)


def tag_ids() -> TagIds:
    return current_app.config["ASSETDAV_TAG_IDS"]


def search_index() -> SearchIndex:
    return current_app.config["ASSETDAV_INDEX"]


def _listed(name: str) -> list[str]:
    """Tags given repeated (?t=a&t=b), comma-separated (?t=a,b), or both."""
    return [
        part.strip()
        for value in request.args.getlist(name)
        for part in value.split(",")
        if part.strip()
    ]


def asset_filter(query: Filters) -> AssetFilter:
    metadata: dict[str, Any] = {}
    if query.metadata_filter:
        try:
            metadata = json.loads(query.metadata_filter)
        except ValueError:
            metadata = None  # type: ignore[assignment]
        if not isinstance(metadata, dict):
            raise ApiError(
                400,
                "Invalid parameter",
                'metadata_filter must be a JSON object, e.g. {"camera": "X100"}.',
            )
    if query.store is not None:
        context.store(query.store)  # an unknown store is a 400, not an empty answer
    return AssetFilter(
        store=query.store,
        project=query.project,
        include_tags=tuple(_listed("include_tags")),
        exclude_tags=tuple(_listed("exclude_tags")),
        name_contains=query.name_contains or None,
        metadata=metadata,
        q=query.q or None,
    )


def readable_for(query: Filters) -> list[tuple[str, str]] | None:
    return context.registry().readable(context.actor(), include_public=query.include_public)


@blueprint.get("/assets")
@endpoint(ok=AssetPage, query=AssetQuery, tags=["search"])
def search_assets() -> Response:
    """A page of the assets matching the filters, with their public metadata and files."""
    query: AssetQuery = request.context.query
    hits, total = (
        search_index()
        .fresh_reader()
        .search(
            asset_filter(query),
            readable_for(query),
            sort=query.sort,
            descending=query.order == "desc",
            limit=query.limit,
            offset=query.offset,
        )
    )
    assets = [found for found in (_found(hit) for hit in hits) if found is not None]
    return jsonify({"assets": assets, "total": total, "has_more": query.offset + len(hits) < total})


def _found(hit: Any) -> dict[str, Any] | None:
    store = context.registry().find(hit.store)
    if store is None:
        return None
    owner = store.locate(f"{hit.project}/{hit.asset}")
    try:
        meta = store.read_meta(context.actor(), owner) or {}
    except Exception:  # noqa: BLE001 - gone since it was indexed: skip it
        return None
    return asset_answer(store, owner, meta)


@blueprint.get("/tags")
@endpoint(ok=TagPage, query=TagQuery, tags=["search"])
def list_tags() -> Response:
    """Tags over the filtered assets with how many carry each."""
    query: TagQuery = request.context.query
    counts = search_index().fresh_reader().tag_counts(asset_filter(query), readable_for(query))
    items = [
        (name, n) for name, n in counts.items() if not query.prefix or name.startswith(query.prefix)
    ]
    if query.order == "name_asc":
        items.sort(key=lambda item: item[0])
    else:
        items.sort(key=lambda item: (-item[1], item[0]))
    page = items[query.offset : query.offset + query.limit]
    ids = tag_ids().ids_of(n for n, _c in page)
    return jsonify(
        {
            "tags": [{"id": ids.get(n), "name": n, "count": c} for n, c in page],
            "total": len(items),
            "has_more": query.offset + len(page) < len(items),
        }
    )


@blueprint.get("/tags/refine")
@endpoint(ok=Refined, query=RefineQuery, tags=["search"])
def refine_tags() -> Response:
    """The histogram of tags over the filtered assets (the next filters to offer)."""
    query: RefineQuery = request.context.query
    counts = search_index().fresh_reader().tag_counts(asset_filter(query), readable_for(query))
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[: query.limit]
    return jsonify({"tag_counts": dict(top)})
