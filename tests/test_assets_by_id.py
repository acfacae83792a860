"""`/api/assets` by id, in ComfyUI's shapes, through the real server: a ComfyUI-style
client flow (hash known? -> from-hash, else multipart upload; tag; refine; fetch content
by id), edits, deletion, and the errors of each route."""

from __future__ import annotations

import io
import json
import re
import time
import uuid

import blake3
import pytest
import requests
import yaml
from PIL import Image

from dav import eventually, mkcol

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def png(colour: tuple[int, int, int], size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, "PNG")
    return out.getvalue()


def upload(api: str, data: bytes, filename: str = "photo.png", *, file_first: bool = True,
           **fields: str) -> requests.Response:
    """A multipart body as a browser's FormData sends it (the file first, by default)."""
    parts: list[tuple[str, tuple]] = [(k, (None, v)) for k, v in fields.items()]
    file_part = ("file", (filename, data, "application/octet-stream"))
    parts = [file_part, *parts] if file_first else [*parts, file_part]
    return requests.post(api + "assets", files=parts, timeout=30)


def assert_error(response: requests.Response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert {"title", "description"} <= set(response.json())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from conftest import Server

    base = tmp_path_factory.mktemp("by-id")
    root = base / "demo"
    root.mkdir()
    server = Server({"demo": root}, base / "state", base / "server.log").start()
    yield server, root, server.url + "api/"
    server.stop()


def test_a_comfyui_client_flow(served):
    server, root, api = served
    image = png((200, 30, 30))
    digest = "blake3:" + blake3.blake3(image).hexdigest()

    # 1. is the hash known? not yet: upload it (the file first, the fields after it)
    assert requests.head(api + f"assets/hash/{digest}", timeout=10).status_code == 404
    made = upload(api, image, name="Red square", tags=json.dumps(["models", "red"]),
                  user_metadata=json.dumps({"seed": 42, "sampler": "euler"}))
    assert made.status_code == 201, made.text
    asset = made.json()
    assert asset["created_new"] is True
    assert str(uuid.UUID(asset["id"])) == asset["id"]
    assert (asset["name"], asset["asset_hash"], asset["size"]) == ("Red square", digest, len(image))
    assert asset["mime_type"] == "image/png"
    assert asset["tags"] == ["models", "red"]
    assert asset["user_metadata"] == {"seed": 42, "sampler": "euler"}
    assert (asset["store"], asset["project"], asset["version"]) == ("demo", "assets", 1)
    for field in ("created_at", "updated_at", "last_access_time"):
        assert ISO.fullmatch(asset[field]), (field, asset[field])
    folder = root / "assets" / asset["asset"]
    sidecar = yaml.safe_load((folder / ".ovemeta").read_text())
    assert sidecar["uuid"] == asset["id"] and sidecar["metadata"]["seed"] == 42
    assert (folder / "1" / "photo.png").read_bytes() == image

    # 2. now it is known; the same bytes again are the same asset (200, not a new one)
    assert requests.head(api + f"assets/hash/{digest}", timeout=10).status_code == 200
    again = upload(api, image, name="Red again")
    assert again.status_code == 200 and again.json()["id"] == asset["id"]
    assert again.json()["created_new"] is False

    # 3. from-hash into another project: a new asset sharing the bytes (a hard link)
    assert mkcol(server.store_url() + "library/").status_code == 201
    body = {"hash": digest, "name": "red.png", "tags": ["linked"], "project": "library",
            "user_metadata": {"from": "hash"}}
    linked = requests.post(api + "assets/from-hash", json=body, timeout=10)
    assert linked.status_code == 201, linked.text
    twin = linked.json()
    assert twin["created_new"] and twin["id"] != asset["id"] and twin["project"] == "library"
    assert (twin["asset_hash"], twin["tags"], twin["user_metadata"]) == (
        digest, ["linked"], {"from": "hash"})
    assert (root / "library" / twin["asset"] / "1" / "red.png").stat().st_ino == \
        (folder / "1" / "photo.png").stat().st_ino
    same = requests.post(api + "assets/from-hash", json=body, timeout=10)
    assert same.status_code == 200 and same.json()["id"] == twin["id"]
    unknown = requests.post(api + "assets/from-hash",
                            json={**body, "hash": "sha256:" + "0" * 64}, timeout=10)
    assert_error(unknown, 404)

    # 4. tag it, then refine over the tags
    added = requests.post(api + f"assets/{asset['id']}/tags", json={"tags": ["sunset", "red"]},
                          timeout=10).json()
    assert added == {"added": ["sunset"], "already_present": ["red"],
                     "total_tags": ["models", "red", "sunset"]}
    refined = requests.get(api + "assets/tags/refine", params={"include_tags": "red"},
                           timeout=10).json()
    assert refined == {"tags": [{"name": "models", "count": 1}, {"name": "red", "count": 1},
                                {"name": "sunset", "count": 1}]}
    removed = requests.delete(api + f"assets/{asset['id']}/tags", json={"tags": ["models", "x"]},
                              timeout=10).json()
    assert removed == {"removed": ["models"], "not_present": ["x"], "total_tags": ["red", "sunset"]}

    # 5. fetch the content by id: its bytes, its name, an ETag, ranges, 304
    content = requests.get(api + f"assets/{asset['id']}/content", timeout=10)
    assert content.status_code == 200 and content.content == image
    assert 'filename="Red square.png"' in content.headers["Content-Disposition"]
    etag = content.headers["ETag"]
    part = requests.get(api + f"assets/{asset['id']}/content", headers={"Range": "bytes=0-7"},
                        timeout=10)
    assert part.status_code == 206 and part.content == image[:8]
    cached = requests.get(api + f"assets/{asset['id']}/content",
                          headers={"If-None-Match": etag}, timeout=10)
    assert cached.status_code == 304
    seen = requests.get(api + f"assets/{asset['id']}", timeout=10).json()
    assert seen["last_access_time"] >= asset["last_access_time"]

    # 6. the list has the same shape, with the ids
    listed = requests.get(api + "assets", params={"project": "assets"}, timeout=10).json()
    assert [a["id"] for a in listed["assets"]] == [asset["id"]]
    assert listed["assets"][0]["asset_hash"] == digest


def test_edit_move_and_delete_by_id(served):
    server, root, api = served
    made = upload(api, png((10, 200, 10)), "green.png", file_first=False, name="Green",
                  project="edits")
    assert_error(made, 400)  # a project named must exist (only the default one is made)
    assert mkcol(server.store_url() + "edits/").status_code == 201
    made = upload(api, png((10, 200, 10)), "green.png", file_first=False, name="Green",
                  project="edits")
    assert made.status_code == 201, made.text
    asset_id = made.json()["id"]
    preview = upload(api, png((1, 1, 1), 16), "thumb.png", project="edits").json()["id"]

    edit = {"name": "Green square", "mime_type": "image/x-custom",
            "user_metadata": {"rating": 5}, "preview_id": preview}
    changed = requests.put(api + f"assets/{asset_id}", json=edit, timeout=10)
    assert changed.status_code == 200, changed.text
    got = changed.json()
    assert (got["name"], got["mime_type"], got["user_metadata"], got["preview_id"]) == (
        "Green square", "image/x-custom", {"rating": 5}, preview)
    sidecar = yaml.safe_load((root / "edits" / got["asset"] / ".ovemeta").read_text())
    assert sidecar["metadata"] == {"rating": 5} and sidecar["name"] == "Green square"
    # refused, and nothing changed
    for bad in ({"tags": ["x"]}, {"mime_type": "not a type"}, {"preview_id": str(uuid.uuid4())},
                {"user_metadata": [1, 2]}):
        assert_error(requests.put(api + f"assets/{asset_id}", json=bad, timeout=10), 400)
    assert requests.get(api + f"assets/{asset_id}", timeout=10).json() == {
        **got, "last_access_time": got["last_access_time"]}

    # a WebDAV MOVE keeps the id
    src = server.store_url() + f"edits/{got['asset']}/"
    moved = requests.request("MOVE", src, headers={"Destination": server.store_url() +
                             "edits/renamed/"}, timeout=10)
    assert moved.status_code == 201
    after = eventually(lambda: requests.get(api + f"assets/{asset_id}", timeout=10).json())
    assert after["asset"] == "renamed" and after["id"] == asset_id

    # deleted by id: the folder goes, as a WebDAV DELETE would take it
    assert requests.delete(api + f"assets/{asset_id}", timeout=10).status_code == 204
    assert not (root / "edits" / "renamed").exists()
    assert_error(requests.get(api + f"assets/{asset_id}", timeout=10), 404)
    assert_error(requests.delete(api + f"assets/{asset_id}", timeout=10), 404)


def test_bad_requests_are_clear_errors(served):
    server, root, api = served
    for path in ("assets/not-a-uuid", f"assets/{uuid.uuid4()}", f"assets/{uuid.uuid4()}/content"):
        assert_error(requests.get(api + path, timeout=10), 404)
    assert requests.head(api + "assets/hash/blake3:xyz", timeout=10).status_code == 400
    # no file part; a second file; a JSON body without a url (a download); not a form
    assert_error(requests.post(api + "assets", files={"name": (None, "x")}, timeout=10), 400)
    two = [("file", ("a.png", b"a")), ("file", ("b.png", b"b"))]
    assert_error(requests.post(api + "assets", files=two, timeout=10), 400)
    assert_error(requests.post(api + "assets", json={"name": "x.png"}, timeout=10), 400)
    assert_error(requests.post(api + "assets", json={"url": "gopher://x/"}, timeout=10), 400)
    assert_error(requests.post(api + "assets", data=b"raw", timeout=10), 415)
    assert_error(upload(api, b"x", tags="[\"a\", "), 400)
    assert_error(upload(api, b"x", user_metadata="[1]"), 400)
    assert_error(upload(api, b"x", colour="red"), 400)
    assert_error(requests.post(api + "assets/from-hash", json={"hash": "blake3:00", "name": "a"},
                               timeout=10), 400)
    # nothing half-made: no spool files left behind, no stray assets
    uploads = server.state_dir / "uploads"
    assert not list(uploads.glob("*.data")) if uploads.exists() else True


def test_downloads_refuse_loopback_by_default_and_seed_scan(served):
    server, root, api = served
    # no downloads.allow_hosts here: the server's own address is refused, as is any
    # loopback or private one
    for url in (server.url + "api/list", "http://127.0.0.1:9/x", "http://169.254.169.254/"):
        refused = requests.post(api + "assets/download", json={"source_url": url}, timeout=10)
        assert_error(refused, 400)
        assert refused.json()["title"] == "Refused URL"
    # the scan: a folder copied in without a sidecar becomes an asset of the default store
    (root / "carried").mkdir()
    (root / "carried" / "in").mkdir()
    (root / "carried" / "in" / "x.txt").write_bytes(b"x")
    started = requests.post(api + "assets/scan/seed", json={}, timeout=10)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 20
    while requests.get(api + "demo/scan", timeout=10).json()["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (root / "carried" / "in" / ".ovemeta").exists()
    assert_error(requests.post(api + "assets/scan/seed", json={"store": "nope"}, timeout=10), 400)


def test_metadata_keys_of_any_spelling_are_indexed_and_found(served):
    server, root, api = served
    made = upload(api, png((5, 5, 5), 8), "odd.png", name="Odd keys")
    assert made.status_code == 201, made.text
    odd = {"a/b\x01": "slash", "k" * 300: "long", "ünï.cødé": "accents", "plain": "x"}
    changed = requests.put(api + f"assets/{made.json()['id']}", json={"user_metadata": odd},
                           timeout=10)
    assert changed.status_code == 200, changed.text
    for key, value in odd.items():
        found = requests.get(api + "assets", params={
            "metadata_filter": json.dumps({key: value})}, timeout=10).json()
        assert [a["id"] for a in found["assets"]] == [made.json()["id"]], key[:20]
    assert "failed" not in server.log().split("Odd keys")[-1].lower()
