"""The files journal beside a sidecar: records of placed and removed files, appended.

Recording a few new files in an asset that holds thousands used to rewrite the whole
`.ovemeta` each time, so a folder dropped into a full asset got slower with every file. A
batch of file changes now appends one line per file to `.ovemeta.journal` (one write, one
fsync), and the next full write of the sidecar folds the journal in and removes it.

Only sidecars of JOURNAL_FROM files or more get a journal (a smaller one is as cheap to
rewrite), and a journal is folded in once its asset has had no new files for a few seconds
(see folding.py): at rest, `.ovemeta` names every file by itself.

The journal holds nothing but `files` records, each derivable again from the bytes on
disk; names, tags, history and every other field a person wrote stay in `.ovemeta`. It is
an ordinary file in the tree, so `rsync -a` or a backup carries it with its sidecar.

    #assetdav-journal 1 <xxh3_64 of the sidecar's bytes it extends>
    {"k":"photos/a.jpg","r":{"size":4096,"xxh3_128":"…","mtime":1764748800.5}} <crc>
    {"k":"photos/b.jpg","r":null} <crc>

A journal whose base is not the sidecar's bytes is stale (the sidecar was written since:
by the server folding the journal in just before a crash, or by hand) and is ignored. A
line whose checksum fails (cut short by a crash, or copied by rsync in the middle of an
append) is ignored, and the next append first cuts it off.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import xxhash

from .atomic import fsync_dir, raise_if_no_space, temp_path_beside, unlink_quietly

JOURNAL_SUFFIX = ".journal"
HEADER = b"#assetdav-journal 1 "
JOURNAL_FROM = 64  # files in a sidecar before records go to a journal: below, a rewrite
# (which also compares the folder with the records) costs about what an append does; at 256
# a drop of 200 files into a new asset went 30-40% slower than with the journal from here
COMPACT_MIN = 512  # a journal may hold this many lines, or a quarter of the files, ...
COMPACT_SHARE = 4  # ... whichever is more, before the next write folds it in
FOLD_WHEN_IDLE = 3.0  # seconds after its last append, a journal is folded in (see folding.py)

Change = tuple[str, dict[str, Any] | None]  # (file key, record or None: removed)


def base_of(sidecar_bytes: bytes) -> str:
    """What a journal names as the sidecar it extends."""
    return xxhash.xxh3_64_hexdigest(sidecar_bytes)


def _line(key: str, record: dict[str, Any] | None) -> bytes:
    body = json.dumps({"k": key, "r": record}, ensure_ascii=False, separators=(",", ":"))
    raw = body.encode("utf-8")
    return raw + b" " + xxhash.xxh32_hexdigest(raw).encode() + b"\n"


def _parse_line(line: bytes) -> Change | None:
    body, _, crc = line.rpartition(b" ")
    if not body or xxhash.xxh32_hexdigest(body).encode() != crc:
        return None
    try:
        entry = json.loads(body)
        key, record = entry["k"], entry["r"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(key, str) or not (record is None or isinstance(record, dict)):
        return None
    return key, record


def parse(raw: bytes, base: str) -> list[Change] | None:
    """The changes of a journal extending the sidecar with `base`; None when it is stale."""
    header, _, rest = raw.partition(b"\n")
    if header != HEADER + base.encode():
        return None
    changes = []
    for line in rest.split(b"\n"):
        change = _parse_line(line) if line else None
        if change is not None:
            changes.append(change)
    return changes


def applied(files: Mapping[str, Any], changes: Iterable[Change]) -> dict[str, Any]:
    """A new `files` map: `files` with `changes` made, in order."""
    result = dict(files)
    for key, record in changes:
        if record is None:
            result.pop(key, None)
        else:
            result[key] = record
    return result


def due_for_folding(lines: int, files: int) -> bool:
    """Whether a journal of `lines` lines should be folded into a sidecar of `files` files
    (rather than appended to): always for a small sidecar, which is as cheap to rewrite;
    else late enough that the cost of folding is spread over many appends, early enough
    that a read never parses much more than the sidecar itself."""
    return files < JOURNAL_FROM or lines > max(COMPACT_MIN, files // COMPACT_SHARE)


class Appended:
    """What an append did, so that it can be taken back (a later step failed)."""

    def __init__(self, path: Path, previous_size: int | None) -> None:
        self.path = path
        self.previous_size = previous_size  # None: the journal was made by this append

    def take_back(self) -> None:
        if self.previous_size is None:
            unlink_quietly(self.path)
            return
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.ftruncate(fd, self.previous_size)
            os.fsync(fd)
        finally:
            os.close(fd)


def append(
    path: Path,
    base: str,
    changes: list[Change],
    before_sync: Callable[[], None] | None = None,
    known: tuple[int, int, int] | None = None,
) -> tuple[Appended, os.stat_result]:
    """Durably append `changes` to the journal at `path` extending the sidecar `base`; a
    missing or stale journal is replaced by a new one. `before_sync` runs after the write,
    before the fsync. Returns how to take it back and the journal's stat after the append.
    The caller holds the sidecar's lock. `known`: the (inode, size, mtime) of a journal
    the caller has read whole and found extending `base` with whole lines; when the open
    file still has them, its header and last line are not read again."""
    payload = b"".join(_line(key, record) for key, record in changes)
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return _start(path, base, payload, before_sync)
    try:
        st = os.fstat(fd)
        size = st.st_size
        if known is not None and (st.st_ino, size, st.st_mtime_ns) == known:
            end = size
        else:
            head = os.pread(fd, len(HEADER) + len(base) + 1, 0)
            if head != HEADER + base.encode() + b"\n":
                os.close(fd)
                fd = -1
                return _start(path, base, payload, before_sync)
            end = _whole_lines_end(fd, size)
        if end != size:  # a line cut short by a crash: cut it off before appending
            os.ftruncate(fd, end)
        try:
            _write_all(fd, payload, end)
            if before_sync is not None:
                before_sync()
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, end)
            raise_if_no_space(exc)
            raise
        return Appended(path, end), os.fstat(fd)
    finally:
        if fd >= 0:
            os.close(fd)


def _start(
    path: Path, base: str, payload: bytes, before_sync: Callable[[], None] | None
) -> tuple[Appended, os.stat_result]:
    """A new journal (replacing a stale one) holding `payload`, made atomically."""
    temp = temp_path_beside(path, ".tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            _write_all(fd, HEADER + base.encode() + b"\n" + payload, 0)
            if before_sync is not None:
                before_sync()
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        unlink_quietly(temp)
        raise_if_no_space(exc)
        raise
    return Appended(path, None), st


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _whole_lines_end(fd: int, size: int) -> int:
    """The size of the journal up to its last complete line."""
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    position = size
    while position > 0:
        start = max(0, position - 4096)
        chunk = os.pread(fd, position - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


def journal_path(sidecar_path: Path) -> Path:
    return sidecar_path.with_name(sidecar_path.name + JOURNAL_SUFFIX)
