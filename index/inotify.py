"""Changes under folder trees, read from Linux inotify in one thread.

watchdog turned each inotify event into objects passed through two threads and a delay
queue; a small PUT makes six or seven events (its temporary file created, written, closed,
linked or renamed into place, removed; the journal appended) and that handling was a
seventh of the server's CPU while a folder was dropped into an asset. Here the events of
one read are parsed in a loop, those of the server's temporaries are dropped by their name
before anything else, and only the rest reach the callback. Only changes are asked for:
creations, deletions, moves and files closed after writing (a write is seen when its
file is closed; an in-place edit of a file held open is found by the periodic reconcile).
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import select
import struct
import threading
import time
from collections.abc import Callable

from stores.atomic import libc

log = logging.getLogger(__name__)

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

CHANGES = IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF
WATCH_MASK = CHANGES | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK
NEW_FOLDER = IN_CREATE | IN_MOVED_TO
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, length of the name that follows
READ_BYTES = 1 << 16
GATHER_SECONDS = 0.02  # let events gather before a read: one wake-up for dozens of events

Changed = Callable[[str, bool], None]  # (path, is a folder)


def available() -> bool:
    """Whether this system has inotify (Linux)."""
    return hasattr(libc(), "inotify_init1")


class InotifyTree:
    """Watches every folder under some roots (folders made later included) and calls
    `changed(path, is_folder)` for each change, but those of names starting with `skip`
    (the server's temporaries). `overflowed()` is called when the kernel dropped events:
    then anything may have changed."""

    def __init__(self, changed: Changed, overflowed: Callable[[], None], skip: str) -> None:
        self._changed = changed
        self._overflowed = overflowed
        self._skip = os.fsencode(skip)
        self._libc = libc()
        self._fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._folders: dict[int, bytes] = {}  # watch descriptor -> its folder's path
        self._wake_read, self._wake_write = os.pipe()
        self._stop = False
        self._limit_reported = False
        self._thread = threading.Thread(target=self._run, name="inotify", daemon=True)

    def watch(self, root: str) -> None:
        """Watch `root` and every folder below it (no symlinks followed). OSError when the
        system's watch limit is reached (fs.inotify.max_user_watches)."""
        self._watch_tree(os.fsencode(root), strict=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        os.write(self._wake_write, b"x")
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        for fd in (self._fd, self._wake_read, self._wake_write):
            os.close(fd)

    def _watch_tree(self, root: bytes, *, strict: bool = False) -> list[bytes]:
        """Watch `root` and its folders; a folder gone meanwhile is skipped. Returns the
        folders found below `root`."""
        pending = [root]
        found: list[bytes] = []
        while pending:
            folder = pending.pop()
            # a store's root may be a symlink to its folder; nothing below it is followed
            mask = WATCH_MASK & ~IN_DONT_FOLLOW if strict and folder == root else WATCH_MASK
            wd = self._libc.inotify_add_watch(self._fd, folder, mask)
            if wd < 0:
                code = ctypes.get_errno()
                if code == errno.ENOSPC or (strict and folder == root):
                    raise OSError(code, os.strerror(code), os.fsdecode(folder))
                continue  # removed, or not a folder (any more)
            self._folders[wd] = folder
            try:
                with os.scandir(folder) as entries:
                    below = [
                        e.path
                        for e in entries
                        if e.is_dir(follow_symlinks=False) and not e.name.startswith(self._skip)
                    ]
            except OSError:
                continue
            pending.extend(below)
            found.extend(below)
        return found

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        while not self._stop:
            poller.poll()
            if self._stop:
                return
            time.sleep(GATHER_SECONDS)
            try:
                data = os.read(self._fd, READ_BYTES)
            except BlockingIOError:
                continue
            try:
                self._dispatch(data)
            except Exception:  # noqa: BLE001 - the watcher must keep running
                log.exception("handling file system events failed; the reconcile repairs it")

    def _dispatch(self, data: bytes) -> None:
        skip, folders, changed = self._skip, self._folders, self._changed
        offset, end = 0, len(data)
        while offset < end:
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            name = data[offset + 16 : offset + 16 + length].rstrip(b"\0")
            offset += 16 + length
            if mask & IN_Q_OVERFLOW:
                self._overflowed()
                continue
            if mask & IN_IGNORED:
                folders.pop(wd, None)  # its folder was removed (or moved out and unwatched)
                continue
            if name.startswith(skip):
                continue
            folder = folders.get(wd)
            if folder is None or not name:
                continue  # an event of the folder itself: its parent reports it too
            path = folder + b"/" + name
            is_folder = bool(mask & IN_ISDIR)
            if is_folder and mask & IN_MOVED_FROM:
                self._unwatch(path)  # moved out, or within: then watched anew at its arrival
            changed(os.fsdecode(path), is_folder)
            if is_folder and mask & NEW_FOLDER:
                # what was made in it before it was watched: its folders are reported too
                # (a project moved in brings its assets), and each reported folder is
                # compared whole with its records
                for below in self._watch_new(path):
                    changed(os.fsdecode(below), True)

    def _unwatch(self, path: bytes) -> None:
        below = path + b"/"
        for wd, folder in list(self._folders.items()):
            if folder == path or folder.startswith(below):
                del self._folders[wd]
                self._libc.inotify_rm_watch(self._fd, wd)

    def _watch_new(self, path: bytes) -> list[bytes]:
        try:
            return self._watch_tree(path)
        except OSError as exc:
            if not self._limit_reported:  # once: a folder of thousands would flood the log
                self._limit_reported = True
                log.warning(
                    "cannot watch %s and the folders made after it (%s): raise "
                    "fs.inotify.max_user_watches; changes there are found by the periodic "
                    "reconcile only",
                    os.fsdecode(path),
                    exc.strerror,
                )
            return []
