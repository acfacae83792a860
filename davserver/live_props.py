"""Our live properties (namespace `urn:assetdav`): sidecar fields seen and set over WebDAV."""

from __future__ import annotations

import re

from wsgidav.xml_tools import etree

NS = "urn:assetdav"
TAGS = f"{{{NS}}}tags"
TAG = f"{{{NS}}}tag"
ADD_TAGS = f"{{{NS}}}add-tags"
REMOVE_TAGS = f"{{{NS}}}remove-tags"
DESCRIPTION = f"{{{NS}}}description"
VERSION = f"{{{NS}}}version"
XXH3 = f"{{{NS}}}xxh3"

ASSET_PROPS = (TAGS, DESCRIPTION, VERSION)
PROJECT_PROPS = (TAGS, DESCRIPTION)
FILE_PROPS = (XXH3,)
WRITABLE = (TAGS, ADD_TAGS, REMOVE_TAGS, DESCRIPTION)
PROTECTED = (VERSION, XXH3)


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
