"""Bring an owner's `files` map in line with the folder: the tree on disk is the truth."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .hashing import digest_file, mtime_of
from .layout import ASSET_LEVEL
from .model import FileRecord
from .names import is_internal, is_junk, is_within


def iter_owned_files(
    folder: Path, level: int, below: str = ""
) -> Iterator[tuple[str, os.stat_result]]:
    """Yield (key, stat) of the files a project (direct files) or asset (all files) owns,
    or only those in its subfolder `below` (a key ending in "/").

    Sidecars, temporary files, client junk and symlinks leaving the folder are skipped.
    """
    root_real = ""  # resolved at the first symlink met: a realpath is a syscall per part
    recursive = level == ASSET_LEVEL
    stack = [(below, os.path.join(folder, below) if below else str(folder))]
    while stack:
        prefix, current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            name = entry.name
            if is_internal(name) or is_junk(name):
                continue
            key = prefix + name
            try:
                if entry.is_symlink():
                    root_real = root_real or os.path.realpath(folder)
                    if not is_within(root_real, os.path.realpath(entry.path)):
                        continue
                if entry.is_dir():
                    if recursive and not entry.is_symlink():
                        stack.append((key + "/", entry.path))
                    continue
                if entry.is_file():
                    yield key, entry.stat()
            except OSError:
                continue


def _still_true(raw: Any, size: int, mtime: float, sha256: bool) -> bool:
    """The fast path: a well-formed record with every digest wanted, whose size and mtime
    match (no object built)."""
    try:
        return (
            raw["size"] == size
            and abs(raw["mtime"] - mtime) < 1e-6
            and isinstance(raw["xxh3_128"], str)
            and isinstance(raw["blake3"], str)
            and len(raw) == (5 if "sha256" in raw else 4)
            and (not sha256 or isinstance(raw["sha256"], str))
        )
    except (TypeError, KeyError):
        return False


def reconciled_files(
    folder: Path,
    level: int,
    known: Mapping[str, Any] | None,
    hints: Mapping[str, FileRecord] | None = None,
    *,
    sha256: bool = False,
) -> dict[str, dict[str, Any]]:
    """A fresh `files` map: known records kept while size and mtime match and they hold
    every digest wanted (`sha256`: that one too), others hashed.

    `hints` are records carried over by a move or copy (keyed like the result), so
    moved bytes are not read again.
    """
    known = known or {}
    hints = hints or {}
    result: dict[str, dict[str, Any]] = {}
    for key, st in iter_owned_files(folder, level):
        mtime = mtime_of(st)
        raw = known.get(key)
        if _still_true(raw, st.st_size, mtime, sha256):
            result[key] = raw
            continue
        record = FileRecord.from_dict(raw)
        if record is None or not record.matches(st.st_size, mtime) or not record.complete(sha256):
            hinted = hints.get(key)
            if hinted is not None and hinted.size == st.st_size and hinted.complete(sha256):
                record = FileRecord.of(st.st_size, hinted.digests, mtime)
            else:
                size, digests = digest_file(os.path.join(folder, key), sha256)
                record = FileRecord.of(size, digests, mtime)
        result[key] = record.to_dict()
    return dict(sorted(result.items()))


def records_agree(
    folder: Path,
    level: int,
    files: Mapping[str, Any],
    keys: Iterable[tuple[str, bool]] | None,
    in_flight: frozenset[str] = frozenset(),
) -> bool:
    """Whether the records in `files` are true for the owner's files at `keys` (each a
    key and whether it was a folder; None: every file), but those `in_flight` (placed by
    the server, their records on the way). How the tree watcher tells the server's own
    writes, recorded or about to be, from changes made behind its back."""
    if keys is None:
        seen = 0
        for key, st in iter_owned_files(folder, level):
            if key in in_flight:
                continue
            if not _agrees(files.get(key), st):
                return False
            seen += 1
        return seen == len(files) - len(in_flight & files.keys())
    for key, was_folder in keys:
        if key in in_flight:
            continue
        path = os.path.join(folder, key)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            if key in files:
                return False
            if was_folder and any(k.startswith(key + "/") for k in files):
                return False
            continue
        except OSError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if level != ASSET_LEVEL:
                continue  # a project's subfolders are its assets, each its own owner
            below = key + "/"
            found = 0
            for inner, inner_st in iter_owned_files(folder, level, below):
                if not _agrees(files.get(inner), inner_st):
                    return False
                found += 1
            if found != sum(1 for k in files if k.startswith(below)):
                return False
        elif is_internal(key.rsplit("/", 1)[-1]) or is_junk(key.rsplit("/", 1)[-1]):
            continue
        elif stat.S_ISLNK(st.st_mode) or not _agrees(files.get(key), os.stat(path)):
            return False
    return True


def _agrees(raw: Any, st: os.stat_result) -> bool:
    record = FileRecord.from_dict(raw)
    return record is not None and record.matches(st.st_size, mtime_of(st))
