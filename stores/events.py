"""Change events: every write to a tree is announced, so the index and caches can follow."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from .layout import Location

log = logging.getLogger(__name__)

CREATED = "created"
MODIFIED = "modified"
DELETED = "deleted"
MOVED = "moved"
COPIED = "copied"
META = "meta"


@dataclass(frozen=True)
class Change:
    kind: str
    where: Location
    is_folder: bool
    dest: Location | None = None


Listener = Callable[[Change], None]


class ChangeFeed:
    """Synchronous fan-out to listeners; a failing listener is logged, never fails a write."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._guard = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._guard:
            self._listeners.append(listener)

    def emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # noqa: BLE001 - a listener must not break a write
                log.exception("change listener %r failed on %s", listener, change)
