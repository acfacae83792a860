"""Small things a new user trips on: a password without a terminal, multipart uploads,
the files of an asset never uploaded to through the API, what the log says about files
found on disk, server paths in errors, and what interrupted writes leave behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from PIL import Image

from conftest import REPO
from dav import eventually, mkcol


def test_adding_a_user_without_a_terminal_says_to_use_password_stdin(tmp_path):
    result = subprocess.run(
        [sys.executable, "-P", "-m", "davserver", "user", "add", "root", "--admin",
         "--state-dir", str(tmp_path / "state")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env={**os.environ, "ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")},
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--password-stdin" in result.stderr
    assert not (tmp_path / "state" / "users.yaml").exists()


def test_uploads_take_a_multipart_file_part_or_a_content_disposition_name(server):
    api = server.url + "api/demo/p/upload/"
    assert requests.post(server.url + "api/demo/create", json={"id": "p"}, timeout=10).ok
    data = os.urandom(300_000)
    multipart = requests.post(
        api + "m1",
        params={"create": "true"},
        files={"note": (None, "a form field first"), "file": ("photo.bin", data)},
        timeout=30,
    )
    assert multipart.status_code == 200, multipart.text
    assert multipart.json() == {"Asset": "m1", "Filename": "photo.bin", "Version": 1}
    stored = server.stores["demo"] / "p" / "m1" / "1" / "photo.bin"
    assert stored.read_bytes() == data  # the part's bytes, not the multipart body
    named = requests.post(
        api + "m2",
        params={"create": "true"},
        data=b"raw bytes",
        headers={"Content-Disposition": 'attachment; filename="from header.txt"'},
        timeout=30,
    )
    assert named.status_code == 200, named.text
    assert named.json()["Filename"] == "from header.txt"
    unnamed = requests.post(api + "m3", params={"create": "true"}, data=b"x", timeout=30)
    assert unnamed.status_code == 400
    assert "filename" in unnamed.json()["description"]
    no_file = requests.post(
        api + "m4", params={"create": "true"}, files={"note": (None, "text only")}, timeout=30
    )
    assert no_file.status_code == 400
    assert not (server.stores["demo"] / "p" / "m3").exists()
    assert not (server.stores["demo"] / "p" / "m4").exists()


def test_files_outside_version_folders_are_listed_as_version_0(server):
    url = server.store_url()
    assert mkcol(url + "p/").status_code == 201
    assert mkcol(url + "p/a/").status_code == 201
    assert requests.put(url + "p/a/sunset.png", data=b"png", timeout=10).status_code == 201
    files = requests.get(server.url + "api/demo/p/files/a", timeout=10).json()
    assert [f["name"] for f in files] == ["sunset.png"]
    assert requests.get(files[0]["url"], timeout=10).content == b"png"


def test_files_found_on_disk_are_logged_and_errors_name_no_server_path(server):
    url = server.store_url()
    root = server.stores["demo"]
    assert mkcol(url + "p/").status_code == 201
    assert mkcol(url + "p/a/").status_code == 201
    assert requests.put(url + "p/a/edited.txt", data=b"12345", timeout=10).status_code == 201
    (root / "p" / "a" / "dropped.txt").write_bytes(b"abc")
    (root / "p" / "a" / "edited.txt").write_bytes(b"1234567890")
    assert eventually(lambda: "took in /demo/p/a/edited.txt" in server.log(), timeout=10)
    log = server.log()
    assert "took in /demo/p/a/dropped.txt from the disk: new -> 3 bytes" in log
    assert "took in /demo/p/a/edited.txt from the disk: 5 bytes -> 10 bytes" in log
    assert mkcol(url + "p/bad/").status_code == 201
    (root / "p" / "bad" / ".ovemeta").write_text("{not: [yaml")
    answer = requests.get(server.url + "api/demo/p/meta/bad", timeout=10)
    assert answer.status_code == 409
    assert "demo/p/bad/.ovemeta" in answer.json()["description"]
    assert str(root) not in answer.text


def test_temporaries_of_killed_writes_are_swept_at_start_and_reported_by_check(make_server):
    server = make_server(start=False)
    root = server.stores["demo"]
    (root / "p" / "a").mkdir(parents=True)
    old = root / "p" / "a" / ".~assetdav-0123456789abcdef.part"
    old.write_bytes(b"x" * 100)
    stamp = time.time() - 600
    os.utime(old, (stamp, stamp))
    fresh = root / "p" / ".~assetdav-fedcba9876543210.part"
    fresh.write_bytes(b"y")
    check = subprocess.run(
        [sys.executable, "-P", "-m", "davserver", "check", "--store", f"demo={root}",
         "--state-dir", str(server.state_dir)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")},
    )  # fmt: skip
    assert check.returncode == 1
    assert "temporary: /demo/p/a/.~assetdav-0123456789abcdef.part" in check.stdout
    server.start()
    assert eventually(lambda: not old.exists(), timeout=10)
    assert fresh.exists()  # a write of another process may still be using it


def png_bytes(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, format="PNG")
    return out.getvalue()


def test_dzi_refuses_degenerate_shapes_before_decoding(server):
    from test_workers import Client

    c = Client(server)
    c.project()
    c.upload("thin", "thin.png", png_bytes(1, 20_000_000))
    task_id = c.queued("thin", "dzi")
    task = c.wait(task_id, timeout=30)
    assert task["status"] == "error"
    assert "tiles" in task["error"] and "dzi_max_tiles" in task["error"]
    assert c.get("thin/1/dzi/").status_code == 404
    assert Path(server.stores["demo"] / "proj" / "thin" / "1").is_dir()
