"""201 Created, as clients need it and no more.

- A COPY or MOVE that made a new resource answers 201: WsgiDAV answers 204 whenever the
  provider did the work itself (`handle_copy`, `handle_move`), new destination or not.
- A 201 carries no body. WsgiDAV renders an HTML page ("201 Created") for every PUT and
  MKCOL that makes something; no WebDAV client reads it (nginx and rclone send none),
  and sending it took a second write to the socket for each uploaded file: under many
  small uploads, a sixteenth of the server's throughput.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from wsgidav.mw.base_mw import BaseMiddleware

CREATED_KEY = "assetdav.created"
MAY_CREATE = frozenset({"PUT", "MKCOL", "COPY", "MOVE"})
_BODY_HEADERS = frozenset({"content-length", "content-type"})


class CreatedStatus(BaseMiddleware):
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ.get("REQUEST_METHOD")
        if method not in MAY_CREATE:
            return self.next_app(environ, start_response)
        created = False

        def created_without_page(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            nonlocal created
            if method in ("COPY", "MOVE") and environ.get(CREATED_KEY) and status.startswith("204"):
                status = "201 Created"
            if status.startswith("201"):
                created = True
                headers = [(k, v) for k, v in headers if k.lower() not in _BODY_HEADERS]
                headers.append(("Content-Length", "0"))
            return start_response(status, headers, *exc)

        # WsgiDAV's request handlers are generators: the status is known only once the
        # answer is iterated, so each chunk is passed on unless it turned out a 201
        return _unless_created(self.next_app(environ, created_without_page), lambda: created)


def _unless_created(result: Iterable[bytes], created: Callable[[], bool]) -> Iterator[bytes]:
    """`result`'s chunks, unless its status turns out to be 201."""
    try:
        for chunk in result:
            if not created():
                yield chunk
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
