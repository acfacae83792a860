"""Document sets of one segment as Python integers (bit n = document n): filters become
AND / OR of cached term sets, and tag refine counts one AND per frequent tag."""

from __future__ import annotations

import threading
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

DENSE_AT = 64  # a tag on at least this many documents is counted with a bit set
FEW_CANDIDATES = 2000  # fewer documents than this (or an eighth of the segment) are checked
# one by one for a name part; more, by a scan of all names (which costs per name found)
NAME_SEPARATOR = "\x00"  # between names in the joined text: no name part can span two


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
        self._names: tuple[str, array] | None = None

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

    def names_containing(self, needle: str, within: int) -> int:
        """The documents of `within` whose lowercase name holds `needle`. Every name of
        the segment is kept joined in one string, so a search for a part of a name is
        `str.find` over it (C speed) instead of a term per trigram in every document."""
        if NAME_SEPARATOR in needle:
            return 0
        joined, starts = self._joined_names()
        if within.bit_count() < max(FEW_CANDIDATES, self.size // 8):
            return to_bits(
                (d for d in members(within) if joined.find(needle, starts[d], starts[d + 1]) >= 0),
                self.size,
            )
        found = bytearray((self.size >> 3) + 1)
        position = joined.find(needle)
        while position >= 0:
            doc = bisect_right(starts, position) - 1
            found[doc >> 3] |= 1 << (doc & 7)
            position = joined.find(needle, starts[doc + 1])
        return int.from_bytes(found, "little") & within

    def _joined_names(self) -> tuple[str, array]:
        """All lowercase names, NAME_SEPARATOR after each, and where each one starts (one
        more entry: the end)."""
        if self._names is None:
            with self._guard:
                if self._names is None:
                    column = self.reader.column_reader("name_sort", translate=False)
                    names = [
                        bytes(value).decode("utf-8", "replace").replace(NAME_SEPARATOR, " ")
                        for value in column
                    ]
                    starts = array("q", [0])
                    for name in names:
                        starts.append(starts[-1] + len(name) + 1)
                    self._names = (NAME_SEPARATOR.join(names) + NAME_SEPARATOR, starts)
        return self._names
