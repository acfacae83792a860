"""Previews made ahead of time: every image, video or PDF that lands (by any way in: the
change feed hears of WebDAV, API, tus, presigned and worker writes, and of files the
watcher or a scan takes into a sidecar) gets its `low` and `medium` previews from
low-priority threads (one per CPU), so a browser grid never waits. They work in the
pauses of writing: a burst of uploads is not slowed by its own previews."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from stores import Location, Registry
from stores.errors import StoreError
from stores.events import CREATED, DELETED, MODIFIED, Change
from stores.layout import ASSET_LEVEL

from .choice import is_tile
from .decode import previewable_name
from .errors import MediaError
from .service import Media

log = logging.getLogger(__name__)

AHEAD = ("low", "medium")
MAX_PENDING = 100_000  # beyond this, previews are made when first asked for
NICENESS = 10  # the thread's scheduling priority: below request threads
STOP_WAIT = 0.5  # seconds a stopping server waits for the previews being made
QUIET = 0.25  # seconds without a write before previews are made (uploads come first)


class PreviewMaker:
    def __init__(self, media: Media, registry: Registry, threads: int = 0) -> None:
        self.media = media
        self.registry = registry
        self._pending: OrderedDict[tuple[str, tuple[str, ...], bool], None] = OrderedDict()
        self._wake = threading.Condition()
        self._stopping = False
        self._busy = 0
        self._last_write = 0.0
        self._threads = [
            threading.Thread(target=self._run, name=f"previews-{n}", daemon=True)
            for n in range(threads or os.cpu_count() or 1)
        ]
        registry.feed.subscribe(self._on_change)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        # a preview being made cannot be interrupted; the threads are daemons, so the
        # process does not wait for them (their temporary files are swept at the next start)
        deadline = time.monotonic() + STOP_WAIT
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def idle(self) -> bool:
        with self._wake:
            return not self._pending and not self._busy

    def add_owner(self, store: str, parts: tuple[str, ...]) -> None:
        """Make the previews of every file an asset's sidecar records."""
        self._add((store, parts, True))

    def _on_change(self, change: Change, _seq: int) -> None:
        """Called in the write path: only queues, and notes that writes are going on."""
        self._last_write = time.monotonic()
        if change.origin:
            return  # another cluster node's write: that node makes its previews
        where = change.dest or change.where
        if change.kind == DELETED or where.level < ASSET_LEVEL:
            return
        if not change.is_folder and change.kind in (CREATED, MODIFIED):
            key = "/".join(where.parts[ASSET_LEVEL:])
            if previewable_name(where.name) and not is_tile(key):
                self._add((where.store, where.parts, False))
        elif change.is_folder:
            owner = where if where.level == ASSET_LEVEL else where.file_owner()
            if owner is not None and owner.level == ASSET_LEVEL:
                self._add((owner.store, owner.parts, True))

    def _add(self, item: tuple[str, tuple[str, ...], bool]) -> None:
        with self._wake:
            if item in self._pending or len(self._pending) >= MAX_PENDING:
                return
            self._pending[item] = None
            self._wake.notify()

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        while True:
            with self._wake:
                while not self._stopping and (not self._pending or self._writing()):
                    self._wake.wait(QUIET if self._pending else None)
                if self._stopping:
                    return
                (store_name, parts, is_owner), _ = self._pending.popitem(last=False)
                self._busy += 1
            try:
                self._make(store_name, parts, is_owner)
            except Exception:  # noqa: BLE001 - one bad file must not stop the thread
                log.exception("previews of /%s/%s failed", store_name, "/".join(parts))
            finally:
                with self._wake:
                    self._busy -= 1

    def _writing(self) -> bool:
        """Writes in the last QUIET seconds: an upload burst is going on, and previews wait
        for it to pause rather than take the CPU its requests need."""
        return time.monotonic() - self._last_write < QUIET

    def _make(self, store_name: str, parts: tuple[str, ...], is_owner: bool) -> None:
        """The previews of a file, or of every file of an asset; when writes start again,
        what is left goes back to the queue (one file's previews at a time)."""
        try:
            store = self.registry.get(store_name)
        except StoreError:
            return
        loc = Location(store_name, parts)
        files = list(files_to_preview(store, loc)) if is_owner else [loc]
        for done, file_loc in enumerate(files):
            made = (
                None
                if self._writing()
                else make_previews(self.media, store, file_loc, self._writing)
            )
            if made is None:  # writes came: the rest waits for their next pause
                with self._wake:
                    for rest in files[done:]:
                        self._pending[(store_name, rest.parts, False)] = None
                return


def files_to_preview(store, owner: Location) -> Iterable[Location]:  # noqa: ANN001
    """The files of an asset that get previews ahead of time, as its sidecar records them."""
    try:
        meta = store.sidecar(owner).read() or {}
    except Exception:  # noqa: BLE001 - an unreadable sidecar: nothing to preview yet
        return
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    for key in sorted(files):
        if previewable_name(key) and not is_tile(key):
            yield Location(owner.store, (*owner.parts, *key.split("/")))


def make_previews(
    media: Media,
    store,  # noqa: ANN001
    loc: Location,
    interrupted: Callable[[], bool] | None = None,
) -> int | None:
    """The missing low and medium previews of one file, made in the calling thread: how
    many were made, or None when `interrupted()` said to stop before one of them."""
    path = store.fs_path(loc)
    try:
        st = path.stat()
    except OSError:
        return 0
    if not path.is_file():
        return 0
    digest = media.content_hash(store, loc, path, st)
    made = 0
    for quality in AHEAD:
        conversion = media.preview_conversion(quality)
        if media.is_cached(digest, conversion):
            continue
        if interrupted is not None and interrupted():
            return None
        try:
            media.derivative_here(path, digest, conversion)
            made += 1
        except MediaError as exc:
            log.debug("no %s preview of %s: %s", quality, loc.url_path(), exc)
            return made
    return made
