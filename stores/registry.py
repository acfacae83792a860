"""The configured stores of one server, sharing one change feed and one access policy."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from .access import PUBLIC_GROUP, Actor, GroupPolicy, Policy
from .errors import StoreNotFound
from .events import ChangeFeed
from .names import normalize_name
from .rules import NO_RULES, UploadRules
from .store import FileStore


class Registry:
    def __init__(
        self,
        roots: Mapping[str, Path],
        *,
        policy: Policy | None = None,
        feed: ChangeFeed | None = None,
        rules: Mapping[str, UploadRules] | None = None,
        sha256: bool = False,
        dedup: Collection[str] = (),
    ) -> None:
        self.feed = feed or ChangeFeed()
        self.policy: Policy = policy or GroupPolicy(self.project_groups)
        self._stores: dict[str, FileStore] = {}
        for name, root in roots.items():
            name = normalize_name(name)
            self._stores[name] = FileStore(
                name,
                Path(root),
                feed=self.feed,
                policy=self.policy,
                rules=(rules or {}).get(name, NO_RULES),
                sha256=sha256,
                dedup=name in dedup,
            )

    def names(self) -> list[str]:
        return sorted(self._stores)

    def get(self, name: str) -> FileStore:
        store = self._stores.get(name)
        if store is None:
            raise StoreNotFound(f"There is no store named {name!r}; known: {self.names()}.")
        return store

    def project_groups(self, store: str, project: str) -> frozenset[str]:
        found = self._stores.get(store)
        return found.project_groups(project) if found else frozenset()

    def readable(
        self, actor: Actor, *, include_public: bool = True
    ) -> list[tuple[str, str]] | None:
        """The (store, project) pairs `actor` may read; None when they may read everything.
        Without `include_public`, public projects are left out (an administrator's, and
        for others those they read only because they are public)."""
        admin = self.policy.can_administer(actor)
        if admin and include_public:
            return None
        pairs = []
        for store in self._stores.values():
            for entry in store.list_folder(actor, store.locate("")):
                if not entry.is_dir:
                    continue
                if not include_public and self._only_public(actor, admin, store.name, entry.name):
                    continue
                pairs.append((store.name, entry.name))
        return pairs

    def _only_public(self, actor: Actor, admin: bool, store: str, project: str) -> bool:
        groups = self.project_groups(store, project)
        if PUBLIC_GROUP not in groups:
            return False
        return admin or not groups & (actor.read_groups | actor.write_groups)

    def find(self, name: str) -> FileStore | None:
        return self._stores.get(name)

    def __iter__(self):
        return iter(self._stores.values())
