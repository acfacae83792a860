"""cheroot connections that never swallow a large unread request body into memory."""

from __future__ import annotations

from cheroot import server as cheroot_server

DRAIN_LIMIT = 1 << 20  # an unread body up to this size is read and dropped; above: close


class BoundedDrainRequest(cheroot_server.HTTPRequest):
    """Before answering, cheroot reads whatever body the application left unread, in one
    call, to keep the connection alive: a refused 5 GB upload would sit in memory. Above
    DRAIN_LIMIT (or when the application asks with `Connection: close`) the connection is
    closed instead, as cheroot itself does for 413."""

    def send_headers(self) -> None:
        remaining = getattr(self.rfile, "remaining", 0) or 0
        asks_to_close = any(
            key.lower() == b"connection" and value.lower() == b"close"
            for key, value in self.outheaders
        )
        if remaining > DRAIN_LIMIT or (asks_to_close and remaining):
            self.close_connection = True
        super().send_headers()


class BoundedDrainConnection(cheroot_server.HTTPConnection):
    RequestHandlerClass = BoundedDrainRequest
