"""JSON errors `{"title", "description"}` for every failure of the API, registered once."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from index.service import IndexBehind
from stores import errors
from stores.log_text import quoted

log = logging.getLogger(__name__)

CHALLENGE = 'Basic realm="assetdav", Bearer realm="assetdav"'

# OVE's documentation answers "not found" for stores, projects and assets with 400.
_STATUS: tuple[tuple[type[errors.StoreError], int], ...] = (
    (errors.NameRestricted, 400),
    (errors.InvalidName, 400),
    (errors.PathEscape, 400),
    (errors.NotFound, 400),
    (errors.AlreadyExists, 409),
    (errors.PermissionDenied, 403),
    (errors.Forbidden, 403),
    (errors.Conflict, 409),
    (errors.SidecarInvalid, 409),
    (errors.BadContent, 400),
    (errors.TooLarge, 413),
    (errors.UnsupportedType, 415),
    (errors.InsufficientStorage, 507),
    (errors.RequestTimeout, 408),
    (errors.Unavailable, 503),
)


class ApiError(Exception):
    """An error raised by a route with its own status."""

    def __init__(self, status: int, title: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.title = title
        self.description = description


def error_response(status: int, title: str, description: str) -> Response:
    response = jsonify({"title": title, "description": description})
    response.status_code = status
    return response


def store_error_response(exc: errors.StoreError) -> Response:
    status = next((s for kind, s in _STATUS if isinstance(exc, kind)), 409)
    if status == 507:
        log.warning("%s %s: %s", request.method, quoted(request.path), exc.message)
    body = {"title": exc.title, "description": exc.message}
    if exc.rule:
        body["rule"] = exc.rule
    response = jsonify(body)
    response.status_code = status
    if status == 503:
        log.warning("%s %s: %s", request.method, quoted(request.path), exc.message)
        response.headers["Retry-After"] = "2"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = error_response(exc.status, exc.title, exc.description)
        if exc.status == 401 and request.headers.get("X-Requested-With") != "XMLHttpRequest":
            # a page's script asks with X-Requested-With: a challenge would make the
            # browser pop up its own password dialog over the page's sign-in form
            response.headers["WWW-Authenticate"] = CHALLENGE
        return response

    @app.errorhandler(errors.StoreError)
    def _store_error(exc: errors.StoreError) -> Response:
        return store_error_response(exc)

    @app.errorhandler(OSError)
    def _os_error(exc: OSError) -> Response:
        mapped = errors.from_os_error(exc)
        if mapped is None:
            return _unexpected(exc)
        return store_error_response(mapped)

    @app.errorhandler(IndexBehind)
    def _index_behind(exc: IndexBehind) -> Response:
        response = error_response(503, "Index catching up", str(exc))
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 500, exc.name, exc.description or exc.name)
        for key, value in exc.get_headers():
            if key.lower() not in ("content-type", "content-length"):
                response.headers[key] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        down = errors.unavailable_from(exc)
        if down is not None:
            return store_error_response(down)
        log.exception("unexpected error in the API")
        return error_response(
            500, "Internal error", "The server failed unexpectedly; the error is in its log."
        )
