"""WsgiDAV resources: thin adapters from WebDAV questions to `stores` operations."""

from __future__ import annotations

import copy
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from wsgidav import util
from wsgidav.dav_error import (
    HTTP_FORBIDDEN,
    HTTP_PRECONDITION_FAILED,
    HTTP_REQUEST_ENTITY_TOO_LARGE,
    DAVError,
    PRECONDITION_CODE_ProtectedProperty,
    as_DAVError,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection
from wsgidav.xml_tools import etree

from meta_api.media import preview_key, preview_url
from stores import ASSET_LEVEL, PROJECT_LEVEL, Actor, FileStore, Location, transfer
from stores.errors import AlreadyExists
from stores.hashing import new_hasher
from stores.names import SIDECAR_NAME, normalize_name
from stores.store import MAX_SIDECAR_BYTES
from stores.writer import FileWriter

from . import live_props
from .created_status import CREATED_KEY
from .dav_errors import dav_errors, mapped

if TYPE_CHECKING:
    from .provider import AssetDAVProvider


def actor_of(environ: dict[str, Any]) -> Actor:
    return environ["assetdav.actor"]


def _fallback_etag(st: os.stat_result) -> str:
    return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"


LOCK_DISCOVERY = "{DAV:}lockdiscovery"
SUPPORTED_LOCK = "{DAV:}supportedlock"
_supported_lock_template: Any = None


def _value_or_error(get: Any, name: str) -> Any:
    """A property's value, or its error, as WsgiDAV's generic get_properties records it."""
    try:
        return get(name)
    except DAVError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - recorded as that property's error
        return as_DAVError(exc)


def _join(path: str, name: str) -> str:
    return util.join_uri(path, name)


class RootCollection(DAVCollection):
    """`/`: the configured stores, as folders. Stores are configured, not created here."""

    provider: AssetDAVProvider

    def get_display_name(self) -> str:
        return ""

    def get_member_names(self) -> list[str]:
        return self.provider.registry.names()

    def get_member(self, name: str) -> Any:
        return self.provider.get_resource_inst(_join(self.path, name), self.environ)

    def create_collection(self, name: str) -> None:
        raise DAVError(
            HTTP_FORBIDDEN, "Stores are configured on the server, not created over WebDAV."
        )

    def create_empty_resource(self, name: str) -> Any:
        raise DAVError(HTTP_FORBIDDEN, "Files go into a project inside a store.")

    def delete(self) -> None:
        raise DAVError(HTTP_FORBIDDEN, "The root cannot be deleted.")


class _StoreBacked:
    """Shared by files and folders: where the resource is and who is asking."""

    provider: AssetDAVProvider
    environ: dict[str, Any]
    path: str

    def _setup(self, store: FileStore, loc: Location, st: os.stat_result | None) -> None:
        self.store = store
        self.loc = loc
        self.st = st

    @property
    def actor(self) -> Actor:
        return actor_of(self.environ)

    def _dest(self, dest_path: str) -> tuple[FileStore, Location]:
        return self.provider.locate(dest_path)

    # --- COPY and MOVE: done whole by `stores` (all or nothing), WsgiDAV only checks ----

    @mapped
    def handle_move(self, dest_path: str) -> bool:
        """MOVE, after WsgiDAV checked the If headers, locks and `Overwrite`: replacing
        what is at the destination is part of the one all-or-nothing step."""
        dest_store, dest = self._dest(dest_path)
        created = transfer.move(
            self.actor, self.store, self.loc, dest_store, dest, overwrite=self._overwrite()
        )
        self._destination_replaced(dest_path, created)
        pm = self.provider.prop_manager
        if pm:
            pm.move_properties(self.get_ref_url(), self._ref_url(dest_path), with_children=True)
        self.remove_all_locks(recursive=True)  # locks stay with the URL, which is gone
        return True

    @mapped
    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        """COPY, after WsgiDAV's checks: built whole beside the destination, then put in
        its place in one step."""
        dest_store, dest = self._dest(dest_path)
        created = transfer.copy(
            self.actor,
            self.store,
            self.loc,
            dest_store,
            dest,
            recursive=depth_infinity,
            overwrite=self._overwrite(),
        )
        self._destination_replaced(dest_path, created)
        pm = self.provider.prop_manager
        if pm:
            copy_tree = getattr(pm, "copy_properties_tree", None)
            if copy_tree is not None and depth_infinity:
                copy_tree(self.get_ref_url(), self._ref_url(dest_path))
            else:
                pm.copy_properties(self.get_ref_url(), self._ref_url(dest_path))
        return True

    def _overwrite(self) -> bool:
        return self.environ.get("HTTP_OVERWRITE", "T").upper() != "F"

    def _destination_replaced(self, dest_path: str, created: bool) -> None:
        """What was at the destination is gone with its dead properties and locks; tell
        the client 201 for a new resource (WsgiDAV answers 204 for both)."""
        self.environ[CREATED_KEY] = created
        if created:
            return
        url = self._ref_url(dest_path)
        if self.provider.prop_manager:
            self.provider.prop_manager.remove_properties(url)
        if self.provider.lock_manager:
            self.provider.lock_manager.remove_all_locks_from_url(url, recursive=True)

    def _ref_url(self, path: str) -> str:
        return util.quote(self.provider.share_path + path)

    def get_ref_url(self) -> str:
        """Quoted once per resource: WsgiDAV asks for it about ten times per PROPFIND entry."""
        cached = self.__dict__.get("_cached_ref_url")
        if cached is None:
            cached = self._cached_ref_url = self._ref_url(self.path)
        return cached


class FolderResource(_StoreBacked, DAVCollection):
    """A store root, project, asset or plain folder."""

    def __init__(
        self,
        path: str,
        environ: dict[str, Any],
        store: FileStore,
        loc: Location,
        st: os.stat_result,
    ) -> None:
        DAVCollection.__init__(self, path, environ)
        self._setup(store, loc, st)

    def get_display_name(self) -> str:
        return self.loc.name

    def get_creation_date(self) -> float:
        return self.st.st_ctime

    def get_last_modified(self) -> float:
        return self.st.st_mtime

    def get_etag(self) -> None:
        return None

    # --- members -------------------------------------------------------------------

    @mapped
    def get_member_names(self) -> list[str]:
        return [entry.name for entry in self._entries()]

    @mapped
    def get_member_list(self) -> list[Any]:
        """Build children straight from one directory scan (no second lookup per member),
        their records from one read of the sidecar that holds them."""
        entries = self._entries()
        meta = self.store.owner_meta_of(self.loc.child("-")) if self.loc.parts else None
        return [self.provider.resource_for_entry(self, entry, meta) for entry in entries]

    def _entries(self) -> list[Any]:
        return self.store.list_folder(
            self.actor, self.loc, show_sidecars=self.provider.show_sidecars
        )

    def get_member(self, name: str) -> Any:
        return self.provider.get_resource_inst(_join(self.path, name), self.environ)

    # --- writes --------------------------------------------------------------------

    @mapped
    def create_collection(self, name: str) -> None:
        self.store.make_folder(self.actor, self.loc.child(normalize_name(name)))

    @mapped
    def create_empty_resource(self, name: str) -> Any:
        """PUT: a file that appears only once its body has arrived whole. LOCK on an
        unmapped URL: an empty file now (RFC 4918 lock-null replacement). New names are
        stored in NFC, whatever normalisation the client sent (macOS sends NFD)."""
        name = normalize_name(name)
        child = self.loc.child(name)
        path = _join(self.path, name)
        if name == SIDECAR_NAME and child.parent.is_owner_folder():
            return SidecarResource(path, self.environ, self.store, child.parent)
        if self.environ.get("REQUEST_METHOD") == "PUT":
            self.store.check_write(self.actor, child)
            self.store.check_file_place(child)
            return FileResource(path, self.environ, self.store, child, None)
        self.store.create_empty_file(self.actor, child)
        return self.provider.get_resource_inst(path, self.environ)

    def support_recursive_delete(self) -> bool:
        return True

    @mapped
    def delete(self) -> None:
        self.store.delete(self.actor, self.loc)
        self.remove_all_properties(recursive=True)
        self.remove_all_locks(recursive=True)

    # --- properties ----------------------------------------------------------------

    def _live_names(self) -> tuple[str, ...]:
        if self.loc.level == ASSET_LEVEL:
            return live_props.ASSET_PROPS
        if self.loc.level == PROJECT_LEVEL:
            return live_props.PROJECT_PROPS
        return ()

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        return super().get_property_names(is_allprop=is_allprop) + list(self._live_names())

    def get_property_value(self, name: str) -> Any:
        if not live_props.is_ours(name):
            return super().get_property_value(name)
        if name not in self._live_names():
            return super().get_property_value(name)
        with dav_errors():
            meta = self.store.read_meta(self.actor, self.loc) or {}
        if name == live_props.TAGS:
            return live_props.tags_element([str(t) for t in meta.get("tags") or []])
        if name == live_props.DESCRIPTION:
            return str(meta.get("description") or "")
        if name == live_props.PREVIEW:  # "" when the asset has nothing to show
            has_preview = preview_key(meta) is not None
            return preview_url(self.store.name, *self.loc.parts) if has_preview else ""
        return str(meta.get("version") or 0)

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> Any:
        if not live_props.is_ours(name):
            return super().set_property_value(name, value, dry_run=dry_run)
        if (
            name in live_props.PROTECTED
            or not self.loc.is_owner_folder()
            or (name not in live_props.WRITABLE)
        ):
            raise DAVError(HTTP_FORBIDDEN, err_condition=PRECONDITION_CODE_ProtectedProperty)
        with dav_errors():
            self.store.check_write(self.actor, self.loc)
            if dry_run:
                return None
            if name == live_props.DESCRIPTION:
                text = live_props.text_of(value)
                self.store.update_fields(self.actor, self.loc, {"description": text})
                return None
            tags = live_props.tags_from_element(value)
            if name == live_props.TAGS:
                self.store.change_tags(self.actor, self.loc, replace=tags)
            elif name == live_props.ADD_TAGS:
                self.store.change_tags(self.actor, self.loc, add=tags)
            else:
                self.store.change_tags(self.actor, self.loc, remove=tags)
        return None


class _PutStream:
    """What WsgiDAV's PUT writes into: a FileWriter whose close() commits. One that may
    not replace a file (`create_only`) finds one there at the end: 412."""

    def __init__(self, writer: FileWriter, create_only: bool = False) -> None:
        self._writer = writer
        self._create_only = create_only

    def write(self, data: bytes) -> None:
        with dav_errors():
            self._writer.write(data)

    def close(self) -> None:
        with dav_errors(), _exists_is_412(self._create_only):
            self._writer.commit()

    def abort(self) -> None:
        self._writer.abort()

    @property
    def digest(self) -> str | None:
        """The content hash of what was written, once it is in place."""
        return self._writer.hexdigest if self._writer.done else None


@contextmanager
def _exists_is_412(create_only: bool) -> Iterator[None]:
    """A PUT that may not replace a file, finding one there after all: 412, not 409."""
    try:
        yield
    except AlreadyExists:
        if create_only:
            raise DAVError(HTTP_PRECONDITION_FAILED, "The file exists (Overwrite: F).") from None
        raise


def overwrite_allowed(environ: dict[str, Any]) -> bool:
    """Whether a PUT may replace an existing file: not with `Overwrite: F` (GNOME's gvfs
    sends it) nor `If-None-Match: *`."""
    return (
        environ.get("HTTP_OVERWRITE", "T").strip().upper() != "F"
        and environ.get("HTTP_IF_NONE_MATCH", "").strip() != "*"
    )


def expected_body_size(environ: dict[str, Any]) -> int | None:
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return None
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


class FileResource(_StoreBacked, DAVNonCollection):
    """A file; `st` is None for the target of a PUT that has not landed yet."""

    def __init__(
        self,
        path: str,
        environ: dict[str, Any],
        store: FileStore,
        loc: Location,
        st: os.stat_result | None,
        owner_meta: dict[str, Any] | None = None,
    ) -> None:
        DAVNonCollection.__init__(self, path, environ)
        self._setup(store, loc, st)
        self._owner_meta = owner_meta  # the sidecar holding its record, read by a listing
        self._stream: _PutStream | None = None
        self._record_cache: Any = False
        self._content_type: str | None = None
        self._written_digest: str | None = None

    def _stat(self) -> os.stat_result:
        if self.st is None:
            st = self.store.stat(self.loc)
            if st is None:
                raise DAVError(HTTP_FORBIDDEN, "The file is not written yet.")
            self.st = st
        return self.st

    def _record(self) -> Any:
        if self._record_cache is False:
            self._record_cache = self.store.file_record(self.loc, self._stat(), self._owner_meta)
        return self._record_cache

    def get_content_length(self) -> int:
        return self._stat().st_size

    def get_content_type(self) -> str:
        if self._content_type is None:
            config = self.environ["wsgidav.config"]
            self._content_type = live_props.content_type(self.path, config)
        return self._content_type

    def get_creation_date(self) -> float:
        return self._stat().st_ctime

    def get_last_modified(self) -> float:
        return self._stat().st_mtime

    def get_display_name(self) -> str:
        return self.loc.name

    def get_etag(self) -> str:
        if self._written_digest is not None:  # just written (and maybe gone again already)
            return self._written_digest
        record = self._record()
        return record.xxh3_128 if record else _fallback_etag(self._stat())

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    @mapped
    def get_content(self) -> Any:
        return self.store.open_read(self.actor, self.loc)

    @mapped
    def begin_write(self, *, content_type: str | None = None) -> _PutStream:
        create_only = not overwrite_allowed(self.environ)
        with _exists_is_412(create_only):
            writer = self.store.open_writer(
                self.actor,
                self.loc,
                expected_size=expected_body_size(self.environ),
                create_only=create_only,
            )
        self._stream = _PutStream(writer, create_only)
        return self._stream

    def end_write(self, *, with_errors: bool) -> None:
        if self._stream is not None:
            if with_errors:
                self._stream.abort()
            else:
                self._written_digest = self._stream.digest
        self.st = None
        self._record_cache = False

    @mapped
    def delete(self) -> None:
        self.store.delete(self.actor, self.loc)
        self.remove_all_properties(recursive=True)
        self.remove_all_locks(recursive=True)

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        names = super().get_property_names(is_allprop=is_allprop)
        if self._record() is not None:
            names.append(live_props.XXH3)
        return names

    def get_properties(self, mode: str, *, name_list: list[str] | None = None) -> list[Any]:
        """`allprop` (what file managers ask of every file in a listing) in one pass: the
        same names, values and order as WsgiDAV's generic way, which asks a getter per
        property twice (is there one? what is it?). Anything unusual (a file gone, a
        lock manager or property store missing) takes the generic way."""
        provider = self.provider
        if mode != "allprop" or provider.lock_manager is None or provider.prop_manager is None:
            return super().get_properties(mode, name_list=name_list)
        try:
            st = self._stat()
            record = self._record()
            etag = self.get_etag()
        except DAVError:
            return super().get_properties(mode, name_list=name_list)
        props: list[Any] = [
            ("{DAV:}resourcetype", ""),
            ("{DAV:}creationdate", live_props.iso_date(st.st_ctime)),
            ("{DAV:}getcontentlength", str(st.st_size)),
            ("{DAV:}getcontenttype", self.get_content_type()),
            ("{DAV:}getlastmodified", live_props.http_date(st.st_mtime)),
            ("{DAV:}displayname", self.loc.name),
            ("{DAV:}getetag", etag),
        ]
        ref_url = self.get_ref_url()
        if provider.lock_manager.get_url_lock_list(ref_url):
            discovery = _value_or_error(super().get_property_value, LOCK_DISCOVERY)
        else:
            discovery = etree.Element(LOCK_DISCOVERY)
        props.append((LOCK_DISCOVERY, discovery))
        props.append((SUPPORTED_LOCK, self._supported_lock()))
        dead = provider.prop_manager.get_properties(ref_url, self.environ)
        props.extend((name, _value_or_error(self.get_property_value, name)) for name in dead)
        if record is not None:
            props.append((live_props.XXH3, record.xxh3_128))
        return props

    def _supported_lock(self) -> Any:
        """`supportedlock`, the same for every file: WsgiDAV's element, built once and
        copied (lxml copies in C; building it takes nine calls per file)."""
        global _supported_lock_template
        if _supported_lock_template is None:
            _supported_lock_template = super().get_property_value(SUPPORTED_LOCK)
        return copy.deepcopy(_supported_lock_template)

    def get_property_value(self, name: str) -> Any:
        if name == live_props.XXH3:
            record = self._record()
            if record is not None:
                return record.xxh3_128
        elif name == live_props.LAST_MODIFIED:
            return live_props.http_date(self._stat().st_mtime)
        elif name == live_props.CREATION_DATE:
            return live_props.iso_date(self._stat().st_ctime)
        return super().get_property_value(name)

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> Any:
        if live_props.is_ours(name):
            raise DAVError(HTTP_FORBIDDEN, err_condition=PRECONDITION_CODE_ProtectedProperty)
        return super().set_property_value(name, value, dry_run=dry_run)


class _SidecarUpload:
    """Collects a PUT body for `.ovemeta` (bounded), merged on close."""

    def __init__(self, resource: SidecarResource) -> None:
        self._resource = resource
        self._buffer = io.BytesIO()

    def write(self, data: bytes) -> None:
        if self._buffer.tell() + len(data) > MAX_SIDECAR_BYTES:
            raise DAVError(
                HTTP_REQUEST_ENTITY_TOO_LARGE,
                f"A sidecar may be at most {MAX_SIDECAR_BYTES} bytes.",
            )
        self._buffer.write(data)

    def close(self) -> None:
        resource = self._resource
        with dav_errors():
            resource.store.put_sidecar(resource.actor, resource.owner, self._buffer.getvalue())


class SidecarResource(_StoreBacked, DAVNonCollection):
    """`.ovemeta` of a project or asset: readable as is; a PUT merges the editable fields."""

    def __init__(
        self, path: str, environ: dict[str, Any], store: FileStore, owner: Location
    ) -> None:
        DAVNonCollection.__init__(self, path, environ)
        self._setup(store, owner.child(SIDECAR_NAME), None)
        self.owner = owner
        self._raw: bytes | None = None

    def _bytes(self) -> bytes:
        if self._raw is None:
            with dav_errors():
                self.store.check_read(self.actor, self.owner)
                try:
                    self._raw = self.store.sidecar(self.owner).raw_bytes()
                except FileNotFoundError:
                    self._raw = b""
        return self._raw

    def get_content_length(self) -> int:
        return len(self._bytes())

    def get_content_type(self) -> str:
        return "application/json" if self._bytes().lstrip().startswith(b"{") else "application/yaml"

    def get_display_name(self) -> str:
        return SIDECAR_NAME

    def get_last_modified(self) -> float | None:
        st = self.store.stat(self.loc)
        return st.st_mtime if st else None

    def get_creation_date(self) -> float | None:
        st = self.store.stat(self.loc)
        return st.st_ctime if st else None

    def get_etag(self) -> str:
        hasher = new_hasher()
        hasher.update(self._bytes())
        return hasher.hexdigest()

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def get_content(self) -> Any:
        return io.BytesIO(self._bytes())

    def begin_write(self, *, content_type: str | None = None) -> _SidecarUpload:
        with dav_errors():
            self.store.check_write(self.actor, self.owner)
        return _SidecarUpload(self)

    def end_write(self, *, with_errors: bool) -> None:
        self._raw = None

    def delete(self) -> None:
        raise DAVError(HTTP_FORBIDDEN, "A sidecar goes with its folder; delete the folder instead.")

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        raise DAVError(HTTP_FORBIDDEN, "A sidecar cannot be copied or moved on its own.")

    def handle_move(self, dest_path: str) -> bool:
        raise DAVError(HTTP_FORBIDDEN, "A sidecar cannot be copied or moved on its own.")

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> Any:
        raise DAVError(HTTP_FORBIDDEN, err_condition=PRECONDITION_CODE_ProtectedProperty)

    def prevent_locking(self) -> bool:
        return True
