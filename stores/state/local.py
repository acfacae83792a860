"""The local (single process) implementations of stores/state, in SQLite files."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from .sqlite import open_state_db


class SqliteTagIds:
    """Tag ids in `<state_dir>/tag-ids.sqlite`: AUTOINCREMENT never hands out an id twice,
    even after rows are gone."""

    def __init__(self, path: Path) -> None:
        self._guard = threading.Lock()
        self._conn = open_state_db(path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS tags "
            "(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE)"
        )
        self._cache: dict[str, int] = {}

    def ids_of(self, names: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(names))
        with self._guard:
            missing = [n for n in wanted if n not in self._cache]
            if missing:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany(
                        "INSERT OR IGNORE INTO tags (name) VALUES (?)", [(n,) for n in missing]
                    )
                    for name in missing:
                        row = self._conn.execute(
                            "SELECT id FROM tags WHERE name = ?", (name,)
                        ).fetchone()
                        self._cache[name] = int(row[0])
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            return {n: self._cache[n] for n in wanted}

    def names_of(self, ids: Iterable[int]) -> dict[int, str]:
        wanted = list(dict.fromkeys(int(i) for i in ids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        with self._guard:
            rows = self._conn.execute(
                f"SELECT id, name FROM tags WHERE id IN ({marks})",  # noqa: S608 - marks only
                wanted,
            ).fetchall()
        return {int(i): str(n) for i, n in rows}

    def all(self) -> dict[str, int]:
        with self._guard:
            rows = self._conn.execute("SELECT name, id FROM tags ORDER BY id").fetchall()
        return {str(n): int(i) for n, i in rows}

    def close(self) -> None:
        with self._guard:
            self._conn.close()
