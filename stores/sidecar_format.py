"""Parse and render `.ovemeta` sidecars: read JSON (as OVE writes) or YAML, write block YAML."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import yaml

from .errors import SidecarInvalid
from .simple_yaml import load_simple, use_resolvers

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _SidecarLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader without the timestamp resolver: OVE times stay strings, as OVE wrote them."""


_SidecarLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
use_resolvers(_SidecarLoader.yaml_implicit_resolvers)


def _load_yaml(text: str) -> Any:
    """What PyYAML reads in `text`: by the fast reader when the text is in the plain shape
    sidecars are written in (see simple_yaml), else by PyYAML itself."""
    simple = load_simple(text)
    if simple is not None:
        return simple
    return yaml.load(text, Loader=_SidecarLoader)  # noqa: S506 - safe loader


class FlowMap(dict):
    """A mapping rendered on one line (`{size: 1, xxh3_128: ...}`), one per file or event."""


class FlowList(list):
    """A list rendered on one line (`[coast, sunset]`)."""


class _SidecarDumper(_BaseDumper):  # type: ignore[misc,valid-type]
    pass


def _represent_flow_map(dumper: yaml.SafeDumper, data: FlowMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _represent_flow_list(dumper: yaml.SafeDumper, data: FlowList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_SidecarDumper.add_representer(FlowMap, _represent_flow_map)
_SidecarDumper.add_representer(FlowList, _represent_flow_list)


def parse_sidecar(raw: bytes, origin: str) -> dict[str, Any]:
    """Parse sidecar bytes; anything but a mapping is refused with the file named."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SidecarInvalid(f"{origin} is not UTF-8 text ({exc}).") from exc
    if not text.strip():
        return {}
    try:
        data = _parse_text(text)
    except yaml.YAMLError as exc:
        raise SidecarInvalid(f"{origin} does not parse as YAML or JSON: {exc}") from exc
    except ValueError as exc:  # a value no type takes (an integer of 5,000 digits...)
        raise SidecarInvalid(f"{origin} holds a value that cannot be read: {exc}") from exc
    except RecursionError:  # every parser here recurses per level of nesting
        raise SidecarInvalid(f"{origin} is nested too deeply to be read.") from None
    if not isinstance(data, dict):
        raise SidecarInvalid(f"{origin} must hold a mapping, not {type(data).__name__}.")
    return data


def _parse_text(text: str) -> Any:
    fast = _parse_with_files_block(text)
    if fast is not None:
        return fast
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return _load_yaml(text)


# A `files` record as `_file_line` writes it; keys and digests are plain or JSON-quoted.
_FILE_RECORD = re.compile(
    r'  (?P<key>"(?:[^"\\]|\\.)*"|[^\s"][^:#]*): \{size: (?P<size>0|[1-9][0-9]*), '
    r'xxh3_128: (?P<digest>"[0-9a-f]+"|[0-9a-f]+), '
    r'(?:blake3: (?P<blake3>"[0-9a-f]+"|[0-9a-f]+), )?'
    r'(?:sha256: (?P<sha256>"[0-9a-f]+"|[0-9a-f]+), )?'
    r"mtime: (?P<mtime>-?[0-9]+\.[0-9]+)\}"
)
_RECORD_KEYS = {"size", "xxh3_128", "mtime"}
_OPTIONAL_DIGESTS = ("blake3", "sha256")
_FILES_HEADER = "\nfiles:\n"


def _parse_with_files_block(text: str) -> dict[str, Any] | None:
    """Parse a sidecar as `render_sidecar` writes it, reading its `files` block (thousands of
    lines in a big asset) with a regular expression instead of PyYAML, which takes ~25 us a
    record. None when the text is not exactly in that form: the caller parses it whole."""
    text = "\n" + text
    start = text.find(_FILES_HEADER)
    if start < 0:
        return None
    files: dict[str, Any] = {}
    position = start + len(_FILES_HEADER)
    while position < len(text) and text[position] == " ":
        end = text.find("\n", position)
        end = len(text) if end < 0 else end
        record = _record_of(text[position:end])
        if record is None:
            return None
        files[record[0]] = record[1]
        position = end + 1
    if not files or text[position : position + 1] in (" ", "\t", "\n", "#"):
        return None  # YAML would read an empty block, or more of it, differently
    try:
        head = _load_yaml(text[1 : start + 1]) or {}  # without the "\n" put first
        tail = _load_yaml(text[position:]) or {}
    except yaml.YAMLError:
        return None
    if not isinstance(head, dict) or not isinstance(tail, dict) or "files" in head:
        return None
    if "files" in tail or set(head) & set(tail):
        return None
    return {**head, "files": files, **tail}


def _record_of(line: str) -> tuple[str, dict[str, Any]] | None:
    found = _FILE_RECORD.fullmatch(line)
    if found is None:
        return None
    key, digest = _unquoted(found["key"]), _unquoted(found["digest"])
    if key is None or digest is None:
        return None
    record: dict[str, Any] = {"size": int(found["size"]), "xxh3_128": digest}
    for name in _OPTIONAL_DIGESTS:
        if found[name] is not None:
            value = _unquoted(found[name])
            if value is None:
                return None
            record[name] = value
    record["mtime"] = float(found["mtime"])
    return key, record


def _unquoted(scalar: str) -> str | None:
    """The string a plain or JSON-quoted scalar stands for; None when YAML would read a
    plain one as something else (a number, a boolean...)."""
    if scalar.startswith('"'):
        try:
            value = json.loads(scalar)
        except ValueError:
            return None
        return value if isinstance(value, str) else None
    return scalar if _scalar(scalar) == scalar else None


_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./()+ -]*")
_NUMBER_IN_YAML_12 = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_resolver = yaml.resolver.Resolver()


@functools.lru_cache(maxsize=1 << 16)
def _scalar(text: str) -> str:
    """A YAML scalar for `text`: plain when that reads back as the same string, else quoted
    (a JSON string is a valid YAML double-quoted scalar)."""
    if (
        _PLAIN.fullmatch(text)
        and not text.endswith(" ")
        and not _NUMBER_IN_YAML_12.fullmatch(text)
        and _resolver.resolve(yaml.ScalarNode, text, (True, False)) == "tag:yaml.org,2002:str"
    ):
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return _NOT_PRINTABLE_IN_YAML.sub(lambda found: f"\\u{ord(found[0]):04x}", quoted)


# What JSON leaves raw but YAML does not take raw: DEL, C1 controls (NEL is a line break to
# YAML), the line and paragraph separators, non-characters, lone surrogates (an undecodable
# name); all are read back the same as \u escapes, by JSON and by YAML.
_NOT_PRINTABLE_IN_YAML = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _file_line(key: str, record: Any) -> str | None:
    """`  key: {size: 1, xxh3_128: ..., [blake3: ..., sha256: ...,] mtime: ...}` for a
    well-formed record, else None."""
    if not isinstance(record, dict) or not set(record) >= _RECORD_KEYS:
        return None
    extra = [name for name in _OPTIONAL_DIGESTS if name in record]
    if len(record) != len(_RECORD_KEYS) + len(extra):
        return None
    if not all(isinstance(record[name], str) for name in extra):
        return None
    size, digest, mtime = record["size"], record["xxh3_128"], record["mtime"]
    if (
        not isinstance(size, int)
        or isinstance(size, bool)
        or not isinstance(digest, str)
        or not isinstance(mtime, float | int)
        or isinstance(mtime, bool)
    ):
        return None
    return (
        f"  {_scalar(key)}: {{size: {size}, xxh3_128: {_scalar(digest)}, "
        + "".join(f"{name}: {_scalar(record[name])}, " for name in extra)
        + f"mtime: {float(mtime):.6f}}}\n"
    )


def _dump(value: dict[str, Any]) -> str:
    return yaml.dump(
        value,
        Dumper=_SidecarDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=4096,
    )


def _flowed(key: str, value: Any) -> Any:
    """Tags and history entries read best on one line each."""
    if key == "tags" and isinstance(value, list):
        return FlowList(value)
    if key == "history" and isinstance(value, list):
        return [FlowMap(v) if isinstance(v, dict) else v for v in value]
    return value


def render_sidecar(data: dict[str, Any]) -> bytes:
    """Block YAML. The `files` map, which can hold thousands of records, is written line by
    line (PyYAML's representer is far too slow for it); everything else by PyYAML."""
    parts: list[str] = []
    for key, value in data.items():
        if key == "files" and isinstance(value, dict) and value:
            lines = [_file_line(k, v) if isinstance(k, str) else None for k, v in value.items()]
            if all(line is not None for line in lines):
                parts.append(f"{_scalar(key)}:\n" + "".join(lines))  # type: ignore[arg-type]
                continue
        parts.append(_dump({key: _flowed(key, value)}))
    return "".join(parts).encode("utf-8")
