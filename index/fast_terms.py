"""Whoosh's own writer spent most of a rebuild in Python per term and per posting: every
value turned into terms through Token objects passed down a chain of generators, every
posting checked and sized on its way into the pool and written through a dozen calls,
every document's stored fields put through a fresh zlib compressor, every term of a
segment being merged looked up again and read through small reads. Our fields use three
plain shapes (an exact id; a regex with an optional lowercase and stop filter), so here
their terms are made with one regex pass, each term's postings blocks are written at
once, stored fields are framed as uncompressed zlib, and merged segments are read from
their terms table in order: the same index for Whoosh to read (tests/test_fast_terms.py
compares indexes built and merged both ways). Any other field shape, codec or document
takes Whoosh's own code.
"""

from __future__ import annotations

import functools
import io
import pickle
import struct
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import accumulate, groupby
from operator import itemgetter
from pickle import dumps
from typing import Any, NamedTuple

from whoosh import columns, fields, formats
from whoosh.analysis import (
    CompositeAnalyzer,
    IDTokenizer,
    LowercaseFilter,
    RegexTokenizer,
    StopFilter,
)
from whoosh.codec import whoosh3
from whoosh.codec.whoosh3 import W3FieldWriter
from whoosh.filedb import filetables
from whoosh.system import _INT_SIZE, pack_int, pack_long, pack_uint, pack_ushort, unpack_int
from whoosh.util.numeric import length_to_byte
from whoosh.writing import SegmentWriter

Term = tuple[bytes, int, float, bytes]  # (text, frequency, weight, encoded value)
TermsOf = Callable[[str], list[Term]]
_TERM = itemgetter(0, 1)
# zlib header (deflate, 32 KiB window, no dictionary, check bits), then a final stored block
_ZLIB_STORED_HEADER = b"\x78\x01\x01"
_pack_ushort_le = struct.Struct("<H").pack
_BLOCKS_HEADER = whoosh3.WHOOSH3_HEADER_MAGIC
_TERMINFO = whoosh3.W3TermInfo._struct  # noqa: SLF001
_NO_LENGTH_OF_NONE = length_to_byte(None)
_NO_LENGTH = length_to_byte(0)
POSTING_BYTES = 200  # Whoosh's estimate of a pooled posting's memory, with short texts


class _FieldPlan(NamedTuple):
    field: Any
    terms_of: TermsOf | None
    indexed: bool
    stored: bool
    scorable: bool
    column: Any


def terms_function(field: Any) -> TermsOf | None:
    """What `field.index(value)` yields, as a list, for a string value; None when the
    field's shape is not one of ours (Whoosh's own code then indexes it)."""
    if type(field).index is not fields.FieldType.index:
        return None  # a field type of its own making (NUMERIC, DATETIME, BOOLEAN...)
    fmt = type(field.format)
    if fmt not in (formats.Existence, formats.Frequency, formats.Positions):
        return None
    boost = field.format.field_boost
    words = _words_function(field.analyzer)
    if words is None:
        return None
    if fmt is formats.Existence:
        return lambda value: [(w.encode("utf-8"), 1, boost, b"") for w in set(words(value)[0])]
    if fmt is formats.Frequency:
        return lambda value: [
            (w.encode("utf-8"), n, n * boost, pack_uint(n))
            for w, n in Counter(words(value)[0]).items()
        ]

    encode = field.format.encode  # Positions.encode: the count, then the pickled gaps
    single = functools.lru_cache(maxsize=256)(lambda position: encode([position]))

    def positioned(value: str) -> list[Term]:
        found, first = words(value)
        if len(set(found)) == len(found):  # each word once, as in most names
            return [
                (w.encode("utf-8"), 1, boost, single(first + offset))
                for offset, w in enumerate(found)
            ]
        places: dict[str, list[int]] = {}
        for offset, word in enumerate(found):
            places.setdefault(word, []).append(first + offset)
        return [
            (w.encode("utf-8"), len(at), len(at) * boost, encode(at))
            for w, at in places.items()
        ]

    return positioned


def _words_function(analyzer: Any) -> Callable[[str], tuple[list[str], int]] | None:
    """For a bare IDTokenizer, or a RegexTokenizer optionally followed by a
    LowercaseFilter and then a StopFilter: value -> (the words kept, the position of the
    first; the StopFilter numbers those after it on from there). None for anything else."""
    if type(analyzer) is IDTokenizer:
        return lambda value: ([value], 0)
    steps = list(analyzer.items) if type(analyzer) is CompositeAnalyzer else [analyzer]
    tokenizer = steps.pop(0)
    if type(tokenizer) is not RegexTokenizer or tokenizer.gaps:
        return None
    finditer = tokenizer.expression.finditer
    lower = bool(steps) and type(steps[0]) is LowercaseFilter
    if lower:
        steps.pop(0)
    stop = steps.pop(0) if steps and type(steps[0]) is StopFilter else None
    if steps or (stop is not None and not stop.renumber):
        return None

    def words(value: str) -> tuple[list[str], int]:
        found = [m.group(0) for m in finditer(value)]
        if lower:
            found = [w.lower() for w in found]
        if stop is None:
            return found, 0
        low, high, stops = stop.min, stop.max, stop.stops
        kept = [
            i
            for i, w in enumerate(found)
            if len(w) >= low and (high is None or len(w) <= high) and w not in stops
        ]
        return [found[i] for i in kept], kept[0] if kept else 0

    return words


def stored_zlib(data: bytes, level: int = 0) -> bytes:
    """A zlib stream of `data` in one stored (uncompressed) deflate block, for the column
    of stored fields, which Whoosh reads with zlib.decompress: zlib.compress set up a
    compressor for each document's ~200 bytes (13-50 µs; 15% of a rebuild's CPU at
    worst) to save 40 of them."""
    size = len(data)
    if size > 0xFFFF:  # one stored block holds at most 64 KiB
        return zlib.compress(data, level)
    return (
        _ZLIB_STORED_HEADER
        + _pack_ushort_le(size)
        + _pack_ushort_le(size ^ 0xFFFF)
        + data
        + pack_uint(zlib.adler32(data))
    )


class FastSegmentWriter(SegmentWriter):
    """Whoosh's SegmentWriter with documents added through terms_function: same segment,
    same pool (which still spills to disk past its size limit), less Python per term.
    Documents with boosts (`_boost` keys) or fields with vectors or spelling take
    Whoosh's own path."""

    def __init__(self, index: Any, **kwargs: Any) -> None:
        super().__init__(index, **kwargs)
        self._plans: dict[str, _FieldPlan | None] = {}
        # W3's add_field keeps a stored value and a scored length, and does nothing else
        self._skip_bare_fields = type(self.perdocwriter) is whoosh3.W3PerDocWriter
        stored = getattr(self.perdocwriter, "_colwriters", {}).get("_stored")
        compressed = getattr(stored, "_child", None)
        if type(compressed) is columns.CompressedBytesColumn.Writer:
            compressed._compress = stored_zlib  # noqa: SLF001

    def _plan(self, name: str) -> _FieldPlan | None:
        """How this writer adds a field; None: Whoosh's own add_document must (a `_boost`
        or `_stored_x` key, a field with vectors or spelling)."""
        if name not in self._plans:
            if name.startswith("_"):
                self._plans[name] = None
                return None
            self._check_fields(self.schema, [name])  # UnknownFieldError, as Whoosh raises
            field = self.schema[name]
            if field.vector or field.separate_spelling():
                self._plans[name] = None
                return None
            if field.indexed:
                self.pool.fieldnames.add(name)  # what the pool holds postings of
            self._plans[name] = _FieldPlan(
                field,
                terms_function(field) if field.indexed else None,
                field.indexed,
                field.stored,
                field.scorable,
                field.column_type,
            )
        return self._plans[name]

    def add_document(self, **fields: Any) -> None:
        names = sorted(fields)
        plans = [self._plan(name) for name in names]
        if None in plans:
            super().add_document(**fields)
            return
        self._check_state()
        docnum = self.docnum
        perdoc = self.perdocwriter
        skip_bare = self._skip_bare_fields
        postings: list[tuple[str, bytes, int, float, bytes]] = []
        append = postings.append
        perdoc.start_doc(docnum)
        try:
            for name, plan in zip(names, plans, strict=True):
                value = fields[name]
                if value is None:
                    continue
                field, terms_of, indexed, stored, scorable, column = plan  # type: ignore[misc]
                length = 0
                if indexed:
                    terms = terms_of(value) if terms_of and type(value) is str else None
                    if terms is None:
                        terms = list(field.index(value))
                    for text, freq, weight, encoded in terms:
                        append((name, text, docnum, weight, encoded))
                        length += freq
                    if not scorable:
                        length = 0
                if stored or length or not skip_bare:
                    perdoc.add_field(name, field, value if stored else None, length)
                if column:
                    perdoc.add_column_value(name, column, field.to_column_value(value))
        except Exception:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        self.pool.current.extend(postings)
        self._pooled(len(postings))
        self._added = True
        self.docnum += 1

    def add_postings_to_pool(self, reader: Any, startdoc: int, docmap: Any) -> None:
        """Whoosh's, but a W3 segment being merged in is read from its terms table and
        postings file directly, a term's blocks at once: Whoosh looked each term up again
        by its hash and read each block's header through a dozen small reads (two thirds
        of a merge; merges were a third of the writer process's CPU under files dropped
        into assets). Deleted documents are left out, as Whoosh's matchers leave them."""
        terms = getattr(reader, "_terms", None)
        if type(terms) is not whoosh3.W3TermsReader:
            super().add_postings_to_pool(reader, startdoc, docmap)
            return
        schema = self.schema
        pool = self.pool
        postfile = terms._postfile  # noqa: SLF001
        deleted = (
            {d for d in range(reader.doc_count_all()) if reader.is_deleted(d)}
            if reader.has_deletions()
            else set()
        )
        for (name, text), terminfo in terms.items():
            if name not in schema:
                continue
            if terminfo.is_inlined():
                postings = _postings_of(reader.postings(name, text))
            else:
                offset, length = terminfo.extent()
                if isinstance(length, tuple):  # W3TermInfo.from_bytes leaves it unpacked
                    (length,) = length
                fixed_size = reader.schema[name].format.fixed_value_size()
                postings = _stored_postings(postfile.get(offset, length), fixed_size)
            pool.fieldnames.add(name)
            current = pool.current
            count = len(current)
            for docnum, weight, value in postings:
                if docnum in deleted:
                    continue
                newdoc = docmap[docnum] if docmap is not None else startdoc + docnum
                current.append((name, text, newdoc, weight, value))
            self._pooled(len(current) - count)

    def _pooled(self, count: int) -> None:
        """PostingPool.add's size accounting for `count` postings just put in the pool:
        past its limit, the pool goes to disk as a sorted run."""
        pool = self.pool
        pool.currentsize += POSTING_BYTES * count
        if pool.currentsize > pool.limit:
            pool.save()

    def _flush_segment(self) -> None:
        """Whoosh's, but each term's postings go to the W3 postings writer a block at a
        time, not through four calls and four asserts per posting (a third of a commit).
        Fields with lengths (scored) or spelling take Whoosh's own path."""
        schema = self.schema
        fieldwriter = self.fieldwriter
        plain = (
            type(fieldwriter) is W3FieldWriter
            and fieldwriter._codec._compression == 0  # noqa: SLF001
            and type(fieldwriter._tindex) is filetables.OrderedHashWriter  # noqa: SLF001
        ) and all(
            name in schema and not schema[name].scorable and not schema[name].separate_spelling()
            for name in self.pool.fieldnames
        )
        if not plain:
            super()._flush_segment()
            return
        self.perdocwriter.close()
        _write_postings(self.fieldwriter, schema, self.pool.iter_postings())
        self.fieldwriter.close()


def _postings_of(matcher: Any) -> Iterator[tuple[int, float, Any]]:
    """(docnum, weight, value) of each posting of a matcher."""
    while matcher.is_active():
        yield matcher.id(), matcher.weight(), matcher.value()
        matcher.next()


def _stored_postings(raw: bytes, fixed_size: int | None) -> list[tuple[int, float, Any]]:
    """(docnum, weight, value) of a term's postings from its bytes in a W3 postings file:
    what W3LeafMatcher reads (blocks of a length, a pickled info tuple and a pickled,
    maybe compressed, data tuple), a block at a time."""
    stream = io.BytesIO(raw)
    if stream.read(len(_BLOCKS_HEADER)) != _BLOCKS_HEADER:
        raise ValueError("a posting list does not start with the W3 block header")
    found: list[tuple[int, float, Any]] = []
    last = False
    while not last:
        length = unpack_int(stream.read(_INT_SIZE))[0]
        last = length < 0
        end = stream.tell() + abs(length)
        count, _top_id, _top_weight, compression, _low, _high = pickle.load(stream)
        data = stream.read(end - stream.tell())
        deltas, weights, values = pickle.loads(zlib.decompress(data) if compression else data)
        ids = accumulate(deltas)
        if weights is None:
            weights = (1.0,) * count
        elif isinstance(weights, float):
            weights = array("f", (weights,)) * count
        if fixed_size is None or fixed_size < 0:
            pass  # a tuple of values, as written
        elif fixed_size == 0:
            values = (None,) * count
        else:
            values = [values[i : i + fixed_size] for i in range(0, len(values), fixed_size)]
        found.extend(zip(ids, weights, values, strict=True))
    return found


def _write_postings(fieldwriter: Any, schema: Any, postings: Any) -> None:
    """Sorted (field, text, docnum, weight, value) postings into a W3FieldWriter of an
    uncompressed codec: what Whoosh's FieldWriter.add_postings writes (blocks of
    `blocklimit` postings, each a pickled info and data tuple; then the term's row in the
    terms table), made a term at a time instead of through a dozen calls per posting.
    Byte for byte the same, but that a value object shared by postings of one block (a
    single position, see terms_function) is pickled once and referred to after."""
    postfile = fieldwriter._postfile  # noqa: SLF001
    table = fieldwriter._tindex  # noqa: SLF001
    limit = fieldwriter._codec._blocklimit  # noqa: SLF001
    field = None
    prefix = b""
    fixed_size: int | None = None
    for (name, text), group in groupby(postings, key=_TERM):
        if name != field:
            if field is not None:
                fieldwriter.finish_field()
            fieldwriter.start_field(name, schema[name])
            field = name
            prefix = pack_ushort(fieldwriter._fieldid)  # noqa: SLF001
            fixed_size = schema[name].format.fixed_value_size()
        found = list(group)
        start = postfile.tell()
        parts = [_BLOCKS_HEADER]
        weight = 0.0
        max_weight = 0.0
        for first in range(0, len(found), limit):
            block = found[first : first + limit]
            info, data, block_weights, block_max = _block(block, fixed_size)
            blocklength = len(info) + len(data)
            parts += (pack_int(-blocklength if first + limit >= len(found) else blocklength),)
            parts += (info, data)
            weight += block_weights
            max_weight = max(max_weight, block_max)
        postfile.write(b"".join(parts))
        terminfo = (
            _TERMINFO.pack(
                False, weight, len(found), 0, _NO_LENGTH, max_weight, found[0][2], found[-1][2]
            )
            + pack_long(start)
            + pack_int(postfile.tell() - start)
        )
        table.add(prefix + text, terminfo)
    if field is not None:
        fieldwriter.finish_field()


def _block(block: list[Any], fixed_size: int | None) -> tuple[bytes, bytes, float, float]:
    """W3PostingsWriter._write_block's pickled info and data of one block, and the sum
    and the largest of its weights (as W3TermInfo.add_block adds them up)."""
    if len(block) == 1:  # most terms: a name, an id, a hash is in one document
        _name, _text, docnum, weight, value = block[0]
        single = 1.0 if weight == 1.0 else array("f", (weight,))[0]
        if fixed_size is None:
            only_values: Any = (value,) if value else ()
        else:
            only_values = None if fixed_size == 0 else value or b""
        data = dumps(((docnum,), None if single == 1.0 else single, only_values), 2)
        top = max(0, weight)
        info = dumps((1, docnum, top, 0, _NO_LENGTH_OF_NONE, _NO_LENGTH), 2)
        return info, data, single, top
    ids = [p[2] for p in block]
    plain_weights = [p[3] for p in block]
    weights = array("f", plain_weights)
    if all(w == 1.0 for w in weights):
        mini_weights: Any = None
    elif all(w == weights[0] for w in weights):
        mini_weights = weights[0]
    else:
        mini_weights = tuple(weights)
    values = [p[4] for p in block if p[4]]
    if fixed_size is None:
        mini_values: Any = tuple(values)
    elif fixed_size == 0:
        mini_values = None
    else:
        mini_values = b"".join(values)
    deltas = tuple(b - a for a, b in zip([0, *ids[:-1]], ids, strict=True))
    block_max = max(0, *plain_weights)
    data = dumps((deltas, mini_weights, mini_values), 2)
    info = dumps((len(ids), ids[-1], block_max, 0, _NO_LENGTH_OF_NONE, _NO_LENGTH), 2)
    return info, data, sum(weights), block_max
