"""Request and response models: what routes validate with, and what /api/openapi.json shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class Error(BaseModel):
    """Every error of the API."""

    title: str
    description: str
    rule: str | None = None


class Status(BaseModel):
    Status: Literal["OK"] = "OK"


class Result(BaseModel):
    result: Literal["OK"] = "OK"


# --- stores and projects -----------------------------------------------------------


class Names(RootModel[list[str]]):
    pass


class ProjectListQuery(BaseModel):
    metadata: bool = False
    filterByTag: str | None = None
    includeEmpty: bool = False


class ProjectSummary(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    id: str
    creationDate: str


class ProjectList(RootModel[list[ProjectSummary]]):
    pass


class CreateProject(BaseModel):
    id: str = Field(min_length=1, description="folder name of the project")
    name: str | None = Field(None, description="display name (defaults to id)")
    groups: list[str] = Field(default_factory=list, description="groups granting access")


class ProjectCreated(BaseModel):
    Project: str


class VersionSnapshot(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    description: str
    date_added: str
    versions: dict[str, str]


class ProjectMeta(BaseModel):
    """OVE's project metadata (`project.json` → Metadata) plus access facts."""

    id: str
    name: str
    description: str
    tags: list[str]
    authors: str
    publications: str
    notes: str
    thumbnail: str
    controller: str
    video_controller: bool
    html_controller: bool
    default_mode: str
    versions: list[VersionSnapshot]
    presenter_notes: str
    url: str
    hasProject: bool
    projectType: Literal["controller", "launcher", "none"]
    access: list[str]
    read_access: bool
    write_access: bool


class ProjectMetaEdit(BaseModel):
    """Any subset of the editable project metadata."""

    model_config = ConfigDict(extra="ignore")
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    authors: str | None = None
    publications: str | None = None
    notes: str | None = None
    thumbnail: str | None = None
    controller: str | None = None
    video_controller: bool | None = None
    html_controller: bool | None = None
    default_mode: str | None = None
    presenter_notes: str | None = None


class VersionRequest(BaseModel):
    version_name: str = Field(min_length=1)
    version_description: str


class Groups(BaseModel):
    groups: list[str]


# --- assets ------------------------------------------------------------------------


class AssetMeta(BaseModel):
    """The public metadata of an asset, as OVE shows it."""

    id: str
    name: str
    project: str
    description: str
    index_file: str
    version: int
    history: list[dict[str, Any]]
    tags: list[str]
    worker: str
    processing_status: str
    processing_error: str
    preview_url: str | None = Field(
        None, description="where its preview is served (?quality=low|medium|high); null: none"
    )
    metadata: dict[str, Any] | None = Field(
        None, description="the asset's own fields (in the answers of .../meta/{asset})"
    )
    uuid: str | None = Field(None, description="its global id (`id` in /api/assets answers)")


class StoreStats(BaseModel):
    files: int
    bytes: int
    unique_bytes: int = Field(description="bytes on disk: a hard-linked file counts once")
    saved_bytes: int = Field(description="bytes - unique_bytes: what dedup saves")


class EmptyFolder(BaseModel):
    """A folder of a project that has no sidecar (listed with includeEmpty=true)."""

    name: str
    project: str


class AssetList(BaseModel):
    Assets: list[AssetMeta | EmptyFolder]


class AssetListQuery(BaseModel):
    includeEmpty: bool = False
    filterByTag: str | None = None


class CreateAsset(BaseModel):
    id: str | None = Field(None, description="folder name of the asset (defaults to name)")
    name: str | None = Field(None, description="display name (defaults to id)")


class AssetCreated(BaseModel):
    Asset: str


class AssetMetaEdit(BaseModel):
    """The fields of an asset that can be changed through its metadata. The other fields
    of its public metadata may come back too (a client posting what it read), unchanged;
    anything else is 400, never dropped in silence."""

    model_config = ConfigDict(extra="allow")
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = Field(
        None, description="the asset's own fields (camera, rating...): replaces them whole"
    )


class FilesQuery(BaseModel):
    version: int | None = Field(
        None, ge=0, description="default: the current one; 0: the files outside version folders"
    )


class FileEntry(BaseModel):
    name: str
    url: str
    default: bool


class FileList(RootModel[list[FileEntry]]):
    pass


class UploadQuery(BaseModel):
    filename: str | None = Field(
        None,
        min_length=1,
        description="default: the Content-Disposition header's filename, or the file part's",
    )
    create: bool = False
    update: bool = False


class Uploaded(BaseModel):
    Asset: str
    Filename: str
    Version: int


# --- tags ----------------------------------------------------------------------------


class Tags(RootModel[list[str]]):
    pass


class TagChange(BaseModel):
    action: Literal["add", "remove"]
    data: list[str] = Field(min_length=1)


# --- objects -------------------------------------------------------------------------


class AnyJson(RootModel[Any]):
    pass


class ObjectInfo(BaseModel):
    name: str
    index_file: str


# --- users ---------------------------------------------------------------------------


class Credentials(BaseModel):
    user: str = Field(min_length=1)
    password: str = Field(min_length=1)
    cookie: bool = Field(
        False,
        description="also keep the token in an HttpOnly, SameSite=Strict cookie (for pages)",
    )


class Token(BaseModel):
    token: str


class UserQuery(BaseModel):
    user: str | None = None


class UserInfo(BaseModel):
    user: str
    read_groups: list[str]
    write_groups: list[str]
    admin_access: bool


class UserInfoList(RootModel[list[UserInfo]]):
    pass


class NewUser(BaseModel):
    user: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    read_groups: list[str] = Field(default_factory=list)
    write_groups: list[str] = Field(default_factory=list)
    admin_access: bool = False


class UserEdit(BaseModel):
    user: str = Field(min_length=1)
    password: str | None = Field(None, min_length=1, max_length=1024)
    read_groups: list[str] | None = None
    write_groups: list[str] | None = None
    admin_access: bool | None = None


class UserName(BaseModel):
    user: str = Field(min_length=1)


class UserChanged(BaseModel):
    result: Literal["OK"] = "OK"
    user: UserInfo | None = None


class UsersAnswer(RootModel[UserInfo | list[UserInfo]]):
    pass
