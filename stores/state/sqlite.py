"""Opening the SQLite files of the state dir, the one way every local store of state does."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_state_db(path: Path, *, synchronous: str | None = None) -> sqlite3.Connection:
    """One shared connection (callers guard it with their own lock), in WAL mode so readers
    do not wait for writers; `synchronous` (FULL, NORMAL) when the default will not do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    if synchronous is not None:
        conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn
