"""Small WebDAV helpers for tests, over `requests` (no knowledge of the server's internals)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlsplit

import requests

NS = "urn:assetdav"
DAV = "DAV:"


def mkcol(url: str, **kw) -> requests.Response:
    return requests.request("MKCOL", url, timeout=30, **kw)


def propfind(url: str, props: list[str] | None = None, depth: str = "0", **kw) -> requests.Response:
    """PROPFIND; `props` are Clark names (`{urn:assetdav}tags`), None for allprop."""
    if props is None:
        body = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
    else:
        inner = "".join(f'<x:{n.split("}")[1]} xmlns:x="{n[1:].split("}")[0]}"/>' for n in props)
        body = (
            f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>{inner}</D:prop></D:propfind>'
        )
    headers = {"Depth": depth, "Content-Type": "application/xml", **kw.pop("headers", {})}
    return requests.request("PROPFIND", url, data=body.encode(), headers=headers, timeout=60, **kw)


def parse_multistatus(text: str | bytes) -> dict[str, dict[str, ET.Element]]:
    """{href path (unquoted): {clark name: element}} for properties with status 200."""
    root = ET.fromstring(text)
    result: dict[str, dict[str, ET.Element]] = {}
    for response in root.findall(f"{{{DAV}}}response"):
        href = unquote(urlsplit(response.findtext(f"{{{DAV}}}href")).path)
        props: dict[str, ET.Element] = {}
        for propstat in response.findall(f"{{{DAV}}}propstat"):
            if " 200 " not in (propstat.findtext(f"{{{DAV}}}status") or ""):
                continue
            for prop in propstat.find(f"{{{DAV}}}prop"):
                props[prop.tag] = prop
        result[href] = props
    return result


def props_of(url: str, names: list[str] | None = None, **kw) -> dict[str, ET.Element]:
    response = propfind(url, names, **kw)
    assert response.status_code == 207, response.text
    return next(iter(parse_multistatus(response.content).values()))


def tags_of(url: str, **kw) -> list[str]:
    element = props_of(url, [f"{{{NS}}}tags"], **kw)[f"{{{NS}}}tags"]
    return [child.text or "" for child in element]


def proppatch(
    url: str, set_props: dict[str, str] | None = None, remove: list[str] | None = None, **kw
) -> requests.Response:
    """`set_props` maps Clark names to raw inner XML (escaped by the caller)."""
    parts = []
    for name, inner in (set_props or {}).items():
        ns, local = name[1:].split("}")
        parts.append(
            f'<D:set><D:prop><x:{local} xmlns:x="{ns}">{inner}</x:{local}></D:prop></D:set>'
        )
    for name in remove or []:
        ns, local = name[1:].split("}")
        parts.append(f'<D:remove><D:prop><x:{local} xmlns:x="{ns}"/></D:prop></D:remove>')
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<D:propertyupdate xmlns:D="DAV:">{"".join(parts)}</D:propertyupdate>'
    )
    headers = {"Content-Type": "application/xml", **kw.pop("headers", {})}
    return requests.request("PROPPATCH", url, data=body.encode(), headers=headers, timeout=60, **kw)


LOCK_BODY = (
    '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    "<D:owner>tester</D:owner></D:lockinfo>"
)


def lock(url: str, seconds: int = 600, **kw) -> requests.Response:
    """An exclusive write LOCK of `url` for `seconds`."""
    headers = {"Content-Type": "application/xml", "Timeout": f"Second-{seconds}",
               **kw.pop("headers", {})}  # fmt: skip
    return requests.request("LOCK", url, data=LOCK_BODY, headers=headers, timeout=5, **kw)


def tag_xml(tags: list[str]) -> str:
    from xml.sax.saxutils import escape

    return "".join(f'<x:tag xmlns:x="{NS}">{escape(t)}</x:tag>' for t in tags)


def eventually(probe, timeout: float = 5.0, interval: float = 0.05):
    """The first truthy value of `probe()` within `timeout` seconds (else its last value):
    for answers that come from the index, which follows writes within a second."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)
