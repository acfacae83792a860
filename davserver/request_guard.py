"""Checks every request gets before either face sees it: paths that could climb or hide a
separator, and request bodies that end early."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from wsgidav.dav_error import HTTP_BAD_REQUEST, DAVError

from stores.errors import BadContent

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class IncompleteBody(DAVError, BadContent):
    """The client stopped sending mid-body: a 400 to WsgiDAV and to the API alike."""

    def __init__(self) -> None:
        message = "The request body ended early; nothing was changed. Send it again."
        DAVError.__init__(self, HTTP_BAD_REQUEST, context_info=message)
        self.message = message
        self.rule = None


class GuardedInput:
    """wsgi.input whose transport errors (a dropped chunked upload) become IncompleteBody."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def read(self, size: int | None = None) -> bytes:
        try:
            return self._inner.read() if size is None or size < 0 else self._inner.read(size)
        except (ValueError, OSError) as exc:
            raise IncompleteBody() from exc

    def readline(self, size: int | None = None) -> bytes:
        try:
            if size is None or size < 0:
                return self._inner.readline()
            return self._inner.readline(size)
        except (ValueError, OSError) as exc:
            raise IncompleteBody() from exc

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


def path_problem(path: str) -> tuple[int, str, str] | None:
    """(status, title, description) when a path must be refused before routing."""
    if any(segment in (".", "..") for segment in path.split("/")):
        return 403, "Path outside the store", "Paths may not contain '.' or '..' segments."
    if "%2f" in path.lower():
        return 400, "Invalid name", "Names may not contain an encoded slash (%2F)."
    return None


class RequestGuard:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        problem = path_problem(environ.get("PATH_INFO", ""))
        if problem is not None:
            return self._refuse(environ, start_response, *problem)
        if "wsgi.input" in environ:
            environ["wsgi.input"] = GuardedInput(environ["wsgi.input"])
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        status: int,
        title: str,
        description: str,
    ) -> Iterable[bytes]:
        body = json.dumps({"title": title, "description": description}).encode()
        reason = {400: "Bad Request", 403: "Forbidden"}[status]
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if environ.get("CONTENT_LENGTH") not in (None, "", "0") or environ.get(
            "HTTP_TRANSFER_ENCODING"
        ):
            headers.append(("Connection", "close"))  # the unread body must not be parsed next
        start_response(f"{status} {reason}", headers)
        return [body]
