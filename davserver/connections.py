"""cheroot requests and connections that a hostile or broken client cannot abuse.

- The request line and headers must arrive within a deadline, and a body at a minimum
  average rate (see paced_socket.py); a client too slow gets 408 and its thread back.
- A request line over `max_request_line` bytes is 414, a header section over
  `max_header_bytes` or `max_header_fields` is 431: refused as soon as the limit is
  passed, never read whole.
- A chunked body is read in bounded pieces; a malformed or absurd chunk size is 400.
- A large unread body is never swallowed into memory to keep a connection alive.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server

from .paced_socket import PacedSocket
from .socket_reader import SocketReader

DRAIN_LIMIT = 1 << 20  # an unread body up to this size is read and dropped; above: close
CHUNK_PIECE = 1 << 20  # the most of one chunk read at once
MAX_CHUNK_SIZE_DIGITS = 16  # hex digits of a chunk size: 2**64 bytes, more is nonsense
LINGER_BYTES = 1 << 20  # what is read and dropped after refusing, so the answer arrives
LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class RequestLimits:
    """How much a client may send before the application sees the request, and how fast."""

    header_timeout: float = 10.0  # seconds for the request line and all headers
    min_body_rate: int = 1024  # bytes/s on average, after the body's first header_timeout s
    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_header_fields: int = 100


class MalformedBody(ValueError):
    """A chunked body that does not follow HTTP/1.1's chunked coding."""


class TooManyHeaderFields(Exception):
    pass


class CountingHeaderReader(cheroot_server.HeaderReader):
    """cheroot's header parsing, refusing more than `limit` fields."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, rfile: Any, hdict: dict | None = None) -> dict:
        return super().__call__(_CountingLines(rfile, self.limit), hdict)


class _CountingLines:
    def __init__(self, rfile: Any, limit: int) -> None:
        self._rfile = rfile
        self._left = limit + 1  # the empty line that ends the headers

    def readline(self, size: int | None = None) -> bytes:
        self._left -= 1
        if self._left < 0:
            raise TooManyHeaderFields
        return self._rfile.readline(size) if size is not None else self._rfile.readline()


class BoundedChunkedRFile(cheroot_server.ChunkedRFile):
    """A chunked body read at most CHUNK_PIECE bytes at a time, whatever chunk sizes the
    client announces; a size that is not hex, or absurdly long, is MalformedBody."""

    def __init__(self, rfile: Any, maxlen: int) -> None:
        super().__init__(rfile, maxlen, bufsize=CHUNK_PIECE)
        self._chunk_left = 0

    def _fetch(self) -> None:
        if self.closed:
            return
        if self._chunk_left == 0:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise MalformedBody("The chunked body ended, or a chunk size line is too long.")
            size = line.strip().split(b";", 1)[0].strip()
            if not size or len(size) > MAX_CHUNK_SIZE_DIGITS:
                raise MalformedBody(f"Bad chunk size {size[:20]!r} in the chunked body.")
            try:
                self._chunk_left = int(size, 16)
            except ValueError:
                raise MalformedBody(f"Bad chunk size {size[:20]!r} in the chunked body.") from None
            if self._chunk_left == 0:
                self.closed = True
                return
        piece = self.rfile.read(min(self._chunk_left, CHUNK_PIECE))
        if not piece:
            raise MalformedBody("The chunked body ended inside a chunk.")
        self._chunk_left -= len(piece)
        self.bytes_read += len(piece)
        self.buffer += piece
        if self._chunk_left == 0 and self.rfile.read(2) != b"\r\n":
            raise MalformedBody("A chunk of the chunked body does not end with CRLF.")


class GuardedRequest(cheroot_server.HTTPRequest):
    """cheroot's request with the limits above (see the module's docstring)."""

    conn: GuardedConnection

    def parse_request(self) -> None:
        limits = self.server.request_limits
        self.conn.paced.expect_headers(limits.header_timeout)
        self.rfile = cheroot_server.SizeCheckWrapper(self.conn.rfile, limits.max_request_line)
        try:
            if not self.read_request_line():
                return
        except cheroot_errors.MaxSizeExceeded:
            self._refuse(
                "414 URI Too Long",
                f"The request line is longer than {limits.max_request_line} bytes.",
            )
            return
        self.rfile = cheroot_server.SizeCheckWrapper(self.conn.rfile, limits.max_header_bytes)
        self.header_reader = CountingHeaderReader(limits.max_header_fields)
        try:
            if not self.read_request_headers():
                return
        except (cheroot_errors.MaxSizeExceeded, TooManyHeaderFields):
            self._refuse(
                "431 Request Header Fields Too Large",
                f"At most {limits.max_header_fields} header fields of "
                f"{limits.max_header_bytes} bytes in all are taken.",
            )
            return
        length = self.inheaders.get(b"Content-Length", b"0").strip()
        if not length.isdigit():  # cheroot takes "-5" and "+5"
            self.simple_response("400 Bad Request", "Malformed Content-Length header.")
            return
        self.ready = True

    def _refuse(self, status: str, message: str) -> None:
        """Answer (JSON `{"title", "description"}`, as every error of the API: the path is
        not known yet), then drop the rest of what the client sends for a moment (unread
        data makes the kernel reset the connection, and the answer with it)."""
        self.close_connection = True
        body = json.dumps({"title": status.split(" ", 1)[1], "description": message}).encode()
        head = (
            f"{self.server.protocol} {status}\r\nContent-Length: {len(body)}\r\n"
            "Content-Type: application/json\r\nConnection: close\r\n\r\n"
        )
        try:
            self.conn.wfile.write(head.encode("latin-1") + body)
        except OSError as exc:
            if exc.args and exc.args[0] not in cheroot_errors.socket_errors_to_ignore:
                raise
        self.conn.linger_before_close()

    def respond(self) -> None:
        limits = self.server.request_limits
        self.conn.paced.expect_body(limits.min_body_rate, limits.header_timeout)
        if self.chunked_read:
            self.rfile = BoundedChunkedRFile(self.conn.rfile, self.server.max_request_body_size)
        else:
            length = int(self.inheaders.get(b"Content-Length", b"0"))
            self.rfile = cheroot_server.KnownLengthRFile(self.conn.rfile, length)
        try:
            self.server.gateway(self).respond()
            if self.ready:
                self.ensure_headers_sent()
            if self.chunked_write:
                self.conn.wfile.write(b"0\r\n\r\n")
        finally:
            self.conn.paced.done()

    def send_headers(self) -> None:
        """Before answering, cheroot reads whatever body the application left unread, in
        one call, to keep the connection alive: a refused 5 GB upload would sit in memory.
        Above DRAIN_LIMIT (or when the application asks with `Connection: close`, or the
        client was too slow) the connection is closed instead, as cheroot does for 413."""
        remaining = getattr(self.rfile, "remaining", 0) or 0
        asks_to_close = any(
            key.lower() == b"connection" and value.lower() == b"close"
            for key, value in self.outheaders
        )
        if (
            remaining > DRAIN_LIMIT
            or (asks_to_close and remaining)
            or self.conn.paced.timed_out
            or (self.chunked_read and not self.rfile.closed)
        ):
            self.close_connection = True
        super().send_headers()


class GuardedConnection(cheroot_server.HTTPConnection):
    """A connection whose reads go through a PacedSocket; it tells the server when it
    closes (the server counts connections per client address)."""

    RequestHandlerClass = GuardedRequest

    def __init__(self, server: Any, sock: socket.socket, makefile: Any = None) -> None:
        makefile = makefile or cheroot_server.MakeFile
        super().__init__(server, sock, makefile)
        self.paced = PacedSocket(sock)
        self.rfile = SocketReader(self.paced, "rb", self.rbufsize)
        self.closed = False

    def linger_before_close(self) -> None:
        """Stop sending, then read and drop up to LINGER_BYTES for a moment, so that the
        client reads the answer before the connection goes."""
        deadline = time.monotonic() + LINGER_SECONDS
        try:
            self.wfile.flush()
            self.socket.shutdown(socket.SHUT_WR)
            dropped = 0
            while dropped < LINGER_BYTES:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.socket.settimeout(left)
                data = self.socket.recv(64 * 1024)
                if not data:
                    break
                dropped += len(data)
        except OSError:
            pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            super().close()
        finally:
            forget = getattr(self.server, "connection_closed", None)
            if forget is not None:
                forget(self)
