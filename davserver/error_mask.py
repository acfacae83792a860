"""Internal errors reach the log with their traceback, and the client only a plain 500."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from wsgidav.dav_error import HTTP_INTERNAL_ERROR, DAVError
from wsgidav.mw.base_mw import BaseMiddleware

log = logging.getLogger("assetdav.errors")

GENERIC = "The server failed unexpectedly; the details are in its log."


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
            log.error(
                "%s %s failed: %s",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                exc.src_exception or exc.context_info,
                exc_info=exc.src_exception or exc,
            )
            raise DAVError(exc.value, GENERIC) from None
        except Exception as exc:
            log.exception("%s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            raise DAVError(HTTP_INTERNAL_ERROR, GENERIC) from exc


class ClientErrorFilter(logging.Filter):
    """WsgiDAV logs a traceback for every refused PUT; a 4xx is the client's, not ours."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, DAVError) and exc.value < HTTP_INTERNAL_ERROR)
