"""Document sets of one segment as Python integers (bit n = document n): filters become
AND / OR of cached term sets, and tag refine counts one AND per frequent tag."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any

DENSE_AT = 64  # a tag on at least this many documents is counted with a bit set


def to_bits(docs: Iterable[int], size: int) -> int:
    """A set of document numbers as an integer."""
    buf = bytearray((size >> 3) + 1)
    for doc in docs:
        buf[doc >> 3] |= 1 << (doc & 7)
    return int.from_bytes(buf, "little")


def members(bits: int) -> Iterator[int]:
    """The document numbers in a set, in order."""
    data = bits.to_bytes((bits.bit_length() >> 3) + 1, "little")
    for index, byte in enumerate(data):
        if byte:
            base = index << 3
            for offset in range(8):
                if byte >> offset & 1:
                    yield base + offset


class SegmentSets:
    """The cached sets of one (immutable) segment: any term's documents on demand, and the
    tags of every document for refine. Deleted documents are never in a set."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.size = reader.doc_count_all()
        self._terms: dict[tuple[str, str], int] = {}
        self._guard = threading.Lock()
        self._dense: dict[str, int] | None = None
        self._sparse: dict[str, tuple[int, ...]] | None = None

    def term(self, field: str, text: str) -> int:
        key = (field, text)
        found = self._terms.get(key)
        if found is None:
            try:
                docs = self.reader.postings(field, text).all_ids()
                found = to_bits(docs, self.size)
            except Exception:  # noqa: BLE001 - whoosh raises TermNotFound: an empty set
                found = 0
            with self._guard:
                if len(self._terms) > 50_000:
                    self._terms.clear()
                self._terms[key] = found
        return found

    def any_of(self, field: str, texts: Iterable[str]) -> int:
        bits = 0
        for text in texts:
            bits |= self.term(field, text)
        return bits

    def _load_tags(self) -> None:
        dense: dict[str, int] = {}
        sparse: dict[str, tuple[int, ...]] = {}
        for raw in self.reader.lexicon("tags"):
            docs = tuple(self.reader.postings("tags", raw).all_ids())
            name = raw.decode("utf-8")
            if len(docs) >= DENSE_AT:
                dense[name] = to_bits(docs, self.size)
            else:
                sparse[name] = docs
        self._dense, self._sparse = dense, sparse

    def tag_counts(self, within: int) -> dict[str, int]:
        """How many documents of `within` carry each tag."""
        if self._dense is None:
            with self._guard:
                if self._dense is None:
                    self._load_tags()
        assert self._dense is not None and self._sparse is not None
        counts = {}
        for name, bits in self._dense.items():
            n = (bits & within).bit_count()
            if n:
                counts[name] = n
        table = within.to_bytes((self.size >> 3) + 1, "little")
        for name, docs in self._sparse.items():
            n = sum(table[d >> 3] >> (d & 7) & 1 for d in docs)
            if n:
                counts[name] = n
        return counts
