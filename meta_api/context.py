"""What every route needs from the running server: the stores and the acting user."""

from __future__ import annotations

from flask import current_app, request

from stores import ANONYMOUS, Actor, Registry


def registry() -> Registry:
    return current_app.config["ASSETDAV_REGISTRY"]


def actor() -> Actor:
    return request.environ.get("assetdav.actor", ANONYMOUS)
