"""One log line per request: method, path, status, bytes, time, user (and, in a cluster,
the node that served it). Never credentials."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from stores.log_text import printable, request_path

log = logging.getLogger("assetdav.access")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AccessLog:
    def __init__(self, app: WsgiApp, node: str = "") -> None:
        self.app = app
        self.node = node  # a cluster node's name, at the end of each line

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterator[bytes]:
        started = time.monotonic()
        status = ["-"]

        def recording_start_response(code: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, *exc)

        sent = 0
        result = self.app(environ, recording_start_response)
        try:
            for chunk in result:
                sent += len(chunk)
                yield chunk
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
            self._log(environ, status[0], sent, time.monotonic() - started)

    def _log(self, environ: dict[str, Any], status: str, sent: int, seconds: float) -> None:
        # The query string may carry a token; it is never logged. The path is quoted with
        # its control characters escaped: a client cannot write a line of its own.
        path = request_path(environ.get("PATH_INFO", ""))
        if environ.get("QUERY_STRING"):
            path += "?…"
        actor = environ.get("assetdav.actor")
        log.info(
            "%s %s %s %s %d %.1fms %s" + (" node=%s" if self.node else ""),
            printable(environ.get("REMOTE_ADDR", "-")),
            printable(environ.get("REQUEST_METHOD", "-")),
            path,
            status,
            sent,
            seconds * 1000,
            printable(actor.name) if actor is not None else "-",
            *((printable(self.node),) if self.node else ()),
        )
