"""A batch of edits replaces the documents of all its owners with one pass per index segment
(index/writer.py delete_owners): by term lookups when the batch is small against the
segment, by reading the segment's owner column when it is not. Both must delete exactly
the owners' documents, and none already deleted or written by the same batch."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from index.schema import SCHEMA, SEP  # noqa: E402
from index.service import storage  # noqa: E402
from index.writer import KEY_COST_IN_DOCS, delete_owners, new_writer  # noqa: E402


def _owner(number: int) -> str:
    return f"demo{SEP}p{SEP}a{number}"


def _docs(owners: range, kind: str = "asset") -> list[dict]:
    return [{"kind": kind, "owner": _owner(n), "asset": f"a{n}"} for n in owners]


def _owners_indexed(index) -> list[str]:
    with index.searcher() as searcher:
        return sorted(fields["owner"] for fields in searcher.all_stored_fields())


SEGMENT = 200  # documents per segment, two segments


@pytest.mark.parametrize("batch", [2, 4 * KEY_COST_IN_DOCS], ids=["term lookups", "column pass"])
def test_a_batch_deletes_exactly_its_owners_documents(tmp_path, batch):
    index = storage(tmp_path).create_index(SCHEMA)
    for part in (range(0, SEGMENT), range(SEGMENT, 2 * SEGMENT)):
        writer = new_writer(index)
        writer.add_document(**_docs(part)[0], chunk="x")  # an owner with two documents
        for doc in _docs(part):
            writer.add_document(**doc)
        writer.commit(merge=False)
    writer = new_writer(index)
    writer.delete_by_term("owner", _owner(61))  # deleted before the batch
    writer.commit(merge=False)

    doomed = set(range(0, 2 * SEGMENT, 2 * SEGMENT // batch))
    keys = {_owner(n) for n in doomed | {61}}
    column_pass = len(keys) * KEY_COST_IN_DOCS >= SEGMENT
    assert column_pass == (batch > 2)
    writer = new_writer(index)
    assert len(writer.searcher().leaf_searchers()) == 2
    delete_owners(writer, keys)
    for doc in _docs(range(0, 3)):  # the batch's own new documents stay
        writer.add_document(**doc)
    writer.commit(merge=False)

    expected = [_owner(n) for n in range(2 * SEGMENT) if n not in doomed | {61}]
    expected += [_owner(n) for n in (0, SEGMENT) if n not in doomed]  # second documents
    expected += [_owner(n) for n in range(0, 3)]
    assert _owners_indexed(index) == sorted(expected)
