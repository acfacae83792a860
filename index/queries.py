"""Reading the index: the filtered set of assets, a page of it, and tag counts over it.

Filters are evaluated per segment on cached document sets (index/bitsets.py), name
substrings by a scan of the segment's names joined in one string; Whoosh itself answers
free text, and keeps the columns used to sort.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from whoosh.index import Index
from whoosh.qparser import AndGroup, MultifieldParser
from whoosh.query import And, Term
from whoosh.searching import Searcher

from .bitsets import SegmentSets, members
from .documents import flatten, project_key
from .schema import ASSET, NO_UUID, PROJECT, SCHEMA, meta_field
from .text_query import TextQuery

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
    uuid: str = ""  # "" when its sidecar has none yet


def _hit(stored: dict[str, Any]) -> Hit:
    uuid = stored.get("uuid") or ""
    return Hit(stored["store"], stored["project"], stored["asset"], "" if uuid == NO_UUID else uuid)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value or "")


class IndexReader:
    """Queries against the current state of the index.

    One searcher serves every thread (under a lock: its files are read with seek, and a
    searcher of 100,000 assets costs memory), reopened when the index changed. Per-segment
    sets are cached by segment and live-document count, so deletions are never missed.
    """

    def __init__(self, index: Index) -> None:
        self.index = index
        self._lock = threading.RLock()
        self._searcher: Searcher | None = None
        self._sets: dict[tuple[str, int], SegmentSets] = {}

    def searcher(self) -> Searcher:
        """The current searcher; call with the lock held."""
        if self._searcher is None or not self._searcher.up_to_date():
            if self._searcher is not None:
                self._searcher.close()
            self._searcher = self.index.searcher()
        return self._searcher

    def _segments(self, searcher: Searcher) -> Iterator[tuple[Any, int, SegmentSets]]:
        live = set()
        for leaf, base in searcher.leaf_searchers():
            reader = leaf.reader()
            if reader.segment() is None:  # an empty index has no segment at all
                continue
            key = (reader.segment().segment_id(), reader.doc_count())
            live.add(key)
            sets = self._sets.get(key)
            if sets is None:
                sets = self._sets[key] = SegmentSets(reader)
            sets.reader = reader  # same segment, same deletions: the cached sets still hold
            yield leaf, base, sets
        for key in [k for k in self._sets if k not in live]:
            del self._sets[key]

    def _filtered(
        self,
        leaf: Searcher,
        sets: SegmentSets,
        flt: AssetFilter,
        readable: list[tuple[str, str]] | None,
        free_text: TextQuery | None,
    ) -> int:
        """The set of this segment's assets that pass the filter."""
        found = sets.term("kind", ASSET)
        if flt.store:
            found &= sets.term("store", flt.store)
        if flt.project:
            found &= sets.term("project", flt.project)
        for tag in flt.include_tags:
            found &= sets.term("tags", tag)
        for path, text in flatten(flt.metadata):
            found &= sets.term(meta_field(path), text)
        if readable is not None:
            found &= sets.any_of("project_key", (project_key(s, p) for s, p in readable))
        if flt.exclude_tags:
            found &= ~sets.any_of("tags", flt.exclude_tags)
        if found and flt.name_contains:
            found = sets.names_containing(flt.name_contains.lower(), found)
        if found and free_text is not None:
            found &= free_text.bits(leaf, sets)
        return found

    @staticmethod
    def _text(flt: AssetFilter, searcher: Searcher) -> TextQuery | None:
        """The filter's free text, parsed once per search."""
        if not (flt.q and flt.q.strip()):
            return None
        parser = MultifieldParser(TEXT_FIELDS, SCHEMA, group=AndGroup)
        return TextQuery(parser.parse(flt.q), searcher)

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
        allowed = None if readable is None else list(readable)
        with self._lock:
            searcher = self.searcher()
            text = self._text(flt, searcher)
            docs = [
                base + d
                for leaf, base, sets in self._segments(searcher)
                for d in members(self._filtered(leaf, sets, flt, allowed, text))
            ]
            if not docs:
                return [], 0
            column = searcher.reader().column_reader(SORT_FIELDS[sort], translate=False)
            docs.sort(key=lambda d: (column[d], d), reverse=descending)
            hits = []
            for docnum in docs[offset : offset + limit]:
                stored = searcher.stored_fields(docnum)
                hits.append(_hit(stored))
        return hits, len(docs)

    def tag_counts(
        self, flt: AssetFilter, readable: Iterable[tuple[str, str]] | None
    ) -> Counter[str]:
        """How many matching assets carry each tag (tag refine)."""
        allowed = None if readable is None else list(readable)
        counts: Counter[str] = Counter()
        with self._lock:
            searcher = self.searcher()
            text = self._text(flt, searcher)
            for leaf, _base, sets in self._segments(searcher):
                within = self._filtered(leaf, sets, flt, allowed, text)
                if within:
                    counts.update(sets.tag_counts(within))
        return counts

    def names_with_tag(
        self, kind: str, tag: str, store: str, project: str | None = None
    ) -> set[str]:
        """Projects (kind `project`) or assets of a project carrying `tag` (OVE filterByTag)."""
        clauses = [Term("kind", kind), Term("store", store), Term("tags", tag)]
        if project is not None:
            clauses.append(Term("project", project))
        field_ = "project" if kind == PROJECT else "asset"
        with self._lock:
            searcher = self.searcher()
            return {
                searcher.stored_fields(d)[field_] for d in searcher.docs_for_query(And(clauses))
            }

    def owners_with_hash(
        self, algorithm: str, digest: str, limit: int | None = None
    ) -> list[tuple[str, str, str | None]]:
        """(store, project, asset or None) of every project or asset holding these bytes
        (`algorithm`: xxh3, blake3 or sha256; `digest` in lowercase hex); the first `limit`
        only, when given (bytes kept in thousands of assets: a caller needing one)."""
        with self._lock:
            searcher = self.searcher()
            found: dict[tuple[str, str, str | None], None] = {}
            for docnum in searcher.docs_for_query(Term("hashes", f"{algorithm}:{digest}")):
                stored = searcher.stored_fields(docnum)  # an owner's own or a FILES document
                found[stored["store"], stored["project"], stored.get("asset") or None] = None
                if limit is not None and len(found) >= limit:
                    break
            return list(found)

    def assets_with_uuid(self, uuid: str) -> list[Hit]:
        """The assets whose sidecar holds this id: one, unless a folder was copied on disk
        with its sidecar (then each copy but the first is given a new id, see ids.py)."""
        with self._lock:
            searcher = self.searcher()
            return [
                _hit(searcher.stored_fields(docnum))
                for docnum in searcher.docs_for_query(Term("uuid", uuid))
            ]

    def shared_uuids(self) -> list[str]:
        """Ids that more than one document holds (perhaps counting deleted ones: check)."""
        with self._lock:
            reader = self.searcher().reader()
            return [
                term.decode() if isinstance(term, bytes) else str(term)
                for term, info in reader.iter_field("uuid")
                if info.doc_frequency() > 1 and term not in (NO_UUID, NO_UUID.encode())
            ]

    def assets_without_uuid(self, limit: int = 10_000) -> list[Hit]:
        """Assets whose sidecar predates ids."""
        return self.assets_with_uuid(NO_UUID)[:limit]

    def indexed_owners(self) -> dict[str, str]:
        """owner key -> the sidecar signature its documents were built from (reconcile)."""
        owners: dict[str, str] = {}
        with self._lock:
            searcher = self.searcher()
            for leaf, _base in searcher.leaf_searchers():
                reader = leaf.reader()
                if not reader.has_column("owner"):
                    continue
                owner_col = reader.column_reader("owner", translate=True)
                signature_col = reader.column_reader("signature", translate=False)
                for docnum in reader.all_doc_ids():
                    key = owner_col[docnum]
                    signature = _text(signature_col[docnum])
                    if signature or key not in owners:
                        owners[key] = signature or ""
        return owners


__all__ = ["AssetFilter", "Hit", "IndexReader"]
