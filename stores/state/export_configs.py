"""Export configurations (how an export names, converts and describes files), kept in
`<state_dir>/export-configurations.sqlite`: a user's own, or an organization's (a group's)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from pathlib import Path
from typing import Any

from .sqlite import open_state_db

FIELDS = ("name", "metadata_adapter", "image_format", "naming_convention_template")
COLUMNS = "id, created_at, updated_at, user_id, organization_id, " + ", ".join(FIELDS)
SCHEMA = """
CREATE TABLE IF NOT EXISTS configs (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    user_id TEXT NOT NULL,
    organization_id TEXT,
    name TEXT NOT NULL,
    metadata_adapter TEXT NOT NULL,
    image_format TEXT NOT NULL,
    naming_convention_template TEXT
);
CREATE INDEX IF NOT EXISTS configs_owner ON configs (user_id, organization_id, created_at);
CREATE INDEX IF NOT EXISTS configs_org ON configs (organization_id, created_at);
"""


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ExportConfigurations:
    def __init__(self, path: Path) -> None:
        self._guard = threading.Lock()
        self._conn = open_state_db(path)
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._guard:
            self._conn.close()

    def _rows(self, where: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._guard:
            cursor = self._conn.execute(
                f"SELECT {COLUMNS} FROM configs WHERE {where} ORDER BY created_at, id", args
            )
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def all(self) -> list[dict[str, Any]]:
        """Every configuration, oldest first (a cluster takes them over)."""
        return self._rows("1 = 1", ())

    def get(self, config_id: str) -> dict[str, Any] | None:
        found = self._rows("id = ?", (config_id,))
        return found[0] if found else None

    def of_user(self, user: str) -> list[dict[str, Any]]:
        """A user's personal configurations (not their organizations'), oldest first."""
        return self._rows("user_id = ? AND organization_id IS NULL", (user,))

    def of_organization(self, organization: str) -> list[dict[str, Any]]:
        return self._rows("organization_id = ?", (organization,))

    def create(self, user: str, organization: str | None, values: dict[str, Any]) -> dict[str, Any]:
        config_id, now = str(uuid.uuid4()), _now()
        with self._guard:
            self._conn.execute(
                f"INSERT INTO configs ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (config_id, now, now, user, organization, *(values.get(f) for f in FIELDS)),
            )
        found = self.get(config_id)
        assert found is not None
        return found

    def update(self, config_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        changes = {k: v for k, v in changes.items() if k in FIELDS}
        if changes:
            sets = ", ".join(f"{k} = ?" for k in changes)
            with self._guard:
                self._conn.execute(
                    f"UPDATE configs SET {sets}, updated_at = ? WHERE id = ?",
                    (*changes.values(), _now(), config_id),
                )
        return self.get(config_id)

    def delete(self, config_id: str) -> None:
        with self._guard:
            self._conn.execute("DELETE FROM configs WHERE id = ?", (config_id,))


def may_read(actor: Any, config: dict[str, Any]) -> bool:
    """Its owner (a personal one), an organization's members, administrators."""
    if actor.admin or (config["user_id"] == actor.name and not config["organization_id"]):
        return True
    org = config["organization_id"]
    return bool(org) and org in (actor.read_groups | actor.write_groups)


def may_change(actor: Any, config: dict[str, Any]) -> bool:
    """Its owner (a personal one), an organization's writers, administrators."""
    if actor.admin or (config["user_id"] == actor.name and not config["organization_id"]):
        return True
    org = config["organization_id"]
    return bool(org) and org in actor.write_groups
