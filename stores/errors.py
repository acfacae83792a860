"""Error types of the domain; each front end maps them to HTTP exactly once."""

from __future__ import annotations

import errno


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


class RequestTimeout(StoreError):
    """The client sent its request too slowly."""

    title = "Request timeout"


class Unavailable(StoreError):
    """A service the operation needs (a cluster's Redis) does not answer: try again soon."""

    title = "Service unavailable"


# The exception types that mean a shared service is down (a cluster registers its Redis
# client's connection errors here when it starts): every front end answers them with 503.
UNAVAILABLE_TYPES: list[type[BaseException]] = []


def unavailable_from(exc: BaseException) -> Unavailable | None:
    """An exception of a service that does not answer, as Unavailable; else None."""
    if not isinstance(exc, tuple(UNAVAILABLE_TYPES)):
        return None
    return Unavailable(
        f"The cluster's shared state does not answer ({exc}); try again in a moment. Reads "
        "of files keep working meanwhile."
    )


class InsufficientStorage(StoreError):
    title = "Store full"


_VANISHED = {errno.ENOENT, errno.ENOTDIR}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def from_os_error(exc: OSError) -> StoreError | None:
    """The domain error an OSError of a store operation stands for, if any: a full disk, a
    name the filesystem refuses, or something removed by another request meanwhile."""
    if exc.errno in _NO_SPACE:
        return InsufficientStorage(
            "The disk holding this store is full; nothing was changed. Free some space "
            "and try again."
        )
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidName("A name or path is longer than the filesystem allows.", rule="length")
    if exc.errno in _VANISHED:
        return Conflict(
            "Something this request works on was removed or moved by another request "
            "meanwhile; nothing was changed. Try again."
        )
    return None
