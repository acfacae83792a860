"""Parsing request bodies and parameters once, with clear 400s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from .errors import ApiError

M = TypeVar("M", bound=BaseModel)


def describe(error: ValidationError) -> str:
    """pydantic's errors as one readable line: `field: problem; field: problem`."""
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "__root__")
        problems.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return "; ".join(problems)


def treat_body_as_json() -> None:
    """A JSON body sent without `Content-Type: application/json` (curl -d) is still JSON;
    anything that does not parse is a 400."""
    if request.get_json(force=True, silent=True) is None:
        raise ApiError(400, "Invalid JSON", "The request body must be JSON.")
    request.environ["CONTENT_TYPE"] = "application/json"
    request.__dict__.pop("_parsed_content_type", None)


def parse_body(model: type[M]) -> M:
    try:
        return model.model_validate(request.get_json(force=True, silent=True))
    except ValidationError as exc:
        raise ApiError(400, "Invalid request", describe(exc)) from None


CHUNK = 1 << 20


def body_length() -> int | None:
    """The declared body size, or None for a chunked body."""
    if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        return None
    return request.content_length or 0


def stream_body() -> Iterator[bytes]:
    """The raw request body in 1 MiB pieces, never held whole in memory."""
    stream = request.environ["wsgi.input"]
    remaining = body_length()
    while remaining is None or remaining > 0:
        chunk = stream.read(CHUNK if remaining is None else min(CHUNK, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk
