"""The JSON API under /api: the OVE Asset Manager API over the same stores."""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask

from stores import Registry
from stores.tokens import TokenSigner
from stores.users import UserDirectory

from . import (
    routes_access,
    routes_asset_ids,
    routes_assets,
    routes_bulk,
    routes_downloads,
    routes_export_configs,
    routes_exports,
    routes_hashes,
    routes_library,
    routes_objects,
    routes_presigned,
    routes_previews,
    routes_projects,
    routes_scan,
    routes_search,
    routes_stores,
    routes_tags,
    routes_users,
    routes_workers,
    tus,
    ui,
)
from .auth import blueprint as auth_blueprint
from .auth import resolve_actor
from .compat import llama_stack, model_manager, sartiq
from .errors import ApiError, register_error_handlers
from .spec import blueprint as openapi_blueprint
from .spec import spec

# JSON bodies are read whole (to parse and validate them); a bigger one is refused with 413
# before it is read. Raw uploads stream from wsgi.input and are not bounded by this.
MAX_JSON_BODY = 16 * 1024 * 1024
LLAMA_STACK = "/compat/llama-stack"  # llama-stack's files API (its clients' base URL)
MODEL_MANAGER = "/compat/model-manager"  # the model manager's API (its client's base URL)
# what the dispatcher hands to this app
SARTIQ = "/compat/sartiq"  # Sartiq's client's base URL (its /files/... go to WebDAV)
FLASK_PREFIXES = (
    "/api",
    "/ui",
    LLAMA_STACK,
    MODEL_MANAGER,
    SARTIQ + "/api",
    SARTIQ + "/bulk-upload",
)

BLUEPRINTS = (
    openapi_blueprint,
    routes_stores.blueprint,
    routes_users.blueprint,
    routes_access.blueprint,
    routes_projects.blueprint,
    routes_assets.blueprint,
    routes_tags.blueprint,
    routes_objects.blueprint,
    routes_workers.blueprint,
    routes_downloads.blueprint,
    routes_exports.blueprint,
    routes_library.blueprint,
    routes_bulk.blueprint,
    routes_export_configs.blueprint,
    routes_asset_ids.blueprint,
    routes_search.blueprint,
    routes_scan.blueprint,
    routes_hashes.blueprint,
    routes_presigned.blueprint,
    routes_previews.blueprint,
    tus.blueprint,
)


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
    app.json.sort_keys = False  # answers keep the order of their models
    app.config["MAX_CONTENT_LENGTH"] = MAX_JSON_BODY
    app.config.update(options or {})
    register_error_handlers(app)
    app.before_request(resolve_actor)
    app.register_blueprint(auth_blueprint, url_prefix="/api")
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix="/api")
    app.register_blueprint(ui.blueprint, url_prefix="/ui")
    app.register_blueprint(llama_stack.blueprint, url_prefix=LLAMA_STACK)
    app.register_blueprint(model_manager.blueprint, url_prefix=MODEL_MANAGER)
    app.register_blueprint(sartiq.blueprint, url_prefix=SARTIQ)
    spec.register(app)
    return app


@functools.cache
def api_route_names() -> frozenset[str]:
    """The first path segments under /api/ that routes of their own take (`assets`,
    `tags`, `uploads`, ...): a store of that name would find its OVE routes
    (`/api/{store}/...`) answered by those instead, so none may be named so."""
    app = Flask("assetdav.routes")
    app.register_blueprint(auth_blueprint, url_prefix="/api")
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint, url_prefix="/api")
    names = set()
    for rule in app.url_map.iter_rules():
        parts = rule.rule.split("/")
        if len(parts) > 2 and parts[1] == "api" and parts[2] and not parts[2].startswith("<"):
            names.add(parts[2])
    return frozenset(names)


__all__ = ["FLASK_PREFIXES", "ApiError", "api_route_names", "create_app"]
