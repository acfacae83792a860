"""The JSON API under /api: the OVE Asset Manager API over the same stores."""

from __future__ import annotations

from typing import Any

from flask import Flask

from stores import Registry

from .errors import ApiError, register_error_handlers
from .routes_stores import blueprint as stores_blueprint


def create_app(registry: Registry, options: dict[str, Any] | None = None) -> Flask:
    """Application factory: one app per server (or per test), over one registry."""
    app = Flask("assetdav.api")
    app.config["ASSETDAV_REGISTRY"] = registry
    app.config["JSON_SORT_KEYS"] = False
    app.config.update(options or {})
    register_error_handlers(app)
    app.register_blueprint(stores_blueprint, url_prefix="/api")
    return app


__all__ = ["ApiError", "create_app"]
