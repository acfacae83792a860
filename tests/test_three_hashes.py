"""Every file's sidecar record holds xxh3-128, blake3 and (with `hashes.sha256`) sha256,
whichever way it came in, and every lookup by hash takes all three."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import blake3
import pytest
import requests
import xxhash
import yaml
from test_tus import create, patch

from dav import eventually, mkcol

REPO = Path(__file__).resolve().parent.parent
BODY = os.urandom(200_000)


def digests(data: bytes) -> dict[str, str]:
    return {
        "xxh3_128": xxhash.xxh3_128(data).hexdigest(),
        "blake3": blake3.blake3(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def put(server, path: str, data: bytes) -> int:
    return requests.put(server.store_url() + path, data=data, timeout=30).status_code


def record(root: Path, owner: str, key: str) -> dict:
    meta = yaml.safe_load((root / owner / ".ovemeta").read_text())
    return meta["files"][key]


@pytest.fixture(scope="module")
def hashed(tmp_path_factory):
    """A server recording sha256 too (by its environment variable), with a project."""
    from conftest import Server

    base = tmp_path_factory.mktemp("hashes")
    root = base / "demo"
    root.mkdir()
    server = Server({"demo": root}, base / "state", base / "server.log",
                    env={"ASSETDAV_HASH_SHA256": "true"}).start()
    api = server.url + "api/"
    assert requests.post(api + "demo/create", json={"id": "proj"}, timeout=10).ok
    yield server, root, api
    server.stop()


def test_every_way_in_records_three_digests(hashed):
    server, root, api = hashed
    expected = {"size": len(BODY), **digests(BODY)}

    # the OVE upload route
    up = requests.post(api + "demo/proj/upload/up", params={"filename": "a.bin", "create": "true"},
                       data=BODY, timeout=30)
    assert up.status_code == 200, up.text
    # a WebDAV PUT into an asset folder
    assert mkcol(server.store_url() + "proj/dav/").status_code == 201
    assert put(server, "proj/dav/b.bin", BODY) == 201
    # a resumable (tus) upload in two pieces
    made = create(api, len(BODY), {"store": "demo", "project": "proj", "asset": "tus",
                                   "filename": "c.bin", "create": "true"})
    assert made.status_code == 201, made.text
    url = made.headers["Location"]
    url = url if url.startswith("http") else server.url.rstrip("/") + url
    assert patch(url, 0, BODY[:70_000]).status_code == 204
    assert patch(url, 70_000, BODY[70_000:]).status_code == 204
    # a file copied in behind the server's back (the watcher takes it in)
    shutil.copyfile(root / "proj" / "dav" / "b.bin", root / "proj" / "dav" / "d.bin")

    # a big PUT, hashed in a second thread past its first 8 MiB
    big = os.urandom(24 << 20)
    assert put(server, "proj/dav/big.bin", big) == 201
    got = record(root, "proj/dav", "big.bin")
    assert {k: got[k] for k in ("xxh3_128", "blake3", "sha256")} == digests(big)

    for owner, key in (("proj/up", "1/a.bin"), ("proj/dav", "b.bin"), ("proj/tus", "1/c.bin")):
        got = record(root, owner, key)
        assert {k: got[k] for k in expected} == expected, (owner, key, got)
    assert eventually(lambda: "d.bin" in yaml.safe_load(
        (root / "proj/dav/.ovemeta").read_text())["files"], timeout=10)
    got = record(root, "proj/dav", "d.bin")
    assert {k: got[k] for k in expected} == expected


def test_lookup_and_reuse_by_each_algorithm(hashed):
    server, root, api = hashed
    data = os.urandom(50_000)
    assert requests.post(api + "demo/proj/upload/src", params={"filename": "s.bin",
                         "create": "true"}, data=data, timeout=30).ok
    wanted = digests(data)
    specs = {"xxh3": wanted["xxh3_128"], "blake3": wanted["blake3"], "sha256": wanted["sha256"]}
    for algorithm, hexdigest in specs.items():
        spec = f"{algorithm}:{hexdigest}"
        assert requests.head(api + f"hash/{spec}", timeout=10).status_code == 200, spec
        found = requests.get(api + f"hash/{spec}", timeout=10).json()
        assert found["hash"] == spec
        assert [loc["path"] for loc in found["locations"]] == ["1/s.bin"]
    # upper case is the same hash; an unknown one is 404; a malformed or ambiguous one 400
    upper = f"hash/blake3:{specs['blake3'].upper()}"
    assert requests.head(api + upper, timeout=10).status_code == 200
    assert requests.head(api + "hash/sha256:" + "0" * 64, timeout=10).status_code == 404
    for bad in ("blake3:" + "0" * 32, "sha256:abc", "md5:" + "0" * 32, "0" * 64):
        answer = requests.get(api + f"hash/{bad}", timeout=10)
        assert answer.status_code == 400, bad
        assert set(answer.json()) >= {"title", "description"}

    # from-hash by blake3 and by sha256: the same inode, and the record carried over
    for asset, algorithm in (("by-blake3", "blake3"), ("by-sha256", "sha256")):
        reused = requests.post(api + f"demo/proj/from-hash/{asset}",
                               json={"hash": f"{algorithm}:{specs[algorithm]}",
                                     "filename": "same.bin", "create": True}, timeout=10)
        assert reused.status_code == 200, reused.text
        assert (root / "proj" / asset / "1/same.bin").stat().st_ino == \
            (root / "proj/src/1/s.bin").stat().st_ino
        got = record(root, f"proj/{asset}", "1/same.bin")
        assert {k: got[k] for k in wanted} == wanted


def test_without_sha256_records_two_and_older_records_are_completed(make_server):
    server = make_server(env={"ASSETDAV_INDEX_WATCH": "0", "ASSETDAV_RECONCILE_INTERVAL": "86400"})
    root, api = server.stores["demo"], server.url + "api/"
    assert mkcol(server.store_url() + "proj/").status_code == 201
    assert mkcol(server.store_url() + "proj/a/").status_code == 201
    assert put(server, "proj/a/x.bin", BODY) == 201
    got = record(root, "proj/a", "x.bin")
    assert set(got) == {"size", "xxh3_128", "blake3", "mtime"}
    assert got["blake3"] == digests(BODY)["blake3"]

    # a record written before blake3 existed: the next write to the asset completes it
    sidecar = root / "proj/a/.ovemeta"
    meta = yaml.safe_load(sidecar.read_text())
    del meta["files"]["x.bin"]["blake3"]
    sidecar.write_text(yaml.safe_dump(meta))
    assert put(server, "proj/a/y.txt", b"next") == 201
    assert record(root, "proj/a", "x.bin")["blake3"] == digests(BODY)["blake3"]
    assert eventually(lambda: requests.head(api + f"hash/blake3:{digests(BODY)['blake3']}",
                                            timeout=10).status_code == 200)


def test_check_verifies_every_recorded_digest(make_server, tmp_path):
    server = make_server(env={"ASSETDAV_INDEX_WATCH": "0", "ASSETDAV_RECONCILE_INTERVAL": "86400"})
    root = server.stores["demo"]
    assert mkcol(server.store_url() + "proj/").status_code == 201
    assert mkcol(server.store_url() + "proj/a/").status_code == 201
    assert put(server, "proj/a/x.bin", BODY) == 201
    server.stop()

    def check() -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETDAV_")}
        env["ASSETDAV_CONFIG"] = str(REPO / "tests" / "empty-config.yaml")
        return subprocess.run(
            [sys.executable, "-P", "-m", "davserver", "check", "--store", f"demo={root}",
             "--state-dir", str(tmp_path / "check-state"), *extra],
            capture_output=True, text=True, env=env, timeout=60, cwd=str(tmp_path))

    extra: list[str] = []
    assert check().returncode == 0
    # a blake3 that does not match the bytes (xxh3 still does): reported, naming blake3
    sidecar = root / "proj/a/.ovemeta"
    meta = yaml.safe_load(sidecar.read_text())
    meta["files"]["x.bin"]["blake3"] = "0" * 64
    sidecar.write_text(yaml.safe_dump(meta))
    result = check()
    assert result.returncode == 1
    assert "hash-mismatch" in result.stdout and "blake3" in result.stdout, result.stdout
    # asking for sha256 (--sha256) reports the records that lack it
    meta["files"]["x.bin"]["blake3"] = digests(BODY)["blake3"]
    sidecar.write_text(yaml.safe_dump(meta))
    assert check().returncode == 0
    extra = ["--sha256"]
    result = check()
    assert result.returncode == 1 and "hash-missing" in result.stdout, result.stdout
