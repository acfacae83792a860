"""Parsing request bodies and parameters once, with clear 400s."""

from __future__ import annotations

from typing import Any

from flask import request

from .errors import ApiError


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying what was wrong with it."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid JSON", "The request body must be a JSON object.")
    return data


def json_body() -> Any:
    data = request.get_json(force=True, silent=True)
    if data is None:
        raise ApiError(400, "Invalid JSON", "The request body must be JSON.")
    return data


def flag(name: str, default: bool = False) -> bool:
    """A boolean query parameter (`true`/`false`, `1`/`0`, `yes`/`no`)."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ApiError(400, "Invalid parameter", f"{name} must be true or false, not {value!r}.")
