"""Bring an owner's `files` map in line with the folder: the tree on disk is the truth."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .hashing import hash_file, mtime_of
from .layout import ASSET_LEVEL
from .model import FileRecord
from .names import is_internal, is_junk, is_within


def iter_owned_files(folder: Path, level: int) -> Iterator[tuple[str, os.stat_result]]:
    """Yield (key, stat) of the files a project (direct files) or asset (all files) owns.

    Sidecars, temporary files, client junk and symlinks leaving the folder are skipped.
    """
    root_real = os.path.realpath(folder)
    recursive = level == ASSET_LEVEL
    stack = [("", str(folder))]
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
                if entry.is_symlink() and not is_within(root_real, os.path.realpath(entry.path)):
                    continue
                if entry.is_dir():
                    if recursive and not entry.is_symlink():
                        stack.append((key + "/", entry.path))
                    continue
                if entry.is_file():
                    yield key, entry.stat()
            except OSError:
                continue


def _still_true(raw: Any, size: int, mtime: float) -> bool:
    """The fast path: a well-formed record whose size and mtime match (no object built)."""
    try:
        return (
            raw["size"] == size
            and abs(raw["mtime"] - mtime) < 1e-6
            and isinstance(raw["xxh3_128"], str)
            and len(raw) == 3
        )
    except (TypeError, KeyError):
        return False


def reconciled_files(
    folder: Path,
    level: int,
    known: Mapping[str, Any] | None,
    hints: Mapping[str, FileRecord] | None = None,
) -> dict[str, dict[str, Any]]:
    """A fresh `files` map: known records kept while size and mtime match, others hashed.

    `hints` are records carried over by a move or copy (keyed like the result), so
    moved bytes are not read again.
    """
    known = known or {}
    hints = hints or {}
    result: dict[str, dict[str, Any]] = {}
    for key, st in iter_owned_files(folder, level):
        mtime = mtime_of(st)
        raw = known.get(key)
        if _still_true(raw, st.st_size, mtime):
            result[key] = raw
            continue
        record = FileRecord.from_dict(raw)
        if record is None or not record.matches(st.st_size, mtime):
            hinted = hints.get(key)
            if hinted is not None and hinted.size == st.st_size:
                record = FileRecord(st.st_size, hinted.xxh3_128, mtime)
            else:
                size, digest = hash_file(os.path.join(folder, key))
                record = FileRecord(size, digest, mtime)
        result[key] = record.to_dict()
    return dict(sorted(result.items()))
