"""Models of the download routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DownloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source_url: str | None = Field(None, max_length=8192)
    url: str | None = Field(None, max_length=8192, description="the same, as POST /api/assets")
    name: str | None = Field(None, max_length=255)
    tags: list[str] = Field(default_factory=list)
    user_metadata: dict[str, Any] = Field(default_factory=dict)
    preview_id: str | None = None
    store: str | None = None
    project: str | None = None
    hash: str | None = Field(None, description="the content's hash, when known (any algorithm)")


class TaskAnswer(BaseModel):
    id: str
    status: str = Field(description="queued, running, done, failed or canceled")
    bytes_done: int
    bytes_total: int | None = None
    asset_id: str | None = None
    error: str | None = None
    source_url: str | None = None
    created_at: str | None = None
    task_id: str | None = None
    kind: str | None = Field(None, description="download, or the background work's kind")
    progress: dict[str, Any] | None = None
    result: dict[str, Any] | None = Field(None, description="background work's answer, once done")
    download_url: str | None = Field(None, description="a finished export's zip (presigned)")


class RemoteQuery(BaseModel):
    url: str = Field(max_length=8192)


class RemoteMetadata(BaseModel):
    url: str
    name: str
    size: int | None = None
    mime_type: str | None = None
    hash: str | None = None
