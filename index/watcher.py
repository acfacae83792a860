"""Notice edits made on disk behind the server's back (cp, rsync, an editor) within
seconds: inotify read directly on Linux (index/inotify.py), watchdog elsewhere, with
owners debounced and refreshed in one thread."""

from __future__ import annotations

import logging
import threading

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

from . import inotify
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
    """watchdog's events, as paths for TreeWatcher.path_changed."""

    def __init__(self, watcher: TreeWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = raw.decode() if isinstance(raw, bytes) else raw
            if path:
                self.watcher.path_changed(path, event.is_directory)


class TreeWatcher:
    """Collects what changed on disk, by owner (project, asset), and brings those owners up
    to date: new or changed files into their sidecar (through `stores`), edited sidecars
    into the index.

    The server's own writes come by too, thousands a minute while a folder is dropped
    into an asset. They are recognised without taking any lock: a file whose sidecar
    record is true of it, a sidecar as this process last wrote it. Only a change the
    records do not explain costs a refresh of the owner.
    """

    def __init__(self, registry: Registry, writer: IndexWriterThread) -> None:
        self.registry = registry
        self.writer = writer
        # owner -> the keys seen changed in it (key, was a folder); None: check it all
        self._files: dict[Location, set[tuple[str, bool]] | None] = {}
        self._sidecars: set[Location] = set()
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._observer: Observer | None = None  # watchdog, where there is no inotify
        self._inotify: inotify.InotifyTree | None = None
        self._roots = [(str(s.root).rstrip("/") + "/", s.name) for s in registry]
        self._thread = threading.Thread(target=self._run, name="tree-watcher", daemon=True)
        self.refreshes = 0  # owners refreshed (for tests: own writes cost none)

    def start(self) -> None:
        try:
            if inotify.available():
                self._start_inotify()
            else:
                self._start_watchdog()
        except OSError as exc:
            log.warning(
                "cannot watch the stores for changes (%s); edits made on disk are "
                "found by the periodic reconcile only",
                exc,
            )
        self._thread.start()

    def _start_inotify(self) -> None:
        source = inotify.InotifyTree(self.path_changed, self._overflowed, TEMP_PREFIX)
        try:
            for store in self.registry:
                source.watch(str(store.root))
        except OSError:
            source.stop()
            raise
        source.start()
        self._inotify = source

    def _start_watchdog(self) -> None:
        observer, handler = Observer(), _Handler(self)
        for store in self.registry:
            observer.schedule(handler, str(store.root), recursive=True, event_filter=CHANGES)
        observer.start()
        self._observer = observer

    def path_changed(self, path: str, is_dir: bool) -> None:
        """Something changed at `path` (absolute), under one of the stores or not."""
        for root, store in self._roots:
            if path.startswith(root):
                self.touched(store, path[len(root) :].split("/"), is_dir)
                return

    @staticmethod
    def _overflowed() -> None:
        log.warning(
            "the system dropped file change events (too many at once); edits made on disk "
            "meanwhile are found by the periodic reconcile or `assetdav check`"
        )

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._inotify is not None:
            self._inotify.stop()
        if self._observer is not None:
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
        with self._guard:
            if is_dir and level in (PROJECT_LEVEL, ASSET_LEVEL):  # an owner's own folder
                owner = Location(store, tuple(parts))
                self._files[owner] = None
                if level == ASSET_LEVEL:
                    self._note(Location(store, owner.parts[:PROJECT_LEVEL]), name, True)
            elif level > ASSET_LEVEL:
                owner = Location(store, tuple(parts[:ASSET_LEVEL]))
                self._note(owner, "/".join(parts[ASSET_LEVEL:]), is_dir)
            elif level == ASSET_LEVEL:
                self._note(Location(store, tuple(parts[:PROJECT_LEVEL])), name, False)
            else:
                return
        self._wake.set()

    def _note(self, owner: Location, key: str, is_dir: bool) -> None:
        if owner in self._files and self._files[owner] is None:
            return
        self._files.setdefault(owner, set()).add((key, is_dir))  # type: ignore[union-attr]

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.wait(DEBOUNCE_SECONDS):
                return
            self._wake.clear()
            with self._guard:
                files, self._files = self._files, {}
                sidecars, self._sidecars = self._sidecars, set()
            for owner in sidecars:
                self._sidecar_changed(owner, files)
            for owner in sorted(files, key=lambda loc: loc.parts):
                self._files_changed(owner, files[owner])

    def _sidecar_changed(
        self, owner: Location, files: dict[Location, set[tuple[str, bool]] | None]
    ) -> None:
        """A sidecar not as this process wrote it (edited by hand, copied in): its files
        are checked whole, and whatever it says now goes to the index."""
        store = self.registry.find(owner.store)
        if store is None or store.sidecar_written_here(owner):
            return
        files[owner] = None
        self.writer.submit(Job(owner))

    def _files_changed(self, owner: Location, keys: set[tuple[str, bool]] | None) -> None:
        store = self.registry.find(owner.store)
        if store is None:
            return
        if not store.fs_path(owner).is_dir():
            self.writer.submit(Job(owner, deep=owner.level == PROJECT_LEVEL))
            return
        if store.records_agree_settled(owner, keys):
            return
        self.refreshes += 1
        self._refresh(owner)

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
