"""Error types of the domain; each front end maps them to HTTP exactly once."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error `stores` raises on purpose.

    `title` is a short summary, the message says what happened and what to do.
    """

    title = "Store error"

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.rule = rule


class NotFound(StoreError):
    title = "Not found"


class StoreNotFound(NotFound):
    title = "Store not found"


class ProjectNotFound(NotFound):
    title = "Project not found"


class AssetNotFound(NotFound):
    title = "Asset not found"


class AlreadyExists(StoreError):
    title = "Already exists"


class InvalidName(StoreError):
    """A name breaks a naming rule (control characters, too long, reserved...)."""

    title = "Invalid name"


class NameRestricted(InvalidName):
    """A name is reserved by the OVE API (`list`, `create`, `new`, `validate`)."""

    title = "Name restricted"


class PathEscape(StoreError):
    """A path would leave its store (`..`, symlinks pointing outside)."""

    title = "Path outside the store"


class Forbidden(StoreError):
    """The operation is not allowed at this place of the tree."""

    title = "Forbidden"


class PermissionDenied(Forbidden):
    """The acting user may not do this."""

    title = "Permission denied"


class Conflict(StoreError):
    """The tree is not in a state that allows the operation (missing parent...)."""

    title = "Conflict"


class SidecarInvalid(StoreError):
    """A sidecar does not parse; it is never overwritten silently."""

    title = "Sidecar does not parse"


class BadContent(StoreError):
    """A request body that cannot be used (invalid YAML, truncated upload...)."""

    title = "Bad content"


class TooLarge(StoreError):
    title = "Too large"


class UnsupportedType(StoreError):
    title = "Unsupported content type"


class InsufficientStorage(StoreError):
    title = "Insufficient storage"
