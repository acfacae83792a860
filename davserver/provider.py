"""The WsgiDAV provider: maps a URL path to a resource over the configured stores."""

from __future__ import annotations

import stat
import unicodedata
from typing import Any

from wsgidav.dav_error import (
    HTTP_FORBIDDEN,
    HTTP_NOT_FOUND,
    HTTP_PRECONDITION_FAILED,
    DAVError,
    PRECONDITION_CODE_PropfindFiniteDepth,
)
from wsgidav.dav_provider import DAVProvider

from stores import FileStore, Location, Registry
from stores.names import SIDECAR_NAME, split_path
from stores.store import Entry

from .dav_errors import dav_errors
from .resources import (
    FileResource,
    FolderResource,
    RootCollection,
    SidecarResource,
    overwrite_allowed,
)

WRITE_CHECKED_UP_FRONT = {"PROPPATCH", "LOCK", "UNLOCK"}


class AssetDAVProvider(DAVProvider):
    def __init__(
        self,
        registry: Registry,
        *,
        show_sidecars: bool = False,
        propfind_depth_infinity: bool = False,
    ) -> None:
        super().__init__()
        self.registry = registry
        self.show_sidecars = show_sidecars
        self.propfind_depth_infinity = propfind_depth_infinity

    def __repr__(self) -> str:
        return f"AssetDAVProvider(stores={self.registry.names()})"

    def locate(self, path: str) -> tuple[FileStore, Location]:
        """The store and location of a URL path below this share (checked, NFC)."""
        with dav_errors():
            parts = split_path(path)
            if not parts:
                raise DAVError(HTTP_NOT_FOUND, "The root is not inside a store.")
            store = self.registry.get(parts[0])
            return store, store.locate("/".join(parts[1:]))

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        self._count_get_resource_inst += 1
        if not path.isascii():  # one URL per resource, whichever form the client sent
            path = unicodedata.normalize("NFC", path)
        with dav_errors():
            parts = split_path(path)
            if not parts:
                return RootCollection("/", environ)
            store = self.registry.find(parts[0])
            if store is None:
                return None
            loc = store.locate("/".join(parts[1:]))
            if loc.parts and loc.name == SIDECAR_NAME and loc.parent.is_owner_folder():
                owner = loc.parent
                if store.stat(owner) is None:
                    return None
                store.check_read(environ["assetdav.actor"], owner)
                if not store.sidecar(owner).exists():
                    return None
                return SidecarResource(path, environ, store, owner)
            st = store.stat(loc)
            if st is None:
                return None
            if loc.parts:
                store.check_read(environ["assetdav.actor"], loc)
            if stat.S_ISDIR(st.st_mode):
                return FolderResource(path, environ, store, loc, st)
            return FileResource(path, environ, store, loc, st)

    def custom_request_handler(
        self, environ: dict[str, Any], start_response: Any, default_handler: Any
    ) -> Any:
        """PROPPATCH and LOCK/UNLOCK change things without calling a write operation of
        `stores` first; refuse them up front (a plain 403) to users who may not write.
        PROPFIND with Depth infinity is refused (RFC 4918 9.1) unless configured; a PUT
        that may not replace a file (`Overwrite: F`) finds it there: 412."""
        method = environ["REQUEST_METHOD"]
        if method == "PROPFIND" and self._infinite_propfind_refused(environ):
            raise DAVError(
                HTTP_FORBIDDEN,
                "PROPFIND with Depth: infinity is not served here; ask with Depth: 1.",
                err_condition=PRECONDITION_CODE_PropfindFiniteDepth,
            )
        if method == "PUT" and self._overwrite_refused(environ):
            raise DAVError(HTTP_PRECONDITION_FAILED, "The file exists and Overwrite is F.")
        if method in WRITE_CHECKED_UP_FRONT:
            with dav_errors():
                parts = split_path(environ.get("PATH_INFO", ""))
                store = self.registry.find(parts[0]) if parts else None
                if store is not None:
                    loc = store.locate("/".join(parts[1:]))
                    store.check_write(environ["assetdav.actor"], loc)
        return default_handler(environ, start_response)

    def _infinite_propfind_refused(self, environ: dict[str, Any]) -> bool:
        """No Depth header means infinity (RFC 4918 9.1)."""
        depth = environ.get("HTTP_DEPTH", "infinity").strip().lower()
        return depth == "infinity" and not self.propfind_depth_infinity

    def _overwrite_refused(self, environ: dict[str, Any]) -> bool:
        if overwrite_allowed(environ):
            return False
        return self.get_resource_inst(environ.get("PATH_INFO", ""), environ) is not None

    def resource_for_entry(
        self, parent: FolderResource, entry: Entry, owner_meta: dict[str, Any] | None = None
    ) -> Any:
        """A member resource from a directory scan, without looking the path up again
        (`owner_meta`: the sidecar holding its record, read once for the listing)."""
        path = parent.path.rstrip("/") + "/" + entry.name
        loc = parent.loc.child(entry.name)
        if entry.name == SIDECAR_NAME:
            return SidecarResource(path, parent.environ, parent.store, parent.loc)
        if entry.is_dir:
            return FolderResource(path, parent.environ, parent.store, loc, entry.stat)
        return FileResource(path, parent.environ, parent.store, loc, entry.stat, owner_meta)
