"""The query shapes of the index benchmark, their inputs, and the three ways of answering
them: assetdav's index in-process (`index.queries.IndexReader`), assetdav over HTTP
(`/api/tags/refine`, `/api/assets`), and SQLite (`sqlite_mirror.SqliteMirror`).

An answer is comparable across the three: a refine is the top 100 `(tag, count)` pairs
ordered by count, then name (what /api/tags/refine keeps); a filtered list is the page of
asset names in name order plus the total number of matches.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlite_mirror import SqliteMirror
from synthetic_store import NAME_WORDS, AssetRecord

from index.queries import AssetFilter, IndexReader

REFINE_LIMIT = 100
PAGE_LIMIT = 50
MAX_INPUTS = 50  # distinct inputs per shape; the timed runs cycle through them


@dataclass(frozen=True)
class Query:
    tags: tuple[str, ...] = ()
    fragment: str | None = None  # name_contains (filtered lists only)

    def describe(self) -> str:
        text = "+".join(self.tags) or "(all)"
        return f"{text} name_contains={self.fragment!r}" if self.fragment else text


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    kind: str  # "refine" or "list"
    queries: tuple[Query, ...]


RefineAnswer = list[tuple[str, int]]
ListAnswer = tuple[list[str], int]


class WrongAnswer(Exception):
    """assetdav and SQLite disagree: the measurement would be worthless."""


def top_counts(counts: dict[str, int], limit: int = REFINE_LIMIT) -> RefineAnswer:
    """The refine route's cut: highest counts first, then by name."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]


def fragments() -> list[str]:
    """Name fragments a user might type: four letters from inside each name word."""
    return sorted({word[1:5] for word in NAME_WORDS})


def make_shapes(records: list[AssetRecord], ranked_tags: list[str], seed: int) -> list[Shape]:
    """The four shapes, with inputs that match something (checked against the records)."""
    rng = random.Random(seed + 2)
    carrying: dict[str, set[int]] = {}
    for record in records:
        for tag in record.tags:
            carrying.setdefault(tag, set()).add(record.number)
    names = {record.number: record.name for record in records}

    def matching(tags: tuple[str, ...]) -> set[int]:
        return set.intersection(*(carrying.get(tag, set()) for tag in tags))

    common = [tag for tag in ranked_tags[:10] if tag in carrying]
    pairs = [pair for pair in itertools.combinations(ranked_tags[:12], 2) if matching(pair)]
    rng.shuffle(pairs)
    lists = []
    for triple in itertools.combinations(ranked_tags[:8], 3):
        found = [names[n] for n in matching(triple)]
        for fragment in fragments():
            if any(fragment in name for name in found):
                lists.append(Query(triple, fragment))
    rng.shuffle(lists)
    if not common or not pairs or not lists:
        raise WrongAnswer("the synthetic store is too small to pick queries that match")
    return [
        Shape("refine_all", "refine (a) all assets", "refine", (Query(),)),
        Shape(
            "refine_1tag",
            "refine (b) 1 common tag",
            "refine",
            tuple(Query((tag,)) for tag in common),
        ),
        Shape(
            "refine_2tags",
            "refine (c) 2 tags",
            "refine",
            tuple(Query(p) for p in pairs)[:MAX_INPUTS],
        ),
        Shape(
            "list_3tags_name",
            f"list: 3 tags + name_contains, limit {PAGE_LIMIT}",
            "list",
            tuple(lists[:MAX_INPUTS]),
        ),
    ]


class IndexClient:
    """assetdav's index, queried in-process as the API does (no access limit: an admin)."""

    name = "assetdav"

    def __init__(self, reader: IndexReader) -> None:
        self.reader = reader

    def refine(self, query: Query) -> RefineAnswer:
        return top_counts(self.reader.tag_counts(AssetFilter(include_tags=query.tags), None))

    def full_counts(self, query: Query) -> dict[str, int]:
        return dict(self.reader.tag_counts(AssetFilter(include_tags=query.tags), None))

    def page(self, query: Query) -> ListAnswer:
        flt = AssetFilter(include_tags=query.tags, name_contains=query.fragment)
        hits, total = self.reader.search(flt, None, sort="name", limit=PAGE_LIMIT)
        return [hit.asset for hit in hits], total


class HttpClient:
    """assetdav over HTTP on one keep-alive connection."""

    name = "http"

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def _get(self, path: str, params: list[tuple[str, Any]]) -> Any:
        self.conn.request("GET", f"{path}?{urlencode(params)}")
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise WrongAnswer(f"GET {path} answered {response.status}: {body[:300]!r}")
        return json.loads(body)

    def refine(self, query: Query) -> RefineAnswer:
        params = [("include_tags", tag) for tag in query.tags] + [("limit", REFINE_LIMIT)]
        answer = self._get("/api/tags/refine", params)
        return top_counts(answer["tag_counts"])

    def page(self, query: Query) -> ListAnswer:
        params = [("include_tags", tag) for tag in query.tags] + [
            ("name_contains", query.fragment or ""),
            ("sort", "name"),
            ("limit", PAGE_LIMIT),
        ]
        answer = self._get("/api/assets", params)
        return [asset["name"] for asset in answer["assets"]], answer["total"]

    def post(self, path: str, body: Any) -> Any:
        self.conn.request(
            "POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        response = self.conn.getresponse()
        answer = response.read()
        if response.status != 200:
            raise WrongAnswer(f"POST {path} answered {response.status}: {answer[:300]!r}")
        return json.loads(answer)

    def get(self, path: str, params: list[tuple[str, Any]]) -> Any:
        return self._get(path, params)

    def close(self) -> None:
        self.conn.close()


class SqliteClient:
    """The SQLite mirror. The page's total is counted once per input, untimed: the timed
    query is the page alone, as the issue defines it."""

    name = "sqlite"

    def __init__(self, mirror: SqliteMirror) -> None:
        self.mirror = mirror
        self._totals: dict[Query, int] = {}

    def refine(self, query: Query) -> RefineAnswer:
        return self.mirror.refine(query.tags, REFINE_LIMIT)

    def full_counts(self, query: Query) -> dict[str, int]:
        return self.mirror.full_counts(query.tags)

    def page(self, query: Query) -> ListAnswer:
        return self.mirror.page(query.tags, query.fragment or "", PAGE_LIMIT), -1

    def total(self, query: Query) -> int:
        if query not in self._totals:
            self._totals[query] = self.mirror.total(query.tags, query.fragment or "")
        return self._totals[query]


def expected_answers(shapes: list[Shape], sqlite: SqliteClient) -> dict[tuple[str, Query], Any]:
    """SQLite's answer to every input of every shape (what the others must match)."""
    expected: dict[tuple[str, Query], Any] = {}
    for shape in shapes:
        for query in shape.queries:
            if shape.kind == "refine":
                expected[shape.key, query] = sqlite.refine(query)
            else:
                names, _ = sqlite.page(query)
                expected[shape.key, query] = (names, sqlite.total(query))
    return expected


def check_full_histograms(shapes: list[Shape], index: IndexClient, sqlite: SqliteClient) -> int:
    """Every tag's count (not just the top 100) agrees for every refine input; returns how
    many inputs were checked."""
    checked = 0
    for shape in shapes:
        if shape.kind != "refine":
            continue
        for query in shape.queries:
            mine, theirs = Counter(index.full_counts(query)), Counter(sqlite.full_counts(query))
            if mine != theirs:
                diff = {
                    tag: (mine.get(tag, 0), theirs.get(tag, 0))
                    for tag in set(mine) | set(theirs)
                    if mine.get(tag, 0) != theirs.get(tag, 0)
                }
                sample = dict(sorted(diff.items())[:10])
                raise WrongAnswer(
                    f"{shape.label} [{query.describe()}]: {len(diff)} tag count(s) differ "
                    f"(assetdav, SQLite): {sample}"
                )
            checked += 1
    return checked


def compare(shape: Shape, query: Query, client: str, got: Any, expected: Any) -> None:
    if got == expected:
        return
    if shape.kind == "refine":
        detail = f"top {REFINE_LIMIT} differ: {client} {got[:5]}... vs SQLite {expected[:5]}..."
    else:
        (names, total), (want_names, want_total) = got, expected
        detail = (
            f"{client} total {total} vs SQLite {want_total}; "
            f"page {names[:5]}... vs {want_names[:5]}..."
        )
    raise WrongAnswer(f"{shape.label} [{query.describe()}]: {detail}")
