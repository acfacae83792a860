"""Background scans that adopt sidecar-less folders, one at a time per store."""

from __future__ import annotations

import logging
import threading
from typing import Any

from stores import Actor, FileStore
from stores.adopt import adopt_unowned
from stores.model import now_text

log = logging.getLogger(__name__)


class ScanRunner:
    def __init__(self) -> None:
        self._states: dict[str, dict[str, Any]] = {}
        self._guard = threading.Lock()

    def state(self, store: str) -> dict[str, Any]:
        with self._guard:
            return dict(self._states.get(store, {"state": "idle"}))

    def start(self, store: FileStore, actor: Actor) -> dict[str, Any] | None:
        """Start a scan of `store`; None when one is already running there."""
        with self._guard:
            if self._states.get(store.name, {}).get("state") == "running":
                return None
            state = {
                "state": "running",
                "total": 0,
                "done": 0,
                "adopted": 0,
                "started": now_text(),
                "finished": None,
                "error": None,
            }
            self._states[store.name] = state
        threading.Thread(
            target=self._run, args=(store, actor, state), daemon=True, name=f"scan-{store.name}"
        ).start()
        return dict(state)

    def _run(self, store: FileStore, actor: Actor, state: dict[str, Any]) -> None:
        def progress(done: int, total: int, adopted: int) -> None:
            with self._guard:
                state.update(done=done, total=total, adopted=adopted)

        try:
            adopt_unowned(store, actor, progress)
            outcome = "done"
        except Exception as exc:  # noqa: BLE001 - reported through GET .../scan
            log.exception("scan of store %s failed", store.name)
            outcome = "failed"
            with self._guard:
                state["error"] = str(exc)
        with self._guard:
            state.update(state=outcome, finished=now_text())
