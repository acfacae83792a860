"""Group commit of finished uploads into one owner's folder.

Each upload that finishes queues its placement under the owner's folder. One thread at a
time leads for that owner: it takes everything queued, renames each file into place and
records them all in one sidecar write, then hands the lead to the oldest placement still
waiting (or gives it up). The others just wait to be settled. N concurrent PUTs into an
asset of thousands of files then cost a few sidecar rewrites, not N.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SidecarChange = Callable[[dict[str, Any]], None]


@dataclass(eq=False)
class Placement:
    """A finished temporary file waiting to become `target`, and how that went."""

    temp: Path
    target: Path
    size: int
    digest: str
    create_only: bool = False
    on_placed: SidecarChange | None = None
    existed: bool = False
    error: BaseException | None = None
    settled: bool = False
    wake: threading.Event = field(default_factory=threading.Event)  # settled, or lead

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
