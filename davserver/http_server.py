"""The cheroot server assetdav runs on, made to hold up against slow and greedy clients.

cheroot is thread-per-request: a client that occupies threads starves everyone else.
- A new connection waits in the selector, costing no thread, until its first bytes come.
- One client address may hold at most `connections_per_address` connections; more are
  answered 503 with Retry-After and closed at once.
- The thread pool grows while every thread is busy, up to `max_threads`, and shrinks
  back towards `threads` when idle, so the addresses that behave still find a thread.
- Each request gets the deadlines of connections.py (request line and headers, body rate).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from cheroot import wsgi

from .connections import GuardedConnection, RequestLimits

log = logging.getLogger("assetdav.http")

SHRINK_EVERY = 30.0  # seconds between looks at idle threads
REFUSAL_LOG_EVERY = 60.0  # seconds between warnings about one address


def _unset_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("503 Service Unavailable", [("Retry-After", "1")])
    return [b"starting up"]


class GuardedServer(wsgi.Server):
    ConnectionClass = GuardedConnection

    def __init__(
        self,
        bind_addr: tuple[str, int],
        *,
        threads: int,
        max_threads: int,
        connections_per_address: int,
        limits: RequestLimits,
        idle_timeout: float = 60.0,
    ) -> None:
        super().__init__(
            bind_addr,
            _unset_app,
            numthreads=threads,
            max=max_threads,
            server_name="assetdav",
            timeout=idle_timeout,
            shutdown_timeout=5,
            request_queue_size=1024,
        )
        self.request_limits = limits
        self.connections_per_address = connections_per_address
        self._per_address: Counter[str] = Counter()
        self._guard = threading.Lock()
        self._last_refusal_log: dict[str, float] = {}
        self._next_shrink = time.monotonic() + SHRINK_EVERY

    # --- connections ------------------------------------------------------------------

    def process_conn(self, conn: GuardedConnection) -> None:
        """Called by cheroot's selector loop for a new connection and for one with bytes
        to read. A new one is admitted (or refused) and waits for its first bytes; one
        with bytes goes to a thread, growing the pool when none is free."""
        if not getattr(conn, "admitted", False):
            if not self._admit(conn):
                return
            conn.admitted = True
            self._connections.put(conn)  # back to the selector until it sends something
            return
        self._grow_if_busy()
        super().process_conn(conn)

    def _admit(self, conn: GuardedConnection) -> bool:
        address = str(conn.remote_addr)
        with self._guard:
            if self._per_address[address] >= self.connections_per_address:
                refused = True
            else:
                self._per_address[address] += 1
                conn.counted_address = address
                refused = False
        if refused:
            self._refuse(conn, address)
        return not refused

    def connection_closed(self, conn: GuardedConnection) -> None:
        address = getattr(conn, "counted_address", None)
        if address is None:
            return
        with self._guard:
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]

    def _refuse(self, conn: GuardedConnection, address: str) -> None:
        body = (
            f"Too many connections from {address} (at most {self.connections_per_address}); "
            "close some and try again.\n"
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        try:
            conn.socket.settimeout(1)
            conn.socket.sendall(head + body)
        except OSError:
            pass
        conn.close()
        now = time.monotonic()
        if now - self._last_refusal_log.get(address, 0.0) > REFUSAL_LOG_EVERY:
            self._last_refusal_log[address] = now
            log.warning(
                "refused connections from %s: it holds %d already (limits.connections_per_address)",
                address,
                self.connections_per_address,
            )

    # --- threads ----------------------------------------------------------------------

    def _grow_if_busy(self) -> None:
        """One more thread when none is free for what waits (cheroot never grows its pool
        by itself); idle extra threads are let go now and then."""
        pool = self.requests
        if pool.idle <= pool.qsize and len(pool._threads) < pool.max:
            worker = pool._spawn_worker()  # not pool.grow(): it sleeps until the thread runs
            pool._threads.append(worker)
        now = time.monotonic()
        if now >= self._next_shrink:
            self._next_shrink = now + SHRINK_EVERY
            extra = pool.idle - pool.min
            if extra > 0:
                pool.shrink(extra)

    def thread_count(self) -> int:
        return len(self.requests._threads)
