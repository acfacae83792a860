"""Conversion on a file's own URL: `GET /<store>/<project>/<asset>/photo.png?type=webp&w=800`
answers the converted image, with exactly the file's access. It runs as a WsgiDAV
middleware after authentication; a GET without a query string never reaches it."""

from __future__ import annotations

import stat
from typing import Any
from urllib.parse import parse_qsl

from wsgidav.dav_error import HTTP_SERVICE_UNAVAILABLE, DAVError
from wsgidav.mw.base_mw import BaseMiddleware

from meta_api.media import Media, MediaError, parse_conversion

from .dav_errors import dav_errors

BLOCK = 1 << 16
CACHE_CONTROL = "private, no-cache"  # may be kept, but asked again (ETag) before each use
DEFAULT_TYPES = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"} | {
    ".gif": "gif",
    ".avif": "avif",
}


class ConversionMiddleware(BaseMiddleware):
    def __init__(self, wsgidav_app: Any, next_app: Any, config: dict[str, Any]) -> None:
        super().__init__(wsgidav_app, next_app, config)
        self.provider = config["assetdav_provider"]
        self.media: Media = config["assetdav_media"]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or not environ.get("QUERY_STRING"):
            return self.next_app(environ, start_response)
        path = environ.get("PATH_INFO", "")
        try:
            store, loc = self.provider.locate(path)
        except DAVError:
            return self.next_app(environ, start_response)
        st = store.stat(loc) if loc.parts else None
        if st is None or not stat.S_ISREG(st.st_mode):
            return self.next_app(environ, start_response)  # folders: ?davmount and such
        return serve_conversion(self.media, store, loc, st, environ, start_response)


def default_type(name: str) -> str:
    """Without `type`, a web image keeps its format; anything else becomes webp."""
    dot = name.rfind(".")
    return DEFAULT_TYPES.get(name[dot:].lower(), "webp") if dot > 0 else "webp"


def serve_conversion(media, store, loc, st, environ, start_response):  # noqa: ANN001, ANN201
    """Answer the conversion the query asks for of the file at `loc` (checked readable)."""
    with dav_errors():
        store.check_read(environ["assetdav.actor"], loc)
    pairs = parse_qsl(environ["QUERY_STRING"], keep_blank_values=True)
    try:
        conversion = parse_conversion(pairs, default_type(loc.name))
        source = store.fs_path(loc)
        digest = media.content_hash(store, loc, source, st)
        etag = media.etag_of(digest, conversion)
        headers = [("ETag", etag), ("Cache-Control", CACHE_CONTROL)]
        if _matches(environ.get("HTTP_IF_NONE_MATCH"), etag):
            start_response("304 Not Modified", headers)
            return [b""]
        made = media.derivative(source, digest, conversion)
    except MediaError as exc:
        extra = [("Retry-After", "5")] if exc.status == HTTP_SERVICE_UNAVAILABLE else None
        raise DAVError(exc.status, context_info=exc.description, add_headers=extra) from None
    size = made.stat().st_size
    headers += [("Content-Type", conversion.mime_type), ("Content-Length", str(size))]
    start_response("200 OK", headers)
    if environ["REQUEST_METHOD"] == "HEAD":
        return [b""]
    handle = open(made, "rb")  # noqa: SIM115 - closed by the file wrapper
    wrapper = environ.get("wsgi.file_wrapper")
    if wrapper is not None:
        return wrapper(handle, BLOCK)
    return _chunks(handle)


def _chunks(handle):  # noqa: ANN001, ANN202
    with handle:
        while block := handle.read(BLOCK):
            yield block


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return header.strip() == "*" or etag in tags
