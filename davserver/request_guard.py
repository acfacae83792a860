"""Checks every request gets before either face sees it: paths that are not UTF-8, could
climb or hide a separator; a `Destination` that is not a clean path; XML bodies too large
to parse; and request bodies that end early, come too slowly or are malformed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_REQUEST_TIMEOUT, DAVError

from stores.errors import BadContent, RequestTimeout

from .connections import MalformedBody

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

XML_BODY_LIMIT = 1 << 20  # a PROPFIND, PROPPATCH, LOCK or SEARCH body larger is refused
XML_METHODS = {"PROPFIND", "PROPPATCH", "LOCK", "SEARCH", "REPORT", "MKCOL"}


class IncompleteBody(DAVError, BadContent):
    """A body that cannot be read whole: a 400 to WsgiDAV and to the API alike."""

    def __init__(
        self, message: str = "The request body ended early; nothing was changed. Send it again."
    ) -> None:
        DAVError.__init__(self, HTTP_BAD_REQUEST, context_info=message)
        self.message = message
        self.rule = None


class SlowBody(DAVError, RequestTimeout):
    """The body came slower than `limits.min_body_rate`: 408 to both faces."""

    def __init__(self) -> None:
        message = (
            "The request body came too slowly (see limits.min_body_rate); nothing was "
            "changed. Send it again."
        )
        DAVError.__init__(self, HTTP_REQUEST_TIMEOUT, context_info=message)
        self.message = message
        self.rule = None


class GuardedInput:
    """wsgi.input whose transport errors become IncompleteBody or SlowBody."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def read(self, size: int | None = None) -> bytes:
        with _body_errors():
            return self._inner.read() if size is None or size < 0 else self._inner.read(size)

    def readline(self, size: int | None = None) -> bytes:
        with _body_errors():
            if size is None or size < 0:
                return self._inner.readline()
            return self._inner.readline(size)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")


@contextmanager
def _body_errors() -> Iterator[None]:
    try:
        yield
    except TimeoutError as exc:
        raise SlowBody() from exc
    except MalformedBody as exc:
        raise IncompleteBody(f"{exc} Nothing was changed.") from exc
    except (ValueError, OSError, OverflowError, MemoryError) as exc:
        raise IncompleteBody() from exc


def decoded_path(path: str) -> str | None:
    """A WSGI path (bytes seen as Latin-1) as the UTF-8 text it must be; None if it is not
    (invalid bytes, a lone surrogate)."""
    try:
        return path.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


def path_problem(path: str) -> tuple[int, str, str] | None:
    """(status, title, description) when a path must be refused before routing."""
    text = decoded_path(path)
    if text is None:
        return 400, "Invalid path", "The path is not valid UTF-8."
    if any(segment in (".", "..") for segment in text.split("/")):
        return 403, "Path outside the store", "Paths may not contain '.' or '..' segments."
    if "%2f" in path.lower():
        return 400, "Invalid name", "Names may not contain an encoded slash (%2F)."
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return 400, "Invalid name", "Paths may not contain control characters."
    return None


def destination_problem(destination: str) -> tuple[int, str, str] | None:
    """A COPY or MOVE `Destination` that names no clean path of this server."""
    raw = unquote_to_bytes(urlsplit(destination).path)
    try:
        text = raw.decode("utf-8")
    except UnicodeError:
        return 400, "Invalid destination", "The Destination is not valid UTF-8."
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return 400, "Invalid destination", "The Destination contains control characters."
    if any(segment in (".", "..") for segment in text.split("/")):
        return 403, "Path outside the store", "The Destination may not contain '..' segments."
    return None


def body_problem(environ: dict[str, Any]) -> tuple[int, str, str] | None:
    """An XML body larger than WebDAV needs (the body is parsed in memory)."""
    method = environ.get("REQUEST_METHOD", "")
    length = environ.get("CONTENT_LENGTH") or "0"
    declared = int(length) if length.isascii() and length.isdigit() else 0
    if method in XML_METHODS and declared > XML_BODY_LIMIT:
        return 413, "Body too large", f"A {method} body may be at most {XML_BODY_LIMIT} bytes."
    return None


class RequestGuard:
    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        problem = path_problem(environ.get("PATH_INFO", ""))
        if problem is None and "HTTP_DESTINATION" in environ:
            problem = destination_problem(environ["HTTP_DESTINATION"])
        if problem is None:
            problem = body_problem(environ)
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
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        if environ.get("CONTENT_LENGTH") not in (None, "", "0") or environ.get(
            "HTTP_TRANSFER_ENCODING"
        ):
            headers.append(("Connection", "close"))  # the unread body must not be parsed next
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]
