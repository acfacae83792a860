"""Assemble one WSGI application: `/api/...` to Flask, everything else to WsgiDAV."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from wsgidav.error_printer import ErrorPrinter
from wsgidav.http_authenticator import HTTPAuthenticator
from wsgidav.mw.cors import Cors
from wsgidav.request_resolver import RequestResolver
from wsgidav.wsgidav_app import WsgiDAVApp

import meta_api
from index.service import SearchIndex
from meta_api.background import BackgroundJobs
from meta_api.bulk_import import BulkImports, Row, find_by_hash, import_row
from meta_api.downloads import DownloadRunner, UrlGuard
from meta_api.media import Media, MediaSettings, PreviewMaker
from meta_api.tus import ResumableUploads
from meta_api.workers import WorkerPool, build_pool, builtin_workers
from stores import ANONYMOUS, NOBODY, Actor, Registry, sidecar
from stores.tokens import SignedPayloads, TokenSigner, load_secret
from stores.users import UserDirectory

from .access_log import AccessLog
from .auth import UsersDomainController
from .cluster import ClusterState, join_cluster
from .config import Settings
from .conversion import ConversionMiddleware
from .created_status import CreatedStatus
from .dav_search import SearchMiddleware
from .error_mask import InternalErrorMask
from .listing_page import ListingPage
from .local_state import LocalState
from .provider import AssetDAVProvider
from .request_guard import RequestGuard

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BLOCK_SIZE = 1 << 20


SARTIQ_FILES = "/compat/sartiq/files/"
FLASK_FOLDERS = tuple(prefix + "/" for prefix in meta_api.FLASK_PREFIXES)


class Dispatcher:
    """Route `/api` and `/api/...` to the API, the rest to WebDAV. Sartiq's file URLs
    (`/compat/sartiq/files/<store>/<path>?type=webp`) are the file's own, read-only."""

    def __init__(self, dav: WsgiApp, api: WsgiApp) -> None:
        self.dav = dav
        self.api = api

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        environ["assetdav.actor"] = NOBODY
        path = environ.get("PATH_INFO", "")
        if path in meta_api.FLASK_PREFIXES or path.startswith(FLASK_FOLDERS):
            return self.api(environ, start_response)
        if path == "/" and _is_browser_page_request(environ):
            start_response("302 Found", [("Location", "/ui/"), ("Content-Length", "0")])
            return [b""]
        if path.startswith(SARTIQ_FILES):
            if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
                start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
                return [b"Sartiq's file URLs are read-only.\n"]
            environ["PATH_INFO"] = "/" + path[len(SARTIQ_FILES) :]
        return self.dav(environ, start_response)


def _is_browser_page_request(environ: dict[str, Any]) -> bool:
    """A browser opening the server's address (it asks for HTML first); WebDAV clients
    send PROPFIND, or GET without preferring HTML, and keep getting the store listing."""
    accept = environ.get("HTTP_ACCEPT", "")
    return environ.get("REQUEST_METHOD") == "GET" and accept.startswith("text/html")


@dataclass
class Application:
    """The assembled server application and what must be closed when it stops."""

    wsgi: WsgiApp
    registry: Registry
    users: UserDirectory
    closers: list[Callable[[], None]] = field(default_factory=list)
    # called as soon as a stop is asked for: background work that should not run on while
    # the HTTP server lets its requests finish
    interrupters: list[Callable[[], None]] = field(default_factory=list)

    def interrupt(self) -> None:
        for interrupt in self.interrupters:
            try:
                interrupt()
            except Exception:  # noqa: BLE001 - the stop goes on
                log.exception("error while interrupting background work")

    def close(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing the rest matters more
                log.exception("error while shutting down")


def actor_named(users: UserDirectory, name: str) -> Actor | None:
    """Who a background task acts for, with their rights as they are now (None: removed)."""
    if not users.has_users():
        return ANONYMOUS
    user = users.get(name)
    return user.actor() if user is not None else None


def bulk_row_runner(
    settings: Settings,
    registry: Registry,
    users: UserDirectory,
    search: SearchIndex,
    uploads: ResumableUploads,
) -> Callable[[dict[str, Any], Row], None]:
    """How a bulk import's row is done, acting as the user who started the job (with their
    rights as they are now), outside any request (jobs go on after a restart)."""
    guard = UrlGuard(settings.downloads.allow_hosts)

    def find_hash(actor: Actor, spec: str) -> tuple[Any, Any] | None:
        """By the index once it holds every write acknowledged when the row began (this
        node's, and in a cluster the others'): bytes uploaded just before are found."""
        return find_by_hash(registry, search.fresh_reader(), actor, spec)

    def run(job: dict[str, Any], row: Row) -> None:
        actor = actor_named(users, job["username"])
        if actor is None:
            raise ValueError(f"The user {job['username']!r} no longer exists.")
        import_row(
            actor,
            registry.get(job["store"]),
            row,
            guard=guard,
            roots=settings.migration.allowed_roots,
            spool_dir=uploads.files.path,
            find_hash=find_hash,
            max_size=settings.uploads.max_size,
        )

    return run


def models_store(settings: Settings) -> str:
    """The store that is the model library (models.store, else the first store)."""
    return settings.models.store or next(iter(settings.stores), "")


def build_registry(settings: Settings) -> Registry:
    registry = Registry(
        {name: s.path for name, s in settings.stores.items()},
        rules={name: s.rules for name, s in settings.stores.items()},
        sha256=settings.hashes.sha256,
        dedup={name for name, s in settings.stores.items() if s.dedup == "link"},
    )
    library = registry.find(settings.models.store) if settings.models.store else None
    if library is not None:
        library.sha256 = True  # models are known by their sha256
    return registry


def token_signer(settings: Settings) -> TokenSigner:
    return TokenSigner(load_secret(settings.state_dir / "token-secret"), settings.token_ttl)


def build_users(settings: Settings) -> UserDirectory:
    return UserDirectory(
        settings.users_file or settings.state_dir / "users.yaml",
        max_login_delay=settings.failed_login_delay_max,
    )


def build_workers(settings: Settings, registry: Registry, queue: Any = None) -> WorkerPool:
    """The worker pool over the queue in the state dir, or a cluster's `queue` (started by
    the caller)."""
    limits = settings.workers
    workers = builtin_workers(
        zip_max_files=limits.zip_max_files,
        zip_max_total_bytes=limits.zip_max_total_bytes,
        dzi_max_pixels=limits.dzi_max_pixels,
        dzi_max_tiles=limits.dzi_max_tiles,
    )
    return build_pool(settings.state_dir, registry, workers, limits.threads, queue)


def build_uploads(settings: Settings, state: LocalState | ClusterState) -> ResumableUploads:
    """Resumable uploads kept in the state dir (started by the caller); in a cluster the
    folder is shared, the records are in Redis and leases say which node writes to which
    upload."""
    folder = settings.state_dir / "uploads"
    return ResumableUploads(
        folder,
        expire_after=settings.uploads.expire_after,
        max_size=settings.uploads.max_size,
        leases=state.leases("tus"),
        files=state.upload_folder(folder),
    )


def build_media(settings: Settings) -> Media:
    derived = settings.derived
    return Media(
        settings.state_dir / "derived",
        MediaSettings(
            max_bytes=derived.max_bytes,
            max_pixels=derived.max_pixels,
            concurrency=derived.concurrency,
            timeout=derived.timeout,
            background=derived.background,
            sizes=dict(derived.sizes),
        ),
    )


def build_application(settings: Settings, registry: Registry | None = None) -> Application:
    registry = registry or build_registry(settings)
    users = build_users(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    cluster = join_cluster(settings) if settings.cluster.redis_url else None
    state = cluster or LocalState(settings.state_dir)  # where the records are kept
    if cluster is not None:
        sidecar.cluster_leases = cluster.leases("sidecar", ttl=15)
        users.throttle = cluster.throttle(settings.failed_login_delay_max)
    provider = AssetDAVProvider(
        registry,
        show_sidecars=settings.show_sidecars,
        propfind_depth_infinity=settings.webdav.propfind_depth_infinity,
    )
    search = SearchIndex(
        settings.index.folder(settings.state_dir),
        registry,
        watch=settings.index.watch,
        reconcile_interval=settings.index.reconcile_interval,
        read_timeout=settings.index.read_timeout,
        # a write stays silent at most this long (limits.idle_timeout): older ones are dead
        sweep_after=2 * settings.limits.idle_timeout,
    )
    media = build_media(settings)
    dav = WsgiDAVApp(
        {
            "provider_mapping": {"/": provider},
            "lock_storage": state.locks,
            "property_manager": state.props,
            "http_authenticator": {
                "domain_controller": UsersDomainController,
                "accept_basic": True,
                "accept_digest": False,
                "default_to_digest": False,
            },
            "assetdav_users": users,
            "assetdav_tokens": token_signer(settings),
            "assetdav_anonymous_read": settings.allow_anonymous_read,
            "assetdav_provider": provider,
            "assetdav_index": search,
            "assetdav_media": media,
            "middleware_stack": [
                Cors,
                ErrorPrinter,
                InternalErrorMask,
                HTTPAuthenticator,
                SearchMiddleware,
                ConversionMiddleware,
                ListingPage,
                CreatedStatus,
                RequestResolver,
            ],
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
    workers = build_workers(settings, registry, state.task_queue())
    secret = load_secret(settings.state_dir / "token-secret")
    if cluster is not None:
        cluster.lock_guard().install(dav.lock_manager)  # LOCKs exclusive across the nodes
    spent = state.spent
    uploads = build_uploads(settings, state)
    accessed, tag_ids = state.access_times(), state.tag_ids()
    staged_models = state.staging()
    jobs = BackgroundJobs(state.job_records(), state.leases("jobs"))
    export_configs = state.export_configurations()
    bulk = BulkImports(
        settings.state_dir,
        bulk_row_runner(settings, registry, users, search, uploads),
        state.leases("bulk"),
        state.bulk_records(),
    )
    downloads = DownloadRunner(
        settings.state_dir,
        registry,
        functools.partial(actor_named, users),
        UrlGuard(settings.downloads.allow_hosts),
        threads=settings.downloads.threads,
        timeout=settings.downloads.timeout,
        max_size=settings.uploads.max_size,
        tasks=state.download_tasks(),
    )
    downloads.leases = state.leases("downloads")
    api = meta_api.create_app(
        registry,
        users,
        token_signer(settings),
        {
            "ASSETDAV_WORKERS": workers,
            "ASSETDAV_INDEX": search,
            "ASSETDAV_PRESIGN": SignedPayloads(secret, "presigned-urls"),
            "ASSETDAV_PRESIGN_SPENT": spent,
            "ASSETDAV_UPLOADS": uploads,
            "ASSETDAV_MEDIA": media,
            "ASSETDAV_ACCESS_TIMES": accessed,
            "ASSETDAV_TAG_IDS": tag_ids,
            "ASSETDAV_MODELS_STORE": models_store(settings),
            "ASSETDAV_PENDING_IMAGES": settings.state_dir / "pending-images",
            "ASSETDAV_MODEL_STAGING": staged_models,
            "ASSETDAV_JOBS": jobs,
            "ASSETDAV_EXPORT_CONFIGS": export_configs,
            "ASSETDAV_EXPORTS_DIR": settings.state_dir / "exports",
            "ASSETDAV_BULK_IMPORTS": bulk,
            "ASSETDAV_SARTIQ_TARGET": (
                settings.sartiq.store or next(iter(settings.stores), ""),
                settings.sartiq.project,
            ),
            "ASSETDAV_MIGRATION_ROOTS": settings.migration.allowed_roots,
            "ASSETDAV_DOWNLOADS": downloads,
            "ASSETDAV_ANONYMOUS_READ": settings.allow_anonymous_read,
            "ASSETDAV_LLAMA_STORE": settings.llama.store or next(iter(settings.stores), ""),
            "ASSETDAV_DEFAULT_TARGET": (
                settings.assets.default_store or next(iter(settings.stores), ""),
                settings.assets.default_project,
            ),
        },
    )
    dav_face = cluster.read_snapshots(dav) if cluster else dav
    wsgi = AccessLog(RequestGuard(Dispatcher(dav_face, api)), cluster.node if cluster else "")
    app = Application(wsgi, registry, users)
    if cluster is not None:
        stream = cluster.change_stream(registry.feed)
        search.cluster_barrier = stream.caught_up
        stream.start()
        app.closers += [stream.stop, cluster.close]
    search.start()
    workers.start()
    uploads.start()
    downloads.start()
    bulk.start()
    app.closers += [state.props.close, state.locks.close, search.stop, workers.stop, spent.close]
    app.interrupters.append(workers.interrupt)
    app.closers += [uploads.stop, media.close, accessed.close, downloads.stop, tag_ids.close]
    app.closers += [staged_models.close, jobs.close, export_configs.close, bulk.stop]
    if settings.derived.background:
        previews = PreviewMaker(media, registry)
        previews.start()
        app.closers.append(previews.stop)
    return app
