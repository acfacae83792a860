"""Internal errors reach the log with their traceback, and the client only a plain 500."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from wsgidav.dav_error import (
    HTTP_BAD_GATEWAY,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_INTERNAL_ERROR,
    HTTP_SERVICE_UNAVAILABLE,
    DAVError,
)
from wsgidav.mw.base_mw import BaseMiddleware

from stores import errors
from stores.log_text import printable, request_path

from .dav_errors import to_dav_error

log = logging.getLogger("assetdav.errors")

GENERIC = "The server failed unexpectedly; the details are in its log."
# 5xx answers that are not the server failing: a Destination on another server (502), an
# index catching up (503, retry), a full disk (507). One warning line each, no traceback.
NOT_OURS = {HTTP_BAD_GATEWAY, HTTP_SERVICE_UNAVAILABLE, HTTP_INSUFFICIENT_STORAGE}


class InternalErrorMask(BaseMiddleware):
    """Sits inside WsgiDAV's ErrorPrinter: 4xx pass through, anything else becomes a bare 500."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        try:
            result = self.next_app(environ, start_response)
            yield from result
            close = getattr(result, "close", None)
            if close is not None:
                close()
        except DAVError as exc:
            if exc.value < HTTP_INTERNAL_ERROR:
                raise
            if exc.value == HTTP_INSUFFICIENT_STORAGE:
                raise  # logged where it was mapped (dav_errors)
            if exc.value in NOT_OURS:
                log.warning(
                    "%s %s: %s",
                    printable(environ.get("REQUEST_METHOD", "-")),
                    request_path(environ.get("PATH_INFO", "")),
                    printable(str(exc.context_info or exc.get_user_info())),
                )
                raise
            log.error(
                "%s %s failed: %s",
                printable(environ.get("REQUEST_METHOD", "-")),
                request_path(environ.get("PATH_INFO", "")),
                exc.src_exception or exc.context_info,
                exc_info=exc.src_exception or exc,
            )
            raise DAVError(exc.value, GENERIC) from None
        except Exception as exc:
            down = errors.unavailable_from(exc)
            if down is not None:
                raise to_dav_error(down) from None
            log.exception(
                "%s %s failed",
                printable(environ.get("REQUEST_METHOD", "-")),
                request_path(environ.get("PATH_INFO", "")),
            )
            raise DAVError(HTTP_INTERNAL_ERROR, GENERIC) from exc


class ClientErrorFilter(logging.Filter):
    """WsgiDAV logs a traceback for every refused PUT; a 4xx is the client's, not ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (
            isinstance(exc, DAVError) and (exc.value < HTTP_INTERNAL_ERROR or exc.value in NOT_OURS)
        )
