"""The Whoosh schema: one document per asset (search and tag refine) and per project (OVE's
project tag filter), each carrying its files' names and content hashes; an asset of many
files keeps those in documents of its own per chunk of files (see documents.file_chunks)."""

from __future__ import annotations

import hashlib
import re

from whoosh import columns, fields
from whoosh.analysis import LowercaseFilter, RegexTokenizer, StandardAnalyzer

SEP = "\x1f"  # joins the values of a multi-valued exact field
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]{1,100}")
ASSET = "asset"
NO_UUID = "-"  # an asset whose sidecar predates ids (one is given as the index sees it)
PROJECT = "project"
FILES = "files"  # a chunk of a big asset's file records


def _exact_values() -> fields.TEXT:
    """Several exact values (tags, MIME types, metadata values): no stemming, no splitting
    on spaces or commas, case kept."""
    return _unscored(
        fields.TEXT(analyzer=RegexTokenizer(rf"[^{SEP}]+"), phrase=False, stored=False)
    )


def _column(column: columns.Column) -> fields.COLUMN:
    """A value kept only as a column: read per document, sorted on, never searched."""
    return fields.COLUMN(column)


def _unscored(field: fields.FieldType) -> fields.FieldType:
    """Nothing is ranked (results are sorted by a column), so no per-document lengths."""
    field.scorable = False
    return field


def build_schema() -> fields.Schema:
    """Only what is searched is indexed; what is only sorted on or compared is a column
    (an indexed number would add a dozen terms per value to every document)."""
    schema = fields.Schema(
        kind=fields.ID(stored=True),
        owner=fields.ID(stored=True, sortable=True),  # the project or asset it came from
        project_key=fields.ID(),  # store + SEP + project
        store=fields.ID(stored=True),
        project=fields.ID(stored=True),
        asset=fields.ID(stored=True),
        name=_unscored(fields.TEXT(analyzer=StandardAnalyzer(minsize=1), stored=True)),
        name_sort=_column(columns.VarBytesColumn()),  # lowercase UTF-8 name
        description=_unscored(fields.TEXT(analyzer=StandardAnalyzer(minsize=1))),
        tags=_exact_values(),
        tags_text=_unscored(fields.TEXT(analyzer=RegexTokenizer(r"\w+") | LowercaseFilter())),
        file_names=_unscored(
            fields.TEXT(analyzer=RegexTokenizer(r"[^\W_]+") | LowercaseFilter())
        ),
        mime_types=_exact_values(),
        hashes=_exact_values(),  # "xxh3:<hex>", "blake3:<hex>", "sha256:<hex>" of every file
        uuid=fields.ID(stored=True),  # an asset's global id; NO_UUID when its sidecar has none
        size=_column(columns.NumericColumn("q")),
        created=_column(columns.NumericColumn("q")),  # ms since the epoch
        updated=_column(columns.NumericColumn("q")),  # ms since the epoch
        version=fields.STORED(),
        signature=_column(columns.VarBytesColumn()),  # the sidecar it was built from
        chunk=fields.ID(stored=True),  # a FILES document: owner + SEP + digest of its records
    )
    schema.add("meta_*", _exact_values(), glob=True)
    return schema


def meta_field(path: str) -> str:
    """The field of a metadata key (`a.b` for nested ones): Whoosh names files after its
    fields, so a key that is not plain (a slash, a control character, 10 KB of text) is
    named by a hash of it instead."""
    if _PLAIN_KEY.fullmatch(path):
        return f"meta_{path}"
    digest = hashlib.blake2s(path.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return f"meta__{digest}"


SCHEMA = build_schema()
