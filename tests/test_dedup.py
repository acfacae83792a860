"""`stores.NAME.dedup: link`: a file that lands with bytes the store holds already becomes
a hard link to them (same inode, same record), whichever way it comes in; the store's
stats report the bytes saved. Without it, every file keeps its own bytes."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import requests
import yaml

from dav import mkcol

BODY = os.urandom(100_000)


def settled(api: str) -> None:
    """Every write acknowledged so far is in the index (an index read waits for them)."""
    assert requests.get(api + "assets", params={"limit": 1}, timeout=10).status_code == 200


def record(root: Path, owner: str, key: str) -> dict:
    return yaml.safe_load((root / owner / ".ovemeta").read_text())["files"][key]


@pytest.fixture(scope="module")
def deduping(tmp_path_factory):
    from conftest import Server

    base = tmp_path_factory.mktemp("dedup")
    root, plain = base / "demo", base / "plain"
    root.mkdir()
    plain.mkdir()
    config = base / "assetdav.yaml"
    config.write_text(yaml.safe_dump({"stores": {"demo": {"path": str(root), "dedup": "link"},
                                                 "plain": {"path": str(plain)}}}))
    server = Server({}, base / "state", base / "server.log",
                    env={"ASSETDAV_CONFIG": str(config)}).start()
    for store in ("demo", "plain"):
        for folder in ("p/", "p/a1/", "p/a2/", "q/"):
            assert mkcol(server.url + store + "/" + folder).status_code == 201
    yield server, root, plain, server.url + "api/"
    server.stop()


def test_every_way_in_links_to_the_bytes_already_there(deduping):
    server, root, _plain, api = deduping
    dav = server.store_url("demo")
    assert requests.put(dav + "p/a1/first.bin", data=BODY, timeout=10).status_code == 201
    settled(api)
    original = root / "p/a1/first.bin"

    # WebDAV PUT, the OVE upload, a tus upload, POST /api/assets, a COPY
    assert requests.put(dav + "p/a2/again.bin", data=BODY, timeout=10).status_code == 201
    up = requests.post(api + "demo/p/upload/a3", params={"filename": "up.bin", "create": "true"},
                       data=BODY, timeout=10)
    assert up.status_code == 200, up.text
    meta = ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in {
        "store": "demo", "project": "p", "asset": "a4", "filename": "tus.bin",
        "create": "true"}.items())
    made = requests.post(api + "uploads/", headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(len(BODY)), "Upload-Metadata": meta,
        "Content-Type": "application/offset+octet-stream"}, data=BODY, timeout=10)
    assert made.status_code == 201, made.text
    posted = requests.post(api + "assets", files=[("file", ("post.bin", BODY)),
                                                  ("project", (None, "q"))], timeout=10)
    assert posted.status_code == 201, posted.text
    copied = requests.request("COPY", dav + "p/a1/first.bin",
                              headers={"Destination": dav + "p/a2/copied.bin"}, timeout=10)
    assert copied.status_code == 201

    paths = [root / "p/a2/again.bin", root / "p/a3/1/up.bin", root / "p/a4/1/tus.bin",
             root / "q" / posted.json()["asset"] / "1/post.bin", root / "p/a2/copied.bin"]
    for path in paths:
        assert path.read_bytes() == BODY, path
        assert path.stat().st_ino == original.stat().st_ino, path
    assert original.stat().st_nlink == 1 + len(paths)
    first = record(root, "p/a1", "first.bin")
    again = record(root, "p/a2", "again.bin")
    assert {k: again[k] for k in ("size", "xxh3_128", "blake3")} == \
        {k: first[k] for k in ("size", "xxh3_128", "blake3")}

    # replacing one of them over WebDAV breaks only that link
    assert requests.put(dav + "p/a2/again.bin", data=b"new", timeout=10).status_code == 204
    assert original.read_bytes() == BODY and (root / "p/a2/again.bin").read_bytes() == b"new"

    stats = requests.get(api + "demo/stats", timeout=10)
    assert stats.status_code == 200, stats.text
    got = stats.json()
    assert got["files"] == 6 and got["bytes"] == 5 * len(BODY) + 3
    assert got["unique_bytes"] == len(BODY) + 3
    assert got["saved_bytes"] == 4 * len(BODY)


def test_without_dedup_each_file_keeps_its_bytes(deduping):
    server, _root, plain, api = deduping
    dav = server.store_url("plain")
    assert requests.put(dav + "p/a1/one.bin", data=BODY, timeout=10).status_code == 201
    settled(api)
    assert requests.put(dav + "p/a2/two.bin", data=BODY, timeout=10).status_code == 201
    assert (plain / "p/a1/one.bin").stat().st_ino != (plain / "p/a2/two.bin").stat().st_ino
    got = requests.get(api + "plain/stats", timeout=10).json()
    assert got == {"files": 2, "bytes": 2 * len(BODY), "unique_bytes": 2 * len(BODY),
                   "saved_bytes": 0}
    assert json.loads(requests.get(api + "nosuch/stats", timeout=10).text)["title"]
