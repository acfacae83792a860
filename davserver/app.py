"""Assemble one WSGI application: `/api/...` to Flask, everything else to WsgiDAV."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wsgidav.wsgidav_app import WsgiDAVApp

import meta_api
from stores import ANONYMOUS, Registry

from .access_log import AccessLog
from .config import Settings
from .provider import AssetDAVProvider
from .sqlite_state import SqliteLockStorage, SqlitePropertyManager

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BLOCK_SIZE = 1 << 20


class Dispatcher:
    """Route `/api` and `/api/...` to the API, the rest to WebDAV."""

    def __init__(self, dav: WsgiApp, api: WsgiApp) -> None:
        self.dav = dav
        self.api = api

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ.setdefault("assetdav.actor", ANONYMOUS)
        path = environ.get("PATH_INFO", "")
        if path == "/api" or path.startswith("/api/"):
            return self.api(environ, start_response)
        return self.dav(environ, start_response)


@dataclass
class Application:
    """The assembled server application and what must be closed when it stops."""

    wsgi: WsgiApp
    registry: Registry
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing the rest matters more
                log.exception("error while shutting down")


def build_registry(settings: Settings) -> Registry:
    return Registry({name: s.path for name, s in settings.stores.items()})


def build_application(settings: Settings, registry: Registry | None = None) -> Application:
    registry = registry or build_registry(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    props = SqlitePropertyManager(settings.state_dir / "dav-properties.sqlite")
    locks = SqliteLockStorage(settings.state_dir / "dav-locks.sqlite")
    provider = AssetDAVProvider(registry, show_sidecars=settings.show_sidecars)
    dav = WsgiDAVApp(
        {
            "provider_mapping": {"/": provider},
            "lock_storage": locks,
            "property_manager": props,
            "simple_dc": {"user_mapping": {"*": True}},
            "http_authenticator": {"domain_controller": None},
            "verbose": 1,
            "logging": {"enable": False},
            "block_size": BLOCK_SIZE,
            "dir_browser": {
                "enable": True,
                "ignore": [".DS_Store", "._*", "Thumbs.db", "desktop.ini", "~$*", ".ovemeta"],
                "response_trailer": "assetdav",
                "davmount": True,
            },
        }
    )
    api = meta_api.create_app(registry)
    wsgi = AccessLog(Dispatcher(dav, api))
    app = Application(wsgi, registry)
    app.closers += [props.close, locks.close]
    return app
