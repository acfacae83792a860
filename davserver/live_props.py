"""Our live properties (namespace `urn:assetdav`): sidecar fields seen and set over WebDAV."""

from __future__ import annotations

import functools
import re

from wsgidav import util
from wsgidav.xml_tools import etree

NS = "urn:assetdav"
TAGS = f"{{{NS}}}tags"
TAG = f"{{{NS}}}tag"
ADD_TAGS = f"{{{NS}}}add-tags"
REMOVE_TAGS = f"{{{NS}}}remove-tags"
DESCRIPTION = f"{{{NS}}}description"
VERSION = f"{{{NS}}}version"
XXH3 = f"{{{NS}}}xxh3"
PREVIEW = f"{{{NS}}}preview"

ASSET_PROPS = (TAGS, DESCRIPTION, VERSION, PREVIEW)
PROJECT_PROPS = (TAGS, DESCRIPTION)
FILE_PROPS = (XXH3,)
WRITABLE = (TAGS, ADD_TAGS, REMOVE_TAGS, DESCRIPTION)
PROTECTED = (VERSION, XXH3, PREVIEW)


def is_ours(name: str) -> bool:
    return name.startswith(f"{{{NS}}}")


def tags_element(tags: list[str]) -> etree.Element:
    """`<a:tags><a:tag>coast</a:tag>...</a:tags>`: one element per tag, any characters allowed."""
    element = etree.Element(TAGS)
    for tag in tags:
        etree.SubElement(element, TAG).text = tag
    return element


def tags_from_element(value: etree.Element | None) -> list[str]:
    """Tags from a PROPPATCH value: `<a:tag>` children, or plain text split on commas/lines."""
    if value is None:
        return []
    children = [child for child in value if child.tag == TAG]
    if children:
        return [(child.text or "").strip() for child in children if (child.text or "").strip()]
    return [part.strip() for part in re.split(r"[,\n]", value.text or "") if part.strip()]


def text_of(value: etree.Element | None) -> str:
    if value is None:
        return ""
    return "".join(value.itertext()).strip()


# --- WsgiDAV's own live properties, formatted once per second or per extension ----------
# A PROPFIND of 2,000 files formats 4,000 dates and guesses 2,000 types: a fifth of its
# time. Both dates have one-second resolution and a type depends only on the extensions.

LAST_MODIFIED = "{DAV:}getlastmodified"
CREATION_DATE = "{DAV:}creationdate"


@functools.lru_cache(maxsize=1 << 16)
def _http_date(second: int) -> str:
    return util.get_rfc1123_time(second)


@functools.lru_cache(maxsize=1 << 16)
def _iso_date(second: int) -> str:
    return util.get_rfc3339_time(second)


def http_date(secs: float) -> str:
    """`getlastmodified` as WsgiDAV writes it (RFC 1123)."""
    return _http_date(int(secs // 1))


def iso_date(secs: float) -> str:
    """`creationdate` as WsgiDAV writes it (RFC 3339)."""
    return _iso_date(int(secs // 1))


_types: dict[tuple[int, str], str] = {}  # (id of the config, extensions) -> type


def content_type(path: str, config: dict) -> str:
    """WsgiDAV's guess for a file's type, which depends only on its name's extensions."""
    name = path.rsplit("/", 1)[-1]
    dot = name.find(".", 1)
    key = (id(config), name[dot:] if dot > 0 else "")
    found = _types.get(key)
    if found is None:
        found = util.guess_mime_type(path, config)
        if len(_types) < 4096:
            _types[key] = found
    return found
