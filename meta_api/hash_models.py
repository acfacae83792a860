"""Models of the content-hash routes."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HashLocation(BaseModel):
    store: str
    project: str
    asset: str | None
    version: int | None
    path: str
    size: int
    url: str


class HashAnswer(BaseModel):
    hash: str
    locations: list[HashLocation]


class FromHash(BaseModel):
    hash: str = Field(
        description="xxh3:<32 hex>, blake3:<64 hex> or sha256:<64 hex> (bare 32 hex: xxh3)"
    )
    filename: str = Field(min_length=1)
    create: bool = False
    update: bool = False
