"""Models of the search routes: filters shared by all three, and their answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Filters(BaseModel):
    """Shared by /api/assets, /api/tags and /api/tags/refine. Tags are comma-separated
    or repeated; metadata_filter is a JSON object of field: value."""

    store: str | None = None
    project: str | None = None
    include_tags: list[str] = Field(default_factory=list)
    exclude_tags: list[str] = Field(default_factory=list)
    name_contains: str | None = None
    metadata_filter: str | None = Field(None, description='JSON object, e.g. {"camera": "X100"}')
    q: str | None = Field(None, description="free text over name, description, tags, file names")
    include_public: bool = Field(
        True, description="false: leave out public projects you read only because they are"
    )


class AssetQuery(Filters):
    sort: Literal["name", "created", "updated", "size"] = "name"
    order: Literal["asc", "desc"] = "asc"
    limit: int = Field(50, ge=1, le=1000)
    offset: int = Field(0, ge=0)


class TagQuery(Filters):
    prefix: str | None = None
    order: Literal["count_desc", "name_asc"] = "count_desc"
    limit: int = Field(100, ge=1, le=10000)
    offset: int = Field(0, ge=0)


class RefineQuery(Filters):
    limit: int = Field(100, ge=1, le=10000)


class FileInfo(BaseModel):
    name: str
    size: int
    xxh3_128: str
    blake3: str | None = None
    sha256: str | None = None


class TagCount(BaseModel):
    id: int | None = Field(None, description="the tag's stable id (as model managers name it)")
    name: str
    count: int


class TagPage(BaseModel):
    tags: list[TagCount]
    total: int
    has_more: bool


class Refined(BaseModel):
    tag_counts: dict[str, int]


class ScanState(BaseModel):
    state: Literal["idle", "running", "done", "failed"]
    total: int = 0
    done: int = 0
    adopted: int = 0
    started: str | None = None
    finished: str | None = None
    error: str | None = None
