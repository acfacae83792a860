"""Whoosh looks for a field's length column once per posting it writes, and for a field
without one (none of ours is scored) that is a `stat` of a file that does not exist: 70,000
of them for 10,000 assets. Remembering that the column is missing is the whole fix."""

from __future__ import annotations

from typing import Any

from whoosh.codec import whoosh3


def _cached_reader(self: Any, fieldname: str, column: Any) -> Any:
    """Whoosh's own, but a missing column is remembered too (as None)."""
    if fieldname not in self._readers:
        self._readers[fieldname] = (
            self.column_reader(fieldname, column) if self.has_column(fieldname) else None
        )
    return self._readers[fieldname]


def install() -> None:
    """Used by every segment reader and writer of this process (whoosh-reloaded 2.7)."""
    whoosh3.W3PerDocReader._cached_reader = _cached_reader  # noqa: SLF001
