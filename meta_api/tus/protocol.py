"""The tus 1.0.0 headers: what the server announces, and reading what a client sends."""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from flask import Response, request

from ..errors import ApiError, error_response

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,creation-with-upload,termination,expiration,checksum"
CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
OFFSET_STREAM = "application/offset+octet-stream"

_METADATA_KEY = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 7230 token


class TusError(ApiError):
    """A protocol error with its own status (some only tus knows, like 460) and headers."""

    REASONS = {460: "Checksum Mismatch"}

    def __init__(
        self, status: int, title: str, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status, title, description)
        self.headers = headers or {}

    def response(self) -> Response:
        answer = error_response(self.status, self.title, self.description)
        if self.status in self.REASONS:
            answer.status = f"{self.status} {self.REASONS[self.status]}"
        answer.headers.update(self.headers)
        return answer


@dataclass(frozen=True)
class Checksum:
    """An `Upload-Checksum`: the algorithm and the digest the chunk must have."""

    algorithm: str
    digest: bytes

    def new(self) -> Any:
        return hashlib.new(self.algorithm)


def require_version() -> None:
    """Every request but OPTIONS names the protocol version it speaks."""
    sent = request.headers.get("Tus-Resumable")
    if sent != TUS_VERSION:
        raise TusError(
            412,
            "Unsupported tus version",
            f"This server speaks tus {TUS_VERSION}; send 'Tus-Resumable: {TUS_VERSION}'"
            + (f" (not {sent!r})." if sent else "."),
            {"Tus-Version": TUS_VERSION},
        )


def require_offset_stream() -> None:
    if request.mimetype != OFFSET_STREAM:
        raise TusError(
            415,
            "Unsupported content type",
            f"Upload bytes are sent with 'Content-Type: {OFFSET_STREAM}'.",
        )


def _whole_number(name: str) -> int:
    text = request.headers.get(name, "").strip()
    if not (text.isascii() and text.isdigit()):
        raise TusError(
            400,
            f"Invalid {name}",
            f"{name} must be a whole number of bytes"
            + (f", not {text!r}." if text else "; it is missing."),
        )
    return int(text)


def upload_length() -> int:
    """The declared size of a new upload (deferred lengths are not supported)."""
    if "Upload-Defer-Length" in request.headers:
        raise TusError(
            400,
            "Deferred length not supported",
            "This server needs the size of an upload when it is created (Upload-Length).",
        )
    return _whole_number("Upload-Length")


def upload_offset() -> int:
    return _whole_number("Upload-Offset")


def parse_metadata(header: str) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64(value)` pairs; a key alone has ''."""
    found: dict[str, str] = {}
    for pair in header.split(","):
        if not pair.strip():
            continue
        key, _, value = pair.strip().partition(" ")
        value = value.strip()
        if not _METADATA_KEY.fullmatch(key) or key in found:
            raise TusError(
                400,
                "Invalid Upload-Metadata",
                f"Upload-Metadata keys are unique words without spaces or commas; {key!r} "
                "is not usable.",
            )
        try:
            found[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (binascii.Error, UnicodeDecodeError):
            raise TusError(
                400,
                "Invalid Upload-Metadata",
                f"The value of {key!r} in Upload-Metadata is not base64 of UTF-8 text.",
            ) from None
    return found


def checksum() -> Checksum | None:
    """`Upload-Checksum: <algorithm> <base64 digest>`, when the client sent one."""
    header = request.headers.get("Upload-Checksum")
    if header is None:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusError(
            400,
            "Unsupported checksum algorithm",
            f"Upload-Checksum may use {', '.join(CHECKSUM_ALGORITHMS)}, not {algorithm!r}.",
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise TusError(
            400,
            "Invalid Upload-Checksum",
            f"Upload-Checksum is '{algorithm} <base64 of the {algorithm} digest of the body>'.",
        )
    return Checksum(algorithm, digest)


def http_date(timestamp: float) -> str:
    """An RFC 7231 date, as `Upload-Expires` wants it."""
    return email.utils.formatdate(timestamp, usegmt=True)


def announce(response: Response, max_size: int) -> Response:
    """What OPTIONS tells a client about this server."""
    response.headers["Tus-Version"] = TUS_VERSION
    response.headers["Tus-Extension"] = EXTENSIONS
    response.headers["Tus-Max-Size"] = str(max_size)
    response.headers["Tus-Checksum-Algorithm"] = ",".join(CHECKSUM_ALGORITHMS)
    return response
