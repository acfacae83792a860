"""Notice edits made on disk behind the server's back (cp, rsync, an editor) within
seconds: inotify through watchdog, with owners debounced and refreshed in one thread."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from stores import ASSET_LEVEL, PROJECT_LEVEL, SYSTEM, Location, Registry
from stores.errors import NotFound, StoreError
from stores.names import SIDECAR_NAME, TEMP_PREFIX, is_junk

from .writer import IndexWriterThread, Job

log = logging.getLogger(__name__)

DEBOUNCE_SECONDS = 0.5
# Only changes: opens and reads (the server reads sidecars all the time) would flood the
# inotify queue, and each overflow makes watchdog walk the whole tree again.
CHANGES = [
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: TreeWatcher, store_name: str, root: Path) -> None:
        self.watcher = watcher
        self.store_name = store_name
        self.root = str(root).rstrip("/") + "/"

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = raw.decode() if isinstance(raw, bytes) else raw
            if path and path.startswith(self.root):
                self.watcher.touched(
                    self.store_name, path[len(self.root) :].split("/"), event.is_directory
                )


class TreeWatcher:
    """Collects the owners (projects, assets) touched on disk and brings them up to date:
    new or changed files into their sidecar (through `stores`), edited sidecars into the
    index. The server's own writes come by too and find nothing to do."""

    def __init__(self, registry: Registry, writer: IndexWriterThread) -> None:
        self.registry = registry
        self.writer = writer
        self._files: set[Location] = set()
        self._sidecars: set[Location] = set()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer = Observer()
        self._thread = threading.Thread(target=self._run, name="tree-watcher", daemon=True)
        self.active = False

    def start(self) -> None:
        try:
            for store in self.registry:
                self._observer.schedule(
                    _Handler(self, store.name, store.root),
                    str(store.root),
                    recursive=True,
                    event_filter=CHANGES,
                )
            self._observer.start()
            self.active = True
            for store in self.registry:  # what changes on disk, this watcher takes in
                store.reconcile_on_write = False
        except OSError as exc:
            log.warning(
                "cannot watch the stores for changes (%s); edits made on disk are "
                "found by the periodic reconcile only",
                exc,
            )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self.active:
            for store in self.registry:
                store.reconcile_on_write = True
            self._observer.stop()
            self._observer.join(timeout=10)
        self._thread.join(timeout=10)

    def touched(self, store: str, parts: list[str], is_dir: bool) -> None:
        parts = [p for p in parts if p]
        if not parts or any(p.startswith(TEMP_PREFIX) for p in parts) or is_junk(parts[-1]):
            return
        name = parts[-1]
        if name == SIDECAR_NAME or name.startswith(SIDECAR_NAME + "."):
            owner = Location(store, tuple(parts[:-1]))
            if owner.level in (PROJECT_LEVEL, ASSET_LEVEL):
                with self._guard:
                    self._sidecars.add(owner)
                self._wake.set()
            return
        level = len(parts)
        if is_dir and level in (PROJECT_LEVEL, ASSET_LEVEL):
            owner = Location(store, tuple(parts))
        elif level > ASSET_LEVEL:
            owner = Location(store, tuple(parts[:ASSET_LEVEL]))
        elif level == ASSET_LEVEL:
            owner = Location(store, tuple(parts[:PROJECT_LEVEL]))
        else:
            return
        with self._guard:
            self._files.add(owner)
            if owner.level == ASSET_LEVEL:
                self._files.add(Location(store, owner.parts[:PROJECT_LEVEL]))
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(DEBOUNCE_SECONDS):
                return
            self._wake.clear()
            with self._guard:
                files, self._files = self._files, set()
                sidecars, self._sidecars = self._sidecars, set()
            for owner in sorted(files, key=lambda loc: loc.parts):
                self._refresh(owner)
            for owner in sidecars:  # edited by hand: whatever it says now goes to the index
                self.writer.submit(Job(owner))

    def _refresh(self, owner: Location) -> None:
        store = self.registry.find(owner.store)
        if store is None:
            return
        try:
            store.refresh_owner(SYSTEM, owner)
        except NotFound:
            self.writer.submit(Job(owner, deep=owner.level == PROJECT_LEVEL))
        except StoreError as exc:
            log.warning(
                "cannot take the changes in %s into its sidecar: %s", owner.url_path(), exc.message
            )
        except OSError as exc:
            log.warning("cannot read %s: %s", owner.url_path(), exc)
