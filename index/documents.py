"""Index documents from a project's or asset's sidecar: what search and refine need."""

from __future__ import annotations

import datetime as dt
import functools
import mimetypes
import os
import re
from collections.abc import Container, Iterator
from typing import Any

import xxhash

from stores import ASSET_LEVEL, Location, model
from stores.hashing import RECORD_FIELDS

from .schema import ASSET, FILES, NO_UUID, PROJECT, SEP, meta_field

CHUNKED_FROM = 1000  # an asset of more files keeps their names and hashes in FILES documents
CHUNK_END_MASK = 0xFF  # a chunk ends after a path whose hash has these bits clear: ~256 files
CHUNK_MAX = 1024  # ... or after this many (a run of unlucky names)


def owner_key(loc: Location) -> str:
    return SEP.join((loc.store, *loc.parts))


def hash_tokens(record: dict[str, Any]) -> Iterator[str]:
    """`algorithm:hex` of each digest a file's record holds (how lookups by hash find it)."""
    for algorithm, field_name in RECORD_FIELDS.items():
        value = record.get(field_name)
        if isinstance(value, str) and value:
            yield f"{algorithm}:{value}"


def project_key(store: str, project: str) -> str:
    return f"{store}{SEP}{project}"


def flatten(metadata: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, value as text) pairs; lists give one pair per item."""
    if isinstance(metadata, dict):
        for key, value in metadata.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(metadata, list | tuple):
        for item in metadata:
            yield from flatten(item, prefix)
    elif prefix:
        yield prefix, scalar_text(metadata)


def scalar_text(value: Any) -> str:
    """How a metadata value is compared: JSON's spelling for true, false and null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# OVE's history times, as strptime("%Y-%m-%d %H:%M:%S.%f") takes its first 26 characters
# or ("%Y-%m-%d %H:%M:%S") its first 19: read by hand, strptime cost 3% of a reindex
_TIME_WITH_FRACTION = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,6})")
_TIME_IN_SECONDS = re.compile(r"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)")


def _time(text: Any) -> float | None:
    text = str(text)
    found = _TIME_WITH_FRACTION.fullmatch(text[:26]) or _TIME_IN_SECONDS.fullmatch(text[:19])
    if found is not None:
        *parts, fraction = (*found.groups(), "0")[:7]
        try:
            return dt.datetime(
                *map(int, parts), int(fraction.ljust(6, "0")), tzinfo=dt.UTC
            ).timestamp()
        except ValueError:
            pass  # out of range: strptime decides
    return _strptime_time(text)


def _strptime_time(text: str) -> float | None:
    try:
        return (
            dt.datetime.strptime(text[:26], "%Y-%m-%d %H:%M:%S.%f")
            .replace(tzinfo=dt.UTC)
            .timestamp()
        )
    except ValueError:
        try:
            return (
                dt.datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")
                .replace(tzinfo=dt.UTC)
                .timestamp()
            )
        except ValueError:
            return None


def history_times(meta: dict[str, Any]) -> tuple[float, float]:
    times = [
        t
        for t in (_time(h.get("Time")) for h in meta.get("history") or [] if isinstance(h, dict))
        if t is not None
    ]
    created = times[0] if times else 0.0
    return created, max(times) if times else created


def _mime(name: str) -> str:
    """By the name's extension: an asset of 20,000 files is indexed again as files land."""
    return _mime_of_extension(os.path.splitext(name)[1].lower())


@functools.lru_cache(maxsize=4096)
def _mime_of_extension(extension: str) -> str:
    return mimetypes.guess_type("file" + extension)[0] or "application/octet-stream"


Records = list[tuple[str, dict[str, Any]]]


def _files_fields(records: Records) -> dict[str, str]:
    """What a document says of some files: their names (free text) and content hashes."""
    return {
        "file_names": " ".join(path.rsplit("/", 1)[-1] for path, _r in records),
        "hashes": SEP.join(sorted({token for _p, r in records for token in hash_tokens(r)})),
    }


def file_chunks(records: Records) -> list[Records]:
    """A big asset's records cut into chunks where the paths say so (content-defined), so
    that files added, changed or removed change only the chunks they are in: a batch
    dropped into an asset of 20,000 files re-indexes a few hundred, not all of them."""
    chunks: list[Records] = []
    current: Records = []
    for path, record in records:
        current.append((path, record))
        if (
            not xxhash.xxh3_64_intdigest(path.encode("utf-8", "surrogatepass")) & CHUNK_END_MASK
            or len(current) >= CHUNK_MAX
        ):
            chunks.append(current)
            current = []
    if current:
        chunks.append(current)
    return chunks


def chunk_id(owner: str, records: Records) -> str:
    """Names a chunk by what it holds: a chunk already indexed is left as it is."""
    digest = xxhash.xxh3_128()
    for path, record in records:
        digest.update(path.encode("utf-8", "surrogatepass"))
        for field_name in RECORD_FIELDS.values():
            digest.update(b"\0" + str(record.get(field_name)).encode())
    return f"{owner}{SEP}{digest.hexdigest()}"


def is_indexed_already(doc: dict[str, Any]) -> bool:
    """A chunk owner_documents names by its id alone: nothing to add."""
    return "kind" not in doc


def owner_documents(
    loc: Location,
    meta: dict[str, Any],
    signature: str,
    folder_mtime: float,
    indexed: Container[str] = (),
) -> list[dict[str, Any]]:
    """The documents of one owner (an asset or a project), its own first. Its files are
    folded in: names for free text, types, total size, and content hashes for lookups by
    hash; an asset of more than CHUNKED_FROM files has its names and hashes in one FILES
    document per chunk of files instead (see file_chunks). A chunk whose id is in
    `indexed` is given as its id alone (`{"chunk": id}`, see `is_indexed_already`): it is
    in the index as it is."""
    key = owner_key(loc)
    files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
    records = [(path, r) for path, r in files.items() if isinstance(r, dict)]
    doc: dict[str, Any] = {
        "owner": key,
        "project_key": project_key(loc.store, loc.parts[0]),
        "store": loc.store,
        "project": loc.parts[0],
        "signature": signature.encode(),
    }
    chunked = loc.level == ASSET_LEVEL and len(records) > CHUNKED_FROM
    if not chunked:
        doc["hashes"] = _files_fields(records)["hashes"]
    if loc.level == ASSET_LEVEL:
        public = model.public_asset(meta)
        created, updated = history_times(meta)
        name = public["name"] or loc.name
        names = [path.rsplit("/", 1)[-1] for path, _r in records]
        doc.update(
            {
                "kind": ASSET,
                "uuid": model.asset_uuid(meta) or NO_UUID,
                "asset": loc.name,
                "name": name,
                "name_sort": name.lower().encode(),
                "description": public["description"],
                "tags": SEP.join(public["tags"]),
                "tags_text": " ".join(public["tags"]),
                "mime_types": SEP.join(sorted({_mime(n) for n in names})),
                "size": sum(r["size"] for _p, r in records if isinstance(r.get("size"), int)),
                "created": int((created or folder_mtime) * 1000),
                "updated": int(max(updated, folder_mtime) * 1000),
                "version": public["version"],
            }
        )
        values: dict[str, list[str]] = {}
        for path, text in flatten(meta.get("metadata") or {}):
            values.setdefault(meta_field(path), []).append(text)
        doc.update({field: SEP.join(texts) for field, texts in values.items()})
        if not chunked:
            doc["file_names"] = " ".join(names)
    else:
        tags = [str(t) for t in meta.get("tags") or [] if isinstance(t, str | int | float)]
        name = str(meta.get("name") or loc.name)
        doc.update(
            {
                "kind": PROJECT,
                "asset": "",
                "name": name,
                "name_sort": name.lower().encode(),
                "description": str(meta.get("description") or ""),
                "tags": SEP.join(tags),
                "tags_text": " ".join(tags),
            }
        )
    if not chunked:
        return [doc]
    shared = {"owner": key, "project_key": doc["project_key"], "store": loc.store}
    docs = [doc]
    for chunk in file_chunks(records):
        name = chunk_id(key, chunk)
        if name in indexed:
            docs.append({"chunk": name})
            continue
        docs.append(
            {
                **shared,
                "kind": FILES,
                "project": loc.parts[0],
                "asset": loc.name,
                "chunk": name,
                **_files_fields(chunk),
            }
        )
    return docs
