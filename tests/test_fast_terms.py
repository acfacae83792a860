"""The index writer's own term making and postings writing (index/fast_terms.py) must give
exactly what Whoosh's code gives, or search answers would quietly change: terms compared
field by field on awkward values, and whole indexes (terms, postings, stored fields,
columns) built both ways from the same documents, through merges too. History times read
by hand must be the times strptime reads."""

from __future__ import annotations

import random
import sys
import zlib
from pathlib import Path

import pytest
from whoosh import fields
from whoosh.codec.whoosh3 import W3Codec
from whoosh.writing import SegmentWriter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from index.documents import _strptime_time, _time  # noqa: E402
from index.fast_terms import FastSegmentWriter, stored_zlib, terms_function  # noqa: E402
from index.schema import SCHEMA, SEP  # noqa: E402
from index.service import storage  # noqa: E402
from index.writer import CODEC  # noqa: E402

AWKWARD = [
    "",
    " ",
    "Sunset",
    "the and of A",  # stop words and a one-letter word
    "a a a b a",  # a word many times: frequencies and positions
    "Harbour at Dusk, the 2nd.",
    "img_000060-parade.v2.JPG",
    "ÉCOLE école İstanbul straße ǅ",  # lowercasing beyond ASCII
    "日本語のテキスト 東京",
    "emoji 🎉 party🎉",
    f"coast{SEP}sunset{SEP}coast{SEP}",  # an exact-values field's separator, twice
    f"{SEP}{SEP}",
    "x" * 300,
    "tab\tnew\nline",
    "xxh3:77252f090f69ba014a95213ed6c85c14",
]


@pytest.mark.parametrize("name", [*SCHEMA.names(), "meta_camera"])
def test_terms_are_those_whoosh_makes(name):
    field = SCHEMA[name]
    if not field.indexed:
        return
    terms_of = terms_function(field)
    assert terms_of is not None, f"{name}: our own field shape fell back to Whoosh"
    for value in AWKWARD:
        assert sorted(terms_of(value)) == sorted(field.index(value)), (name, value)


@pytest.mark.parametrize(
    "field",
    [
        fields.TEXT(),  # StandardAnalyzer: stop words of two letters and less, positions
        fields.TEXT(phrase=False, field_boost=2.5),
        fields.KEYWORD(lowercase=True),
        fields.KEYWORD(commas=True),  # a StripFilter: Whoosh's own code
        fields.ID(field_boost=3.0),
        fields.NUMERIC(),  # an index() of its own: Whoosh's own code
    ],
    ids=["text", "boosted frequencies", "keywords", "comma keywords", "boosted id", "numeric"],
)
def test_other_field_shapes_are_made_alike_or_left_to_whoosh(field):
    terms_of = terms_function(field)
    if terms_of is None:
        return
    for value in AWKWARD:
        assert sorted(terms_of(value)) == sorted(field.index(value)), value


def _documents(count: int, seed: int) -> list[dict]:
    """Documents shaped like the index's own: ids, names, tags (some in most documents, so
    their postings run over several blocks), metadata, file names, columns."""
    rng = random.Random(seed)
    words = ["coast", "sunset", "the", "a", "harbour", "école", "İzmir", "x1", "v2.0"]
    docs = []
    for number in range(count):
        name = " ".join(rng.choice(words) for _ in range(rng.randint(0, 5)))
        tags = rng.sample(["common", "coast", "sunset", "rare-" + str(number)], rng.randint(0, 4))
        docs.append(
            {
                "kind": rng.choice(["asset", "project"]),
                "owner": f"demo{SEP}p{SEP}{number}",
                "store": "demo",
                "project": "p",
                "asset": str(number),
                "uuid": f"uuid-{number}",
                "name": name,
                "name_sort": name.lower().encode(),
                "description": rng.choice(["", "a a the harbour", "Sunset over the coast"]),
                "tags": SEP.join(tags),
                "tags_text": " ".join(tags),
                "file_names": " ".join(rng.choice(words) + ".jpg" for _ in range(3)),
                "hashes": f"xxh3:{number:032x}",
                "size": rng.randint(0, 1 << 40),
                "created": rng.randint(0, 1 << 42),
                "version": rng.randint(1, 5),
                "meta_camera": rng.choice(["Canon EOS R5", "Fujifilm X100V"]),
            }
        )
    return docs


def _build(
    folder: Path,
    writer_class: type,
    batches: list[list[dict]],
    limitmb: int = 128,
    first_codec: W3Codec = CODEC,
) -> None:
    folder.mkdir()
    index = storage(folder).create_index(SCHEMA)
    for number, batch in enumerate(batches):
        codec = first_codec if number == 0 else CODEC
        writer = writer_class(index, codec=codec, limitmb=limitmb)
        if number == 2:
            writer.delete_by_term("asset", "3")
        for doc in batch:
            writer.add_document(**doc)
        writer.commit(optimize=number == len(batches) - 1)  # the last merges them all


def _contents(folder: Path) -> dict:
    """Everything a query can see of an index."""
    with storage(folder).open_index().searcher() as searcher:
        reader = searcher.reader()
        postings = {}
        for field, text in reader.all_terms():
            postings[field, text] = (
                list(reader.postings(field, text).all_items()),  # (docnum, value bytes)
                _weights(reader.postings(field, text)),
            )
        return {
            "postings": postings,
            "stored": [searcher.stored_fields(n) for n in reader.all_doc_ids()],
            "columns": {
                name: list(reader.column_reader(name)) for name in ("name_sort", "size", "created")
            },
            "deleted": [n for n in range(reader.doc_count_all()) if reader.is_deleted(n)],
        }


def _weights(matcher) -> list[tuple[int, float]]:
    """(docnum, weight) as the postings blocks hold them (boosts included)."""
    found = []
    while matcher.is_active():
        found.append((matcher.id(), matcher.weight()))
        matcher.next()
    return found


@pytest.mark.parametrize("limitmb", [128, 1], ids=["in memory", "spilled to disk"])
def test_an_index_written_fast_is_the_index_whoosh_writes(tmp_path, limitmb):
    # 1 MB: the pool of the first batch spills sorted runs to disk and merges them
    docs = _documents(700, seed=7)
    batches = [docs[:300], docs[300:320], docs[320:]]
    _build(tmp_path / "whoosh", SegmentWriter, batches)
    _build(tmp_path / "fast", FastSegmentWriter, batches, limitmb=limitmb)
    whoosh, fast = _contents(tmp_path / "whoosh"), _contents(tmp_path / "fast")
    assert len(whoosh["postings"]) > 1000
    assert max(len(ids) for ids, _w in whoosh["postings"].values()) > 300  # several blocks
    assert fast == whoosh


def test_stored_fields_are_zlib_streams_whoosh_reads():
    for data in (b"", b"x" * 200, bytes(range(256)) * 300):  # the last one over 64 KiB
        assert zlib.decompress(stored_zlib(data)) == data


def test_segments_of_whooshs_compressed_codec_are_merged_alike(tmp_path):
    # an index written before the writer's own code (rebuilds compressed their postings)
    docs = _documents(400, seed=11)
    batches = [docs[:250], docs[250:260], docs[260:]]
    _build(tmp_path / "whoosh", SegmentWriter, batches, first_codec=W3Codec())
    _build(tmp_path / "fast", FastSegmentWriter, batches, first_codec=W3Codec())
    assert _contents(tmp_path / "fast") == _contents(tmp_path / "whoosh")


def test_documents_with_boosts_take_whooshs_own_path(tmp_path):
    docs = _documents(30, seed=3)
    boosted = [{**doc, "_boost": 2.0} if n % 3 == 0 else doc for n, doc in enumerate(docs)]
    _build(tmp_path / "whoosh", SegmentWriter, [boosted])
    _build(tmp_path / "fast", FastSegmentWriter, [boosted])
    fast = _contents(tmp_path / "fast")
    assert fast == _contents(tmp_path / "whoosh")
    assert fast["postings"]["uuid", b"uuid-0"][1] == [(0, 2.0)]  # (docnum, weight), boosted


def test_history_times_read_by_hand_are_the_times_strptime_reads():
    times = [
        "2026-12-05 01:20:58.858737",
        "2026-12-05 01:20:58.8587",
        "2026-12-05 01:20:58",
        "2026-12-05 01:20:58.12345678",
        "2026-12-05 01:20:58.123 UTC",  # strptime then takes whole seconds only
        "2026-12-05 01:20:58.",
        "2026-02-30 01:20:58",  # no such day
        "2026-12-05 24:00:00",
        "2026-12-05 01:20:60",
        "2026-12-05 1:20:58.1",  # a short hour: strptime's own path
        "2026-12-05T01:20:58",
        "yesterday",
        None,
        5,
    ]
    for text in times:
        assert _time(text) == _strptime_time(str(text)), text
