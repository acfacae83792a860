"""Map domain errors to WebDAV status codes, once, for every resource method."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, TypeVar

from wsgidav.dav_error import (
    ERROR_DESCRIPTIONS,
    HTTP_BAD_REQUEST,
    HTTP_CONFLICT,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_MEDIATYPE_NOT_SUPPORTED,
    HTTP_NOT_FOUND,
    HTTP_REQUEST_ENTITY_TOO_LARGE,
    HTTP_REQUEST_TIMEOUT,
    DAVError,
)

from stores import errors

log = logging.getLogger(__name__)

# Most specific first.
_STATUS: tuple[tuple[type[errors.StoreError], int], ...] = (
    (errors.NameRestricted, HTTP_FORBIDDEN),
    (errors.InvalidName, HTTP_BAD_REQUEST),
    (errors.PathEscape, HTTP_FORBIDDEN),
    (errors.NotFound, HTTP_NOT_FOUND),
    (errors.AlreadyExists, HTTP_CONFLICT),
    (errors.Forbidden, HTTP_FORBIDDEN),
    (errors.Conflict, HTTP_CONFLICT),
    (errors.SidecarInvalid, HTTP_CONFLICT),
    (errors.BadContent, HTTP_BAD_REQUEST),
    (errors.TooLarge, HTTP_REQUEST_ENTITY_TOO_LARGE),
    (errors.UnsupportedType, HTTP_MEDIATYPE_NOT_SUPPORTED),
    (errors.InsufficientStorage, HTTP_INSUFFICIENT_STORAGE),
    (errors.RequestTimeout, HTTP_REQUEST_TIMEOUT),
    (errors.Unavailable, HTTPStatus.SERVICE_UNAVAILABLE.value),
)


def status_of(exc: errors.StoreError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return HTTP_CONFLICT


def to_dav_error(exc: errors.StoreError) -> DAVError:
    status = status_of(exc)
    if status == HTTP_INSUFFICIENT_STORAGE:  # the operator's to fix: one line, no traceback
        log.warning("a write was refused: %s", exc.message)
    if status == HTTPStatus.SERVICE_UNAVAILABLE:
        log.warning("refused for now: %s", exc.message)
        return DAVError(status, context_info=exc.message, add_headers=[("Retry-After", "2")])
    return DAVError(status, context_info=exc.message)


# WsgiDAV knows the reason phrases of some statuses only ("507 Status" otherwise).
for _status in HTTPStatus:
    ERROR_DESCRIPTIONS.setdefault(_status.value, f"{_status.value} {_status.phrase}")


@contextmanager
def dav_errors() -> Iterator[None]:
    """Turn StoreError, and the OSErrors that stand for one (a full disk, a folder removed
    by another request meanwhile), into the right DAVError."""
    try:
        yield
    except errors.StoreError as exc:
        raise to_dav_error(exc) from None
    except OSError as exc:
        mapped = errors.from_os_error(exc)
        if mapped is None:
            raise
        raise to_dav_error(mapped) from None


F = TypeVar("F", bound=Callable[..., Any])


def mapped(method: F) -> F:
    """Decorator form of `dav_errors` for resource methods."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with dav_errors():
            return method(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
