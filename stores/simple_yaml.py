"""A fast reader for the block YAML that sidecars are written in, without PyYAML's
pure-Python composer and constructor (about half the CPU of a full reindex went there).

It reads only the plainest shapes `render_sidecar` writes: mappings and indentless
sequences in block style, one-line flow lists and maps of scalars, and plain, single- or
double-quoted one-line scalars. Plain scalars are typed by PyYAML's own resolver (the
sidecar loader's: no timestamps), so `1` is an int and `yes` a bool, as PyYAML reads them.
Anything else (comments, anchors, tags, block scalars, multi-line scalars, blank lines,
unusual keys or numbers) returns None: the caller then parses the text with PyYAML.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import yaml


class _NotSimple(Exception):
    """The text has a shape this reader leaves to PyYAML."""


# what PyYAML reads differently or refuses: other line breaks (\r, NEL, U+2028/9), tabs,
# control characters, a byte order mark inside the text
_UNUSUAL = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_KEY_LINE = re.compile(
    r"( *)([A-Za-z0-9_][A-Za-z0-9_./()+ -]*|'(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"):(?: (.*))?"
)
_SINGLE = re.compile(r"'(?:[^']|'')*'")
_DOUBLE = re.compile(r'"(?:[^"\\]|\\.)*"')
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# Block context: no comment, no `: ` (a mapping), no indicator first (`-` only before a
# non-space); flow context: none of `,[]{}:#` at all.
_PLAIN_BLOCK = re.compile(r"(?:[^\s\-?:,\[\]{}#&*!|>'\"%@`]|-(?=\S))[^#]*")
_FLOW_ITEM = re.compile(
    r" *('(?:[^']|'')*'|\"(?:[^\"\\]|\\.)*\"|[^\s,\[\]{}#'\"&*!|>%@`?:\-][^,\[\]{}#:]*)"
)
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+")
_TRUE = {"yes", "true", "on"}


def load_simple(text: str) -> dict[str, Any] | None:
    """The mapping `text` holds, or None when its shape is not one this reader takes."""
    if _UNUSUAL.search(text):
        return None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    try:
        data, position = _Block(lines).mapping(0, 0)
    except _NotSimple:
        return None
    return data if position == len(lines) else None


class _Block:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def mapping(self, position: int, indent: int) -> tuple[dict[str, Any], int]:
        data: dict[str, Any] = {}
        lines = self.lines
        while position < len(lines):
            scalar = _scalar_line(lines[position])
            if scalar is not None and scalar[0] == indent:
                data[scalar[1]] = scalar[2]
                position += 1
                continue
            found = _KEY_LINE.fullmatch(lines[position])
            if found is None:
                if _indent(lines[position]) < indent and lines[position].strip():
                    break  # a shallower line that is not a key: the caller's (a sequence)
                raise _NotSimple
            if len(found[1]) < indent:
                break
            if len(found[1]) > indent:
                raise _NotSimple
            key = _key(found[2])
            position += 1
            if found[3] is not None and found[3].strip():
                data[key] = _inline(found[3].rstrip(" "))
                continue
            following = lines[position] if position < len(lines) else ""
            if following.startswith(" " * indent + "- "):
                data[key], position = self.sequence(position, indent)
            elif _indent(following) > indent and following.strip():
                data[key], position = self.mapping(position, _indent(following))
            else:
                data[key] = None
        return data, position

    def sequence(self, position: int, indent: int) -> tuple[list[Any], int]:
        items: list[Any] = []
        marker = " " * indent + "- "
        while position < len(self.lines) and self.lines[position].startswith(marker):
            rest = self.lines[position][len(marker) :].rstrip(" ")
            if rest.startswith(("{", "[")) or _KEY_LINE.fullmatch(rest) is None:
                items.append(_inline(rest))
            else:
                raise _NotSimple  # a block mapping inside the sequence
            position += 1
        return items, position


@functools.lru_cache(maxsize=1 << 12)
def _scalar_line(line: str) -> tuple[int, str, Any] | None:
    """(indent, key, value) of a `key: scalar` line; None for any other line. Most lines
    of a store's sidecars are the same few (`version: 1`, `uploaded: true`, a camera's
    name...): each is read once, not once per sidecar."""
    found = _KEY_LINE.fullmatch(line)
    if found is None or found[3] is None or not found[3].strip():
        return None
    value = found[3].rstrip(" ")
    if value.startswith(("[", "{")):
        return None  # a list or map: a new one for each sidecar
    try:
        return len(found[1]), _key(found[2]), _inline(value)
    except _NotSimple:
        return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _key(raw: str) -> str:
    if raw.endswith(" "):
        raise _NotSimple  # YAML drops the space
    key = _scalar(raw)
    if not isinstance(key, str):
        raise _NotSimple  # `1:` or `yes:` is not a string key
    return key


def _inline(value: str) -> Any:
    """A value on one line: a flow list or map of scalars, or a scalar."""
    if value.startswith("["):
        if not value.endswith("]"):
            raise _NotSimple
        return [scalar for _key_text, scalar in _flow_items(value[1:-1], pairs=False)]
    if value.startswith("{"):
        if not value.endswith("}"):
            raise _NotSimple
        return {_key(key): scalar for key, scalar in _flow_items(value[1:-1], pairs=True)}
    if value.startswith(("'", '"')):
        return _quoted(value)
    if not _PLAIN_BLOCK.fullmatch(value) or ": " in value or value.endswith(":"):
        raise _NotSimple
    return _plain(value)


def _flow_items(body: str, *, pairs: bool) -> list[tuple[str, Any]]:
    """(key text, value) of each `key: value` (pairs) or ("", value) of each item."""
    if not body.strip(" "):
        return []
    items: list[tuple[str, Any]] = []
    position = 0
    while True:
        key_text = ""
        if pairs:
            found = _FLOW_ITEM.match(body, position)
            if found is None or not body.startswith(": ", found.end()):
                raise _NotSimple
            key_text, position = found[1].rstrip(" "), found.end() + 2
        found = _FLOW_ITEM.match(body, position)
        if found is None:
            raise _NotSimple
        items.append((key_text, _scalar(found[1].rstrip(" "))))
        position = found.end()
        while position < len(body) and body[position] == " ":
            position += 1
        if position == len(body):
            return items
        if body[position] != "," or not body[position + 1 :].strip(" "):
            raise _NotSimple  # anything but `, next` (a trailing comma is left to PyYAML)
        position += 1


def _scalar(text: str) -> Any:
    return _quoted(text) if text.startswith(("'", '"')) else _plain(text)


def _quoted(text: str) -> str:
    if text.startswith("'"):
        if not _SINGLE.fullmatch(text):
            raise _NotSimple
        return text[1:-1].replace("''", "'")
    # JSON's escapes are a subset of YAML's, read the same, but for surrogate pairs
    if not _DOUBLE.fullmatch(text) or _SURROGATE_ESCAPE.search(text):
        raise _NotSimple
    try:
        value = json.loads(text)
    except ValueError:
        raise _NotSimple from None
    return value


@functools.lru_cache(maxsize=1 << 14)
def _plain(text: str) -> Any:
    """A plain scalar as the sidecar loader types it; numbers only in their plainest
    spelling (YAML 1.1 also reads `0o7`, `1_000`, `1:30`, `.5`...)."""
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == "tag:yaml.org,2002:str":
        return text
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return text.lower() in _TRUE
    if tag == "tag:yaml.org,2002:int" and _INT.fullmatch(text):
        return int(text)
    if tag == "tag:yaml.org,2002:float" and _FLOAT.fullmatch(text):
        return float(text)
    raise _NotSimple


class _SidecarResolver(yaml.resolver.Resolver):
    """Set to the sidecar loader's resolvers (see sidecar_format)."""


_RESOLVER = _SidecarResolver()


def use_resolvers(resolvers: dict[Any, Any]) -> None:
    """Type plain scalars with these implicit resolvers (the sidecar loader's)."""
    _SidecarResolver.yaml_implicit_resolvers = resolvers
    _plain.cache_clear()
