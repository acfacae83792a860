"""Who is acting, and the one place that decides what they may read and write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .errors import PermissionDenied


@dataclass(frozen=True)
class Actor:
    """The user on whose behalf an operation runs."""

    name: str
    read_groups: frozenset[str] = field(default_factory=frozenset)
    write_groups: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False


ANONYMOUS = Actor("anonymous", admin=True)
SYSTEM = Actor("assetdav", admin=True)


class Policy(Protocol):
    def can_read(self, actor: Actor, store: str, project: str | None) -> bool: ...

    def can_write(self, actor: Actor, store: str, project: str | None) -> bool: ...


class OpenPolicy:
    """No users configured: everyone may do everything (served on loopback only)."""

    def can_read(self, actor: Actor, store: str, project: str | None) -> bool:
        return True

    def can_write(self, actor: Actor, store: str, project: str | None) -> bool:
        return True


def require_read(policy: Policy, actor: Actor, store: str, project: str | None) -> None:
    if not policy.can_read(actor, store, project):
        what = f"project {project!r} of store {store!r}" if project else f"store {store!r}"
        raise PermissionDenied(f"User {actor.name!r} may not read {what}.")


def require_write(policy: Policy, actor: Actor, store: str, project: str | None) -> None:
    if not policy.can_write(actor, store, project):
        what = f"project {project!r} of store {store!r}" if project else f"store {store!r}"
        raise PermissionDenied(f"User {actor.name!r} may not write to {what}.")
