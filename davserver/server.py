"""Run the assembled application on cheroot until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading

from cheroot import wsgi

from .app import build_application, build_registry, build_users
from .config import Settings
from .connections import BoundedDrainConnection
from .demo import seed_demo_store

log = logging.getLogger("assetdav")


class RefusedToStart(Exception):
    """The server will not start with these settings; the message says why and what to do."""


def check_exposure(settings: Settings, has_users: bool) -> None:
    """Anonymous access is only for loopback, unless explicitly allowed."""
    if not has_users and not settings.is_loopback and not settings.allow_anonymous:
        raise RefusedToStart(
            f"No users are configured, so everyone could read and write the stores, and "
            f"{settings.host} is not a loopback address. Add users, bind to 127.0.0.1, "
            "or pass --allow-anonymous if that is really what you want."
        )


def prepare_stores(settings: Settings) -> None:
    registry = build_registry(settings)
    for store_settings in settings.stores.values():
        store = registry.get(store_settings.name)
        if store.root.exists():
            if not store.root.is_dir():
                raise RefusedToStart(f"The store {store.name!r} path {store.root} is not a folder.")
            continue
        if store_settings.seed_demo:
            seed_demo_store(store)
        else:
            raise RefusedToStart(
                f"The folder of store {store.name!r} ({store.root}) does not exist; "
                "create it or fix the path in the config."
            )


def serve(settings: Settings) -> int:
    check_exposure(settings, has_users=build_users(settings).has_users())
    prepare_stores(settings)
    app = build_application(settings)
    server = wsgi.Server(
        (settings.host, settings.port),
        app.wsgi,
        numthreads=settings.threads,
        server_name="assetdav",
        timeout=60,
        shutdown_timeout=5,
    )
    server.ConnectionClass = BoundedDrainConnection
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("received %s, shutting down", signal.Signals(signum).name)
            threading.Thread(target=server.stop, name="stopper", daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    server.prepare()
    host, port = server.bind_addr[:2]
    shown = f"[{host}]" if ":" in host else host
    log.info(
        "assetdav listening on http://%s:%d/ (stores: %s; state: %s)",
        shown,
        port,
        ", ".join(app.registry.names()),
        settings.state_dir,
    )
    try:
        server.serve()
    finally:
        app.close()
        log.info("stopped")
    return 0
