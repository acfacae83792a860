"""A user's first minutes: make a project and an asset, drop a file in, see it everywhere."""

from __future__ import annotations

import requests
import yaml

from dav import NS, mkcol, parse_multistatus, propfind, proppatch, props_of, tag_xml, tags_of


def test_project_asset_file_and_sidecars(server, store_root):
    base = server.store_url()
    assert mkcol(base + "proj/").status_code == 201
    assert mkcol(base + "proj/img1/").status_code == 201
    body = b"\x89PNG fake bytes" * 100
    assert requests.put(base + "proj/img1/photo.png", data=body, timeout=10).status_code == 201

    got = requests.get(base + "proj/img1/photo.png", timeout=10)
    assert got.content == body

    sidecar = yaml.safe_load((store_root / "proj" / "img1" / ".ovemeta").read_text())
    assert sidecar["id"] == "img1" and sidecar["project"] == "proj"
    assert sidecar["history"][0]["Type"] == "Created"
    record = sidecar["files"]["photo.png"]
    assert record["size"] == len(body)
    assert got.headers["ETag"].strip('"') == record["xxh3_128"]

    listing = parse_multistatus(propfind(base + "proj/img1/", depth="1").content)
    names = {href.rstrip("/").rsplit("/", 1)[-1] for href in listing}
    assert ".ovemeta" not in names and "photo.png" in names

    assert (
        proppatch(base + "proj/img1/", {f"{{{NS}}}tags": tag_xml(["coast", "sunset"])}).status_code
        == 207
    )
    assert tags_of(base + "proj/img1/") == ["coast", "sunset"]
    props = props_of(base + "proj/img1/photo.png", [f"{{{NS}}}xxh3"])
    assert props[f"{{{NS}}}xxh3"].text == record["xxh3_128"]


def test_api_lists_stores_and_answers_json_404(server):
    assert requests.get(server.url + "api/list", timeout=5).json() == ["demo"]
    missing = requests.get(server.url + "api/nothing/here", timeout=5)
    assert missing.status_code == 404
    assert set(missing.json()) >= {"title", "description"}
