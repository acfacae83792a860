"""The Whoosh schema: one document per asset (search and tag refine), per project (OVE's
project tag filter) and per file (file names and content hashes)."""

from __future__ import annotations

from whoosh import fields
from whoosh.analysis import LowercaseFilter, RegexTokenizer, StandardAnalyzer

SEP = "\x1f"  # joins the values of a multi-valued exact field
ASSET = "asset"
PROJECT = "project"
FILE = "file"


def _exact_values() -> fields.TEXT:
    """Several exact values (tags, MIME types, metadata values): no stemming, no splitting
    on spaces or commas, case kept."""
    return fields.TEXT(analyzer=RegexTokenizer(rf"[^{SEP}]+"), phrase=False, stored=False)


def build_schema() -> fields.Schema:
    schema = fields.Schema(
        doc_id=fields.ID(unique=True, stored=True),
        kind=fields.ID(stored=True),
        owner=fields.ID(stored=True, sortable=True),  # the project or asset it came from
        project_key=fields.ID(stored=True),  # store + SEP + project
        store=fields.ID(stored=True),
        project=fields.ID(stored=True),
        asset=fields.ID(stored=True),
        path=fields.ID(stored=True),  # file documents: the path inside their owner
        name=fields.TEXT(analyzer=StandardAnalyzer(minsize=1), stored=True),
        name_sort=fields.ID(sortable=True),  # lowercase name, for sorting and substrings
        name_grams=fields.NGRAM(minsize=3, maxsize=3),
        description=fields.TEXT(analyzer=StandardAnalyzer(minsize=1)),
        tags=_exact_values(),
        tags_text=fields.TEXT(analyzer=RegexTokenizer(r"\w+") | LowercaseFilter()),
        file_names=fields.TEXT(analyzer=RegexTokenizer(r"[^\W_]+") | LowercaseFilter()),
        mime_types=_exact_values(),
        hash=fields.ID(stored=True),
        size=fields.NUMERIC(numtype=int, bits=64, sortable=True, stored=True),
        created=fields.NUMERIC(numtype=int, bits=64, sortable=True, stored=True),  # ms
        updated=fields.NUMERIC(numtype=int, bits=64, sortable=True, stored=True),  # ms
        version=fields.NUMERIC(numtype=int, stored=True),
        signature=fields.ID(sortable=True),  # the sidecar it was built from, for reconcile
    )
    schema.add("meta_*", _exact_values(), glob=True)
    return schema


SCHEMA = build_schema()
