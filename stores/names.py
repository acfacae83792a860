"""Naming rules and the one safe-join function every path of a store goes through."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import unicodedata
from pathlib import Path

from .errors import InvalidName, NameRestricted, PathEscape

SIDECAR_NAME = ".ovemeta"
TEMP_PREFIX = ".~assetdav-"
RESERVED_IDS = frozenset({"list", "create", "new", "validate"})
MAX_NAME_BYTES = 255
JUNK_PATTERNS = (".DS_Store", "._*", "Thumbs.db", "desktop.ini", "~$*")

_FORBIDDEN_CHARS = {"/", "\\"}


def normalize_name(name: str) -> str:
    """Return `name` in Unicode NFC (macOS sends NFD) after checking it is a usable file name."""
    if not name:
        raise InvalidName("An empty name is not allowed.", rule="empty")
    name = unicodedata.normalize("NFC", name)
    if name in (".", ".."):
        raise PathEscape(f"The path segment {name!r} is not allowed.", rule="dot-segment")
    for ch in name:
        if ch in _FORBIDDEN_CHARS:
            raise InvalidName(f"Names may not contain {ch!r}: {name!r}.", rule="separator")
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise InvalidName(
                f"Names may not contain control characters (found U+{ord(ch):04X}).",
                rule="control-character",
            )
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        raise InvalidName(
            f"Names may be at most {MAX_NAME_BYTES} bytes long in UTF-8; "
            f"this one has {len(name.encode('utf-8'))}.",
            rule="length",
        )
    return name


def check_id(name: str, kind: str) -> str:
    """Apply OVE's rules for project and asset ids on top of the file name rules."""
    name = normalize_name(name)
    if name.lower() in RESERVED_IDS:
        raise NameRestricted(
            f"{kind.capitalize()} ids may not be one of {sorted(RESERVED_IDS)}: {name!r}.",
            rule="reserved-id",
        )
    if name.startswith("."):
        raise InvalidName(
            f"{kind.capitalize()} ids may not start with '.': {name!r}.", rule="hidden-id"
        )
    return name


def disk_spelling(folder: str | Path, name: str) -> str:
    """How `name` is spelled on disk in `folder`, whatever its Unicode normalisation:
    macOS clients and rsync from a Mac write NFD, assetdav writes NFC. `name` itself
    when no entry matches (or when it is ASCII, which has one spelling only)."""
    if name.isascii():
        return name
    wanted = unicodedata.normalize("NFC", name)
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if not entry.name.isascii() and unicodedata.normalize("NFC", entry.name) == wanted:
                    return entry.name
    except OSError:
        pass
    return name


def split_path(path: str) -> tuple[str, ...]:
    """Split a slash-separated path inside a store into checked, NFC-normalised segments.

    Empty segments (from `//` or a trailing slash) are dropped; `.`, `..`, NUL and
    control characters are refused, so the result can never climb out of its root.
    """
    if "\x00" in path:
        raise InvalidName("Paths may not contain NUL.", rule="control-character")
    return tuple(normalize_name(part) for part in path.split("/") if part)


_JUNK = re.compile("|".join(fnmatch.translate(pattern.lower()) for pattern in JUNK_PATTERNS))


def is_junk(name: str) -> bool:
    """Client droppings (.DS_Store, ._*, Thumbs.db...) are stored but never recorded."""
    return _JUNK.match(name.lower()) is not None


def is_internal(name: str) -> bool:
    """Names the server keeps for itself: the sidecar and in-flight temporary files."""
    return (
        name == SIDECAR_NAME or name.startswith(SIDECAR_NAME + ".") or name.startswith(TEMP_PREFIX)
    )


def _real_below(root_real: str, parts: tuple[str, ...]) -> str:
    """`realpath(root_real/parts...)`, resolving only the parts: the root is real already
    (realpath stats every component from `/`, most of them the root's, on every call)."""
    if any(part in ("", ".", "..") or "/" in part or "\0" in part for part in parts):
        return os.path.realpath(os.path.join(root_real, *parts))
    current = root_real
    for index, part in enumerate(parts):
        candidate = os.path.join(current, part)
        try:
            is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
        except OSError:  # not there: nothing below it can be a symlink
            return os.path.join(candidate, *parts[index + 1 :])
        if is_link:
            return os.path.realpath(os.path.join(candidate, *parts[index + 1 :]))
        current = candidate
    return current


def is_within(root_real: str, candidate_real: str) -> bool:
    return candidate_real == root_real or candidate_real.startswith(root_real.rstrip("/") + "/")


def safe_join(root: Path, parts: tuple[str, ...]) -> Path:
    """Join already split `parts` onto `root`, refusing anything that resolves outside it.

    Symlinks inside the store are followed only while they stay inside the store.
    """
    joined = os.path.join(root, *parts) if parts else str(root)
    root_real = os.path.realpath(root)
    if not is_within(root_real, _real_below(root_real, parts)):
        raise PathEscape(
            f"{'/'.join(parts)!r} resolves outside its store (a symlink leaving the store?).",
            rule="outside-store",
        )
    return Path(joined)
