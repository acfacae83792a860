"""Run the assembled application on cheroot until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading

from .app import build_application, build_registry, build_users
from .config import Settings, check_threads
from .connections import RequestLimits
from .demo import seed_demo_store
from .http_server import GuardedServer

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


def listening_server(settings: Settings) -> GuardedServer:
    """The HTTP server, bound to its port: before anything touches the state dir, so a
    second server on a taken port stops at once and changes nothing."""
    limits = settings.limits
    server = GuardedServer(
        (settings.host, settings.port),
        threads=settings.threads,
        max_threads=settings.max_threads,
        connections_per_address=limits.connections_per_address,
        idle_timeout=limits.idle_timeout,
        limits=RequestLimits(
            header_timeout=limits.header_timeout,
            min_body_rate=limits.min_body_rate,
            max_request_line=limits.max_request_line,
            max_header_bytes=limits.max_header_bytes,
            max_header_fields=limits.max_header_fields,
        ),
    )
    try:
        server.prepare()
    except OSError as exc:
        taken = "in use" in str(exc).lower()
        raise RefusedToStart(
            f"cannot listen on {settings.host}:{settings.port}: "
            + (
                "the port is taken (another assetdav?); pick another with --port N "
                "or ASSETDAV_PORT, or stop the other server"
                if taken
                else f"{exc}; check --host and --port"
            )
        ) from None
    return server


def serve(settings: Settings) -> int:
    check_threads(settings)
    check_exposure(settings, has_users=build_users(settings).has_users())
    server = listening_server(settings)
    try:
        prepare_stores(settings)
        app = build_application(settings)
    except BaseException:
        server.stop()
        raise
    server.wsgi_app = app.wsgi
    stopping = threading.Event()

    def stop() -> None:
        app.interrupt()  # running tasks stop now, not after the requests in flight
        server.stop()

    def request_stop(signum: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            log.info("received %s, shutting down", signal.Signals(signum).name)
            threading.Thread(target=stop, name="stopper", daemon=True).start()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
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
