"""A store on a full disk: every write is all or nothing. Either it is done and recorded,
or the tree and every sidecar are exactly as before, and the answer is 507 (a JSON title
saying the store is full for the API), logged as one warning, never a traceback.

The store lives on a small tmpfs the test mounts (as root); where mounting is refused the
tests are skipped with the reason.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import xxhash
from PIL import Image

from conftest import Server
from dav import NS, eventually, mkcol, proppatch

PAGE = 4096
TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory) -> Iterator[Path]:
    """A 16 MiB tmpfs, unmounted at the end."""
    mount_point = tmp_path_factory.mktemp("small-disk")
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({result.stderr.strip()}); run as root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture(scope="module")
def disk_server(small_disk: Path, tmp_path_factory) -> Iterator[Server]:
    """A server whose store `demo` is on the small disk; `other` (and the state dir) are
    on the ordinary one. The asset `proj/big` has a sidecar of several pages, `proj/b`
    a small one."""
    root = small_disk / "store"
    root.mkdir()
    base = tmp_path_factory.mktemp("disk-server")
    (base / "other").mkdir()
    server = Server({"demo": root, "other": base / "other"}, base / "state", base / "log")
    server.start()
    try:
        url = server.store_url()
        for folder in ("proj/", "proj/big/", "proj/b/"):
            assert mkcol(url + folder).status_code == 201
        for name in ("one.bin", "two.bin"):
            assert requests.put(url + "proj/big/" + name, data=os.urandom(PAGE), timeout=10).ok
        assert requests.put(url + "proj/b/keep.bin", data=b"keep", timeout=10).ok
        description = "x" * (6 * PAGE)  # the sidecar of `big` takes 7 pages
        answer = proppatch(url + "proj/big/", {f"{{{NS}}}description": description})
        assert answer.status_code == 207
        yield server
    finally:
        server.stop()


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Filler:
    """Takes all the free space of the disk but `leave` bytes (outside the store)."""

    def __init__(self, disk: Path) -> None:
        self.path = disk / "filler"

    def fill(self, leave: int) -> None:
        self.release()
        size = free_bytes(self.path.parent) - leave
        with open(self.path, "wb") as fh:
            if size > 0:
                os.posix_fallocate(fh.fileno(), 0, size)
        assert abs(free_bytes(self.path.parent) - leave) < PAGE

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


@pytest.fixture
def filler(small_disk: Path) -> Iterator[Filler]:
    found = Filler(small_disk)
    yield found
    found.release()


def snapshot(root: Path) -> dict[str, object]:
    """Every folder and file of the tree (hidden ones included) with its bytes' hash."""
    seen: dict[str, object] = {}
    for folder, _dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        seen[rel + "/"] = "dir"
        for name in files:
            with open(os.path.join(folder, name), "rb") as fh:
                seen[os.path.join(rel, name)] = xxhash.xxh3_128_hexdigest(fh.read())
    return seen


def assert_refused_and_unchanged(
    server: Server, filler: Filler, leave: int, request, *, api: bool = False
) -> requests.Response:
    """Fill the disk but `leave` bytes, run `request()`: it must answer 507 and change
    nothing in the tree; the log says so in one warning, without a traceback."""
    root = server.stores["demo"]
    before = snapshot(root)
    log_before = len(server.log())
    filler.fill(leave)
    try:
        response = request()
    finally:
        filler.release()
    if response.status_code == 207:  # PROPPATCH: the property's own status says it
        assert "HTTP/1.1 507 Insufficient Storage" in response.text, response.text
    else:
        assert response.status_code == 507, response.text
    if api:
        assert response.json()["title"] == "Store full", response.text
        assert "full" in response.json()["description"]
    assert snapshot(root) == before
    log = server.log()[log_before:]
    assert "Traceback" not in log, log
    assert " WARNING " in log, log
    return response


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((width, height), 64).convert("RGB").save(out, format="PNG")
    return out.getvalue()


# --- WebDAV ----------------------------------------------------------------------------------


def test_put_whose_sidecar_does_not_fit_leaves_no_file(disk_server, filler):
    url = disk_server.store_url() + "proj/big/"
    assert_refused_and_unchanged(
        disk_server, filler, PAGE, lambda: requests.put(url + "new.bin", data=b"n" * PAGE)
    )
    assert requests.get(url + "new.bin", timeout=10).status_code == 404


def test_put_replacing_a_file_keeps_the_old_bytes(disk_server, filler):
    url = disk_server.store_url() + "proj/big/one.bin"
    old = requests.get(url, timeout=10).content
    assert_refused_and_unchanged(
        disk_server, filler, PAGE, lambda: requests.put(url, data=b"r" * PAGE)
    )
    assert requests.get(url, timeout=10).content == old


def test_mkcol_proppatch_and_sidecar_put(disk_server, filler):
    url = disk_server.store_url() + "proj/"
    assert_refused_and_unchanged(disk_server, filler, 0, lambda: mkcol(url + "fresh/"))
    assert requests.get(url + "fresh/", timeout=10).status_code == 404
    assert_refused_and_unchanged(
        disk_server, filler, 0, lambda: proppatch(url + "big/", {f"{{{NS}}}description": "y"})
    )
    sidecar = b"description: from a client\n"
    assert_refused_and_unchanged(
        disk_server, filler, 0, lambda: requests.put(url + "big/.ovemeta", data=sidecar)
    )


def test_move_and_copy_of_files_and_assets(disk_server, filler):
    url = disk_server.store_url() + "proj/"

    def move(src: str, dst: str, overwrite: str = "F") -> requests.Response:
        headers = {"Destination": url + dst, "Overwrite": overwrite}
        return requests.request("MOVE", url + src, headers=headers, timeout=30)

    def copy(src: str, dst: str, overwrite: str = "F") -> requests.Response:
        headers = {"Destination": url + dst, "Overwrite": overwrite}
        return requests.request("COPY", url + src, headers=headers, timeout=30)

    assert_refused_and_unchanged(disk_server, filler, 0, lambda: move("big/one.bin", "b/one.bin"))
    assert_refused_and_unchanged(disk_server, filler, 0, lambda: move("big/", "big2/"))
    assert_refused_and_unchanged(disk_server, filler, 0, lambda: move("b/", "big/", "T"))
    assert_refused_and_unchanged(disk_server, filler, 2 * PAGE, lambda: copy("big/", "big3/"))
    assert_refused_and_unchanged(disk_server, filler, 2 * PAGE, lambda: copy("big/", "b/", "T"))
    assert_refused_and_unchanged(disk_server, filler, 0, lambda: copy("big/one.bin", "b/one.bin"))
    # With room, each works and is recorded.
    assert move("big/two.bin", "b/two.bin").status_code == 201
    assert copy("b/", "b2/").status_code == 201


def test_delete_of_a_file_whose_record_cannot_be_rewritten(disk_server, filler):
    url = disk_server.store_url() + "proj/big/one.bin"
    assert_refused_and_unchanged(disk_server, filler, 0, lambda: requests.delete(url, timeout=30))
    assert requests.get(url, timeout=10).status_code == 200


# --- the API -----------------------------------------------------------------------------------


def test_ove_uploads(disk_server, filler):
    api = disk_server.url + "api/demo/proj/upload/"

    def upload(asset: str, **params: str) -> requests.Response:
        return requests.post(
            api + asset, params={"filename": "u.bin", **params}, data=b"u" * PAGE, timeout=30
        )

    assert_refused_and_unchanged(
        disk_server, filler, PAGE, lambda: upload("big", update="true"), api=True
    )
    assert_refused_and_unchanged(
        disk_server, filler, 0, lambda: upload("made", create="true"), api=True
    )


def test_tus_landing(disk_server, filler):
    api = disk_server.url + "api/"
    meta = {"store": "demo", "project": "proj", "asset": "tus", "filename": "t.bin"}
    encoded = ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in {**meta, "create": ""}.items()
    )
    body = os.urandom(3 * PAGE)
    created = requests.post(
        api + "uploads/",
        headers={**TUS, "Upload-Length": str(len(body)), "Upload-Metadata": encoded},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    location = created.headers["Location"]
    url = location if location.startswith("http") else disk_server.url + location.lstrip("/")

    def finish() -> requests.Response:
        headers = {
            **TUS,
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        }
        return requests.patch(url, headers=headers, data=body, timeout=30)

    assert_refused_and_unchanged(disk_server, filler, 0, finish, api=True)


def test_presigned_put_and_from_hash(disk_server, filler):
    api = disk_server.url + "api/"
    grant = requests.post(
        api + "uploads/presigned-url",
        json={"store": "demo", "project": "proj", "asset": "big", "filename": "p.bin",
              "update": True},
        timeout=30,
    )  # fmt: skip
    assert grant.status_code == 200, grant.text
    upload_url = grant.json()["upload_url"]
    assert_refused_and_unchanged(
        disk_server,
        filler,
        PAGE,
        lambda: requests.put(upload_url, data=b"p" * PAGE, timeout=30),
        api=True,
    )
    # bytes stored in the other store (another disk: a copy, not a hard link)
    other = disk_server.store_url("other")
    assert mkcol(other + "src/").status_code == 201
    assert mkcol(other + "src/a/").status_code == 201
    data = os.urandom(5 * PAGE)
    assert requests.put(other + "src/a/blob.bin", data=data, timeout=30).status_code == 201
    digest = xxhash.xxh3_128_hexdigest(data)
    assert eventually(lambda: requests.head(api + f"hash/xxh3:{digest}", timeout=5).ok)
    assert_refused_and_unchanged(
        disk_server,
        filler,
        PAGE,
        lambda: requests.post(
            api + "demo/proj/from-hash/big",
            json={"hash": f"xxh3:{digest}", "filename": "h.bin", "update": True},
            timeout=30,
        ),
        api=True,
    )


def test_worker_output_that_does_not_fit_leaves_nothing(disk_server, filler):
    api = disk_server.url + "api/"
    root = disk_server.stores["demo"]
    image = png(1200, 900)  # incompressible: its tiles need far more than the room left
    answer = requests.post(
        api + "demo/proj/upload/pic", params={"filename": "p.png", "create": "true"},
        data=image, timeout=30,
    )  # fmt: skip
    assert answer.ok, answer.text
    before = {k: v for k, v in snapshot(root).items() if not k.startswith("proj/pic/.ovemeta")}
    filler.fill(4 * PAGE)  # room for the sidecar's marks, not for the tiles
    try:
        queued = requests.post(
            api + "workers/queue",
            json={"store_id": "demo", "project_id": "proj", "asset_id": "pic",
                  "worker_type": "dzi"},
            timeout=30,
        )  # fmt: skip
        assert queued.ok, queued.text
        task_id = queued.json()["task_id"]

        def ended() -> dict | None:
            tasks = requests.get(api + "workers/queue", timeout=10).json()
            task = next(t for t in tasks if t["id"] == task_id)
            return task if task["status"] in ("done", "error", "canceled") else None

        task = eventually(ended, timeout=60)
    finally:
        filler.release()
    assert task is not None and task["status"] == "error", task
    assert "full" in task["error"]
    after = {k: v for k, v in snapshot(root).items() if not k.startswith("proj/pic/.ovemeta")}
    assert after == before
    time.sleep(0.1)
    assert "Traceback" not in disk_server.log()
