"""Properties and locks: ours backed by the sidecar, anyone's kept in the state dir."""

from __future__ import annotations

import re

import requests
import yaml

from dav import (
    DAV,
    NS,
    lock,
    mkcol,
    parse_multistatus,
    propfind,
    proppatch,
    props_of,
    tag_xml,
    tags_of,
)


def make_asset_with_file(server) -> str:
    base = server.store_url()
    mkcol(base + "proj/")
    mkcol(base + "proj/img1/")
    assert requests.put(base + "proj/img1/pic.png", data=b"p" * 5000, timeout=5).status_code == 201
    return base + "proj/img1/"


def test_live_properties_read_and_write_the_sidecar(server, store_root):
    asset = make_asset_with_file(server)
    names = [f"{{{NS}}}tags", f"{{{NS}}}description", f"{{{NS}}}version"]
    assert (
        proppatch(
            asset,
            {
                f"{{{NS}}}tags": tag_xml(["coast", "long exposure", "a,b"]),
                f"{{{NS}}}description": "Waves &amp; rocks",
            },
        ).status_code
        == 207
    )
    props = props_of(asset, names)
    assert [t.text for t in props[f"{{{NS}}}tags"]] == ["coast", "long exposure", "a,b"]
    assert props[f"{{{NS}}}description"].text == "Waves & rocks"
    assert props[f"{{{NS}}}version"].text == "0"
    meta = yaml.safe_load((store_root / "proj" / "img1" / ".ovemeta").read_text())
    assert meta["tags"] == ["coast", "long exposure", "a,b"]
    assert meta["description"] == "Waves & rocks"

    assert proppatch(asset, {f"{{{NS}}}add-tags": tag_xml(["night"])}).status_code == 207
    assert proppatch(asset, {f"{{{NS}}}remove-tags": tag_xml(["coast"])}).status_code == 207
    assert tags_of(asset) == ["long exposure", "a,b", "night"]
    assert proppatch(asset, {f"{{{NS}}}tags": "plain, text"}).status_code == 207
    assert tags_of(asset) == ["plain", "text"]
    assert proppatch(asset, remove=[f"{{{NS}}}tags"]).status_code == 207
    assert tags_of(asset) == []


def test_allprop_includes_our_properties(server):
    asset = make_asset_with_file(server)
    listing = parse_multistatus(propfind(asset, depth="1").content)
    asset_props = next(p for href, p in listing.items() if href.endswith("/img1/"))
    file_props = next(p for href, p in listing.items() if href.endswith("pic.png"))
    assert f"{{{NS}}}tags" in asset_props and f"{{{NS}}}version" in asset_props
    assert re.fullmatch(r"[0-9a-f]{32}", file_props[f"{{{NS}}}xxh3"].text)


def test_hash_and_version_are_protected(server):
    asset = make_asset_with_file(server)
    response = proppatch(asset + "pic.png", {f"{{{NS}}}xxh3": "0" * 32})
    assert response.status_code == 207 and "403" in response.text
    response = proppatch(asset, {f"{{{NS}}}version": "9"})
    assert response.status_code == 207 and "403" in response.text
    assert props_of(asset, [f"{{{NS}}}version"])[f"{{{NS}}}version"].text == "0"


def test_etag_is_the_content_hash_and_ranges_work(server, store_root):
    asset = make_asset_with_file(server)
    meta = yaml.safe_load((store_root / "proj" / "img1" / ".ovemeta").read_text())
    digest = meta["files"]["pic.png"]["xxh3_128"]
    got = requests.get(asset + "pic.png", headers={"Range": "bytes=10-19"}, timeout=5)
    assert got.status_code == 206 and got.content == b"p" * 10
    assert got.headers["ETag"].strip('"') == digest
    fresh = requests.get(asset + "pic.png", headers={"If-None-Match": f'"{digest}"'}, timeout=5)
    assert fresh.status_code == 304
    stale = requests.put(asset + "pic.png", data=b"new", headers={"If-Match": '"0000"'}, timeout=5)
    assert stale.status_code == 412
    assert requests.get(asset + "pic.png", timeout=5).content == b"p" * 5000


def test_dead_properties_and_locks_survive_a_restart(server):
    asset = make_asset_with_file(server)
    custom = "{http://example.com/ns}rating"
    assert proppatch(asset + "pic.png", {custom: "five stars"}).status_code == 207
    locked = lock(asset + "pic.png")
    assert locked.status_code == 200
    token = locked.headers["Lock-Token"]

    server.restart()

    assert props_of(asset + "pic.png", [custom])[custom].text == "five stars"
    blocked = requests.put(asset + "pic.png", data=b"overwrite", timeout=5)
    assert blocked.status_code == 423
    allowed = requests.put(
        asset + "pic.png", data=b"overwrite", headers={"If": f"({token})"}, timeout=5
    )
    assert allowed.status_code == 204
    assert (
        requests.request(
            "UNLOCK", asset + "pic.png", headers={"Lock-Token": token}, timeout=5
        ).status_code
        == 204
    )


def test_dead_properties_follow_a_move(server):
    asset = make_asset_with_file(server)
    custom = "{http://example.com/ns}note"
    assert proppatch(asset, {custom: "keep me"}).status_code == 207
    moved = requests.request(
        "MOVE", asset, headers={"Destination": server.store_url() + "proj/img9/"}, timeout=5
    )
    assert moved.status_code == 201
    assert props_of(server.store_url() + "proj/img9/", [custom])[custom].text == "keep me"


def test_a_listing_gives_each_file_its_own_locks_and_properties(server, store_root):
    """PROPFIND Depth 1 allprop, what file managers ask of every folder they open: each
    file carries its own dead properties and locks, and all of RFC 4918's live ones."""
    asset = make_asset_with_file(server)
    for name in ("a.bin", "b.bin"):
        assert requests.put(asset + name, data=name.encode() * 100, timeout=5).status_code == 201
    custom = "{http://example.com/ns}rating"
    assert proppatch(asset + "a.bin", {custom: "three"}).status_code == 207
    locked = lock(asset + "b.bin")
    assert locked.status_code == 200
    token = locked.headers["Lock-Token"].strip("<>")

    listing = parse_multistatus(propfind(asset, depth="1").content)
    files = {href.rsplit("/", 1)[1]: p for href, p in listing.items() if not href.endswith("/")}
    assert sorted(files) == ["a.bin", "b.bin", "pic.png"]
    records = yaml.safe_load((store_root / "proj" / "img1" / ".ovemeta").read_text())["files"]
    for name, props in files.items():
        assert props[f"{{{DAV}}}displayname"].text == name
        assert props[f"{{{DAV}}}getetag"].text == records[name]["xxh3_128"]
        assert props[f"{{{NS}}}xxh3"].text == records[name]["xxh3_128"]
        assert props[f"{{{DAV}}}getcontentlength"].text == str(records[name]["size"])
        assert props[f"{{{DAV}}}getlastmodified"].text.endswith(" GMT")
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", props[f"{{{DAV}}}creationdate"].text
        )
        assert props[f"{{{DAV}}}resourcetype"].find(f"{{{DAV}}}collection") is None
        scopes = props[f"{{{DAV}}}supportedlock"].findall(f".//{{{DAV}}}lockscope/*")
        assert sorted(s.tag for s in scopes) == [f"{{{DAV}}}exclusive", f"{{{DAV}}}shared"]
        active = props[f"{{{DAV}}}lockdiscovery"].findall(f".//{{{DAV}}}locktoken/{{{DAV}}}href")
        assert [a.text for a in active] == ([token] if name == "b.bin" else [])
        assert (custom in props) == (name == "a.bin")
    assert files["a.bin"][custom].text == "three"
