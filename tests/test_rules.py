"""A store's upload rules, on every way in: the exact status, the rule named, nothing left."""

from __future__ import annotations

import io
import socket
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import yaml
from PIL import Image

from conftest import Server
from dav import eventually

RULES = """
stores:
  demo:
    path: {root}
    rules:
      max_file_size: 20000
      allowed_types: [image/png, image/jpeg]
      filename:
        max_length: 24
        forbidden_characters: "#%"
        reserved_names: windows
  open:
    path: {open_root}
"""


def png(size: int = 64) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def ruled(tmp_path):
    root, open_root = tmp_path / "ruled", tmp_path / "open"
    for folder in (root, open_root):
        folder.mkdir(parents=True)
    config = tmp_path / "assetdav.yaml"
    config.write_text(RULES.format(root=root, open_root=open_root))
    server = Server(
        {}, tmp_path / "state", tmp_path / "server.log", env={"ASSETDAV_CONFIG": str(config)}
    )
    server.start()
    api = server.url + "api/"
    for store in ("demo", "open"):
        assert (
            requests.post(api + f"{store}/create", json={"id": "proj"}, timeout=5).status_code
            == 200
        )
    assert requests.post(api + "demo/proj/create", json={"id": "img"}, timeout=5).status_code == 200
    yield server, api, root
    server.stop()


CASES = [
    # (file name, body, status, rule)
    ("big.png", png(256) + b"\0" * 30000, 413, "max_file_size"),
    ("notes.txt", b"plain text", 415, "allowed_types"),
    ("fake.png", b"not a png at all, just words" * 20, 415, "allowed_types"),
    ("a-very-long-name-of-a-picture.png", png(), 400, "filename.max_length"),
    ("take#1.png", png(), 400, "filename.forbidden_characters"),
    ("CON.png", png(), 400, "filename.reserved_names"),
]


@pytest.mark.parametrize("name, body, status, rule", CASES)
def test_ove_upload_refuses_with_the_rule(ruled, name, body, status, rule):
    _server, api, root = ruled
    before = snapshot(root)
    response = requests.post(
        api + "demo/proj/upload/img", params={"filename": name}, data=body, timeout=10
    )
    assert response.status_code == status, response.text
    assert response.json()["rule"] == rule and response.json()["description"]
    assert snapshot(root) == before


@pytest.mark.parametrize("name, body, status, rule", CASES)
def test_webdav_put_refuses_with_the_rule(ruled, name, body, status, rule):
    server, _api, root = ruled
    before = snapshot(root)
    response = requests.put(server.store_url() + f"proj/img/{quote(name)}", data=body, timeout=10)
    assert response.status_code == status, response.text
    assert snapshot(root) == before


def test_size_is_refused_before_the_body_is_read(ruled):
    server, _api, root = ruled
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /demo/proj/img/huge.png HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000000\r\n\r\n"
        )
        answer = sock.recv(200)
    assert answer.startswith(b"HTTP/1.1 413")
    chunked = requests.put(
        server.store_url() + "proj/img/grow.png",
        data=(png() if i == 0 else b"\0" * 4096 for i in range(10)),
        timeout=10,
    )
    assert chunked.status_code == 413
    assert not any(p.name.startswith(".~assetdav") for p in root.rglob("*"))
    assert sorted(p.name for p in (root / "proj" / "img").iterdir()) == [".ovemeta"]


def test_presigned_and_from_hash_follow_the_rules(ruled):
    server, api, root = ruled
    refused = requests.post(
        api + "uploads/presigned-url",
        json={"store": "demo", "project": "proj", "asset": "img", "filename": "notes.txt"},
        timeout=5,
    )
    assert refused.status_code == 415 and refused.json()["rule"] == "allowed_types"
    grant = requests.post(
        api + "uploads/presigned-url",
        json={"store": "demo", "project": "proj", "asset": "img", "filename": "ok.png"},
        timeout=5,
    ).json()
    assert grant["max_file_size"] == 20000
    bad = requests.put(grant["upload_url"], data=b"words, not pixels" * 10, timeout=5)
    assert bad.status_code == 415
    good = requests.put(grant["upload_url"], data=png(), timeout=5)  # the URL was not spent
    assert good.status_code == 200, good.text

    text = b"a text file that the open store takes"
    requests.post(
        api + "open/proj/upload/doc",
        params={"filename": "doc.txt", "create": "true"},
        data=text,
        timeout=5,
    )
    digest = _digest_of(root.parent / "open" / "proj" / "doc")
    assert eventually(lambda: requests.get(api + "hash/" + digest, timeout=5).status_code == 200)
    before = snapshot(root)
    moved = requests.post(
        api + "demo/proj/from-hash/other",
        json={"hash": digest, "filename": "doc.png", "create": True},
        timeout=5,
    )
    assert moved.status_code == 415 and moved.json()["rule"] == "allowed_types"
    assert snapshot(root) == before


def _digest_of(asset: Path) -> str:
    return yaml.safe_load((asset / ".ovemeta").read_text())["files"]["1/doc.txt"]["xxh3_128"]


def test_accepted_files_land(ruled):
    server, api, root = ruled
    assert (
        requests.post(
            api + "demo/proj/upload/img", params={"filename": "fine.png"}, data=png(), timeout=10
        ).status_code
        == 200
    )
    assert (
        requests.put(server.store_url() + "proj/img/also.png", data=png(), timeout=10).status_code
        == 201
    )
    assert (
        requests.put(
            server.store_url() + "proj/img/.DS_Store", data=b"\0\0\0\1Bud1", timeout=10
        ).status_code
        == 201
    )  # client junk: no type rule


def test_a_refused_huge_body_is_not_read_into_memory(make_server):
    """A 403 for a body of 4 GB must not make the server swallow 4 GB (cheroot drains
    unread bodies before answering, unless told otherwise)."""
    server = make_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /demo/loose-file.bin HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 4000000000\r\n\r\n" + b"\0" * 65536
        )
        answer = sock.recv(300)
    assert answer.startswith(b"HTTP/1.1 403")
    assert b"connection: close" in answer.lower()
    rss_kib = int(
        next(
            line.split()[1]
            for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines()
            if line.startswith("VmRSS")
        )
    )
    assert rss_kib < 400_000
    assert requests.get(server.url + "api/list", timeout=5).status_code == 200
