"""A store on the local filesystem: the only code that changes the tree.

Every operation takes the acting user and a `Location`; every change keeps the
owning sidecar true and is announced on the change feed.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from . import model
from .access import Actor, Policy, require_admin, require_read, require_write
from .atomic import fsync_dir, raise_if_no_space, temp_path_beside, unlink_quietly
from .errors import (
    AlreadyExists,
    BadContent,
    Conflict,
    Forbidden,
    NotFound,
    PermissionDenied,
    StoreError,
)
from .events import CREATED, DELETED, META, MODIFIED, Change, ChangeFeed
from .hashing import Digests, digest_file, mtime_of
from .journal import JOURNAL_FROM
from .layout import ASSET_LEVEL, PROJECT_LEVEL, STORE_LEVEL, Location
from .model import FileRecord
from .names import (
    SIDECAR_NAME,
    check_id,
    disk_spelling,
    is_internal,
    is_junk,
    is_within,
    safe_join,
    split_path,
)
from .placing import PathLocks, Placement, PlacementQueue, SidecarChange
from .reconcile import reconciled_files, records_agree
from .removal import delete_trash, remove_folder, set_aside
from .rules import NO_RULES, UploadRules
from .sidecar import Sidecar, forget_cached
from .sidecar_format import parse_sidecar
from .sniff import SNIFF_BYTES
from .undo import UndoLog
from .writer import FileWriter

log = logging.getLogger(__name__)

MAX_SIDECAR_BYTES = 1 << 20
FOLDER_PATH_TTL = 2.0  # seconds a safe-joined folder path is reused
FOLDER_PATH_CACHE = 4096


@dataclass(frozen=True)
class Entry:
    """One member of a folder listing."""

    name: str
    is_dir: bool
    stat: os.stat_result


HintMap = dict[str, FileRecord]  # absolute path -> record carried over by a move or copy


class FileStore:
    def __init__(
        self,
        name: str,
        root: Path,
        *,
        feed: ChangeFeed,
        policy: Policy,
        rules: UploadRules = NO_RULES,
        sha256: bool = False,
        dedup: bool = False,
    ) -> None:
        self.name = name
        self.rules = rules
        self.sha256 = sha256  # record every file's sha256 beside xxh3 and blake3
        # dedup: a file landing with bytes the store holds already becomes a hard link to
        # them; `same_bytes` (set by the index) finds such a file, or None
        self.dedup = dedup
        self.same_bytes: Callable[[FileStore, Digests, int], Path | None] | None = None
        self.root = Path(os.path.abspath(root))
        self.root_real = os.path.realpath(self.root)
        self.feed = feed
        self.policy = policy
        self._folder_paths: dict[tuple[str, ...], tuple[float, Path]] = {}
        self._placements = PlacementQueue()
        self._target_locks = PathLocks()
        # files renamed into place whose records are being written (one per target path,
        # by the target's lock): the watcher does not take them for changes behind our back
        self._in_flight: set[str] = set()

    # --- locating ----------------------------------------------------------------

    def locate(self, path: str) -> Location:
        """A Location for a slash-separated path inside this store (checked, NFC)."""
        return Location(self.name, split_path(path))

    def fs_path(self, loc: Location) -> Path:
        """The path of `loc` on disk; PathEscape when it resolves outside the store.

        Resolving every component of every path (`realpath`) costs a syscall each and was
        a fifth of a small PUT's CPU. The containing folder's check is remembered for a
        moment (see `_folder_path`); the last component is checked each time, and fully
        resolved when it is a symlink. A name that is not on disk as given may be there
        in another Unicode normalisation (see `disk_spelling`): that one is meant.
        """
        return self._resolved(loc)[0]

    def _resolved(self, loc: Location) -> tuple[Path, os.stat_result | None, bool]:
        """`fs_path`; when it is no symlink, its `lstat` (None: nothing there); and whether
        the caller must stat through it if it needs to (a symlink, the store's root)."""
        if not loc.parts:
            return safe_join(self.root, ()), None, True
        folder = self._folder_path(loc.parts[:-1]) if len(loc.parts) > 1 else self.root
        path = folder / loc.parts[-1]
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            spelled = disk_spelling(folder, loc.parts[-1])
            if spelled == loc.parts[-1]:
                return path, None, False
            path = folder / spelled
            try:
                st = os.lstat(path)
            except OSError:
                return path, None, False
        if stat.S_ISLNK(st.st_mode):
            return safe_join(self.root, (*loc.parts[:-1], path.name)), None, True
        return path, st, False

    def _folder_path(self, parts: tuple[str, ...]) -> Path:
        """A folder's safe-joined path, remembered for FOLDER_PATH_TTL seconds: a listing
        of thousands of files, or a burst of uploads, asks for the same folder each time.
        Only a symlink made on disk within that moment could go unnoticed, and no client
        can make one."""
        now = time.monotonic()
        cached = self._folder_paths.get(parts)
        if cached is not None and cached[0] > now:
            return cached[1]
        path = safe_join(self.root, parts)
        if not path.is_dir() and not all(part.isascii() for part in parts):
            spelled: list[str] = []
            for part in parts:  # folders named in another normalisation on disk
                spelled.append(disk_spelling(safe_join(self.root, tuple(spelled)), part))
            path = safe_join(self.root, tuple(spelled))
        if len(self._folder_paths) >= FOLDER_PATH_CACHE:
            self._folder_paths.clear()
        self._folder_paths[parts] = (now + FOLDER_PATH_TTL, path)
        return path

    def stat(self, loc: Location) -> os.stat_result | None:
        path, st, linked = self._resolved(loc)
        if st is not None or not linked:
            return st  # None: nothing there (a new upload's name), no second look
        if not loc.parts:
            return os.stat(path)  # the store's root
        try:
            return os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def sidecar(self, owner: Location, folder: Path | None = None) -> Sidecar:
        """The sidecar of a project or asset (kept in `folder` when given: a copy still
        being built under a hidden name). Messages name it by its path in the store."""
        label = "/".join((self.name, *owner.parts, SIDECAR_NAME))
        return Sidecar(folder or self._folder_path(owner.parts), label)

    # --- access --------------------------------------------------------------------

    def may_read(self, actor: Actor, loc: Location) -> bool:
        return loc.level == STORE_LEVEL or self.policy.can_read(actor, self.name, loc.project)

    def may_write(self, actor: Actor, loc: Location) -> bool:
        return self.policy.can_write(actor, self.name, loc.project)

    def check_read(self, actor: Actor, loc: Location) -> None:
        if loc.level != STORE_LEVEL:
            require_read(self.policy, actor, self.name, loc.project)

    def check_write(self, actor: Actor, loc: Location) -> None:
        require_write(self.policy, actor, self.name, loc.project)

    # --- reading -------------------------------------------------------------------

    def list_folder(
        self, actor: Actor, loc: Location, *, show_sidecars: bool = False
    ) -> list[Entry]:
        """Members of a folder as a client may see them: no temporary files, no
        symlinks leaving the store, only readable projects at the store root."""
        self.check_read(actor, loc)
        folder = self.fs_path(loc)
        entries: list[Entry] = []
        try:
            scanned = list(os.scandir(folder))
        except FileNotFoundError as exc:
            raise NotFound(f"{loc.url_path()} does not exist.") from exc
        for item in scanned:
            name = item.name
            if is_internal(name) and not (show_sidecars and name == ".ovemeta"):
                continue
            try:
                if item.is_symlink() and not is_within(self.root_real, os.path.realpath(item.path)):
                    continue
                st = item.stat()
            except OSError:
                continue
            is_dir = item.is_dir()
            if (
                loc.level == STORE_LEVEL
                and is_dir
                and not self.policy.can_read(actor, self.name, name)
            ):
                continue
            entries.append(Entry(name, is_dir, st))
        return entries

    def open_read(self, actor: Actor, loc: Location) -> BinaryIO:
        self.check_read(actor, loc)
        try:
            return open(self.fs_path(loc), "rb")  # noqa: SIM115 - the caller closes it
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"{loc.url_path()} is not a file.") from exc

    def read_meta(self, actor: Actor, owner: Location) -> dict[str, Any] | None:
        """The sidecar of a project or asset (read-only), or None when it has none."""
        self.check_read(actor, owner)
        return self.sidecar(owner).read()

    def project_groups(self, project: str) -> frozenset[str]:
        """The groups of a project's sidecar; none (admins only) when it cannot be read."""
        try:
            data = self.sidecar(self.locate(project)).read()
        except Exception:  # noqa: BLE001 - an unreadable sidecar grants nothing
            return frozenset()
        groups = (data or {}).get("groups")
        if not isinstance(groups, list):
            return frozenset()
        return frozenset(str(g) for g in groups)

    def file_record(
        self, loc: Location, st: os.stat_result, owner_meta: Any = None
    ) -> FileRecord | None:
        """The sidecar's record of a file, if it still matches the file on disk.
        `owner_meta`: the owner's sidecar as `owner_meta_of` read it for a whole listing."""
        owner = loc.file_owner()
        if owner is None or is_junk(loc.name):
            return None
        data = owner_meta if owner_meta is not None else self.owner_meta_of(loc)
        if not data or not isinstance(data.get("files"), dict):
            return None
        record = FileRecord.from_dict(data["files"].get(loc.key_in(owner)))
        if record is None or not record.matches(st.st_size, mtime_of(st)):
            return None
        return record

    def owner_meta_of(self, loc: Location) -> dict[str, Any] | None:
        """The sidecar recording the file at `loc`, read once for a listing of thousands
        of files (None: none, or unreadable, which just means "unknown")."""
        owner = loc.file_owner()
        if owner is None:
            return None
        try:
            return self.sidecar(owner).read()
        except Exception:  # noqa: BLE001 - an unreadable sidecar just means "unknown"
            return None

    # --- folders -------------------------------------------------------------------

    def make_folder(
        self,
        actor: Actor,
        loc: Location,
        *,
        display_name: str | None = None,
        groups: Iterable[str] | None = None,
    ) -> None:
        """Create a project (level 1), an asset (level 2, both with a sidecar) or a folder."""
        if loc.level == PROJECT_LEVEL:
            wanted = frozenset(groups or ())
            if not self.policy.can_create_project(actor, wanted):
                raise PermissionDenied(
                    f"User {actor.name!r} may not create projects"
                    + (" with these groups." if wanted else "; ask an administrator.")
                )
        else:
            self.check_write(actor, loc)
        if loc.level == STORE_LEVEL:
            raise AlreadyExists(f"The store {self.name!r} already exists.")
        if is_internal(loc.name):
            raise Forbidden(f"{loc.name!r} is a name the server keeps for itself.")
        if loc.is_owner_folder():
            check_id(loc.name, "project" if loc.level == PROJECT_LEVEL else "asset")
        path = self.fs_path(loc)
        self._require_parent_folder(loc)
        try:
            os.mkdir(path)
        except FileExistsError as exc:
            raise AlreadyExists(f"{loc.url_path()} already exists.") from exc
        except OSError as exc:
            raise_if_no_space(exc)
            raise
        if loc.is_owner_folder():
            try:
                with self.sidecar(loc).editing() as data:
                    data.update(self._fresh_owner_meta(loc))
                    if display_name:
                        data["name"] = display_name
                    if groups is not None and loc.level == PROJECT_LEVEL:
                        data["groups"] = sorted(set(groups))
            except BaseException:
                remove_folder(path)
                raise
        fsync_dir(path.parent)
        self.feed.emit(Change(CREATED, loc, True))

    def _require_parent_folder(self, loc: Location) -> None:
        st = self.stat(loc.parent)
        if st is None or not stat.S_ISDIR(st.st_mode):
            raise Conflict(
                f"The parent folder {loc.parent.url_path()} does not exist; create it first."
            )

    def _fresh_owner_meta(self, owner: Location) -> dict[str, Any]:
        if owner.level == PROJECT_LEVEL:
            return model.new_project(owner.name)
        return model.new_asset(owner.name, owner.parts[0])

    # --- files ---------------------------------------------------------------------

    def check_file_place(self, loc: Location) -> None:
        """Files live in projects and assets; only client junk may sit at a store's root."""
        if loc.level == STORE_LEVEL:
            raise Forbidden("A store's root is a folder, not a file.")
        if is_internal(loc.name):
            raise Forbidden(f"{loc.name!r} is a name the server keeps for itself.")
        if loc.level == PROJECT_LEVEL and not is_junk(loc.name):
            raise Forbidden(
                f"Files cannot be stored directly in the store {self.name!r}; "
                "create a project folder and put them there."
            )

    def open_writer(
        self,
        actor: Actor,
        loc: Location,
        *,
        expected_size: int | None = None,
        max_size: int | None = None,
        create_only: bool = False,
        on_placed: SidecarChange | None = None,
        apply_rules: bool = True,
    ) -> FileWriter:
        """A writer for a new or replaced file; nothing is visible until `commit()`.

        The store's upload rules apply (name, type by name, a declared size here; size and
        type by content while writing) unless `apply_rules` is off (copies within the
        tree). `create_only` refuses to replace an existing file (AlreadyExists at
        commit); `on_placed` edits the owner's sidecar in the locked write recording it.
        """
        self.check_write(actor, loc)
        self.check_file_place(loc)
        head_check = None
        if apply_rules:
            self.rules.check_new_file(loc.name, expected_size)
            max_size = _smaller(max_size, self.rules.max_file_size)
            head_check = functools.partial(self.rules.check_head, loc.name)
        self._require_parent_folder(loc)
        target = self._file_target(loc, create_only)
        owner = self._recording_owner(loc)
        if owner is not None:
            self.sidecar(owner).ensure_readable()  # refuse early when it does not parse

        def commit(temp: Path, size: int, digests: Digests) -> None:
            self._place_file(
                loc,
                temp,
                size,
                digests,
                create_only=create_only,
                on_placed=on_placed,
                target=target,
            )

        return FileWriter(
            target,
            commit,
            expected_size=expected_size,
            max_size=max_size,
            head_check=head_check,
            sha256=self.sha256,
        )

    def place_existing(
        self,
        actor: Actor,
        loc: Location,
        source: Path,
        *,
        mode: str,
        digests: Digests | None = None,
        on_placed: SidecarChange | None = None,
    ) -> None:
        """Put a file that exists already (a finished resumable upload, content found by its
        hash) at `loc`: `mode` "move" renames it, "link" hard-links it, falling back to a
        copy that is hashed and, given `digests`, verified. The upload rules apply. The
        bytes are hashed again unless `digests` holds all this store records."""
        size = os.stat(source).st_size
        with open(source, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        self.check_write(actor, loc)
        self.check_file_place(loc)
        self.rules.check_new_file(loc.name, size)
        self.rules.check_head(loc.name, head)
        self._require_parent_folder(loc)
        target = self._file_target(loc)
        temp = temp_path_beside(target)
        try:
            known = digests is not None and digests.blake3 and (digests.sha256 or not self.sha256)
            if not _fast_place(source, temp, mode) or not known:
                size, found = digest_file(temp, self.sha256)
                if digests is not None and found.xxh3_128 != digests.xxh3_128:
                    raise BadContent(
                        "The copied bytes do not match their hash; nothing was changed. Try again."
                    )
                digests = found
            assert digests is not None
            self._place_file(loc, temp, size, digests, on_placed=on_placed)
        except BaseException:
            unlink_quietly(temp)
            raise

    def _file_target(self, loc: Location, create_only: bool = False) -> Path:
        """Where a file written to `loc` goes: Conflict when a folder is there, and with
        `create_only` AlreadyExists when anything is (one `lstat` for a new name)."""
        target, st, linked = self._resolved(loc)
        is_folder = stat.S_ISDIR(st.st_mode) if st is not None else linked and target.is_dir()
        if is_folder:
            raise Conflict(f"{loc.url_path()} is a folder.")
        if create_only and (st is not None or linked):
            raise AlreadyExists(f"{loc.url_path()} already exists.")
        return target

    def write_bytes(
        self, actor: Actor, loc: Location, data: bytes, *, create_only: bool = False
    ) -> None:
        with self.open_writer(actor, loc, create_only=create_only) as writer:
            writer.write(data)
            writer.commit()

    def create_empty_file(self, actor: Actor, loc: Location) -> None:
        self.write_bytes(actor, loc, b"")

    def _recording_owner(self, loc: Location) -> Location | None:
        return None if is_junk(loc.name) else loc.file_owner()

    def _place_file(
        self,
        loc: Location,
        temp: Path,
        size: int,
        digests: Digests,
        *,
        create_only: bool = False,
        on_placed: SidecarChange | None = None,
        target: Path | None = None,
        linking: bool = True,
    ) -> None:
        """Put a finished temporary file at `loc` (`target`: its path, when known)."""
        target = target or self.fs_path(loc)
        if linking and self.dedup and size > 0 and not is_junk(loc.name):
            linked = self._linked_instead(temp, target, digests, size)
            if linked != temp:
                try:
                    self._place_file(
                        loc,
                        linked,
                        size,
                        digests,
                        create_only=create_only,
                        on_placed=on_placed,
                        target=target,
                        linking=False,
                    )
                except BaseException:
                    unlink_quietly(linked)  # the caller removes only the file it gave
                    raise
                return
        placement = Placement(temp, target, size, digests, create_only, on_placed)
        owner = self._recording_owner(loc)
        if owner is None:
            placement.existed = placement.target.exists()
            _rename_into_place(temp, placement.target, create_only)
            fsync_dir(placement.target.parent)
        elif (sidecar := self.sidecar(owner)).held_here():
            # the owner's lock is held (a project.json edit): renames and takebacks of
            # others happen under it too, so this one needs no target lock (and taking
            # one, which an upload waiting for the owner's lock may hold, could deadlock);
            # it is recorded at once: waiting for another leader, who needs that lock,
            # would deadlock too
            _put_in_place(placement)
            self._settle_placements(owner, sidecar, [placement])
        else:
            target = str(placement.target)
            with self._target_locks.holding(target):
                self._in_flight.add(target)
                try:
                    self._place_recorded(owner, sidecar, placement)
                finally:
                    self._in_flight.discard(target)
        if placement.error is not None:
            raise placement.error
        self.feed.emit(Change(MODIFIED if placement.existed else CREATED, loc, False))

    def _linked_instead(self, temp: Path, target: Path, digests: Digests, size: int) -> Path:
        """With dedup on: a hard link (beside `target`) to a file of the store holding the
        same bytes, in place of the finished `temp` (then removed); else `temp` itself."""
        source = self.same_bytes(self, digests, size) if self.same_bytes is not None else None
        if source is None or source == target:
            return temp
        link = temp_path_beside(target, ".link")
        try:
            os.link(source, link)
            if os.stat(link).st_size != size:  # replaced a moment ago: not the same bytes
                unlink_quietly(link)
                return temp
        except OSError:
            unlink_quietly(link)
            return temp  # another filesystem, too many links...: keep the bytes as sent
        unlink_quietly(temp)
        return link

    def _place_recorded(self, owner: Location, sidecar: Sidecar, placement: Placement) -> None:
        """Rename the file into place, then queue it to be recorded and wait until it is
        settled, leading the owner's group commit when it is this thread's turn (see
        placing.py). The rename happens here, in parallel with other uploads, not in the
        leader's turn; the leader makes the batch's renames durable with one fsync of
        their folder, and only the recording needs to be one at a time. The caller
        holds the target's lock, so nothing else renames over it until it is recorded
        (or taken back)."""
        _put_in_place(placement)
        key = str(sidecar.folder)
        if not self._placements.join(key, placement):
            placement.wake.wait()  # settled by the leader, or asked to lead
        if not placement.settled:
            while not placement.settled and (batch := self._placements.take(key)):
                self._settle_placements(owner, sidecar, batch)
            self._placements.hand_over(key)

    def _settle_placements(self, owner: Location, sidecar: Sidecar, batch: list[Placement]) -> None:
        """Record a batch of files already in place in one sidecar write or journal
        append. Never raises: each placement ends settled, with the batch's error if it
        could not be recorded (a full disk): then every file of the batch is taken back
        out, and a file it replaced is put back."""
        try:
            with sidecar.locked():
                try:
                    if self._may_append(owner, batch):
                        self._append_records(sidecar, batch)
                    else:
                        _sync_folders_of(batch, sidecar)
                        with sidecar.editing() as data:
                            self._record_batch(owner, data, batch)
                except BaseException:
                    for placement in batch:  # under the lock: see UndoLog's guards
                        placement.undo.rollback()
                    raise
        except BaseException as exc:
            for placement in batch:
                placement.fail(exc)
                placement.undo.rollback()  # nothing left to undo if done above
        else:
            for placement in batch:
                placement.undo.commit()
        finally:
            for placement in batch:
                placement.settle()

    def _may_append(self, owner: Location, batch: list[Placement]) -> bool:
        """Whether recording the batch may just append to the sidecar's journal: it may
        (see `appendable`: appending records only adds what the server placed, it never
        hides a change) and nothing in the batch edits other fields."""
        return all(p.on_placed is None for p in batch) and self.appendable(owner)

    def _append_records(self, sidecar: Sidecar, batch: list[Placement]) -> None:
        """Under the owner's lock: make the batch's renames durable and append its records
        to the sidecar's journal (see journal.py): a cost that grows with the batch, not
        with the asset."""
        prefix = str(sidecar.folder).rstrip("/") + "/"
        changes = [(str(p.target)[len(prefix) :], p.record().to_dict()) for p in batch]
        sidecar.record_files(changes, before_sync=lambda: _sync_folders_of(batch, sidecar))

    def _record_batch(self, owner: Location, data: dict[str, Any], batch: list[Placement]) -> None:
        """Under the owner's lock: record the batch in `data` (the sidecar being edited).
        A small asset's whole folder is compared with it (taking in what was written
        behind the server's back, as cheap as the rewrite); a big one's is left to the
        watcher or the periodic reconcile, so that a write costs the same at 20,000 files."""
        files = data.get("files")
        small = not isinstance(files, dict) or len(files) < JOURNAL_FROM
        hints = {str(p.target): p.record() for p in batch}
        self._settle(owner, data, hints, full=small)
        for placement in batch:
            if placement.on_placed is not None:
                placement.on_placed(data)

    # --- removal -------------------------------------------------------------------

    def delete(self, actor: Actor, loc: Location) -> None:
        """Delete a file or a whole folder and drop what the owning sidecar said of it."""
        self.check_write(actor, loc)
        if loc.level == STORE_LEVEL:
            raise Forbidden("A store's root cannot be deleted.")
        if is_internal(loc.name):
            raise Forbidden(f"{loc.name!r} cannot be deleted; delete its folder instead.")
        path = self.fs_path(loc)
        if not os.path.lexists(path):
            raise NotFound(f"{loc.url_path()} does not exist.")
        is_dir = os.path.isdir(path) and not os.path.islink(path)
        owner = self._containing_owner(loc, is_dir)
        if owner is None:
            self._remove(loc, path, is_dir)
        else:  # all or nothing: the sidecar cannot be written (a full disk), it stays
            sidecar = self.sidecar(owner)
            key = loc.key_in(owner)
            with sidecar.locked(), UndoLog() as undo:
                if self.appendable(owner):
                    undo.remove(path)
                    self.append_changes(owner, undo, removed=[key + "/" if is_dir else key])
                else:
                    with sidecar.editing() as data:
                        undo.remove(path)
                        self._settle(owner, data)
        self.feed.emit(Change(DELETED, loc, is_dir))

    def _containing_owner(self, loc: Location, is_dir: bool) -> Location | None:
        """The sidecar that records something at `loc` (None for projects, assets, junk)."""
        if is_dir:
            return Location(self.name, loc.parts[:ASSET_LEVEL]) if loc.level > ASSET_LEVEL else None
        return self._recording_owner(loc)

    def _remove(self, loc: Location, path: Path, is_dir: bool) -> None:
        """Remove something no sidecar records (a project, an asset, client junk); a
        folder by setting it aside first (see removal.py). A project or asset is set aside
        under its own lock, so a write into it finishes first, and every later one finds it
        gone instead of writing into it."""
        if not is_dir:
            os.unlink(path)
            fsync_dir(path.parent)
            return
        if loc.is_owner_folder():
            with self.sidecar(loc).locked():
                trash = set_aside(path)
        else:
            trash = set_aside(path)
        forget_cached(path)
        delete_trash(trash)

    # --- metadata ------------------------------------------------------------------

    def edit_meta(
        self,
        actor: Actor,
        owner: Location,
        change: Callable[[dict[str, Any]], None],
        *,
        replace_invalid: bool = False,
    ) -> dict[str, Any]:
        """Apply `change` to a project's or asset's sidecar under its lock; return the result."""
        self.check_write(actor, owner)
        self._require_owner_folder(owner)
        sidecar = self.sidecar(owner)
        with sidecar.editing(replace_invalid=replace_invalid) as data:
            recorded = dict(data.get("files") or {}) if isinstance(data.get("files"), dict) else {}
            self._settle(owner, data)
            _log_taken_in(owner, recorded, data["files"])
            change(data)
            result = data
        if sidecar.changed:
            self.feed.emit(Change(META, owner, True))
        return result

    def renew_uuid(self, actor: Actor, owner: Location, duplicate: str) -> None:
        """Give an asset a new id if its sidecar still holds `duplicate`, an id another
        asset's sidecar holds too (a folder copied on disk, sidecar and all)."""

        def change(data: dict[str, Any]) -> None:
            if model.asset_uuid(data) == duplicate:
                data["uuid"] = model.new_uuid()

        self.edit_meta(actor, owner, change)

    def samples(self, owner: Location) -> list[tuple[int, str]]:
        """(seq, file name) of an asset's sample images (see samples.py)."""
        from .samples import samples

        return samples(self, owner)

    def add_sample(
        self, actor: Actor, owner: Location, source: Path, ext: str, mode: str = "move"
    ) -> int:
        """Put an image in as the asset's next sample; returns its seq."""
        from .samples import add_sample

        return add_sample(actor, self, owner, source, ext, mode)

    def delete_sample(self, actor: Actor, owner: Location, seq: int) -> None:
        """Remove a sample; the later ones move down by one in one step."""
        from .samples import delete_sample

        delete_sample(actor, self, owner, seq)

    def stats(self, actor: Actor) -> dict[str, Any]:
        """Files, bytes and bytes on disk (hard links once) of the projects `actor` reads."""
        from .stats import store_stats  # beside the facade, like the other operations

        return store_stats(self, actor)

    def update_fields(self, actor: Actor, owner: Location, edits: dict[str, Any]) -> dict[str, Any]:
        """Merge the editable fields (name, description, tags, metadata) into a sidecar."""
        allowed = model.ASSET_EDITABLE if owner.level == ASSET_LEVEL else model.PROJECT_EDITABLE

        def change(data: dict[str, Any]) -> None:
            try:
                model.apply_edits(data, edits, allowed)
            except ValueError as exc:
                raise BadContent(str(exc)) from exc

        return self.edit_meta(actor, owner, change)

    def change_tags(
        self,
        actor: Actor,
        owner: Location,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        replace: Iterable[str] | None = None,
    ) -> list[str]:
        """Add, remove or replace tags in one locked edit, so concurrent edits all land."""
        try:
            added = model.new_tags(list(add))
            removed = set(model.clean_tags(list(remove)))
            replaced = None if replace is None else model.new_tags(list(replace))
        except ValueError as exc:
            raise BadContent(str(exc)) from exc

        def change(data: dict[str, Any]) -> None:
            tags = replaced if replaced is not None else model.clean_tags(data.get("tags"))
            data["tags"] = [t for t in model.clean_tags(tags + added) if t not in removed]

        return list(self.edit_meta(actor, owner, change)["tags"])

    def put_sidecar(self, actor: Actor, owner: Location, raw: bytes) -> dict[str, Any]:
        """A client wrote a whole sidecar: merge its editable fields, keep everything else.

        Invalid YAML is refused and the old sidecar stays as it was; an old sidecar
        that does not parse is replaced (and kept aside) since the user supplied a new one.
        """
        if len(raw) > MAX_SIDECAR_BYTES:
            raise BadContent(f"A sidecar may be at most {MAX_SIDECAR_BYTES} bytes.")
        try:
            edits = parse_sidecar(raw, "the uploaded sidecar")
        except Exception as exc:  # noqa: BLE001 - SidecarInvalid from the parser
            raise BadContent(str(exc)) from exc
        allowed = model.ASSET_EDITABLE if owner.level == ASSET_LEVEL else model.PROJECT_EDITABLE

        def change(data: dict[str, Any]) -> None:
            try:
                model.apply_edits(data, edits, allowed)
            except ValueError as exc:
                raise BadContent(f"The uploaded sidecar is not usable: {exc}") from exc

        return self.edit_meta(actor, owner, change, replace_invalid=True)

    def set_project_groups(
        self, actor: Actor, project: Location, groups: Iterable[str]
    ) -> list[str]:
        """Replace the groups that grant access to a project (administrators only)."""
        require_admin(self.policy, actor, "change a project's groups")
        if project.level != PROJECT_LEVEL:
            raise Forbidden(f"{project.url_path()} is not a project.")
        cleaned = sorted({str(g).strip() for g in groups if str(g).strip()})
        return list(self.edit_meta(actor, project, lambda d: d.update(groups=cleaned))["groups"])

    def records_agree(self, owner: Location, keys: Iterable[tuple[str, bool]] | None) -> bool:
        """Whether the sidecar of `owner` is whole, true to where its folder is, and true
        for the files at `keys` (key, was a folder; None: all of them): then a change
        seen there was the server's own, already recorded, and nothing needs doing."""
        try:
            data = self.sidecar(owner).read()
        except (StoreError, OSError):
            return False  # let a refresh say what is wrong
        if data is None or not _is_whole(owner, data):
            return False
        folder = self.fs_path(owner)
        prefix = str(folder).rstrip("/") + "/"
        in_flight = frozenset(
            p[len(prefix) :] for p in list(self._in_flight) if p.startswith(prefix)
        )
        return records_agree(folder, owner.level, data["files"], keys, in_flight)

    def sidecar_written_here(self, owner: Location) -> bool:
        """Whether the sidecar of `owner` (and its journal) is as this process last wrote
        it, once any write in flight has finished."""
        sidecar = self.sidecar(owner)
        return self._true_once_settled(owner, sidecar.written_here)

    def records_agree_settled(
        self, owner: Location, keys: Iterable[tuple[str, bool]] | None
    ) -> bool:
        """`records_agree`, once any write in flight (a file renamed into place, its
        record not yet appended) has finished."""
        return self._true_once_settled(owner, lambda: self.records_agree(owner, keys))

    def _true_once_settled(self, owner: Location, check: Callable[[], bool]) -> bool:
        """`check()`, and if it is false, `check()` again under the owner's lock, where no
        write of this process is half done (the watcher's own-write tests)."""
        if check():
            return True
        try:
            with self.sidecar(owner).locked():
                return check()
        except NotFound:
            return False

    def refresh_owner(self, actor: Actor, owner: Location) -> dict[str, Any]:
        """Take files written behind the server's back into the sidecar."""
        return self.edit_meta(actor, owner, lambda data: None)

    def appendable(self, owner: Location) -> bool:
        """Whether changes to the files of `owner` may be appended to its journal instead
        of rewriting its sidecar: when the sidecar is whole and big enough for it to
        matter (see journal.JOURNAL_FROM). Appending only adds what the server placed;
        other changes on disk are taken in by the watcher or, without one, by the
        periodic reconcile: a write never re-scans a big asset's folder."""
        data = self.sidecar(owner).read()
        return _is_whole(owner, data) and len(data["files"]) >= JOURNAL_FROM  # type: ignore[index]

    def append_changes(
        self,
        owner: Location,
        undo: UndoLog,
        *,
        removed: Iterable[str] = (),
        hints: HintMap | None = None,
    ) -> None:
        """Record in the journal of `owner` (`appendable`, its lock held) that the files at
        `removed` (keys; a key ending in "/" is a folder: everything below) are gone and
        the `hints` (absolute paths) are in place: a cost that grows with the change, not
        with the asset. The last step of an operation: a fold it may cause is not undone."""
        sidecar = self.sidecar(owner)
        files = (sidecar.read() or {}).get("files") or {}
        changes: list[tuple[str, dict[str, Any] | None]] = []
        for key in removed:
            if key.endswith("/"):
                changes.extend((known, None) for known in files if known.startswith(key))
            elif key in files:
                changes.append((key, None))
        prefix = str(self.fs_path(owner)).rstrip("/") + "/"
        for path, record in (hints or {}).items():
            if path.startswith(prefix):
                changes.append((path[len(prefix) :], record.to_dict()))
        if changes:
            appended = sidecar.record_files(changes)
            if appended is not None:
                undo.on_failure(appended.take_back)

    def rewrite_sidecar(
        self,
        owner: Location,
        undo: UndoLog,
        *,
        hints: HintMap | None = None,
        change: SidecarChange | None = None,
        folder: Path | None = None,
    ) -> None:
        """Settle the sidecar of `owner` (then apply `change`), writing it so that `undo`
        puts the old one back; the caller holds the owner's lock. `folder`: the owner's
        files are there, not yet at `owner` (a copy being built)."""
        sidecar = self.sidecar(owner, folder)
        current, data = sidecar.draft()
        self._settle(owner, data, hints, folder=folder)
        if change is not None:
            change(data)
        if data != current:
            undo.keep(sidecar.journal_path)  # folded in by the write: back on failure
            undo.write(sidecar.path, lambda: sidecar.write(data))

    def _require_owner_folder(self, owner: Location) -> None:
        if not owner.is_owner_folder():
            raise Forbidden(f"{owner.url_path()} is not a project or an asset.")
        if not self.fs_path(owner).is_dir():
            raise NotFound(f"{owner.url_path()} does not exist.")

    def _settle(
        self,
        owner: Location,
        data: dict[str, Any],
        hints: HintMap | None = None,
        *,
        full: bool = True,
        folder: Path | None = None,
    ) -> None:
        """Make a sidecar (being edited under its lock) true to its folder.

        Fills in a missing sidecar (a folder copied in from elsewhere is adopted with a
        `Created` entry), keeps `id`/`project` equal to where the folder is, and
        reconciles `files` with the disk; unless not `full`, then only the `hints` (the
        files just placed) are recorded, when the sidecar already had a `files` map.
        `folder` is where the owner's files are when not yet at `owner` (a copy being
        built under a hidden name).
        """
        adopting = not data
        if not data:
            data.update(self._fresh_owner_meta(owner))
        data["id"] = owner.name
        if owner.level == ASSET_LEVEL:
            data["project"] = owner.parts[0]
            if model.asset_uuid(data) is None:
                data["uuid"] = model.new_uuid()  # a sidecar older than ids gets one
            if data.get("filename") and data.get("version"):
                data["index_file"] = f"{owner.url_path()}/{data['version']}/{data['filename']}"
        folder = folder or self.fs_path(owner)
        prefix = str(folder).rstrip("/") + "/"
        owned_hints = {
            path[len(prefix) :]: record
            for path, record in (hints or {}).items()
            if path.startswith(prefix)
        }
        files = data.get("files")
        if not full and not adopting and isinstance(files, dict):
            data["files"] = _with_records(files, owned_hints)
            return
        data["files"] = reconciled_files(
            folder,
            owner.level,
            files if isinstance(files, dict) else {},
            owned_hints,
            sha256=self.sha256,
        )


def _is_whole(owner: Location, data: dict[str, Any] | None) -> bool:
    """Whether a sidecar has a `files` map and names the owner where its folder is (else
    the next write settles it whole)."""
    if not data or not isinstance(data.get("files"), dict) or data.get("id") != owner.name:
        return False
    if owner.level != ASSET_LEVEL:
        return True
    return data.get("project") == owner.parts[0] and model.asset_uuid(data) is not None


def _put_in_place(placement: Placement) -> None:
    """Rename one finished file into place, undoably (see Placement.undo), and note its
    time; raises (the file not placed) when refused. The rename is made durable by the
    batch that records it (see _settle_placements)."""
    placed = os.stat(placement.temp)  # the same inode and mtime once in place
    if placement.create_only:
        _link_new(
            placement.temp,
            placement.target,
            lambda temp, target: placement.undo.place_new(temp, target, placed),
        )
    else:
        placement.existed = placement.undo.replace(placement.temp, placement.target, placed)
    placement.mtime = mtime_of(placed)


def _sync_folders_of(batch: list[Placement], sidecar: Sidecar) -> None:
    """Make the renames of a batch durable: one fsync per folder, however many files went
    into it (the uploads' threads rename; the batch's leader, holding the `sidecar`'s
    lock, syncs for all of them). In a journal append it runs before the journal's own
    fsync, so that on ext4 one journal commit carries the renames and their records
    together."""
    for folder in sorted({p.target.parent for p in batch}):
        if folder == sidecar.folder:
            sidecar.sync_folder()
        else:
            fsync_dir(folder)


def _rename_into_place(temp: Path, target: Path, create_only: bool) -> None:
    """Atomically put a finished temporary file at `target` (refusing to replace one when
    `create_only`); the caller makes it durable with `fsync_dir`."""
    if create_only:
        _link_new(temp, target, _link_and_unlink)
    else:
        os.replace(temp, target)


def _link_new(temp: Path, target: Path, link: Callable[[Path, Path], None]) -> None:
    try:
        link(temp, target)
    except FileExistsError as exc:
        raise AlreadyExists(f"{target.name} already exists.") from exc


def _link_and_unlink(temp: Path, target: Path) -> None:
    os.link(temp, target)
    os.unlink(temp)


def _log_taken_in(owner: Location, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Each file a settle took in from the disk (written behind the server's back: cp,
    rsync, an editor), with its size before and after, for whoever wonders later."""
    if before == after:
        return
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        was = old.get("size") if isinstance(old, dict) else None
        now = new.get("size") if isinstance(new, dict) else None
        same_bytes = isinstance(old, dict) and isinstance(new, dict)
        if same_bytes and (was, old.get("xxh3_128")) == (now, new.get("xxh3_128")):
            continue  # only its recorded time moved (touched, copied back)
        log.info(
            "took in %s/%s from the disk: %s -> %s",
            owner.url_path(),
            key,
            "new" if was is None else f"{was} bytes",
            "removed" if now is None else f"{now} bytes",
        )


def _with_records(files: dict[str, Any], records: dict[str, FileRecord]) -> dict[str, Any]:
    """`files` (a private copy) with `records` set, still sorted by key as reconcile sorts."""
    added = False
    for key, record in records.items():
        added = added or key not in files
        files[key] = record.to_dict()
    return dict(sorted(files.items())) if added else files


def _smaller(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _fast_place(source: Path, temp: Path, mode: str) -> bool:
    """Rename or hard-link `source` to `temp` when the filesystem allows; else copy it.
    Returns whether the bytes were not copied (their hash is then taken as given)."""
    try:
        if mode == "move":
            os.rename(source, temp)
            return True
        if mode == "link":
            os.link(source, temp)
            return True
    except OSError:
        pass
    shutil.copyfile(source, temp)
    with open(temp, "rb+") as fh:
        os.fsync(fh.fileno())
    if mode == "move":
        os.unlink(source)
    return False
