"""Content hashes (lookup, reuse without sending the bytes) and presigned URLs."""

from __future__ import annotations

import base64
import json
import os

import pytest
import requests
import yaml
from users import add_team, auth

from dav import eventually, mkcol

BODY = os.urandom(300_000)


@pytest.fixture
def api(server):
    return server.url + "api/"


def upload(api: str, data: bytes, filename: str, asset: str, **params) -> requests.Response:
    return requests.post(api + f"demo/proj/upload/{asset}",
                         params={"filename": filename, "create": "true", **params},
                         data=data, timeout=30)


def digest_of(root, rel: str) -> str:
    owner, key = rel.split("/", 2)[:2], rel.split("/", 2)[2]
    meta = yaml.safe_load((root / owner[0] / owner[1] / ".ovemeta").read_text())
    return meta["files"][key]["xxh3_128"]


def test_hash_lookup_and_reuse_by_hard_link(server, api, store_root):
    requests.post(api + "demo/create", json={"id": "proj"}, timeout=5)
    assert upload(api, BODY, "orig.bin", "a1").status_code == 200
    digest = digest_of(store_root, "proj/a1/1/orig.bin")
    assert requests.get(server.store_url() + "proj/a1/1/orig.bin",
                        timeout=5).headers["ETag"].strip('"') == digest

    assert eventually(lambda: requests.head(api + f"hash/xxh3:{digest}",
                                            timeout=5).status_code == 200)
    assert requests.head(api + "hash/xxh3:" + "0" * 32, timeout=5).status_code == 404
    assert requests.head(api + "hash/xxh3:nothex", timeout=5).status_code == 400
    found = requests.get(api + f"hash/xxh3:{digest}", timeout=5).json()
    assert found["hash"] == f"xxh3:{digest}"
    assert [(p["project"], p["asset"], p["version"], p["path"]) for p in found["locations"]] == [
        ("proj", "a1", 1, "1/orig.bin")]
    assert requests.get(found["locations"][0]["url"], timeout=5).content == BODY
    missing = requests.get(api + "hash/xxh3:" + "0" * 32, timeout=5)
    assert missing.status_code == 404 and set(missing.json()) >= {"title", "description"}
    assert requests.get(api + "hash/abc", timeout=5).status_code == 400

    reused = requests.post(api + "demo/proj/from-hash/a2",
                           json={"hash": f"xxh3:{digest}", "filename": "same.bin",
                                 "create": True}, timeout=10)
    assert reused.status_code == 200, reused.text
    assert reused.json() == {"Asset": "a2", "Filename": "same.bin", "Version": 1}
    copy = store_root / "proj" / "a2" / "1" / "same.bin"
    assert copy.read_bytes() == BODY
    assert copy.stat().st_ino == (store_root / "proj" / "a1" / "1" / "orig.bin").stat().st_ino
    meta = requests.get(api + "demo/proj/meta/a2", timeout=5).json()
    assert meta["index_file"] == "/demo/proj/a2/1/same.bin"
    assert digest_of(store_root, "proj/a2/1/same.bin") == digest
    assert eventually(lambda: len(requests.get(api + f"hash/xxh3:{digest}",
                                               timeout=5).json()["locations"]) == 2)


def test_from_hash_errors(api, store_root):
    requests.post(api + "demo/create", json={"id": "proj"}, timeout=5)
    upload(api, BODY, "orig.bin", "a1")
    digest = digest_of(store_root, "proj/a1/1/orig.bin")
    url = api + "demo/proj/from-hash/"
    unknown = requests.post(url + "a2", json={"hash": "0" * 32, "filename": "x", "create": True},
                            timeout=5)
    assert unknown.status_code == 404
    assert requests.post(url + "a2", json={"hash": "xyz", "filename": "x"},
                         timeout=5).status_code == 400
    assert eventually(lambda: requests.head(api + f"hash/{digest}",
                                            timeout=5).status_code == 200)
    assert requests.post(url + "ghost", json={"hash": digest, "filename": "x"},
                         timeout=5).status_code == 400  # no create: the asset must exist
    assert requests.post(url + "a1", json={"hash": digest, "filename": "x"},
                         timeout=5).status_code == 409  # a1 has a file: update=true needed
    assert requests.post(url + "a1", json={"hash": digest, "filename": ".ovemeta",
                                           "update": True}, timeout=5).status_code == 403
    assert not (store_root / "proj" / "ghost").exists()
    assert sorted(p.name for p in (store_root / "proj" / "a1").iterdir()) == [".ovemeta", "1"]


def test_hashes_only_reveal_what_the_caller_may_read(make_server):
    server = make_server(start=False)
    add_team(server)
    server.start()
    api, admin = server.url + "api/", auth("admin")
    for project, group in (("A", "teamA"), ("B", "teamB")):
        requests.post(api + "demo/create", json={"id": project, "groups": [group]}, auth=admin,
                      timeout=5)
    secret = os.urandom(5000)
    requests.post(api + "demo/B/upload/b1", params={"filename": "s.bin", "create": "true"},
                  data=secret, auth=admin, timeout=5)
    digest = yaml.safe_load((server.stores["demo"] / "B" / "b1" / ".ovemeta").read_text()
                            )["files"]["1/s.bin"]["xxh3_128"]
    assert eventually(lambda: requests.head(api + f"hash/{digest}", auth=admin,
                                            timeout=5).status_code == 200)
    assert requests.head(api + f"hash/{digest}", auth=auth("writer"), timeout=5).status_code == 404
    stolen = requests.post(api + "demo/A/from-hash/a1", json={"hash": digest, "filename": "s",
                                                             "create": True},
                           auth=auth("writer"), timeout=5)
    assert stolen.status_code == 404
    assert not (server.stores["demo"] / "A" / "a1").exists()


# --- presigned URLs ---------------------------------------------------------------------


def tamper(url: str, change: dict) -> str:
    base, token = url.rsplit("/", 1)
    payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(change)
    encoded = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
    return f"{base}/{encoded.decode().rstrip('=')}.{signature}"


@pytest.fixture
def secured(make_server):
    server = make_server(start=False)
    add_team(server)
    server.start()
    api = server.url + "api/"
    requests.post(api + "demo/create", json={"id": "A", "groups": ["teamA"]},
                  auth=auth("admin"), timeout=5)
    return server, api


def test_presigned_upload_works_once_without_credentials(secured):
    server, api = secured
    grant = requests.post(api + "uploads/presigned-url",
                          json={"store": "demo", "project": "A", "asset": "shot",
                                "filename": "shot.jpg", "content_type": "image/jpeg",
                                "size": len(BODY), "create": True},
                          auth=auth("writer"), timeout=5)
    assert grant.status_code == 200, grant.text
    body = grant.json()
    assert body["upload_method"] == "PUT" and body["max_file_size"] == len(BODY)
    assert 900 <= body["expires_in_seconds"] <= 24 * 3600
    put = requests.put(body["upload_url"], data=BODY, headers={"Content-Type": "image/jpeg"},
                       timeout=30)
    assert put.status_code == 200, put.text
    assert put.json() == {"Asset": "shot", "Filename": "shot.jpg", "Version": 1}
    assert requests.get(body["file_url"], timeout=10).content == BODY
    again = requests.put(body["upload_url"], data=BODY, headers={"Content-Type": "image/jpeg"},
                         timeout=30)
    assert again.status_code == 403
    meta = requests.get(api + "demo/A/meta/shot", auth=auth("admin"), timeout=5).json()
    assert meta["version"] == 1 and meta["index_file"] == "/demo/A/shot/1/shot.jpg"


def test_presigned_urls_refuse_tampering_expiry_and_misuse(secured):
    server, api = secured
    grant = requests.post(api + "uploads/presigned-url",
                          json={"store": "demo", "project": "A", "asset": "x",
                                "filename": "x.bin", "size": 10, "create": True},
                          auth=auth("writer"), timeout=5).json()
    url = grant["upload_url"]
    for forged in (tamper(url, {"exp": 4102444800}), tamper(url, {"project": "B"}),
                   url[:-3] + "abc", tamper(url, {"exp": 1})):
        assert requests.put(forged, data=b"0123456789", timeout=5).status_code == 403
    assert requests.put(url, data=b"x" * 11, timeout=5).status_code == 413
    assert requests.put(url, data=b"0123456789", timeout=5).status_code == 200
    denied = requests.post(api + "uploads/presigned-url",
                           json={"store": "demo", "project": "A", "asset": "x",
                                 "filename": "y"}, auth=auth("reader"), timeout=5)
    assert denied.status_code == 403
    assert requests.post(api + "uploads/presigned-url", json={"store": "demo"},
                         auth=auth("writer"), timeout=5).status_code == 400
    assert requests.post(api + "uploads/presigned-url",
                         json={"store": "demo", "project": "A", "asset": "x",
                               "filename": "y"}, timeout=5).status_code == 401


def test_presigned_download(secured):
    server, api = secured
    writer = auth("writer")
    requests.post(api + "demo/A/upload/pic", params={"filename": "p.png", "create": "true"},
                  data=BODY, auth=writer, timeout=10)
    grant = requests.post(api + "downloads/presigned-url",
                          json={"store": "demo", "project": "A", "asset": "pic"},
                          auth=auth("reader"), timeout=5)
    assert grant.status_code == 200, grant.text
    url = grant.json()["download_url"]
    got = requests.get(url, timeout=10)
    assert got.status_code == 200 and got.content == BODY
    ranged = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == BODY[100:200]
    assert requests.get(tamper(url, {"path": "/demo/A/pic/../../etc"}),
                        timeout=5).status_code == 403
    assert requests.post(api + "downloads/presigned-url",
                         json={"store": "demo", "project": "A", "asset": "pic",
                               "path": "9/nope.png"}, auth=auth("reader"),
                         timeout=5).status_code == 400
    mkcol(server.store_url() + "B/", auth=auth("admin"))
    assert requests.post(api + "downloads/presigned-url",
                         json={"store": "demo", "project": "B", "asset": "x"},
                         auth=auth("reader"), timeout=5).status_code == 403
