"""WsgiDAV's HTML listing of a folder, consulted only by the requests that can get one.

WsgiDAV's dir browser looks up the resource of every request, whatever its method, to see
whether it is a folder to list: for a PUT, a lookup (a `stat`, the read check) that the
PUT itself then makes again. Only GET and HEAD are ever answered with a listing.
"""

from __future__ import annotations

from typing import Any

from wsgidav.dir_browser import WsgiDavDirBrowser

LISTED_METHODS = frozenset({"GET", "HEAD"})


class ListingPage(WsgiDavDirBrowser):
    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] not in LISTED_METHODS:
            return self.next_app(environ, start_response)
        return super().__call__(environ, start_response)
