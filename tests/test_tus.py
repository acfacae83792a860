"""Resumable uploads (tus 1.0.0) through the real server: the real tuspy client across
dropped connections and restarts, the protocol's answers, rights, rules and expiry."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import io
import os
import signal
import socket
import struct
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import xxhash
import yaml
from PIL import Image
from tusclient import client as tus_client
from users import add_team, auth

from conftest import Server
from dav import eventually

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_STREAM = "application/offset+octet-stream"
MIB = 1 << 20


# --- helpers ------------------------------------------------------------------------------


def metadata(**values: object) -> str:
    return ",".join(
        f"{key} {base64.b64encode(str(value).encode()).decode()}" for key, value in values.items()
    )


def target(asset: str = "img1", filename: str = "photo.bin", **extra: object) -> dict:
    return {"store": "demo", "project": "proj", "asset": asset, "filename": filename, **extra}


def create(
    api: str, length: int, meta: dict, *, body: bytes | None = None, **kw
) -> requests.Response:
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata(**meta)}
    if body is not None:
        headers["Content-Type"] = OFFSET_STREAM
    headers.update(kw.pop("headers", {}))
    return requests.post(api + "uploads/", headers=headers, data=body, timeout=30, **kw)


def patch(url: str, offset: int, body: bytes, **kw) -> requests.Response:
    headers = {**TUS, "Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM}
    headers.update(kw.pop("headers", {}))
    return requests.patch(url, headers=headers, data=body, timeout=30, **kw)


def head(url: str, **kw) -> requests.Response:
    return requests.head(url, headers=TUS, timeout=10, **kw)


def sha1_header(body: bytes) -> dict[str, str]:
    return {"Upload-Checksum": "sha1 " + base64.b64encode(hashlib.sha1(body).digest()).decode()}


def make_project(api: str, project: str = "proj", **kw) -> None:
    response = requests.post(
        api + "demo/create", json={"id": project, **kw.pop("json", {})}, timeout=10, **kw
    )
    assert response.status_code == 200, response.text


def parked(server: Server) -> list[str]:
    """The files of partial uploads in the state dir."""
    folder = server.state_dir / "uploads"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def assert_error(response: requests.Response, status: int, rule: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["Tus-Resumable"] == "1.0.0"
    body = response.json()
    assert body["title"] and body["description"]
    if rule is not None:
        assert body.get("rule") == rule, body
    return body


def png(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (10, 120, 200)).save(out, format="PNG")
    return out.getvalue()


def settled_offset(url: str, **kw) -> int:
    """The offset once no request writes to the upload any more (an empty PATCH at the
    offset HEAD tells is accepted only then)."""
    deadline = time.monotonic() + 15
    while True:
        offset = int(head(url, **kw).headers["Upload-Offset"])
        if patch(url, offset, b"", **kw).status_code == 204:
            return offset
        assert time.monotonic() < deadline, "the upload stayed busy"
        time.sleep(0.05)


def send_and_hang_up(url: str, source: Path, offset: int, count: int, *, reset: bool) -> None:
    """A PATCH announcing the rest of the file that sends only `count` bytes and then loses
    its connection: closed (FIN), or reset (RST) when `reset`."""
    parts = urlsplit(url)
    rest = source.stat().st_size - offset
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall(
        (
            f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: {OFFSET_STREAM}\r\n"
            f"Content-Length: {rest}\r\n\r\n"
        ).encode()
    )
    with open(source, "rb") as fh:
        fh.seek(offset)
        left = count
        while left:
            piece = fh.read(min(MIB, left))
            sock.sendall(piece)
            left -= len(piece)
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def streamed_hash(url: str, **kw) -> str:
    hasher = xxhash.xxh3_128()
    with requests.get(url, stream=True, timeout=60, **kw) as response:
        assert response.status_code == 200, response.status_code
        for piece in response.iter_content(MIB):
            hasher.update(piece)
    return hasher.hexdigest()


@pytest.fixture
def api(server: Server) -> str:
    make_project(server.url + "api/")
    return server.url + "api/"


# --- the acceptance test: tuspy, two broken connections and a restart --------------------


def test_tuspy_200_mib_survives_two_dropped_connections_and_a_restart(make_server, tmp_path):
    server = make_server()
    api = server.url + "api/"
    make_project(api)
    size = 200 * MIB
    source = tmp_path / "big.bin"
    expected = xxhash.xxh3_128()
    with open(source, "wb") as fh:
        for _ in range(size // (8 * MIB)):
            piece = os.urandom(8 * MIB)
            expected.update(piece)
            fh.write(piece)
    meta = target("big", "big.bin", create="true")

    first = tus_client.TusClient(api + "uploads/").uploader(
        str(source), chunk_size=16 * MIB, metadata=meta
    )
    first.upload(stop_at=48 * MIB)
    url = first.url
    assert url.startswith(api + "uploads/")

    # The connection closes after 20 MiB of a PATCH: what arrived is kept.
    send_and_hang_up(url, source, 48 * MIB, 20 * MIB, reset=False)
    assert settled_offset(url) == 68 * MIB

    # The server dies between two chunks, after a PATCH wrote bytes it never acknowledged.
    server.stop(signal.SIGKILL)
    (data_file,) = (server.state_dir / "uploads").glob("*.data")
    with open(data_file, "ab") as fh:
        fh.write(b"torn write, never acknowledged" * 1000)
    server.start()
    assert data_file.stat().st_size == 68 * MIB

    resumed = tus_client.TusClient(api + "uploads/").uploader(
        str(source), url=url, chunk_size=16 * MIB, upload_checksum=True
    )
    assert resumed.offset == 68 * MIB
    resumed.upload(stop_at=120 * MIB)

    # The connection is reset in the middle of a PATCH.
    send_and_hang_up(url, source, 120 * MIB, 24 * MIB, reset=True)
    offset = settled_offset(url)
    assert 120 * MIB <= offset <= 144 * MIB

    last = tus_client.TusClient(api + "uploads/").uploader(
        str(source), url=url, chunk_size=32 * MIB, upload_checksum=True
    )
    assert last.offset == offset
    last.upload()
    assert last.offset == size

    meta_now = requests.get(api + "demo/proj/meta/big", timeout=10).json()
    assert meta_now["version"] == 1 and meta_now["index_file"] == "/demo/proj/big/1/big.bin"
    files = requests.get(api + "demo/proj/files/big", timeout=10).json()
    assert [(f["name"], f["default"]) for f in files] == [("big.bin", True)]
    assert streamed_hash(files[0]["url"]) == expected.hexdigest()
    assert streamed_hash(server.store_url() + "proj/big/1/big.bin") == expected.hexdigest()
    sidecar = yaml.safe_load((server.stores["demo"] / "proj" / "big" / ".ovemeta").read_text())
    assert sidecar["files"]["1/big.bin"] == {
        **sidecar["files"]["1/big.bin"],
        "size": size,
        "xxh3_128": expected.hexdigest(),
    }
    assert [name.rsplit(".", 1)[1] for name in parked(server)] == ["json"]  # the data moved
    assert int(head(url).headers["Upload-Offset"]) == size


# --- the protocol ------------------------------------------------------------------------


def test_options_announce_the_protocol(server, api):
    response = requests.options(api + "uploads/", timeout=5)
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "termination",
        "expiration",
        "checksum",
    }
    assert "sha1" in response.headers["Tus-Checksum-Algorithm"].split(",")
    assert response.headers["Tus-Max-Size"] == str(1 << 40)


def test_creation_with_upload_checksums_offsets_and_completion(server, api):
    body = os.urandom(3000)
    created = create(api, 3000, target(create="true"), body=body[:1000])
    assert created.status_code == 201, created.text
    assert created.headers["Tus-Resumable"] == "1.0.0"
    assert created.headers["Upload-Offset"] == "1000"
    url = created.headers["Location"]
    assert url.startswith(server.url + "api/uploads/")
    expires = email.utils.parsedate_to_datetime(created.headers["Upload-Expires"])
    assert 86000 < expires.timestamp() - time.time() < 86500

    status = head(url)
    assert status.status_code == 200
    assert (status.headers["Upload-Offset"], status.headers["Upload-Length"]) == ("1000", "3000")
    assert status.headers["Cache-Control"] == "no-store"
    assert status.headers["Upload-Metadata"] == metadata(**target(create="true"))

    chunk = body[1000:2000]
    assert_error(patch(url, 1000, chunk, headers={"Content-Type": "text/plain"}), 415)
    assert_error(patch(url, 900, chunk), 409)
    bad = {"Upload-Checksum": "sha1 " + base64.b64encode(b"\0" * 20).decode()}
    assert_error(patch(url, 1000, chunk, headers=bad), 460)
    assert_error(patch(url, 1000, chunk, headers={"Upload-Checksum": "crc32 AAAA"}), 400)
    assert_error(patch(url, 1000, body[1000:] + b"one too many"), 413)
    assert head(url).headers["Upload-Offset"] == "1000"  # nothing of the refused chunks

    good = patch(url, 1000, chunk, headers=sha1_header(chunk))
    assert good.status_code == 204, good.text
    assert good.headers["Upload-Offset"] == "2000"
    rest = body[2000:]
    md5 = {"Upload-Checksum": "md5 " + base64.b64encode(hashlib.md5(rest).digest()).decode()}
    done = patch(url, 2000, rest, headers=md5)
    assert done.status_code == 204, done.text
    assert done.headers["Upload-Offset"] == "3000"

    assert head(url).headers["Upload-Offset"] == "3000"  # still answers after completion
    assert requests.get(server.store_url() + "proj/img1/1/photo.bin", timeout=10).content == body
    assert_error(patch(url, 3000, b"x"), 413)


def test_wrong_version_unknown_uploads_and_termination(server, api):
    for headers in ({}, {"Tus-Resumable": "0.2.2"}):
        refused = requests.post(
            api + "uploads/",
            headers={**headers, "Upload-Length": "10", "Upload-Metadata": metadata(**target())},
            timeout=5,
        )
        assert_error(refused, 412)
        assert refused.headers["Tus-Version"] == "1.0.0"
    assert head(api + "uploads/" + "0" * 32).status_code == 404
    assert head(api + "uploads/presigned-url").status_code == 404
    assert_error(patch(api + "uploads/" + "0" * 32, 0, b"x"), 404)
    not_allowed = requests.put(api + "uploads/" + "0" * 32, headers=TUS, timeout=5)
    assert_error(not_allowed, 405)
    assert not_allowed.headers["Tus-Resumable"] == "1.0.0"

    created = create(api, 100, target(create="true"))
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    assert patch(url, 0, b"x" * 40).status_code == 204
    assert len(parked(server)) == 2
    gone = requests.delete(url, headers=TUS, timeout=5)
    assert gone.status_code == 204 and gone.headers["Tus-Resumable"] == "1.0.0"
    assert head(url).status_code == 404
    assert parked(server) == []
    assert not (server.stores["demo"] / "proj" / "img1").exists()


def test_numbers_in_headers_are_ascii_digits_or_400(server, api):
    # "¹" is a digit to str.isdigit() but not to int(): it was a 500
    odd = create(api, 10, target(create="true"), headers={"Upload-Length": "\u00b9"})
    assert_error(odd, 400)
    created = create(api, 10, target(create="true"))
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    assert_error(patch(url, 0, b"x" * 5, headers={"Upload-Offset": "\u00b2"}), 400)
    assert patch(url, 0, b"x" * 10).status_code == 204
    assert "Traceback" not in server.log()


def test_creation_judges_the_target(server, api):
    assert_error(create(api, 10, {"store": "demo", "project": "proj", "asset": "a"}), 400)
    assert_error(create(api, 10, target(create="maybe")), 400)
    assert_error(create(api, 10, {**target(), "store": "nostore"}), 400)
    assert_error(create(api, 10, {**target(), "project": "nope"}), 400)
    assert_error(create(api, 10, target("ghost")), 400)  # no such asset, and no create
    assert_error(create(api, 10, target("list", create="true")), 400)
    assert_error(create(api, 10, target(filename=".ovemeta", create="true")), 403)
    bad_metadata = {**TUS, "Upload-Length": "10", "Upload-Metadata": "store !!!"}
    assert_error(requests.post(api + "uploads/", headers=bad_metadata, timeout=5), 400)
    no_length = {**TUS, "Upload-Metadata": metadata(**target(create="true"))}
    assert_error(requests.post(api + "uploads/", headers=no_length, timeout=5), 400)
    assert_error(
        create(
            api, 10, target(create="true"), body=b"x" * 5, headers={"Content-Type": "text/plain"}
        ),
        415,
    )
    assert parked(server) == []
    assert sorted(p.name for p in (server.stores["demo"] / "proj").iterdir()) == [".ovemeta"]


def test_versions_history_and_index_are_those_of_an_ove_upload(server, api):
    first, second = b"first version" * 100, b"second version" * 100
    for data, filename, flags in (
        (first, "photo.png", {"create": "true"}),
        (second, "photo2.png", {"update": "true"}),
    ):
        ove = requests.post(
            api + "demo/proj/upload/ove",
            params={"filename": filename, **flags},
            data=data,
            timeout=10,
        )
        assert ove.status_code == 200, ove.text
        created = create(api, len(data), target("tus", filename, **flags), body=data)
        assert created.status_code == 201, created.text
        assert created.headers["Upload-Offset"] == str(len(data))

    assert_error(create(api, 5, target("tus", "third.png")), 409)  # "Asset exists"
    by_ove = requests.get(api + "demo/proj/meta/ove", timeout=5).json()
    by_tus = requests.get(api + "demo/proj/meta/tus", timeout=5).json()
    assert by_tus["version"] == by_ove["version"] == 2
    assert by_tus["index_file"] == "/demo/proj/tus/2/photo2.png"
    assert (
        [(h["Type"], h.get("Version")) for h in by_tus["history"]]
        == [(h["Type"], h.get("Version")) for h in by_ove["history"]]
        == [("Created", None), ("Updated", 1), ("Updated", 2)]
    )
    for asset in ("ove", "tus"):
        files = requests.get(api + f"demo/proj/files/{asset}", timeout=5).json()
        assert [(f["name"], f["default"]) for f in files] == [("photo2.png", True)]
        old = requests.get(api + f"demo/proj/files/{asset}", params={"version": 1}, timeout=5)
        assert requests.get(old.json()[0]["url"], timeout=5).content == first
    root = server.stores["demo"] / "proj"
    ove_side = yaml.safe_load((root / "ove" / ".ovemeta").read_text())
    tus_side = yaml.safe_load((root / "tus" / ".ovemeta").read_text())
    for key in ("version", "filename", "uploaded", "processing_status"):
        assert ove_side[key] == tus_side[key], key
    assert {k: v["xxh3_128"] for k, v in tus_side["files"].items()} == {
        k: v["xxh3_128"] for k, v in ove_side["files"].items()
    }


def test_a_failed_landing_answers_and_leaves_nothing(server, api):
    requests.post(api + "demo/proj/create", json={"id": "img1"}, timeout=5)
    created = create(api, 20, target())
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    assert patch(url, 0, b"a" * 10).status_code == 204
    ove = requests.post(
        api + "demo/proj/upload/img1",
        params={"filename": "other.bin"},
        data=b"in the meantime",
        timeout=10,
    )
    assert ove.status_code == 200
    assert_error(patch(url, 10, b"b" * 10), 409)  # "Asset exists": no update=true
    assert parked(server) == []
    assert head(url).status_code == 404
    assert sorted(p.name for p in (server.stores["demo"] / "proj" / "img1").iterdir()) == [
        ".ovemeta",
        "1",
    ]


def test_a_patch_while_another_writes_is_refused(server, api):
    created = create(api, 2 * MIB, target(create="true"))
    url = created.headers["Location"]
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            (
                f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                f"Upload-Offset: 0\r\nContent-Type: {OFFSET_STREAM}\r\n"
                f"Content-Length: {2 * MIB}\r\n\r\n"
            ).encode()
            + b"x" * MIB
        )
        (data_file,) = (server.state_dir / "uploads").glob("*.data")
        assert eventually(lambda: data_file.stat().st_size == MIB)  # it is being written
        assert_error(patch(url, 0, b"y"), 423)
        sock.sendall(b"x" * MIB)
        assert sock.recv(4096).startswith(b"HTTP/1.1 204")
    assert head(url).headers["Upload-Offset"] == str(2 * MIB)


def test_an_expired_upload_is_gone(make_server):
    server = make_server(env={"ASSETDAV_UPLOAD_EXPIRE": "2"})
    api = server.url + "api/"
    make_project(api)
    created = create(api, 100, target(create="true"), body=b"x" * 10)
    assert created.status_code == 201, created.text
    url = created.headers["Location"]
    expires = email.utils.parsedate_to_datetime(created.headers["Upload-Expires"]).timestamp()
    assert expires - time.time() < 3
    assert len(parked(server)) == 2
    assert eventually(lambda: parked(server) == [], timeout=6)
    assert head(url).status_code in (404, 410)
    assert patch(url, 10, b"x").status_code in (404, 410)


# --- users --------------------------------------------------------------------------------


def test_uploads_belong_to_their_user(make_server, tmp_path):
    server = make_server(start=False, env={"ASSETDAV_FAILED_LOGIN_DELAY_MAX": "0.05"})
    add_team(server)
    server.start()
    api = server.url + "api/"
    make_project(api, json={"groups": ["teamA"]}, auth=auth("admin"))

    anonymous = create(api, 10, target(create="true"))
    assert_error(anonymous, 401)
    assert_error(create(api, 10, target(create="true"), auth=auth("reader")), 403)

    source = tmp_path / "photo.bin"
    source.write_bytes(os.urandom(300_000))
    basic = requests.Request("GET", api, auth=auth("writer")).prepare().headers["Authorization"]
    tus = tus_client.TusClient(api + "uploads/", headers={"Authorization": basic})
    uploader = tus.uploader(
        str(source), chunk_size=100_000, metadata=target(create="true", filetype="x/y")
    )
    uploader.upload(stop_at=100_000)
    url = uploader.url

    assert head(url).status_code == 401
    assert head(url, auth=auth("reader")).status_code == 403
    assert_error(patch(url, 100_000, b"x", auth=auth("reader")), 403)
    assert_error(requests.delete(url, headers=TUS, auth=auth("reader"), timeout=5), 403)
    assert head(url, auth=auth("admin")).headers["Upload-Offset"] == "100000"
    uploader.upload()
    landed = requests.get(
        server.store_url() + "proj/img1/1/photo.bin", auth=auth("reader"), timeout=10
    )
    assert landed.content == source.read_bytes()


# --- the store's rules --------------------------------------------------------------------

RULES = """
stores:
  demo:
    path: {root}
    rules:
      max_file_size: 1000
      allowed_types: ["image/png"]
      filename: {{max_length: 20, forbidden_characters: "#"}}
"""


def test_the_stores_rules_apply_to_tus(make_server, tmp_path):
    root = tmp_path / "ruled"
    root.mkdir()
    config = tmp_path / "assetdav.yaml"
    config.write_text(RULES.format(root=root))
    server = make_server(stores={}, env={"ASSETDAV_CONFIG": str(config)})
    api = server.url + "api/"
    make_project(api)
    requests.post(api + "demo/proj/create", json={"id": "img1"}, timeout=5)
    options = requests.options(api + "uploads/", params={"store": "demo"}, timeout=5)
    assert options.headers["Tus-Max-Size"] == "1000"

    assert_error(create(api, 2000, target(filename="big.png")), 413, "max_file_size")
    assert_error(create(api, 100, target(filename="notes.txt")), 415, "allowed_types")
    assert_error(
        create(api, 100, target(filename="a-long-name-for-a-picture.png")),
        400,
        "filename.max_length",
    )
    assert_error(
        create(api, 100, target(filename="take#1.png")), 400, "filename.forbidden_characters"
    )
    assert_error(
        create(api, 2000, target(filename="big.png"), body=b"\x89PNG" * 500), 413, "max_file_size"
    )

    words = b"not a picture, only words " * 30
    fake = create(api, 700, target(filename="fake.png"))
    assert fake.status_code == 201, fake.text
    url = fake.headers["Location"]
    assert patch(url, 0, words[:100]).status_code == 204  # too few bytes to judge yet
    assert_error(patch(url, 100, words[100:600]), 415, "allowed_types")
    assert head(url).status_code == 404
    small_fake = create(api, 100, target(filename="small.png"), body=words[:100])
    assert_error(small_fake, 415, "allowed_types")  # complete, so judged at once

    assert parked(server) == []
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "proj",
        "proj/.ovemeta",
        "proj/img1",
        "proj/img1/.ovemeta",
    ]

    picture = png()
    fine = create(api, len(picture), target(filename="fine.png"), body=picture)
    assert fine.status_code == 201, fine.text
    assert (root / "proj" / "img1" / "1" / "fine.png").read_bytes() == picture
