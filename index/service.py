"""The search index as the server runs it: opened (or rebuilt) in the state dir, fed by
change events, the watcher and a periodic reconcile, and queried by the API."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage

from stores import ASSET_LEVEL, PROJECT_LEVEL, Location, Registry
from stores.events import MOVED, Change
from stores.listing import subfolders
from stores.sweep import sweep_stale_temporaries

from .ids import IdKeeper
from .queries import IndexReader
from .reconcile import reconcile
from .same_bytes import SameBytes
from .schema import SCHEMA
from .watcher import TreeWatcher
from .whoosh_files import IndexStorage
from .writer import IndexWriterThread, Job, index_project, new_writer
from .writer_process import WriterProcess

log = logging.getLogger(__name__)


class IndexBehind(Exception):
    """The index did not take in recent writes within the read timeout (503, retry)."""


def open_or_create(path: Path) -> tuple[whoosh_index.Index, bool]:
    """The index at `path`; a missing, corrupt or outdated one is replaced by an empty one
    (second value True: it must be filled from the tree)."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        if whoosh_index.exists_in(str(path)):
            index = storage(path).open_index()
            if index.schema.names() == SCHEMA.names():
                with index.searcher() as searcher:
                    searcher.doc_count()
                return index, False
            log.warning("the index at %s has another schema; rebuilding it", path)
    except Exception as exc:  # noqa: BLE001 - any damage means: rebuild from the tree
        log.warning("the index at %s cannot be read (%s); rebuilding it", path, exc)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return storage(path).create_index(SCHEMA), True


def storage(path: Path) -> FileStorage:
    """The index's files, read and written without a system call per term (whoosh_files)."""
    return IndexStorage(str(path))


def jobs_for(change: Change) -> list[Job]:
    """Which owners a change to the tree touches."""
    jobs = []
    for where, is_folder in ((change.where, change.is_folder), (change.dest, change.is_folder)):
        if where is None:
            continue
        if is_folder and where.level == PROJECT_LEVEL:
            deep = change.kind == MOVED or change.kind in ("created", "deleted", "copied")
            jobs.append(Job(where, deep=deep))
        elif is_folder and where.level == ASSET_LEVEL:
            jobs.append(Job(where))
        elif where.level > ASSET_LEVEL:
            jobs.append(Job(Location(where.store, where.parts[:ASSET_LEVEL])))
        elif where.level == ASSET_LEVEL:
            jobs.append(Job(Location(where.store, where.parts[:PROJECT_LEVEL])))
    return jobs


class SearchIndex:
    def __init__(
        self,
        path: Path,
        registry: Registry,
        *,
        watch: bool = True,
        reconcile_interval: float = 120.0,
        read_timeout: float = 10.0,
        sweep_after: float = 120.0,
        writer_process: bool = True,
    ) -> None:
        self.path = path
        self.registry = registry
        self.index, self.rebuilt = open_or_create(path)
        self.reader = IndexReader(self.index)
        # commits are made in a process of their own (see writer_process), or here
        self.process = WriterProcess(path) if writer_process else None
        self.writer = IndexWriterThread(self.index, registry, process=self.process)
        self.ids = IdKeeper(registry, self.reader)
        for store in registry:
            store.same_bytes = SameBytes(self.reader)  # dedup on ingest, where it is on
        self.writer.on_assets_indexed = self.ids.indexed
        self.watcher = TreeWatcher(registry, self.writer) if watch else None
        self.reconcile_interval = reconcile_interval
        self.read_timeout = read_timeout
        self.sweep_after = sweep_after  # at start, temporaries untouched this long are stale
        self._stop = threading.Event()
        self._reconciler = threading.Thread(
            target=self._reconcile_loop, name="reconciler", daemon=True
        )
        self.ready = threading.Event()
        # in a cluster: wait (at most the given seconds) for the other nodes' changes that
        # were acknowledged before a read began (stores/state/redis.py ChangeStream)
        self.cluster_barrier: Callable[[float], bool] | None = None

    def start(self) -> None:
        self.ids.start()
        self.writer.start()
        self.registry.feed.subscribe(self._on_change)
        if self.watcher is not None:
            self.watcher.start()
        self._reconciler.start()

    def stop(self) -> None:
        self._stop.set()
        if self.watcher is not None:
            self.watcher.stop()
        self._reconciler.join(timeout=30)
        self.writer.stop()
        if self.process is not None:
            self.process.stop()
        self.ids.stop()

    def _on_change(self, change: Change, seq: int) -> None:
        self.writer.changed(jobs_for(change), seq)

    def fresh_reader(self) -> IndexReader:
        """The reader, once the index has every change acknowledged before this call (a
        client reads its own writes); IndexBehind when that takes over `read_timeout`."""
        barrier = self.cluster_barrier
        if barrier is not None and not barrier(self.read_timeout):
            raise IndexBehind(
                "The search index is catching up with other nodes' changes (or the cluster's "
                "Redis is unreachable); ask again in a moment."
            )
        if not self.writer.wait_for(self.registry.feed.last_seq, self.read_timeout):
            raise IndexBehind(
                "The search index is catching up with recent changes; ask again in a moment."
            )
        return self.reader

    def _reconcile_loop(self) -> None:
        """Compare tree and index now, then every `reconcile_interval` seconds, but never
        spend more than a tenth of the time on it (a large tree takes a while to walk)."""
        first = True
        for store in self.registry:
            sweep_stale_temporaries(store, self.sweep_after)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                queued = reconcile(self.registry, self.reader, self.writer)
                if queued:
                    log.info("index reconcile queued %d project(s) and asset(s)", queued)
                if first:
                    self.writer.wait_idle(timeout=3600)
                    self.ready.set()
                    log.info("the index agrees with the tree")
                self.ids.sweep()
            except Exception:  # noqa: BLE001 - keep serving; try again next round
                log.exception("index reconcile failed")
            first = False
            took = time.monotonic() - started
            self._stop.wait(max(self.reconcile_interval, 10 * took))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        return self.writer.wait_idle(timeout)


def reindex_stores(
    path: Path, registry: Registry, progress: Callable[[int, int, str], None]
) -> int:
    """Redo the documents of the registry's stores in the existing index (others are kept);
    returns the index's document count."""
    index, _fresh = open_or_create(path)
    writer = new_writer(index, timeout=60)
    for store in registry:
        writer.delete_by_term("store", store.name)
    _fill(writer, registry, progress)
    with index.searcher() as searcher:
        return searcher.doc_count()


def _fill(writer: Any, registry: Registry, progress: Callable[[int, int, str], None]) -> None:
    """Add every project and asset of the registry's stores, with progress, and commit."""
    projects = [
        (store, Location(store.name, ()).child(name))
        for store in registry
        for name in subfolders(str(store.root))
    ]
    for done, (store, project) in enumerate(projects):
        progress(done, len(projects), project.url_path())
        index_project(writer, store, project)
    writer.commit()
    progress(len(projects), len(projects), "")
