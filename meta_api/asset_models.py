"""Models of `/api/assets` in ComfyUI's shapes (the asset API by id)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .search_models import FileInfo, Filters


class AssetAnswer(BaseModel):
    """One asset: ComfyUI's fields, then ours (OVE's fields are there too)."""

    id: str = Field(description="its global id (a UUID kept in its sidecar)")
    name: str
    asset_hash: str | None = Field(None, description="blake3:<hex> of its current file")
    size: int
    mime_type: str | None = None
    tags: list[str]
    preview_id: str | None = None
    preview_url: str | None = None
    user_metadata: dict[str, Any]
    created_at: str | None = None
    updated_at: str | None = None
    last_access_time: str | None = None
    store: str
    project: str
    asset: str = Field(description="its folder's name in the project")
    version: int
    file: str | None = Field(None, description="its current file (a key of `files`)")
    description: str = ""
    files: list[FileInfo]


class AssetPage(BaseModel):
    assets: list[AssetAnswer]
    total: int
    has_more: bool


class CreatedAsset(AssetAnswer):
    created_new: bool


class AssetEdit(BaseModel):
    """What `PUT /api/assets/{id}` changes; any other field is 400."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    mime_type: str | None = Field(None, description='e.g. "image/png"; "" guesses it again')
    preview_id: str | None = Field(None, description="the id of the asset that previews it")
    user_metadata: dict[str, Any] | None = Field(None, description="replaces it whole")


class TagList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tags: list[str] = Field(min_length=1)


class TagsAdded(BaseModel):
    added: list[str]
    already_present: list[str]
    total_tags: list[str]


class TagsRemoved(BaseModel):
    removed: list[str]
    not_present: list[str]
    total_tags: list[str]


class AssetFromHash(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hash: str = Field(description="xxh3:<32 hex>, blake3:<64 hex> or sha256:<64 hex>")
    name: str = Field(min_length=1, max_length=255)
    tags: list[str] = Field(default_factory=list)
    user_metadata: dict[str, Any] = Field(default_factory=dict)
    store: str | None = None
    project: str | None = None


class ComfyRefineQuery(Filters):
    limit: int = Field(100, ge=1, le=10000)


class TagName(BaseModel):
    name: str
    count: int


class ComfyRefined(BaseModel):
    tags: list[TagName]


class SeedScan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store: str | None = None
