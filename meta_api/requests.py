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


MAX_JSON_DEPTH = 64  # nesting levels of a JSON body; no route needs more


def treat_body_as_json() -> None:
    """A JSON body sent without `Content-Type: application/json` (curl -d) is still JSON;
    anything that does not parse, or nests deeper than MAX_JSON_DEPTH, is a 400."""
    too_deep = ApiError(
        400, "Invalid JSON", f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
    )
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:
        raise too_deep from None
    if body is None:
        raise ApiError(400, "Invalid JSON", "The request body must be JSON.")
    if nesting(body) > MAX_JSON_DEPTH:
        raise too_deep
    request.environ["CONTENT_TYPE"] = "application/json"
    request.__dict__.pop("_parsed_content_type", None)


def nesting(value: object) -> int:
    """How deep lists and objects nest in a parsed JSON value (counted without recursion,
    and only as far as one level past the limit)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_query(model: type[M]) -> M:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise ApiError(400, "Invalid request", describe(exc)) from None


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
