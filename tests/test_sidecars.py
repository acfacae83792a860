"""Sidecars over WebDAV: hidden but readable, merged on PUT, true after every change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import requests
import yaml

from dav import NS, eventually, mkcol, parse_multistatus, propfind, props_of, tags_of


def sidecar(path: Path) -> dict:
    return yaml.safe_load((path / ".ovemeta").read_text())


def put(url: str, data: bytes) -> int:
    return requests.put(url, data=data, timeout=10).status_code


def listing(url: str) -> set[str]:
    found = parse_multistatus(propfind(url, depth="1").content)
    return {href.rstrip("/").rsplit("/", 1)[-1] for href in found if href.rstrip("/") != url}


def make_asset(base: str, project: str = "proj", asset: str = "img1") -> str:
    mkcol(base + f"{project}/")
    assert mkcol(base + f"{project}/{asset}/").status_code == 201
    return base + f"{project}/{asset}/"


def test_sidecar_is_hidden_but_readable(server, store_root):
    asset = make_asset(server.store_url())
    assert ".ovemeta" not in listing(asset)
    got = requests.get(asset + ".ovemeta", timeout=5)
    assert got.status_code == 200
    assert yaml.safe_load(got.text)["id"] == "img1"
    assert got.content == (store_root / "proj" / "img1" / ".ovemeta").read_bytes()


def test_put_sidecar_merges_editable_fields_only(server, store_root):
    asset = make_asset(server.store_url())
    assert put(asset + "f.txt", b"data") == 201
    before = sidecar(store_root / "proj" / "img1")
    edited = {
        "name": "Sunset over the bay",
        "description": "golden hour",
        "tags": ["sunset", "bay"],
        "metadata": {"camera": "X100"},
        "id": "hijacked",
        "project": "elsewhere",
        "files": {"f.txt": {"size": 1, "xxh3_128": "0" * 32, "mtime": 0.0}},
    }
    assert put(asset + ".ovemeta", yaml.safe_dump(edited).encode()) == 204
    after = sidecar(store_root / "proj" / "img1")
    assert after["name"] == "Sunset over the bay"
    assert after["description"] == "golden hour"
    assert after["tags"] == ["sunset", "bay"]
    assert after["metadata"] == {"camera": "X100"}
    assert after["id"] == "img1" and after["project"] == "proj"
    assert after["files"] == before["files"]
    assert tags_of(asset) == ["sunset", "bay"]


def test_put_invalid_yaml_is_400_and_keeps_the_sidecar(server, store_root):
    asset = make_asset(server.store_url())
    original = (store_root / "proj" / "img1" / ".ovemeta").read_bytes()
    assert put(asset + ".ovemeta", b"tags: [unclosed\n") == 400
    assert put(asset + ".ovemeta", b"- just\n- a list\n") == 400
    nested = b"[" * 5000 + b"]" * 5000  # 10 KB nested past any parser's recursion
    assert put(asset + ".ovemeta", b'{"tags": ' + nested + b"}") == 400
    deep = b"".join(b" " * n + b"k:\n" for n in range(1000))  # 500 KB of nested mappings
    assert put(asset + ".ovemeta", b"metadata:\n" + deep) == 400
    assert (store_root / "proj" / "img1" / ".ovemeta").read_bytes() == original


def test_ove_json_sidecar_is_served_and_rewritten_as_yaml(server, store_root):
    folder = store_root / "oveproj" / "statue"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "statue.jpg").write_bytes(b"jpeg bytes")
    ove = {
        "id": "statue",
        "name": "Statue",
        "project": "oveproj",
        "description": "from OVE",
        "index_file": "/oveproj/statue/1/statue.jpg",
        "version": 1,
        "uploaded": True,
        "history": [{"Type": "Created", "Time": "2019-05-01 10:00:00.000000", "Version": 1}],
        "tags": ["marble", "museum"],
        "worker": "",
        "processing_status": "done",
        "ove_specific": {"kept": True},
    }
    (folder / ".ovemeta").write_text(json.dumps(ove, indent="\t"))
    url = server.store_url() + "oveproj/statue/"
    assert tags_of(url) == ["marble", "museum"]
    assert props_of(url, [f"{{{NS}}}description"])[f"{{{NS}}}description"].text == "from OVE"

    assert put(url + "notes.txt", b"hello") == 201
    text = (folder / ".ovemeta").read_text()
    assert not text.lstrip().startswith("{")
    rewritten = yaml.safe_load(text)
    for key, value in ove.items():
        assert rewritten[key] == value, key
    assert set(rewritten["files"]) == {"1/statue.jpg", "notes.txt"}


def test_client_junk_is_stored_but_never_recorded(server, store_root):
    asset = make_asset(server.store_url())
    junk = [".DS_Store", "._photo.png", "Thumbs.db", "desktop.ini", "~$report.docx"]
    for name in junk:
        assert put(asset + name, b"junk") == 201, name
    assert put(server.store_url() + ".DS_Store", b"junk") == 201
    assert put(asset + "photo.png", b"real") == 201
    recorded = sidecar(store_root / "proj" / "img1")["files"]
    assert set(recorded) == {"photo.png"}
    assert set(junk) <= listing(asset)


def test_files_at_store_root_are_refused(server):
    response = requests.put(server.store_url() + "loose.txt", data=b"x", timeout=5)
    assert response.status_code == 403


def test_files_written_behind_the_back_are_taken_in_on_next_write(server, store_root):
    asset = make_asset(server.store_url())
    folder = store_root / "proj" / "img1"
    (folder / "sub").mkdir()
    (folder / "sub" / "rsynced.bin").write_bytes(b"r" * 1000)
    assert "sub/rsynced.bin" not in sidecar(folder)["files"]
    assert put(asset + "new.txt", b"n") == 201
    files = sidecar(folder)["files"]
    assert files["sub/rsynced.bin"]["size"] == 1000
    assert set(files) == {"sub/rsynced.bin", "new.txt"}
    # again, now that the server has seen the folder (a burst of writes records only what
    # it places unless the folders changed behind its back)
    (folder / "sub" / "later.bin").write_bytes(b"l" * 10)
    assert put(asset + "newer.txt", b"n") == 201
    assert sidecar(folder)["files"]["sub/later.bin"]["size"] == 10


def test_moving_an_asset_carries_its_sidecar_and_hashes(server, store_root):
    base = server.store_url()
    asset = make_asset(base)
    assert put(asset + "a.txt", b"aaa") == 201
    hash_before = sidecar(store_root / "proj" / "img1")["files"]["a.txt"]["xxh3_128"]
    mkcol(base + "other/")
    moved = requests.request(
        "MOVE", asset, headers={"Destination": base + "other/renamed/"}, timeout=10
    )
    assert moved.status_code == 201
    meta = sidecar(store_root / "other" / "renamed")
    assert meta["id"] == "renamed" and meta["project"] == "other"
    assert meta["files"]["a.txt"]["xxh3_128"] == hash_before
    assert meta["history"][-1]["Type"] == "Moved"
    assert not (store_root / "proj" / "img1").exists()


def test_copying_an_asset_gives_it_its_own_sidecar(server, store_root):
    base = server.store_url()
    asset = make_asset(base)
    assert put(asset + "a.txt", b"aaa") == 201
    copied = requests.request(
        "COPY", asset, headers={"Destination": base + "proj/img2/"}, timeout=10
    )
    assert copied.status_code == 201
    original = sidecar(store_root / "proj" / "img1")
    copy = sidecar(store_root / "proj" / "img2")
    assert copy["id"] == "img2"
    assert copy["history"][-1]["Type"] == "Copied"
    assert copy["files"]["a.txt"]["xxh3_128"] == original["files"]["a.txt"]["xxh3_128"]
    assert original["history"][-1]["Type"] == "Created"


def test_moving_a_file_between_assets_moves_its_record(server, store_root):
    base = server.store_url()
    first = make_asset(base, asset="one")
    make_asset(base, asset="two")
    assert put(first + "pic.png", b"pixels") == 201
    response = requests.request(
        "MOVE",
        first + "pic.png",
        headers={"Destination": base + "proj/two/sub/pic.png"},
        timeout=10,
    )
    assert response.status_code == 409  # the folder `sub` does not exist yet
    mkcol(base + "proj/two/sub/")
    response = requests.request(
        "MOVE",
        first + "pic.png",
        headers={"Destination": base + "proj/two/sub/pic.png"},
        timeout=10,
    )
    assert response.status_code == 201
    assert "pic.png" not in sidecar(store_root / "proj" / "one")["files"]
    assert sidecar(store_root / "proj" / "two")["files"]["sub/pic.png"]["size"] == 6


def test_renaming_a_project_updates_its_assets(server, store_root):
    base = server.store_url()
    make_asset(base, project="old", asset="a1")
    refused = requests.request(
        "MOVE", base + "old/", headers={"Destination": base + "new/"}, timeout=10
    )
    assert refused.status_code == 403  # `new` is a reserved OVE id
    response = requests.request(
        "MOVE", base + "old/", headers={"Destination": base + "renamed/"}, timeout=10
    )
    assert response.status_code == 201
    assert sidecar(store_root / "renamed")["id"] == "renamed"
    assert sidecar(store_root / "renamed" / "a1")["project"] == "renamed"


def test_deleting_a_file_drops_its_record(server, store_root):
    asset = make_asset(server.store_url())
    assert put(asset + "gone.txt", b"x") == 201
    assert requests.delete(asset + "gone.txt", timeout=5).status_code == 204
    assert sidecar(store_root / "proj" / "img1")["files"] == {}


def test_mkcol_makes_projects_and_assets_with_history(server, store_root):
    base = server.store_url()
    assert mkcol(base + "proj/").status_code == 201
    assert mkcol(base + "proj/img1/").status_code == 201
    assert mkcol(base + "proj/img1/deeper/").status_code == 201
    project = sidecar(store_root / "proj")
    assert project["id"] == "proj" and project["history"][0]["Type"] == "Created"
    assert sidecar(store_root / "proj" / "img1")["history"][0]["Type"] == "Created"
    assert not (store_root / "proj" / "img1" / "deeper" / ".ovemeta").exists()
    assert mkcol(base + "list/").status_code == 403
    assert mkcol(base + "proj/validate/").status_code == 403
    assert mkcol(base + "proj/img1/list/").status_code == 201  # reserved only for ids


def test_stale_temporaries_are_swept_at_start(make_server, tmp_path):
    root = tmp_path / "trees" / "demo"
    (root / "proj" / "img1" / "1").mkdir(parents=True)
    old_file = root / "proj" / "img1" / "1" / ".~assetdav-dead.part"
    old_stage = root / "proj" / "img1" / "1" / ".~assetdav-stage-dead"
    fresh_file = root / "proj" / "img1" / ".~assetdav-busy.part"
    for path in (old_file, fresh_file):
        path.write_bytes(b"partial")
    old_stage.mkdir()
    (old_stage / "tile.jpg").write_bytes(b"t")
    long_ago = 1_000_000_000
    for path in (old_file, old_stage):
        os.utime(path, (long_ago, long_ago))
    make_server(stores={"demo": root})
    assert eventually(lambda: not old_file.exists() and not old_stage.exists())
    assert fresh_file.exists()  # a write may still be using it


def test_a_sidecar_too_deep_or_too_big_a_number_is_refused_like_any_unreadable_one(
    server, store_root
):
    """A parser's recursion limit, or a value no type takes, is a sidecar that does not
    parse: 409 and the file kept, never a 500."""
    asset = make_asset(server.store_url())
    path = store_root / "proj" / "img1" / ".ovemeta"
    deep = b"".join(b" " * n + b"k:\n" for n in range(1, 1000))
    nested = b'{"tags": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    for text in (b"metadata:\n" + deep, nested, b"version: " + b"1" * 5000 + b"\n"):
        path.write_bytes(text)
        assert put(asset + "new.txt", b"n") == 409
        assert path.read_bytes() == text
