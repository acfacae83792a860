"""State that is not the tree, behind small interfaces (local: SQLite in the state dir;
a clustered implementation can sit behind the same ones)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class TagIds(Protocol):
    """A stable integer id per tag name, never reused (model managers name tags by id)."""

    def ids_of(self, names: Iterable[str]) -> dict[str, int]:
        """The ids of these names, giving new ones to names seen for the first time."""
        ...

    def names_of(self, ids: Iterable[int]) -> dict[int, str]:
        """The names of these ids (unknown ids are left out)."""
        ...

    def all(self) -> dict[str, int]: ...


__all__ = ["TagIds"]
