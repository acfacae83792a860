"""Free text over assets whose file names may live in FILES documents (big assets, see
documents.file_chunks): the parsed query is evaluated leaf by leaf on a segment's document
sets, and a leaf on file names also matches the assets owning a chunk it matches, wherever
that chunk is indexed."""

from __future__ import annotations

from functools import reduce

from whoosh.query import (
    And,
    AndMaybe,
    AndNot,
    DisjunctionMax,
    Not,
    Or,
    Otherwise,
    Query,
    Require,
    Term,
)
from whoosh.query.wrappers import WrappingQuery
from whoosh.searching import Searcher

from .bitsets import SegmentSets, to_bits
from .schema import FILES

FILE_NAMES = "file_names"


class TextQuery:
    """One parsed query, answered per segment as a set of its documents."""

    def __init__(self, query: Query, searcher: Searcher) -> None:
        self.query = query
        self.searcher = searcher
        self._joins = any(leaf.field() == FILE_NAMES for leaf in query.leaves())
        self._owners: dict[str, tuple[str, ...]] = {}

    def bits(self, leaf: Searcher, sets: SegmentSets) -> int:
        """The documents of this segment the query matches (of any kind: filter by kind)."""
        if not self._joins:
            return to_bits(self.query.docs(leaf), sets.size)
        return self._bits(self.query, leaf, sets)

    def _bits(self, query: Query, leaf: Searcher, sets: SegmentSets) -> int:
        if isinstance(query, And | Require):
            parts = [self._bits(q, leaf, sets) for q in query.children()]
            return reduce(int.__and__, parts) if parts else 0
        if isinstance(query, Or | DisjunctionMax):
            return reduce(int.__or__, (self._bits(q, leaf, sets) for q in query.children()), 0)
        if isinstance(query, AndNot):
            return self._bits(query.a, leaf, sets) & ~self._bits(query.b, leaf, sets)
        if isinstance(query, AndMaybe):
            return self._bits(query.a, leaf, sets)
        if isinstance(query, Otherwise):
            return self._bits(query.a, leaf, sets) or self._bits(query.b, leaf, sets)
        if isinstance(query, Not):
            return ((1 << sets.size) - 1) & ~self._bits(query.query, leaf, sets)
        if isinstance(query, WrappingQuery):
            return self._bits(query.child, leaf, sets)
        found = to_bits(query.docs(leaf), sets.size)
        if query.is_leaf() and query.field() == FILE_NAMES:
            found |= sets.any_of("owner", self._chunk_owners(query))
        return found

    def _chunk_owners(self, query: Query) -> tuple[str, ...]:
        """The owners of the FILES documents a leaf matches, in the whole index."""
        key = repr(query)
        owners = self._owners.get(key)
        if owners is None:
            docs = self.searcher.docs_for_query(And([Term("kind", FILES), query]))
            owners = self._owners[key] = tuple(
                {self.searcher.stored_fields(d)["owner"] for d in docs}
            )
        return owners
