"""Fold journals into their sidecars once their assets go quiet.

While files land in a big asset, their records are appended to `.ovemeta.journal` (see
journal.py). A few seconds after the last append, this folds the journal into `.ovemeta`,
so that at rest the sidecar names every file by itself, as a person reading it expects.
One daemon thread per process; a fold is an ordinary locked sidecar write.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from .errors import NotFound, StoreError
from .journal import FOLD_WHEN_IDLE

if TYPE_CHECKING:
    from .sidecar import Sidecar

log = logging.getLogger(__name__)


class IdleFolding:
    """Sidecars with a journal, each folded FOLD_WHEN_IDLE seconds after its last append."""

    def __init__(self, idle: float = FOLD_WHEN_IDLE) -> None:
        self.idle = idle
        self._due: dict[str, tuple[float, Sidecar]] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def appended(self, sidecar: Sidecar) -> None:
        """`sidecar` got an append just now: fold it when it has been quiet for a while."""
        with self._cond:
            waiting_for_work = not self._due
            self._due[str(sidecar.path)] = (time.monotonic() + self.idle, sidecar)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="journal-folding", daemon=True
                )
                self._thread.start()
            if waiting_for_work:  # else it wakes by itself, no later than this one is due
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._due:
                    self._cond.wait()
                now = time.monotonic()
                ready = [key for key, (when, _s) in self._due.items() if when <= now]
                if not ready:
                    self._cond.wait(min(when for when, _s in self._due.values()) - now)
                    continue
                sidecars = [self._due.pop(key)[1] for key in ready]
            for sidecar in sidecars:
                self._fold(sidecar)

    def _fold(self, sidecar: Sidecar) -> None:
        try:
            sidecar.fold_journal()
        except NotFound:
            pass  # the asset was removed or moved meanwhile (a move folds it)
        except (StoreError, OSError) as exc:  # a full disk: the journal stays, still true
            log.warning("cannot fold the journal of %s yet: %s", sidecar.label, exc)


folding = IdleFolding()
