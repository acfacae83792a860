"""Who is acting, and the one place that decides what they may read and write."""

from __future__ import annotations

from collections.abc import Callable
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


ANONYMOUS = Actor("anonymous", admin=True)  # no users configured: loopback only
NOBODY = Actor("-")  # not (yet) authenticated: may do nothing
SYSTEM = Actor("assetdav", admin=True)
GUEST = Actor("(guest)")  # a read without credentials, where allow_anonymous_read lets it
PUBLIC_GROUP = "public"  # a project with this group is readable by every signed-in user
#                          (and by guests when the server allows anonymous reading)


class Policy(Protocol):
    def can_read(self, actor: Actor, store: str, project: str | None) -> bool: ...

    def can_write(self, actor: Actor, store: str, project: str | None) -> bool: ...

    def can_create_project(self, actor: Actor, groups: frozenset[str]) -> bool: ...

    def can_administer(self, actor: Actor) -> bool: ...


class GroupPolicy:
    """OVE's rule: a project's sidecar lists groups; a user may read a project when one of
    their read or write groups is listed, and write when one of their write groups is.
    Admins may do anything; only admins make projects (a new project has no groups yet).
    """

    def __init__(self, project_groups: Callable[[str, str], frozenset[str]]) -> None:
        self._project_groups = project_groups

    def can_read(self, actor: Actor, store: str, project: str | None) -> bool:
        if actor.admin or project is None:
            return True
        groups = self._project_groups(store, project)
        if PUBLIC_GROUP in groups and actor.name != NOBODY.name:
            return True  # a public project: every signed-in user reads it
        return bool(groups & (actor.read_groups | actor.write_groups))

    def can_write(self, actor: Actor, store: str, project: str | None) -> bool:
        if actor.admin:
            return True
        if project is None:
            return False
        return bool(self._project_groups(store, project) & actor.write_groups)

    def can_create_project(self, actor: Actor, groups: frozenset[str]) -> bool:
        """Admins, or users who give the new project one of their own write groups."""
        return actor.admin or bool(groups & actor.write_groups)

    def can_administer(self, actor: Actor) -> bool:
        """Managing users and a project's groups."""
        return actor.admin


def require_read(policy: Policy, actor: Actor, store: str, project: str | None) -> None:
    if not policy.can_read(actor, store, project):
        what = f"project {project!r} of store {store!r}" if project else f"store {store!r}"
        raise PermissionDenied(f"User {actor.name!r} may not read {what}.")


def require_admin(policy: Policy, actor: Actor, what: str) -> None:
    if not policy.can_administer(actor):
        raise PermissionDenied(f"Only administrators may {what}; {actor.name!r} is not one.")


def require_write(policy: Policy, actor: Actor, store: str, project: str | None) -> None:
    if not policy.can_write(actor, store, project):
        what = f"project {project!r} of store {store!r}" if project else f"store {store!r}"
        raise PermissionDenied(f"User {actor.name!r} may not write to {what}.")
