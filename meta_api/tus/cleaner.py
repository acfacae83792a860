"""A background thread that removes expired uploads now and then."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

LONGEST_PAUSE = 60.0  # seconds between sweeps at most


class ExpiryCleaner:
    """Calls `sweep` every few seconds (a quarter of the expiry time, at most a minute)."""

    def __init__(self, sweep: Callable[[], int], expire_after: float) -> None:
        self._sweep = sweep
        self.interval = max(0.5, min(LONGEST_PAUSE, expire_after / 4))
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="upload-cleaner", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            try:
                self._sweep()
            except Exception:  # noqa: BLE001 - the next sweep may succeed
                log.exception("could not remove expired uploads")
