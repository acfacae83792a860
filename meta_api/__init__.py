"""The JSON API under /api: the OVE Asset Manager API over the same stores."""

from __future__ import annotations

from typing import Any

from flask import Flask

from stores import Registry
from stores.tokens import TokenSigner
from stores.users import UserDirectory

from .auth import blueprint as auth_blueprint
from .auth import resolve_actor
from .errors import ApiError, register_error_handlers
from .routes_access import blueprint as access_blueprint
from .routes_stores import blueprint as stores_blueprint
from .routes_users import blueprint as users_blueprint


def create_app(
    registry: Registry,
    users: UserDirectory,
    tokens: TokenSigner,
    options: dict[str, Any] | None = None,
) -> Flask:
    """Application factory: one app per server (or per test), over one registry."""
    app = Flask("assetdav.api")
    app.config["ASSETDAV_REGISTRY"] = registry
    app.config["ASSETDAV_USERS"] = users
    app.config["ASSETDAV_TOKENS"] = tokens
    app.config["JSON_SORT_KEYS"] = False
    app.config.update(options or {})
    register_error_handlers(app)
    app.before_request(resolve_actor)
    app.register_blueprint(auth_blueprint, url_prefix="/api")
    for blueprint in (stores_blueprint, users_blueprint, access_blueprint):
        app.register_blueprint(blueprint, url_prefix="/api")
    return app


__all__ = ["ApiError", "create_app"]
