"""Parse and render `.ovemeta` sidecars: read JSON (as OVE writes) or YAML, write block YAML."""

from __future__ import annotations

import json
from typing import Any

import yaml

from .errors import SidecarInvalid

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _SidecarLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader without the timestamp resolver: OVE times stay strings, as OVE wrote them."""


_SidecarLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


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
    data: Any
    try:
        if text.lstrip().startswith("{"):
            try:
                data = json.loads(text)
            except ValueError:
                data = yaml.load(text, Loader=_SidecarLoader)  # noqa: S506 - safe loader
        else:
            data = yaml.load(text, Loader=_SidecarLoader)  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        raise SidecarInvalid(f"{origin} does not parse as YAML or JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SidecarInvalid(f"{origin} must hold a mapping, not {type(data).__name__}.")
    return data


def _flowed(data: dict[str, Any]) -> dict[str, Any]:
    """Mark the parts that read best on one line: tags, history events, file records."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "tags" and isinstance(value, list):
            value = FlowList(value)
        elif key == "history" and isinstance(value, list):
            value = [FlowMap(v) if isinstance(v, dict) else v for v in value]
        elif key == "files" and isinstance(value, dict):
            value = {k: FlowMap(v) if isinstance(v, dict) else v for k, v in value.items()}
        out[key] = value
    return out


def render_sidecar(data: dict[str, Any]) -> bytes:
    text = yaml.dump(
        _flowed(data),
        Dumper=_SidecarDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=4096,
    )
    return text.encode("utf-8")
