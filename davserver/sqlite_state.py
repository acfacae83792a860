"""WebDAV state kept in the state dir with SQLite: dead properties and locks survive restarts."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

from wsgidav.lock_man.lock_storage import LockStorageDict

from stores.state.sqlite import open_state_db


def connect(path: Path) -> sqlite3.Connection:
    """One shared connection (guarded by the caller's lock); WAL keeps readers cheap."""
    return open_state_db(path, synchronous="NORMAL")


def _encode(value: Any) -> str:
    """JSON, with bytes (lock owners are XML bytes) tagged so they come back as bytes."""

    def tag_bytes(obj: Any) -> Any:
        if isinstance(obj, bytes):
            return {"__bytes__": base64.b64encode(obj).decode("ascii")}
        raise TypeError(f"cannot store {type(obj).__name__}")

    return json.dumps(value, default=tag_bytes)


def _decode(text: str) -> Any:
    def untag(obj: dict[str, Any]) -> Any:
        if set(obj) == {"__bytes__"}:
            return base64.b64decode(obj["__bytes__"])
        return obj

    return json.loads(text, object_hook=untag)


def _norm(url: str) -> str:
    return url.rstrip("/") or "/"


class SqlitePropertyManager:
    """WsgiDAV property manager for dead properties of any namespace, keyed by URL.

    Most resources have no dead properties; a set of the URLs that do saves a query per
    resource in every PROPFIND.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._guard = threading.Lock()
        self._conn = connect(path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS props ("
            " url TEXT NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,"
            " PRIMARY KEY (url, name))"
        )
        self._urls = {r[0] for r in self._conn.execute("SELECT DISTINCT url FROM props")}

    def __repr__(self) -> str:
        return f"SqlitePropertyManager({str(self._path)!r})"

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._guard:
            return self._conn.execute(sql, args).fetchall()

    def _resync(self, *urls: str, prefixes: tuple[str, ...] = ()) -> None:
        """Refresh the URL set for these URLs and everything below `prefixes` (under lock)."""
        for prefix in prefixes:
            self._urls = {u for u in self._urls if not u.startswith(prefix)}
            self._urls.update(
                r[0]
                for r in self._conn.execute(
                    "SELECT DISTINCT url FROM props WHERE substr(url, 1, ?)=?",
                    (len(prefix), prefix),
                )
            )
        for url in urls:
            found = self._conn.execute("SELECT 1 FROM props WHERE url=? LIMIT 1", (url,))
            if found.fetchone():
                self._urls.add(url)
            else:
                self._urls.discard(url)

    def get_properties(self, norm_url: str, environ: dict | None = None) -> list[str]:
        url = _norm(norm_url)
        if url not in self._urls:
            return []
        return [r[0] for r in self._rows("SELECT name FROM props WHERE url=?", (url,))]

    def get_property(self, norm_url: str, name: str, environ: dict | None = None) -> Any:
        url = _norm(norm_url)
        if url not in self._urls:
            return None
        rows = self._rows("SELECT value FROM props WHERE url=? AND name=?", (url, name))
        return rows[0][0] if rows else None

    def write_property(
        self,
        norm_url: str,
        name: str,
        property_value: Any,
        dry_run: bool = False,
        environ: dict | None = None,
    ) -> None:
        if dry_run:
            return
        url = _norm(norm_url)
        with self._guard:
            self._conn.execute(
                "INSERT OR REPLACE INTO props (url, name, value) VALUES (?, ?, ?)",
                (url, name, property_value),
            )
            self._urls.add(url)

    def remove_property(
        self, norm_url: str, name: str, dry_run: bool = False, environ: dict | None = None
    ) -> None:
        if dry_run:
            return
        url = _norm(norm_url)
        with self._guard:
            self._conn.execute("DELETE FROM props WHERE url=? AND name=?", (url, name))
            self._resync(url)

    def remove_properties(self, norm_url: str, environ: dict | None = None) -> None:
        url = _norm(norm_url)
        prefix = url.rstrip("/") + "/"
        with self._guard:
            self._conn.execute(
                "DELETE FROM props WHERE url=? OR substr(url, 1, ?)=?", (url, len(prefix), prefix)
            )
            self._resync(url, prefixes=(prefix,))

    def copy_properties(self, src_url: str, dest_url: str, environ: dict | None = None) -> None:
        dest = _norm(dest_url)
        with self._guard:
            self._conn.execute(
                "INSERT OR REPLACE INTO props (url, name, value)"
                " SELECT ?, name, value FROM props WHERE url=?",
                (dest, _norm(src_url)),
            )
            self._resync(dest)

    def copy_properties_tree(self, src_url: str, dest_url: str) -> None:
        """Copy the dead properties of a resource and of everything below it (a COPY with
        Depth infinity)."""
        src, dest = _norm(src_url), _norm(dest_url)
        src_prefix, dest_prefix = src.rstrip("/") + "/", dest.rstrip("/") + "/"
        with self._guard:
            self._conn.execute(
                "INSERT OR REPLACE INTO props (url, name, value)"
                " SELECT ?, name, value FROM props WHERE url=?",
                (dest, src),
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO props (url, name, value)"
                " SELECT ? || substr(url, ?), name, value FROM props WHERE substr(url, 1, ?)=?",
                (dest_prefix, len(src_prefix) + 1, len(src_prefix), src_prefix),
            )
            self._resync(dest, prefixes=(dest_prefix,))

    def move_properties(
        self, src_url: str, dest_url: str, with_children: bool, environ: dict | None = None
    ) -> None:
        src, dest = _norm(src_url), _norm(dest_url)
        src_prefix, dest_prefix = src.rstrip("/") + "/", dest.rstrip("/") + "/"
        with self._guard:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute("DELETE FROM props WHERE url=?", (dest,))
                self._conn.execute("UPDATE props SET url=? WHERE url=?", (dest, src))
                if with_children:
                    self._conn.execute(
                        "UPDATE OR REPLACE props SET url = ? || substr(url, ?)"
                        " WHERE substr(url, 1, ?)=?",
                        (dest_prefix, len(src_prefix) + 1, len(src_prefix), src_prefix),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            finally:
                self._resync(src, dest, prefixes=(src_prefix, dest_prefix))

    def close(self) -> None:
        with self._guard:
            self._conn.close()


class _SqliteMapping(MutableMapping[str, Any]):
    """A str -> JSON mapping kept in memory and written through to SQLite: the shape
    WsgiDAV's lock storage keeps its locks in, read on every request, changed rarely."""

    def __init__(self, path: Path) -> None:
        self._guard = threading.Lock()
        self._conn = connect(path)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS locks (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self._mirror = {
            key: _decode(value) for key, value in self._conn.execute("SELECT key, value FROM locks")
        }

    def __getitem__(self, key: str) -> Any:
        return self._mirror[key]

    def __setitem__(self, key: str, value: Any) -> None:
        with self._guard:
            self._conn.execute(
                "INSERT OR REPLACE INTO locks (key, value) VALUES (?, ?)", (key, _encode(value))
            )
            self._mirror[key] = _decode(_encode(value))

    def __delitem__(self, key: str) -> None:
        with self._guard:
            self._conn.execute("DELETE FROM locks WHERE key=?", (key,))
            del self._mirror[key]

    def __contains__(self, key: object) -> bool:
        return key in self._mirror

    def get(self, key: str, default: Any = None) -> Any:
        return self._mirror.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._mirror))

    def __len__(self) -> int:
        return len(self._mirror)

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(self._mirror.items())

    def close(self) -> None:
        with self._guard:
            self._conn.close()


class SqliteLockStorage(LockStorageDict):
    """WsgiDAV's lock storage logic over a SQLite table, so locks persist across restarts."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path

    def __repr__(self) -> str:
        return f"SqliteLockStorage({str(self._path)!r})"

    def open(self) -> None:
        self._dict = _SqliteMapping(self._path)

    def close(self) -> None:
        if self._dict is not None:
            self._dict.close()
            self._dict = None
