"""Where a path sits in a store: the store root, a project, an asset, or inside an asset."""

from __future__ import annotations

from dataclasses import dataclass

STORE_LEVEL = 0
PROJECT_LEVEL = 1
ASSET_LEVEL = 2


@dataclass(frozen=True)
class Location:
    """A checked path inside one store, as segments (`("proj", "img1", "1", "a.png")`)."""

    store: str
    parts: tuple[str, ...]

    @property
    def level(self) -> int:
        return len(self.parts)

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else self.store

    @property
    def project(self) -> str | None:
        return self.parts[0] if self.parts else None

    @property
    def asset(self) -> str | None:
        return self.parts[1] if len(self.parts) >= 2 else None

    @property
    def parent(self) -> Location:
        return Location(self.store, self.parts[:-1])

    def child(self, name: str) -> Location:
        return Location(self.store, self.parts + (name,))

    def is_owner_folder(self) -> bool:
        """Projects and assets carry a sidecar."""
        return self.level in (PROJECT_LEVEL, ASSET_LEVEL)

    def file_owner(self) -> Location | None:
        """The project or asset whose sidecar records a file at this location."""
        if self.level > ASSET_LEVEL:
            return Location(self.store, self.parts[:ASSET_LEVEL])
        if self.level == ASSET_LEVEL:
            return Location(self.store, self.parts[:PROJECT_LEVEL])
        return None

    def key_in(self, owner: Location) -> str:
        """This location's key in `owner`'s `files` map."""
        return "/".join(self.parts[owner.level :])

    def is_same_or_below(self, other: Location) -> bool:
        return self.store == other.store and self.parts[: other.level] == other.parts

    def url_path(self) -> str:
        return "/" + "/".join((self.store, *self.parts))
