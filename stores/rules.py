"""A store's upload rules (size, content types, file names), applied to every way in."""

from __future__ import annotations

import fnmatch
import mimetypes
from dataclasses import dataclass, field

from .errors import InvalidName, TooLarge, UnsupportedType
from .names import is_junk
from .sniff import OCTET_STREAM, sniff

WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)


@dataclass(frozen=True)
class UploadRules:
    """No limits by default. Client junk (.DS_Store, ._*) is exempt from type rules."""

    max_file_size: int | None = None
    allowed_types: tuple[str, ...] = ()  # MIME patterns like "image/*"; empty: any type
    max_name_length: int = 255  # bytes of UTF-8
    forbidden_characters: str = ""
    reserved_names: frozenset[str] = field(default_factory=frozenset)  # compared upper-case

    def check_name(self, name: str) -> None:
        if len(name.encode("utf-8")) > self.max_name_length:
            raise InvalidName(
                f"File names may be at most {self.max_name_length} bytes long in this store.",
                rule="filename.max_length",
            )
        bad = sorted({ch for ch in name if ch in self.forbidden_characters})
        if bad:
            raise InvalidName(
                f"File names may not contain {''.join(bad)!r} in this store.",
                rule="filename.forbidden_characters",
            )
        stem = name.split(".", 1)[0].upper()
        if stem in self.reserved_names or name.upper() in self.reserved_names:
            raise InvalidName(
                f"{name!r} is a reserved name in this store.", rule="filename.reserved_names"
            )

    def check_size(self, size: int | None) -> None:
        if size is not None and self.max_file_size is not None and size > self.max_file_size:
            raise TooLarge(
                f"This store takes files of at most {self.max_file_size} bytes; "
                f"this one has {size}.",
                rule="max_file_size",
            )

    def _allowed(self, mime: str) -> bool:
        return any(fnmatch.fnmatchcase(mime, pattern) for pattern in self.allowed_types)

    def check_name_type(self, name: str) -> None:
        if not self.allowed_types or is_junk(name):
            return
        mime = mimetypes.guess_type(name)[0] or OCTET_STREAM
        if not self._allowed(mime):
            raise UnsupportedType(
                f"{name!r} looks like {mime} by its name; this store takes "
                f"{', '.join(self.allowed_types)}.",
                rule="allowed_types",
            )

    def check_head(self, name: str, head: bytes) -> None:
        """Judge the content by its first bytes, so a renamed file cannot slip through."""
        if not self.allowed_types or is_junk(name):
            return
        mime = sniff(head)
        if not self._allowed(mime):
            raise UnsupportedType(
                f"The content of {name!r} is {mime} by its bytes; this store takes "
                f"{', '.join(self.allowed_types)}.",
                rule="allowed_types",
            )

    def check_new_file(self, name: str, size: int | None) -> None:
        """Everything that can be judged before the first byte arrives."""
        self.check_name(name)
        self.check_name_type(name)
        self.check_size(size)


NO_RULES = UploadRules()
