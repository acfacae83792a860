"""Every asset has a stable global id (`uuid` in its sidecar): made with the asset, given to
older sidecars when the server first sees them, kept by MOVE, new for a COPY (and for a
folder copied on disk, sidecar and all)."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from dav import eventually, mkcol


def sidecar_uuid(root: Path, owner: str) -> str | None:
    path = root / owner / ".ovemeta"
    if not path.exists():
        return None
    value = (yaml.safe_load(path.read_text()) or {}).get("uuid")
    return str(uuid.UUID(value)) if value else None


def move(url: str, dest: str, method: str = "MOVE") -> int:
    return requests.request(method, url, headers={"Destination": dest}, timeout=10).status_code


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from conftest import Server

    base = tmp_path_factory.mktemp("ids")
    root = base / "demo"
    root.mkdir()
    server = Server({"demo": root}, base / "state", base / "server.log").start()
    for folder in ("p1/", "p2/"):
        assert mkcol(server.store_url() + folder).status_code == 201
    yield server, root
    server.stop()


def test_made_with_the_asset_kept_by_move_new_for_copy(served):
    server, root = served
    dav = server.store_url()
    assert mkcol(dav + "p1/a/").status_code == 201
    assert requests.put(dav + "p1/a/f.txt", data=b"x", timeout=10).status_code == 201
    made = requests.post(server.url + "api/demo/p1/upload/b", params={"filename": "g.txt",
                         "create": "true"}, data=b"y", timeout=10)
    assert made.status_code == 200
    first, second = sidecar_uuid(root, "p1/a"), sidecar_uuid(root, "p1/b")
    assert first and second and first != second

    assert move(dav + "p1/a/", dav + "p2/moved/") == 201
    assert sidecar_uuid(root, "p2/moved") == first
    assert move(dav + "p2/moved/", dav + "p2/copied/", "COPY") == 201
    copied = sidecar_uuid(root, "p2/copied")
    assert copied and copied != first and sidecar_uuid(root, "p2/moved") == first

    # a whole project copied: each asset in it is another asset
    assert move(dav + "p1/", dav + "p1copy/", "COPY") == 201
    assert sidecar_uuid(root, "p1copy/b") not in (None, second)
    assert sidecar_uuid(root, "p1/b") == second


def test_older_sidecars_get_one_and_disk_copies_a_new_one(served):
    server, root = served
    # an asset written before ids existed, copied in behind the server's back
    old = root / "p1" / "legacy"
    old.mkdir()
    (old / "photo.jpg").write_bytes(b"old bytes")
    (old / ".ovemeta").write_text(yaml.safe_dump(
        {"id": "legacy", "name": "Legacy", "project": "p1", "tags": ["old"], "version": 0,
         "history": [{"Type": "Created", "Time": "2020-01-01 00:00:00.000000"}]}))
    assert eventually(lambda: sidecar_uuid(root, "p1/legacy") is not None, timeout=15)
    given = sidecar_uuid(root, "p1/legacy")
    meta = yaml.safe_load((old / ".ovemeta").read_text())
    assert meta["name"] == "Legacy" and meta["tags"] == ["old"]

    # cp -r of that folder: the copy gets its own id, the original keeps its one
    shutil.copytree(old, root / "p1" / "legacy-copy")
    assert eventually(lambda: sidecar_uuid(root, "p1/legacy-copy") not in (None, given),
                      timeout=15)
    assert sidecar_uuid(root, "p1/legacy") == given
