"""Deadlines on what a client sends, enforced where cheroot reads the socket.

cheroot gives each read the same timeout (60 s), so a client that sends one header line
per second, or a body at one byte per second, keeps a worker thread forever. A
`PacedSocket` stands in for the socket under the connection's reader: while the request
line and headers arrive there is one total deadline, and while the body arrives the
client must keep up an average rate (after a grace period). A read past its deadline
raises `socket.timeout`, which cheroot answers with 408.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any


class PacedSocket:
    """A socket whose reads obey the current request's deadline (none between requests)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._idle_timeout = sock.gettimeout()
        self._plain = type(sock) is socket.socket  # not TLS: its descriptor may be read
        self._headers_until: float | None = None
        self._body: tuple[float, float, float] | None = None  # (start, grace, bytes/s)
        self._body_bytes = 0
        self.timed_out = False

    # --- what the request sets --------------------------------------------------------

    def expect_headers(self, within: float) -> None:
        """The request line and headers must be in within `within` seconds from now."""
        self._body = None
        self._headers_until = time.monotonic() + within
        self.timed_out = False

    def expect_body(self, min_rate: float, grace: float) -> None:
        """From now on the body must come at `min_rate` bytes/s on average, measured from
        now, after the first `grace` seconds."""
        self._headers_until = None
        self._body = (time.monotonic(), grace, float(min_rate)) if min_rate > 0 else None
        self._body_bytes = 0

    def done(self) -> None:
        """Between requests: no deadline. An idle connection waits in the selector, which
        closes it after the idle timeout; the socket's own timeout is left as the last
        read set it (the next request's reads set theirs), since setting it is a system
        call that lets the interpreter lock go to another thread: twice per request, it
        was a few percent of the server's small uploads."""
        self._headers_until = None
        self._body = None

    # --- what the reader calls -----------------------------------------------------------

    def _time_left(self) -> float | None:
        now = time.monotonic()
        if self._headers_until is not None:
            return self._headers_until - now
        if self._body is not None:
            start, grace, rate = self._body
            return start + grace + self._body_bytes / rate - now
        return None

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        while True:
            left = self._time_left()
            if left is not None and left <= 0:
                self.timed_out = True
                raise TimeoutError("timed out")
            if not flags and (received := self._ready(buffer, nbytes)) is not None:
                self._body_bytes += received
                return received
            if left is not None:
                self._wait_at_most(min(left, self._idle_timeout or left))
            try:
                received = self._sock.recv_into(buffer, nbytes, flags)
            except TimeoutError:
                if left is not None and self._time_left() > 0:  # type: ignore[operator]
                    continue  # a wait set for an earlier, tighter deadline: wait on
                self.timed_out = left is not None
                raise
            self._body_bytes += received
            return received

    def _ready(self, buffer: Any, nbytes: int) -> int | None:
        """What the kernel holds for us already, read at once; None when nothing is there.

        A socket with a timeout polls before every `recv` (two system calls, each letting
        the interpreter lock go), though a connection is handed to a worker only once it
        is readable and a body mostly arrives ahead of its reader: one non-blocking read
        first spares the poll. Plain sockets only (the socket is non-blocking once it has a
        timeout, so the read cannot wait)."""
        if not self._plain or self._sock.gettimeout() is None:
            return None
        view = memoryview(buffer)
        try:
            return os.readv(self._sock.fileno(), [view[:nbytes] if nbytes else view])
        except BlockingIOError:
            return None
        finally:
            view.release()

    def _wait_at_most(self, seconds: float) -> None:
        """Let the next recv wait no longer than `seconds`. Setting a socket's timeout is a
        system call, and a body arrives in thousands of recvs whose deadline only moves
        further away as bytes come in: a shorter wait already set is kept (a recv that
        runs out of it while time is left is simply repeated)."""
        current = self._sock.gettimeout()
        if current is None or current > seconds or current < seconds / 2:
            self._sock.settimeout(seconds)

    def __getattr__(self, name: str) -> Any:  # fileno, _decref_socketios, ...
        return getattr(self._sock, name)
