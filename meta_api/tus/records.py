"""Partial uploads on disk, in one folder of the state dir: `<id>.data` holds the bytes
received so far, `<id>.json` the record (target, length, offset, owner, times).

The record's `offset` is written (atomically) only after the bytes up to it were fsynced,
so after a crash the data file holds at least `offset` bytes; anything past it is a
PATCH whose end was never acknowledged and is cut off (`settle`). A data file shorter
than its record (lost behind the server's back) wins: the offset drops to its size.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from stores.atomic import fsync_dir, raise_if_no_space, unlink_quietly, write_atomic
from stores.names import TEMP_PREFIX

log = logging.getLogger(__name__)

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class UploadRecord:
    """One resumable upload: where it goes, how far it got, whose it is."""

    id: str
    user: str
    store: str
    project: str
    asset: str
    filename: str
    length: int
    create: bool = False
    update: bool = False
    offset: int = 0
    created: float = 0.0  # seconds since the epoch
    expires: float = 0.0
    metadata: str = ""  # the Upload-Metadata header as sent, for HEAD
    landed: dict[str, Any] | None = None  # {version, filename, index_file} once complete

    @property
    def complete(self) -> bool:
        return self.offset >= self.length

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=1).encode("utf-8")

    @classmethod
    def from_json(cls, raw: bytes) -> UploadRecord:
        data = json.loads(raw)
        known = {f.name for f in fields(cls)}
        record = cls(**{k: v for k, v in data.items() if k in known})
        if not UPLOAD_ID.fullmatch(record.id) or not 0 <= record.offset <= record.length:
            raise ValueError("the record's id or offset is not usable")
        return record


def new_upload_id() -> str:
    return uuid.uuid4().hex


class UploadFolder:
    """The files of the partial uploads; one writer per upload at a time (the caller's lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def data_path(self, upload_id: str) -> Path:
        return self.path / f"{upload_id}.data"

    def record_path(self, upload_id: str) -> Path:
        return self.path / f"{upload_id}.json"

    def create(self, record: UploadRecord) -> None:
        """An empty data file, then the record: a crash between leaves a stray data file."""
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.data_path(record.id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.close(fd)
        except OSError as exc:
            raise_if_no_space(exc)
            raise
        try:
            self.save(record)
        except BaseException:
            unlink_quietly(self.data_path(record.id))
            raise

    def load(self, upload_id: str) -> UploadRecord | None:
        """The record, or None for an unknown id (or one that is not an upload id at all)."""
        if not UPLOAD_ID.fullmatch(upload_id):
            return None
        try:
            return UploadRecord.from_json(self.record_path(upload_id).read_bytes())
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            log.warning("upload record %s is unusable (%s); it is removed", upload_id, exc)
            self.remove(upload_id)
            return None

    def save(self, record: UploadRecord) -> None:
        write_atomic(self.record_path(record.id), record.to_json())

    def remove(self, upload_id: str) -> None:
        """The record first, then the data: a crash between leaves only a stray data file."""
        unlink_quietly(self.record_path(upload_id))
        unlink_quietly(self.data_path(upload_id))
        with contextlib.suppress(OSError):
            fsync_dir(self.path)

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(
            name[:-5] for name in names if name.endswith(".json") and UPLOAD_ID.fullmatch(name[:-5])
        )

    def settle(self, record: UploadRecord) -> UploadRecord:
        """Make the data file and the record agree (see the module's docstring); returns the
        record as it now is. Landed uploads have no data file any more."""
        if record.landed is not None:
            return record
        path = self.data_path(record.id)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o644))
            size = 0
        if size > record.offset:
            with open(path, "r+b") as fh:
                fh.truncate(record.offset)
                os.fsync(fh.fileno())
        elif size < record.offset:
            log.warning(
                "upload %s has %d bytes on disk but its record says %d; resuming at %d",
                record.id,
                size,
                record.offset,
                size,
            )
            record.offset = size
            self.save(record)
        return record

    def remove_strays(self, min_age: float = 0.0) -> int:
        """Data files without a record and temporary files of interrupted record writes
        (only those untouched for `min_age` seconds: in a cluster another node may be
        making one right now)."""
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return 0
        recorded = set(self.ids())
        removed = 0
        for name in names:
            stray = name.startswith(TEMP_PREFIX) or (
                name.endswith(".data") and name[:-5] not in recorded
            )
            if stray and min_age and _age(self.path / name) < min_age:
                continue
            if stray:
                unlink_quietly(self.path / name)
                removed += 1
        return removed


def _age(path: Path) -> float:
    try:
        return time.time() - os.stat(path).st_mtime
    except FileNotFoundError:
        return float("inf")
