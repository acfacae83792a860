"""Users and their groups, kept in a YAML file (only salted password hashes), reread when it
changes so a running server picks up `assetdav user ...` at once."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .access import Actor
from .atomic import write_atomic
from .errors import AlreadyExists, BadContent, InvalidName, NotFound
from .login_guard import LoginThrottle
from .passwords import hash_password, verify_password

log = logging.getLogger("assetdav.auth")

MAX_NAME_LENGTH = 64
VERIFIED_TTL = 300.0
VERIFIED_MAX = 1024


@dataclass(frozen=True)
class User:
    name: str
    password_hash: str
    read_groups: tuple[str, ...] = ()
    write_groups: tuple[str, ...] = ()
    admin: bool = False

    def actor(self) -> Actor:
        return Actor(
            self.name, frozenset(self.read_groups), frozenset(self.write_groups), self.admin
        )

    def public(self) -> dict[str, Any]:
        """What the API may show: never the hash."""
        return {
            "user": self.name,
            "read_groups": list(self.read_groups),
            "write_groups": list(self.write_groups),
            "admin": self.admin,
        }


def check_user_name(name: str) -> str:
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"User names have 1 to {MAX_NAME_LENGTH} characters.", rule="length")
    if ":" in name or any(ord(ch) < 0x20 or ch.isspace() for ch in name):
        raise InvalidName(
            "User names may not contain ':', spaces or control characters.", rule="characters"
        )
    return name


def clean_groups(groups: Iterable[str] | str | None) -> tuple[str, ...]:
    """Groups from a list or a comma-separated string: distinct, stripped, sorted."""
    if groups is None:
        return ()
    if isinstance(groups, str):
        groups = groups.split(",")
    result = set()
    for group in groups:
        if not isinstance(group, str):
            raise BadContent("Groups are strings.")
        if group.strip():
            result.add(group.strip())
    return tuple(sorted(result))


@dataclass
class _Loaded:
    signature: tuple[int, int, int] | None = None
    users: dict[str, User] = field(default_factory=dict)


class UserDirectory:
    """The users file. Reads are cheap (a stat per call); edits are locked and atomic."""

    def __init__(self, path: Path, *, max_login_delay: float = 5.0) -> None:
        self.path = path
        self._loaded = _Loaded()
        self._guard = threading.RLock()
        self._verified: OrderedDict[bytes, float] = OrderedDict()
        self._pepper = secrets.token_bytes(32)
        self.throttle = LoginThrottle(max_login_delay)

    # --- reading -------------------------------------------------------------------

    def _current(self) -> dict[str, User]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return {}
        signature = (st.st_ino, st.st_size, st.st_mtime_ns)
        with self._guard:
            if signature != self._loaded.signature:
                self._loaded = _Loaded(signature, self._parse(self.path.read_text("utf-8")))
            return self._loaded.users

    def _parse(self, text: str) -> dict[str, User]:
        raw = yaml.safe_load(text) or {}
        entries = raw.get("users") if isinstance(raw, dict) else None
        users: dict[str, User] = {}
        for name, entry in (entries or {}).items():
            if not isinstance(entry, dict) or not isinstance(entry.get("password"), str):
                log.error("users file %s: entry %r has no password hash; ignored", self.path, name)
                continue
            users[str(name)] = User(
                str(name),
                entry["password"],
                clean_groups(entry.get("read_groups")),
                clean_groups(entry.get("write_groups")),
                bool(entry.get("admin", False)),
            )
        return users

    def has_users(self) -> bool:
        return bool(self._current())

    def get(self, name: str) -> User | None:
        return self._current().get(name)

    def all(self) -> list[User]:
        return sorted(self._current().values(), key=lambda u: u.name)

    def all_groups(self) -> list[str]:
        groups: set[str] = set()
        for user in self._current().values():
            groups.update(user.read_groups, user.write_groups)
        return sorted(groups)

    # --- authentication --------------------------------------------------------------

    def authenticate(self, name: str, password: str, address: str = "-") -> Actor | None:
        """The user's Actor if the password is right. Failures are logged (name and
        address, never the password) and slow down further tries from that address."""
        user = self.get(name)
        if user is not None and self._recently_verified(user, password):
            return user.actor()
        self.throttle.wait(address, name)
        if user is not None and self._password_ok(user, password):
            self.throttle.succeeded(address, name)
            return user.actor()
        self.throttle.failed(address, name)
        log.warning("failed login for user %r from %s", name, address)
        return None

    def _verified_key(self, user: User, password: str) -> bytes:
        text = f"{user.name}\0{password}\0{user.password_hash}"
        return hmac.new(self._pepper, text.encode(), hashlib.sha256).digest()

    def _recently_verified(self, user: User, password: str) -> bool:
        """scrypt is slow on purpose; a verified pair is remembered for a few minutes so a
        WebDAV client sending Basic credentials with every request stays fast (and is not
        held up by someone else's failed guesses)."""
        with self._guard:
            expires = self._verified.get(self._verified_key(user, password))
        return expires is not None and expires > time.monotonic()

    def _password_ok(self, user: User, password: str) -> bool:
        if not verify_password(user.password_hash, password):
            return False
        with self._guard:
            self._verified[self._verified_key(user, password)] = time.monotonic() + VERIFIED_TTL
            while len(self._verified) > VERIFIED_MAX:
                self._verified.popitem(last=False)
        return True

    # --- editing -------------------------------------------------------------------

    @contextmanager
    def _editing(self) -> Iterator[dict[str, dict[str, Any]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._guard:
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                raw: Any = {}
                if self.path.exists():
                    raw = yaml.safe_load(self.path.read_text("utf-8")) or {}
                entries = dict(raw.get("users") or {}) if isinstance(raw, dict) else {}
                yield entries
                text = yaml.safe_dump({"users": entries}, sort_keys=True, allow_unicode=True)
                write_atomic(self.path, text.encode("utf-8"))
                os.chmod(self.path, 0o600)
            finally:
                os.close(fd)

    def add(
        self,
        name: str,
        password: str,
        *,
        read_groups: Iterable[str] = (),
        write_groups: Iterable[str] = (),
        admin: bool = False,
    ) -> User:
        check_user_name(name)
        _check_password(password)
        with self._editing() as entries:
            if name in entries:
                raise AlreadyExists(f"The user {name!r} already exists.")
            entries[name] = {
                "password": hash_password(password),
                "read_groups": list(clean_groups(read_groups)),
                "write_groups": list(clean_groups(write_groups)),
                "admin": bool(admin),
            }
        return self._require(name)

    def update(
        self,
        name: str,
        *,
        password: str | None = None,
        read_groups: Iterable[str] | None = None,
        write_groups: Iterable[str] | None = None,
        admin: bool | None = None,
    ) -> User:
        with self._editing() as entries:
            if name not in entries:
                raise NotFound(f"There is no user {name!r}.")
            entry = dict(entries[name])
            if password is not None:
                _check_password(password)
                entry["password"] = hash_password(password)
            if read_groups is not None:
                entry["read_groups"] = list(clean_groups(read_groups))
            if write_groups is not None:
                entry["write_groups"] = list(clean_groups(write_groups))
            if admin is not None:
                entry["admin"] = bool(admin)
            entries[name] = entry
        return self._require(name)

    def remove(self, name: str) -> None:
        with self._editing() as entries:
            if name not in entries:
                raise NotFound(f"There is no user {name!r}.")
            del entries[name]

    def _require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise NotFound(f"There is no user {name!r}.")
        return user


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < 1:
        raise BadContent("A password may not be empty.")
    if len(password) > 1024:
        raise BadContent("A password may be at most 1024 characters.")
