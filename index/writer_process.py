"""The index writer's own process. Indexing is pure-Python work (Whoosh), and in the
server's process it shares one interpreter lock with every request thread: under a stream
of writes each took turns with the other, and the index fell seconds behind. In a process
of its own it runs beside them on another core.

The server keeps the bookkeeping (which changes are pending, which are committed, readers
waiting for them: IndexWriterThread); this process only applies a batch and answers with
the assets it indexed. It reads the sidecars from disk like anyone else, and it ends when
the server does (its end of the pipe closes).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import threading
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from stores import Location, Registry

log = logging.getLogger(__name__)

STOP_SECONDS = 10.0


class WriterLost(RuntimeError):
    """The writer process could not commit a batch."""


class WriterEnded(WriterLost):
    """The writer process was gone, or ended in the middle of a batch."""


class WriterProcess:
    """A child process that commits batches to the index at `index_path`; started with the
    server (see `start`), and again when a batch finds it ended."""

    def __init__(self, index_path: Path) -> None:
        self.index_path = index_path
        self._conn: Connection | None = None
        self._process: Any = None
        self._guard = threading.Lock()

    def apply(self, jobs: list[Any], roots: dict[str, str]) -> list[tuple[Location, str]]:
        """Commit a batch there; WriterLost when it could not (the reconcile repairs it).
        A process found ended (killed, out of memory) is started again for the batch."""
        with self._guard:
            try:
                return self._exchange(jobs, roots)
            except WriterEnded as exc:
                log.warning("%s; starting it again", exc)
                return self._exchange(jobs, roots)

    def _exchange(self, jobs: list[Any], roots: dict[str, str]) -> list[tuple[Location, str]]:
        conn = self._connection()
        try:
            conn.send((jobs, roots))
            status, answer = conn.recv()
        except (EOFError, OSError) as exc:
            self._end()
            raise WriterEnded(f"the index writer process ended ({exc!r})") from exc
        if status != "ok":
            raise WriterLost(f"the index writer process failed:\n{answer}")
        return answer

    def start(self) -> None:
        """Start the process now (called from the index writer's thread, so a server's
        start does not wait for it): its memory is there from the start, not first seen
        in the middle of some upload."""
        with self._guard:
            self._connection()

    def stop(self) -> None:
        with self._guard:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(None)
            self._end()

    def _connection(self) -> Connection:
        if self._conn is None:
            context = multiprocessing.get_context("spawn")  # no fork of a threaded server
            parent, child = context.Pipe()
            process = context.Process(
                target=serve,
                args=(child, str(self.index_path)),
                name="assetdav-index",
                daemon=True,
            )
            process.start()
            child.close()
            self._conn, self._process = parent, process
        return self._conn

    def _end(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(STOP_SECONDS)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
        self._conn = self._process = None


def serve(conn: Connection, index_path: str) -> None:
    """The child: apply each batch received, answer ("ok", assets) or ("error", text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when it ends
    from .service import storage  # here, not at the top: service imports this module
    from .writer import apply_batch

    index = storage(Path(index_path)).open_index()
    registry: Registry | None = None
    roots_seen: dict[str, str] = {}
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        jobs, roots = message
        if registry is None or roots != roots_seen:
            registry = Registry({name: Path(root) for name, root in roots.items()})
            roots_seen = roots
        try:
            answer: Any = ("ok", apply_batch(index, registry, jobs))
        except Exception:  # noqa: BLE001 - told to the server, which logs it
            answer = ("error", traceback.format_exc())
        try:
            conn.send(answer)
        except OSError:
            return
