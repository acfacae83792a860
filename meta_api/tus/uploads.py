"""The server's resumable uploads: their records, who is writing to which, running hashes
and expiry. One instance per server, started and stopped with it."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stores.errors import StoreError
from stores.hashing import ContentHasher

from .cleaner import ExpiryCleaner
from .records import UploadFolder, UploadRecord, new_upload_id

log = logging.getLogger(__name__)
STRAY_AGE = 3600.0  # seconds: in a cluster, younger files without a record may be in the making


class UploadBusy(Exception):
    """Another request is writing to this upload right now."""


class ResumableUploads:
    """Partial uploads under `folder`; each expires `expire_after` seconds after its last
    write (or its completion), and none may be larger than `max_size`."""

    def __init__(
        self,
        folder: Path,
        *,
        expire_after: int,
        max_size: int,
        clock: Callable[[], float] = time.time,
        leases: Any = None,
        files: UploadFolder | None = None,
    ) -> None:
        # (a cluster's records are in Redis: meta_api/tus/redis_records.py)
        self.files = files or UploadFolder(folder)
        self.expire_after = expire_after
        self.max_size = max_size
        self.clock = clock
        self._guard = threading.Lock()
        self._busy: set[str] = set()
        # in a cluster (stores/state/redis.RedisLeases): an upload is written through one
        # node at a time, and one whose node died is free again when the lease runs out
        self._leases = leases
        self._hashers: dict[str, tuple[int, ContentHasher]] = {}
        self._cleaner = ExpiryCleaner(self.remove_expired, expire_after)

    # --- life -----------------------------------------------------------------------

    def start(self) -> None:
        """Repair what a crash left (see records.py), drop what expired, start the cleaner."""
        self.files.path.mkdir(parents=True, exist_ok=True)
        try:
            self._repair()
        except StoreError as exc:  # a cluster's Redis is down: the next start repairs
            log.warning("could not look over the resumable uploads: %s", exc.message)
        self._cleaner.start()

    def _repair(self) -> None:
        strays = self.files.remove_strays(min_age=STRAY_AGE if self._leases else 0.0)
        kept = 0
        for upload_id in self.files.ids():
            record = self.files.load(upload_id)
            if record is None:
                continue
            if self.expired(record):
                self.files.remove(upload_id)
                continue
            with contextlib.suppress(UploadBusy), self.writing(upload_id):
                self.files.settle(record)  # (one another node is writing to is its own)
            kept += 1
        expired = self.remove_expired()
        log.info(
            "resumable uploads: %d kept, %d expired, %d stray files removed",
            kept,
            expired,
            strays,
        )

    def stop(self) -> None:
        self._cleaner.stop()

    # --- records --------------------------------------------------------------------

    def new(self, *, sha256: bool = False, **target: object) -> UploadRecord:
        """A new, empty upload of `target` (user, store, project, asset, filename, length...)."""
        now = self.clock()
        record = UploadRecord(
            id=new_upload_id(), created=now, expires=now + self.expire_after, **target
        )
        self.files.create(record)
        self._hashers[record.id] = (0, ContentHasher(sha256))  # what its store records
        return record

    def find(self, upload_id: str) -> UploadRecord | None:
        return self.files.load(upload_id)

    def save(self, record: UploadRecord) -> None:
        """Record progress; every write moves the expiry on."""
        record.expires = self.clock() + self.expire_after
        self.files.save(record)

    def data_path(self, record: UploadRecord) -> Path:
        return self.files.data_path(record.id)

    def settle(self, record: UploadRecord) -> UploadRecord:
        return self.files.settle(record)

    def remove(self, upload_id: str) -> None:
        self.files.remove(upload_id)
        self._hashers.pop(upload_id, None)

    # --- writers --------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, upload_id: str) -> Iterator[None]:
        """Hold the upload for one request; UploadBusy when another holds it."""
        with self._guard:
            if upload_id in self._busy:
                raise UploadBusy(upload_id)
            self._busy.add(upload_id)
        token = None
        try:
            if self._leases is not None:
                token = self._leases.try_take(upload_id)
                if token is None:
                    raise UploadBusy(upload_id)
            yield
        finally:
            if token is not None:
                self._leases.release(upload_id, token)
            with self._guard:
                self._busy.discard(upload_id)

    def running_hash(self, record: UploadRecord) -> ContentHasher | None:
        """A copy of the digests of the bytes so far, when this process saw them all
        arrive (not after a restart: then the finished file is hashed when it lands)."""
        kept = self._hashers.get(record.id)
        if kept is None or kept[0] != record.offset:
            return None
        return kept[1].copy()

    def keep_hash(self, record: UploadRecord, hasher: ContentHasher | None) -> None:
        if hasher is None:
            self._hashers.pop(record.id, None)
        else:
            self._hashers[record.id] = (record.offset, hasher)

    # --- expiry ---------------------------------------------------------------------

    def expired(self, record: UploadRecord) -> bool:
        return record.expires <= self.clock()

    def remove_if_idle(self, upload_id: str) -> bool:
        """Remove an upload nobody is writing to; False when one is."""
        try:
            with self.writing(upload_id):
                self.remove(upload_id)
        except UploadBusy:
            return False
        return True

    def remove_expired(self) -> int:
        """Remove every expired upload that nobody is writing to; returns how many."""
        removed = 0
        for upload_id in self.files.ids():
            record = self.files.load(upload_id)
            if record is not None and self.expired(record) and self.remove_if_idle(upload_id):
                log.info("upload %s of %s expired and was removed", upload_id, record.user)
                removed += 1
        return removed
