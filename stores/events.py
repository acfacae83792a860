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
    origin: str = ""  # "": made here; else the cluster node that made it (stores/state/redis)


Listener = Callable[[Change, int], None]  # the change and its sequence number


class ChangeFeed:
    """Synchronous fan-out to listeners; a failing listener is logged, never fails a write.

    Every change gets the next sequence number, and listeners hear of changes in that
    order: whoever follows the feed (the index) can tell a reader which writes it has
    taken in, and a reader can wait for everything acknowledged before it began
    (`last_seq`).
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._guard = threading.RLock()
        self._seq = 0

    def subscribe(self, listener: Listener) -> None:
        with self._guard:
            self._listeners.append(listener)

    @property
    def last_seq(self) -> int:
        """The number of the latest change announced."""
        return self._seq

    def emit(self, change: Change) -> None:
        with self._guard:  # listeners only queue work: holding this keeps the order
            self._seq += 1
            for listener in self._listeners:
                try:
                    listener(change, self._seq)
                except Exception:  # noqa: BLE001 - a listener must not break a write
                    log.exception("change listener %r failed on %s", listener, change)
