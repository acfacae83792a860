"""Reading the index: the filtered set of assets, a page of it, and tag counts over it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from whoosh.index import Index
from whoosh.qparser import AndGroup, MultifieldParser
from whoosh.query import And, NullQuery, Or, Query, Term, Wildcard
from whoosh.searching import Searcher

from .documents import flatten, project_key, scalar_text
from .schema import ASSET, PROJECT, SCHEMA, SEP

SORT_FIELDS = {"name": "name_sort", "created": "created", "updated": "updated", "size": "size"}
TEXT_FIELDS = ["name", "description", "tags_text", "file_names"]


@dataclass(frozen=True)
class AssetFilter:
    """The filters every search, tag list and refine share."""

    store: str | None = None
    project: str | None = None
    include_tags: tuple[str, ...] = ()
    exclude_tags: tuple[str, ...] = ()
    name_contains: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    q: str | None = None


@dataclass(frozen=True)
class Hit:
    store: str
    project: str
    asset: str


def trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}


def build_query(flt: AssetFilter, readable: Iterable[tuple[str, str]] | None) -> Query:
    """The Whoosh query for a filter, limited to the (store, project) pairs the caller may
    read (`readable` None: no limit). Excluded tags are applied to its matches with the tag
    columns (whoosh-reloaded's AndNot lets documents through that it should exclude)."""
    clauses: list[Query] = [Term("kind", ASSET)]
    if flt.store:
        clauses.append(Term("store", flt.store))
    if flt.project:
        clauses.append(Term("project", flt.project))
    clauses += [Term("tags", tag) for tag in flt.include_tags]
    if flt.name_contains:
        needle = flt.name_contains.lower()
        if len(needle) >= 3:
            clauses += [Term("name_grams", gram) for gram in sorted(trigrams(needle))]
        else:
            clauses.append(Wildcard("name_sort", f"*{needle}*"))
    for path, text in flatten(flt.metadata):
        clauses.append(Term(f"meta_{path}", text))
    if flt.q and flt.q.strip():
        parser = MultifieldParser(TEXT_FIELDS, SCHEMA, group=AndGroup)
        clauses.append(parser.parse(flt.q))
    if readable is not None:
        allowed = [Term("project_key", project_key(s, p)) for s, p in readable]
        clauses.append(Or(allowed) if allowed else NullQuery)
    return And(clauses)


class _TagColumns:
    """For each segment (immutable once written), its documents' tags as small tuples of
    ids: counting tags over any set of documents is then one pass in C."""

    def __init__(self) -> None:
        self._by_segment: dict[str, list[tuple[int, ...]]] = {}
        self._names: list[str] = []
        self._ids: dict[str, int] = {}
        self._guard = threading.Lock()

    def for_leaf(self, reader: Any) -> list[tuple[int, ...]]:
        key = reader.segment().segment_id()
        found = self._by_segment.get(key)
        if found is not None:
            return found
        lists: list[list[int]] = [[] for _ in range(reader.doc_count_all())]
        with self._guard:
            for term in reader.lexicon("tags"):
                name = term.decode("utf-8")
                tag_id = self._ids.get(name)
                if tag_id is None:
                    tag_id = self._ids[name] = len(self._names)
                    self._names.append(name)
                for docnum in reader.postings("tags", term).all_ids():
                    lists[docnum].append(tag_id)
        columns = [tuple(ids) for ids in lists]
        self._by_segment[key] = columns
        return columns

    def name(self, tag_id: int) -> str:
        return self._names[tag_id]

    def ids(self, names: Iterable[str]) -> frozenset[int]:
        """The ids of known tags among `names` (a tag never indexed matches nothing)."""
        return frozenset(self._ids[n] for n in names if n in self._ids)

    def forget_except(self, live: set[str]) -> None:
        for key in [k for k in self._by_segment if k not in live]:
            del self._by_segment[key]


class IndexReader:
    """Queries against the current state of the index (searchers are per thread and
    refreshed on each call, which is cheap when nothing changed)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._local = threading.local()
        self._tags = _TagColumns()

    def searcher(self) -> Searcher:
        """This thread's searcher, reopened when the index changed. (Whoosh's `refresh()`
        reuses segment readers and so misses deletions in unchanged segments.)"""
        current = getattr(self._local, "searcher", None)
        if current is None or not current.up_to_date():
            if current is not None:
                current.close()
            current = self.index.searcher()
            self._local.searcher = current
        return current

    def _leaf_docs(
        self, searcher: Searcher, flt: AssetFilter, readable: Iterable[tuple[str, str]] | None
    ) -> Iterator[tuple[Any, int, Iterable[int]]]:
        """(leaf reader, base, local document numbers) of the matching documents. A name
        substring is verified here (trigrams only narrow it down), and excluded tags are
        dropped with the segment's tag column."""
        query = build_query(flt, readable)
        needle = flt.name_contains.lower() if flt.name_contains else None
        for leaf, base in searcher.leaf_searchers():
            reader = leaf.reader()
            if reader.segment() is None:  # an empty index has no segment at all
                continue
            docs: Iterable[int] = query.docs(leaf)
            if needle and len(needle) >= 3:
                names = reader.column_reader("name_sort", translate=False)
                docs = [d for d in docs if needle in _text(names[d])]
            if flt.exclude_tags:
                columns = self._tags.for_leaf(reader)
                excluded = self._tags.ids(flt.exclude_tags)
                docs = [d for d in docs if excluded.isdisjoint(columns[d])]
            yield reader, base, docs

    def matching(
        self, flt: AssetFilter, readable: Iterable[tuple[str, str]] | None
    ) -> tuple[Searcher, list[int]]:
        searcher = self.searcher()
        leaves = self._leaf_docs(searcher, flt, readable)
        return searcher, [base + d for _reader, base, local in leaves for d in local]

    def search(
        self,
        flt: AssetFilter,
        readable: Iterable[tuple[str, str]] | None,
        *,
        sort: str = "name",
        descending: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Hit], int]:
        """A page of matching assets in the given order, and how many match in all."""
        searcher, docs = self.matching(flt, readable)
        if not docs:
            return [], 0
        column = searcher.reader().column_reader(SORT_FIELDS[sort], translate=True)
        docs.sort(key=lambda d: (column[d], d), reverse=descending)
        page = docs[offset : offset + limit]
        hits = []
        for docnum in page:
            stored = searcher.stored_fields(docnum)
            hits.append(Hit(stored["store"], stored["project"], stored["asset"]))
        return hits, len(docs)

    def tag_counts(
        self, flt: AssetFilter, readable: Iterable[tuple[str, str]] | None
    ) -> Counter[str]:
        """How many matching assets carry each tag (tag refine)."""
        searcher = self.searcher()
        counts: Counter[int] = Counter()
        live = set()
        for reader, _base, docs in self._leaf_docs(searcher, flt, readable):
            columns = self._tags.for_leaf(reader)
            live.add(reader.segment().segment_id())
            counts.update(chain.from_iterable(map(columns.__getitem__, docs)))
        self._tags.forget_except(live)
        return Counter({self._tags.name(tag_id): n for tag_id, n in counts.items()})

    def names_with_tag(
        self, kind: str, tag: str, store: str, project: str | None = None
    ) -> set[str]:
        """Projects (kind `project`) or assets of a project carrying `tag` (OVE filterByTag)."""
        clauses = [Term("kind", kind), Term("store", store), Term("tags", tag)]
        if project is not None:
            clauses.append(Term("project", project))
        searcher = self.searcher()
        field_ = "project" if kind == PROJECT else "asset"
        return {searcher.stored_fields(d)[field_] for d in searcher.docs_for_query(And(clauses))}

    def files_with_hash(self, digest: str) -> list[dict[str, Any]]:
        searcher = self.searcher()
        return [dict(hit) for hit in searcher.search(Term("hash", digest), limit=None)]

    def indexed_owners(self) -> dict[str, str]:
        """owner key -> the sidecar signature its documents were built from (reconcile)."""
        searcher = self.searcher()
        owners: dict[str, str] = {}
        for leaf, _base in searcher.leaf_searchers():
            reader = leaf.reader()
            if not reader.has_column("owner"):
                continue
            owner_col = reader.column_reader("owner", translate=True)
            signature_col = reader.column_reader("signature", translate=True)
            for docnum in reader.all_doc_ids():
                key = owner_col[docnum]
                signature = signature_col[docnum]
                if signature or key not in owners:
                    owners[key] = signature or ""
        return owners


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value or "")


__all__ = ["SEP", "AssetFilter", "Hit", "IndexReader", "build_query", "scalar_text"]
