"""Group commit of finished uploads into one owner's folder.

Each upload that finishes renames its file into place and queues its placement under the
owner's folder. One thread at a time leads for that owner: it takes everything queued and
records it all in one journal append (or sidecar write), then hands the lead to the oldest
placement still waiting (or gives it up). The others just wait to be settled. N concurrent
PUTs into an asset then cost a few appends, not N.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .hashing import Digests
from .model import FileRecord
from .undo import UndoLog

SidecarChange = Callable[[dict[str, Any]], None]


@dataclass(eq=False)
class Placement:
    """A finished temporary file becoming `target`, and how that went."""

    temp: Path
    target: Path
    size: int
    digests: Digests
    create_only: bool = False
    on_placed: SidecarChange | None = None
    existed: bool = False
    mtime: float = 0.0  # of the file once in place
    undo: UndoLog = field(default_factory=UndoLog)  # takes the rename back
    error: BaseException | None = None
    settled: bool = False
    wake: threading.Event = field(default_factory=threading.Event)  # settled, or lead

    def record(self) -> FileRecord:
        return FileRecord.of(self.size, self.digests, self.mtime)

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc

    def settle(self) -> None:
        self.settled = True
        self.wake.set()


class PlacementQueue:
    """Placements waiting to be settled, by owner folder, and which owners have a leader."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[Placement]] = {}
        self._led: set[str] = set()
        self._guard = threading.Lock()

    def join(self, owner: str, placement: Placement) -> bool:
        """Queue `placement`; True when the caller is to lead (nobody else does)."""
        with self._guard:
            self._waiting.setdefault(owner, []).append(placement)
            if owner in self._led:
                return False
            self._led.add(owner)
            return True

    def take(self, owner: str) -> list[Placement]:
        """Everything queued for `owner` (the leader's next batch)."""
        with self._guard:
            return self._waiting.pop(owner, [])

    def hand_over(self, owner: str) -> None:
        """The leader is done: wake the oldest waiting placement to lead, or end the lead."""
        with self._guard:
            waiting = self._waiting.get(owner)
            if waiting:
                waiting[0].wake.set()
            else:
                self._led.discard(owner)


class PathLocks:
    """One lock per target path: an upload holds its target's lock from its rename until it
    is recorded, so a second upload of the same name never renames over a file whose batch
    may still be taken back. Taken before any sidecar lock, never while holding one."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    @contextmanager
    def holding(self, path: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(path, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._locks[path] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[path]
                if users == 1:
                    del self._locks[path]
                else:
                    self._locks[path] = (lock, users - 1)
