"""What the tree itself says, read the way a person's script or a backup would: an owner's
`.ovemeta`, extended by its `.ovemeta.journal` when the journal was written for it (the
format is spelled out here, independently of the server's code)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xxhash
import yaml

HEADER = b"#assetdav-journal 1 "


def on_disk_records(owner: Path) -> dict[str, Any]:
    """The `files` map as the tree holds it: the sidecar, with a journal that extends it."""
    raw = (owner / ".ovemeta").read_bytes()
    files = dict(yaml.safe_load(raw).get("files") or {})
    journal = owner / ".ovemeta.journal"
    if not journal.exists():
        return files
    header, _, rest = journal.read_bytes().partition(b"\n")
    if header != HEADER + xxhash.xxh3_64_hexdigest(raw).encode():
        return files  # stale: extends another version of the sidecar
    for line in rest.split(b"\n"):
        text, _, crc = line.rpartition(b" ")
        if not text or xxhash.xxh32_hexdigest(text).encode() != crc:
            continue
        entry = json.loads(text)
        if entry["r"] is None:
            files.pop(entry["k"], None)
        else:
            files[entry["k"]] = entry["r"]
    return files
