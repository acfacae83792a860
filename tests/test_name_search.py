"""`name_contains` over a real Whoosh index segment: the joined-names scan (used for big
candidate sets) and the one-by-one check (small ones) find exactly the names holding the
part, never a part spanning two names, never a deleted document."""

from __future__ import annotations

import pytest

from index import bitsets
from index.bitsets import SegmentSets, members
from index.schema import SCHEMA
from index.service import storage

NAMES = [
    "harbor at dawn", "Harbour", "ab", "cd", "Ünïcödé Straße", "img-000060-parade",
    "img-000061-harbor", "x", "", "tab\tname", "nul\x00inside", "last one ends in ab",
]  # fmt: skip
NEEDLES = ["harb", "ab", "bc", "b\x00c", "\x00", "ünï", "straße", "img-0000", "-", "x", "zz", "d"]


@pytest.fixture(scope="module")
def segment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("index")
    index = storage(folder).create_index(SCHEMA)
    writer = index.writer()
    for number, name in enumerate(NAMES):
        writer.add_document(
            kind="asset", owner=f"s\x1fp\x1f{number}", name=name, name_sort=name.lower().encode()
        )
    writer.commit()
    writer = index.writer()
    writer.delete_by_term("owner", "s\x1fp\x1f0")  # "harbor at dawn" is gone
    writer.commit(merge=False)
    with index.searcher() as searcher:
        (reader,) = [leaf.reader() for leaf, _base in searcher.leaf_searchers()]
        yield SegmentSets(reader), reader


@pytest.mark.parametrize("few", [0, 10**9], ids=["joined-scan", "one-by-one"])
@pytest.mark.parametrize("needle", NEEDLES)
def test_names_containing_finds_exactly_the_names_holding_the_part(
    segment, monkeypatch, few, needle
):
    sets, reader = segment
    monkeypatch.setattr(bitsets, "FEW_CANDIDATES", few)
    live = {d for d in range(len(NAMES)) if not reader.is_deleted(d)}
    everyone = sum(1 << d for d in live)
    expected = {
        d for d in live if "\x00" not in needle and needle in NAMES[d].lower().replace("\x00", " ")
    }
    assert set(members(sets.names_containing(needle, everyone))) == expected
    some = sum(1 << d for d in live if d % 2)
    assert set(members(sets.names_containing(needle, some))) == {d for d in expected if d % 2}
