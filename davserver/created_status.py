"""201 for a COPY or MOVE that made a new resource: WsgiDAV answers 204 whenever the
provider did the work itself (`handle_copy`, `handle_move`), new destination or not."""

from __future__ import annotations

from typing import Any

from wsgidav.mw.base_mw import BaseMiddleware

CREATED_KEY = "assetdav.created"


class CreatedStatus(BaseMiddleware):
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") not in ("COPY", "MOVE"):
            return self.next_app(environ, start_response)

        def created_or_not(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            if environ.get(CREATED_KEY) and status.startswith("204"):
                status = "201 Created"
            return start_response(status, headers, *exc)

        return self.next_app(environ, created_or_not)
