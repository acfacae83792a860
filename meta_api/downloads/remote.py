"""What a source says of a file in its headers: its name, size, type, and a content hash
where it states one (HuggingFace's `X-Linked-Etag`, an ETag that is a sha256, `Digest`)."""

from __future__ import annotations

import base64
import binascii
import os
import re
from email.message import Message
from typing import Any
from urllib.parse import unquote, urlsplit

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def file_name(headers: Message, url: str) -> str:
    """From `Content-Disposition` (filename* first), else the URL's last path segment."""
    disposition = headers.get("Content-Disposition")
    if disposition:
        message = Message()
        message["Content-Disposition"] = disposition
        name = message.get_filename()
        if name:
            return os.path.basename(name.replace("\\", "/")).strip()
    return os.path.basename(unquote(urlsplit(url).path)).strip()


def total_size(status: int, headers: Message) -> int | None:
    if status == 206:
        found = re.search(r"/(\d+)\s*$", headers.get("Content-Range") or "")
        return int(found.group(1)) if found else None
    length = headers.get("Content-Length") or ""
    return int(length) if length.isascii() and length.isdigit() else None


def stated_sha256(headers: Message) -> str | None:
    """`sha256:<hex>` when the source states the content's sha256, else None."""
    for name in ("X-Linked-Etag", "ETag"):
        value = (headers.get(name) or "").strip()
        value = value[2:] if value.startswith("W/") else value
        value = value.strip('"')
        if _HEX64.fullmatch(value):
            return f"sha256:{value.lower()}"
    for name in ("Repr-Digest", "Digest"):
        for part in (headers.get(name) or "").split(","):
            algorithm, _, encoded = part.strip().partition("=")
            if algorithm.lower() in ("sha-256", "sha256"):
                try:
                    raw = base64.b64decode(encoded.strip(":"), validate=True)
                except (binascii.Error, ValueError):
                    continue
                if len(raw) == 32:
                    return f"sha256:{raw.hex()}"
    return None


def describe(status: int, headers: Message, url: str) -> dict[str, Any]:
    mime = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower() or None
    return {
        "url": url,
        "name": file_name(headers, url),
        "size": total_size(status, headers),
        "mime_type": mime,
        "hash": stated_sha256(headers),
    }
