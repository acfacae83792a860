"""The same assets in SQLite, as the yardstick for the index benchmark.

Tables `assets(id, name, project, camera, iso, rating)` and `tags(asset_id, tag)`, indexed
on `tags(tag, asset_id)` and `tags(asset_id)`, then ANALYZE'd. The filtered set is an
INTERSECT of one tag lookup per included tag (or every asset when there is none).

- refine: `SELECT tag, count(*) FROM tags WHERE asset_id IN (<set>) GROUP BY tag
  ORDER BY 2 DESC, 1 LIMIT 100` (the tag name breaks ties, as /api/tags/refine does);
- filtered list: `SELECT name FROM assets WHERE id IN (<set>) AND name LIKE '%x%'
  ORDER BY name LIMIT 50`.

`full_counts` and `total` answer the same filters without a limit, for checking answers
(they are not timed).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

from synthetic_store import AssetRecord

SCHEMA = """
CREATE TABLE assets (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, project TEXT NOT NULL,
    camera TEXT, iso INTEGER, rating INTEGER
);
CREATE TABLE tags (asset_id INTEGER NOT NULL, tag TEXT NOT NULL);
"""
INDEXES = """
CREATE INDEX tags_by_tag ON tags (tag, asset_id);
CREATE INDEX tags_by_asset ON tags (asset_id);
ANALYZE;
"""


def _filtered_set(tags: tuple[str, ...]) -> str:
    """The SQL of the asset ids carrying every tag in `tags` (one `?` per tag)."""
    if not tags:
        return "SELECT id FROM assets"
    return " INTERSECT ".join("SELECT asset_id FROM tags WHERE tag = ?" for _ in tags)


def _like(fragment: str) -> str:
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqliteMirror:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path))

    def load(self, records: Iterable[AssetRecord]) -> None:
        db = self.db
        db.executescript(SCHEMA)
        rows = []
        tag_rows = []
        for r in records:
            rows.append((r.number, r.name, r.project, r.camera, r.iso, r.rating))
            tag_rows.extend((r.number, tag) for tag in r.tags)
        with db:
            db.executemany("INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.executemany("INSERT INTO tags VALUES (?, ?)", tag_rows)
        db.executescript(INDEXES)

    def close(self) -> None:
        self.db.close()

    def refine(self, tags: tuple[str, ...], limit: int = 100) -> list[tuple[str, int]]:
        if tags:
            sql = (
                f"SELECT tag, count(*) FROM tags WHERE asset_id IN ({_filtered_set(tags)}) "
                "GROUP BY tag ORDER BY 2 DESC, 1 LIMIT ?"
            )
        else:
            sql = "SELECT tag, count(*) FROM tags GROUP BY tag ORDER BY 2 DESC, 1 LIMIT ?"
        return self.db.execute(sql, (*tags, limit)).fetchall()

    def full_counts(self, tags: tuple[str, ...]) -> dict[str, int]:
        sql = (
            f"SELECT tag, count(*) FROM tags WHERE asset_id IN ({_filtered_set(tags)}) GROUP BY tag"
        )
        return dict(self.db.execute(sql, tags).fetchall())

    def page(self, tags: tuple[str, ...], fragment: str, limit: int = 50) -> list[str]:
        sql = (
            f"SELECT name FROM assets WHERE id IN ({_filtered_set(tags)}) "
            "AND name LIKE ? ESCAPE '\\' ORDER BY name LIMIT ?"
        )
        return [row[0] for row in self.db.execute(sql, (*tags, _like(fragment), limit))]

    def total(self, tags: tuple[str, ...], fragment: str) -> int:
        sql = (
            f"SELECT count(*) FROM assets WHERE id IN ({_filtered_set(tags)}) "
            "AND name LIKE ? ESCAPE '\\'"
        )
        return self.db.execute(sql, (*tags, _like(fragment))).fetchone()[0]

    def plans(self, tags: tuple[str, ...], fragment: str) -> dict[str, list[str]]:
        """EXPLAIN QUERY PLAN of the refine and the page, for the JSON record."""

        def plan(sql: str, params: tuple) -> list[str]:
            return [row[3] for row in self.db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]

        return {
            "refine": plan(
                f"SELECT tag, count(*) FROM tags WHERE asset_id IN ({_filtered_set(tags)}) "
                "GROUP BY tag ORDER BY 2 DESC, 1 LIMIT 100",
                tags,
            ),
            "page": plan(
                f"SELECT name FROM assets WHERE id IN ({_filtered_set(tags)}) "
                "AND name LIKE ? ESCAPE '\\' ORDER BY name LIMIT 50",
                (*tags, _like(fragment)),
            ),
        }
