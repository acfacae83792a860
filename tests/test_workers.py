"""Workers and the task queue through the real server: tiles, unpacking, order, restarts,
cancel and reset, and who may queue what."""

from __future__ import annotations

import hashlib
import io
import math
import re
import signal
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import requests
import yaml
from PIL import Image
from users import add_team, auth

FINISHED = {"done", "error", "canceled"}
TASK_KEYS = {
    "_id", "id", "createdOn", "priority", "status", "username", "storeID", "projectID",
    "assetID", "filename", "extension", "workerType", "taskOptions", "workerName",
    "startTime", "endTime", "error",
}  # fmt: skip
DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
DZI = "{http://schemas.microsoft.com/deepzoom/2008}"


# --- files the tests upload ----------------------------------------------------------------


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    """A gradient (quick to encode and decode at any size)."""
    image = Image.linear_gradient("L").resize((width, height)).convert(mode)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def zip_of(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def zip_with_symlink() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        link = zipfile.ZipInfo("link")
        link.external_attr = (0o120777 << 16) | 0x20
        link.create_system = 3
        archive.writestr(link, "/etc/passwd")
    return out.getvalue()


# --- steps through the API ------------------------------------------------------------------


class Client:
    """The API and WebDAV of one server, as one user."""

    def __init__(self, server, user: str | None = None) -> None:
        self.server = server
        self.api = server.url + "api/"
        self.dav = server.store_url()
        self.kw = {"auth": auth(user)} if user else {}

    def call(self, method: str, path: str, body=None, **kw) -> requests.Response:
        return requests.request(method, self.api + path, json=body, timeout=30, **{**self.kw, **kw})

    def project(self, project: str = "proj", groups: list[str] | None = None) -> None:
        assert self.call("POST", "demo/create", {"id": project}).status_code == 200
        if groups:
            response = self.call("POST", f"demo/{project}/projectAccessMeta", {"groups": groups})
            assert response.status_code == 200, response.text

    def upload(self, asset: str, filename: str, data: bytes, project: str = "proj") -> None:
        params = {"filename": filename, "create": "true", "update": "true"}
        response = requests.post(
            self.api + f"demo/{project}/upload/{asset}",
            params=params,
            data=data,
            timeout=60,
            **self.kw,
        )
        assert response.status_code == 200, response.text

    def queue(self, asset: str, worker: str, project: str = "proj", **extra) -> requests.Response:
        body = {"store_id": "demo", "project_id": project, "asset_id": asset, "worker_type": worker}
        return self.call("POST", "workers/queue", {**body, **extra})

    def queued(self, asset: str, worker: str, project: str = "proj", **extra) -> str:
        response = self.queue(asset, worker, project, **extra)
        assert response.status_code == 200, response.text
        assert response.json()["Status"] == "OK"
        return response.json()["task_id"]

    def tasks(self) -> list[dict]:
        response = self.call("GET", "workers/queue")
        assert response.status_code == 200, response.text
        return response.json()

    def task(self, task_id: str) -> dict:
        return next(t for t in self.tasks() if t["_id"] == task_id)

    def wait(self, task_id: str, until=FINISHED, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.task(task_id)
            if task["status"] in until:
                return task
            time.sleep(0.02)
        raise AssertionError(f"task {task_id} is still {task['status']}: {task}")

    def meta(self, asset: str, project: str = "proj") -> dict:
        response = self.call("GET", f"demo/{project}/meta/{asset}")
        assert response.status_code == 200, response.text
        return response.json()

    def sidecar(self, asset: str, project: str = "proj") -> dict:
        response = requests.get(self.dav + f"{project}/{asset}/.ovemeta", timeout=10, **self.kw)
        assert response.status_code == 200
        return yaml.safe_load(response.text)

    def get(self, path: str, project: str = "proj") -> requests.Response:
        """GET over WebDAV, `path` inside the project."""
        return requests.get(self.dav + f"{project}/{path}", timeout=10, **self.kw)


def assert_error(response: requests.Response, status: int, title: str | None = None) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) >= {"title", "description"} and body["description"]
    if title is not None:
        assert body["title"] == title, body
    return body["description"]


def with_threads(make_server, threads: int, **kw):
    return make_server(env={"ASSETDAV_WORKER_THREADS": str(threads)}, **kw)


def restart(server, threads: int, sig: int = signal.SIGTERM):
    server.stop(sig)
    server.env["ASSETDAV_WORKER_THREADS"] = str(threads)
    return server.start()


def tree_snapshot(root: Path, skip: tuple[str, ...]) -> dict[str, str]:
    """Every folder and file under `root` but server state, logs and sidecars."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0].startswith(skip) or path.name == ".ovemeta":
            continue
        found[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return found


# --- the tests --------------------------------------------------------------------------------


def test_workers_are_listed_and_an_admin_can_remove_one(make_server):
    c = Client(with_threads(make_server, 0))
    workers = c.call("GET", "workers").json()
    assert {w["name"] for w in workers} == {"zip", "dzi"}
    dzi = next(w for w in workers if w["name"] == "dzi")
    assert set(dzi) == {"name", "type", "description", "extensions", "status", "docs", "parameters"}
    assert dzi["type"] == "dzi" and dzi["status"] == "ready" and ".png" in dzi["extensions"]
    assert [w["name"] for w in c.call("GET", "workers", params={"name": "zip"}).json()] == ["zip"]
    assert c.call("GET", "workers", params={"name": "nope"}).json() == []
    assert c.call("GET", "workers/status").json() == {"zip": "ready", "dzi": "ready"}
    assert c.call("GET", "workers/status", params={"name": "dzi"}).json() == {"dzi": "ready"}
    assert_error(c.call("GET", "workers/status", params={"name": "nope"}), 400, "Worker not found")

    assert_error(c.call("DELETE", "workers", {"name": "nope"}), 400, "Worker not found")
    assert_error(c.call("DELETE", "workers", {}), 400)
    assert_error(c.call("DELETE", "workers", data=b"not json"), 400)
    assert c.call("DELETE", "workers", {"name": "zip"}).json() == {"status": "OK"}
    assert [w["name"] for w in c.call("GET", "workers").json()] == ["dzi"]
    assert_error(c.call("GET", "workers/status", params={"name": "zip"}), 400)
    c.project()
    c.upload("z", "a.zip", zip_of({"a.txt": b"a"}))
    assert_error(c.queue("z", "zip"), 400, "Worker not found")
    restart(c.server, 0)
    assert {w["name"] for w in c.call("GET", "workers").json()} == {"zip", "dzi"}


def test_dzi_tiles_a_large_image_and_webdav_serves_them(server):
    c = Client(server)
    c.project()
    c.upload("big", "photo.png", png(4000, 3000))
    c.upload("clear", "logo.png", png(300, 200, "RGBA"))
    big = c.queued("big", "dzi")
    clear = c.queued("clear", "dzi", priority=3)
    done = c.wait(big)
    assert done["status"] == "done" and done["error"] is None, done
    assert done["workerName"] == "dzi" and DATE.match(done["startTime"] or "")
    assert DATE.match(done["endTime"] or "") and done["endTime"] >= done["startTime"]

    descriptor = c.get("big/1/dzi/photo/photo.dzi")
    assert descriptor.status_code == 200
    root = ET.fromstring(descriptor.content)
    assert root.tag == f"{DZI}Image"
    assert (root.get("Format"), root.get("Overlap"), root.get("TileSize")) == ("jpg", "1", "254")
    size = root.find(f"{DZI}Size")
    assert (size.get("Width"), size.get("Height")) == ("4000", "3000")
    # 2^12 = 4096 >= 4000: levels 0..12; level 12 is the full image in 16 x 12 tiles
    for tile, expected in (
        ("12/0_0.jpg", (255, 255)),
        ("12/1_1.jpg", (256, 256)),
        ("12/15_11.jpg", (4000 - 15 * 254 + 1, 3000 - 11 * 254 + 1)),
        ("11/0_0.jpg", (255, 255)),
        ("0/0_0.jpg", (1, 1)),
    ):
        response = c.get(f"big/1/dzi/photo/photo_files/{tile}")
        assert response.status_code == 200, tile
        image = Image.open(io.BytesIO(response.content))
        image.load()
        assert (image.format, image.size) == ("JPEG", expected), tile
    assert c.get("big/1/dzi/photo/photo_files/12/16_0.jpg").status_code == 404

    files = c.sidecar("big")["files"]
    tiles = [k for k in files if k.startswith("1/dzi/photo/photo_files/")]
    assert "1/dzi/photo/photo.dzi" in files
    assert "1/dzi/photo/photo_files/12/15_11.jpg" in files
    per_level = [
        math.ceil(math.ceil(4000 / 2 ** (12 - lv)) / 254)
        * math.ceil(math.ceil(3000 / 2 ** (12 - lv)) / 254)
        for lv in range(13)
    ]
    assert len(tiles) == sum(per_level) == 265
    meta = c.meta("big")
    assert (meta["processing_status"], meta["worker"], meta["processing_error"]) == ("done", "", "")

    assert c.wait(clear)["status"] == "done"
    root = ET.fromstring(c.get("clear/1/dzi/logo/logo.dzi").content)
    assert root.get("Format") == "png"
    tile = Image.open(io.BytesIO(c.get("clear/1/dzi/logo/logo_files/9/0_0.png").content))
    assert tile.format == "PNG" and tile.mode == "RGBA"


def test_a_corrupt_image_ends_in_error_and_reset_runs_it_again(server):
    c = Client(server)
    c.project()
    c.upload("bad", "broken.png", b"\x89PNG\r\n\x1a\n this is no image at all")
    task_id = c.queued("bad", "dzi")
    task = c.wait(task_id)
    message = "cannot read broken.png as an image: cannot identify image file"
    assert (task["status"], task["error"]) == ("error", message)
    meta = c.meta("bad")
    assert (meta["processing_status"], meta["processing_error"], meta["worker"]) == (
        "error",
        message,
        "",
    )
    assert not (server.stores["demo"] / "proj" / "bad" / "1" / "dzi").exists()
    assert_error(c.call("DELETE", "workers/queue", {"task_id": task_id}), 409)

    fixed = requests.put(c.dav + "proj/bad/1/broken.png", data=png(300, 300), timeout=10)
    assert fixed.status_code == 204
    assert c.call("PATCH", "workers/queue", {"task_id": task_id}).json() == {"status": "OK"}
    again = c.wait(task_id)
    assert (again["status"], again["error"]) == ("done", None)
    assert c.meta("bad")["processing_status"] == "done"
    assert c.get("bad/1/dzi/broken/broken.dzi").status_code == 200


def test_queue_requests_are_checked(make_server):
    c = Client(with_threads(make_server, 0))
    c.project()
    c.upload("img", "photo.png", png(20, 20))
    assert c.call("POST", "demo/proj/create", {"id": "empty"}).status_code == 200
    good = {"store_id": "demo", "project_id": "proj", "asset_id": "img", "worker_type": "dzi"}
    for missing in good:
        body = {k: v for k, v in good.items() if k != missing}
        assert missing in assert_error(c.call("POST", "workers/queue", body), 400)
    for bad in ({"priority": "high"}, {"priority": 1.5}, {"parameters": ["x"]}, {"asset_id": 3}):
        assert_error(c.call("POST", "workers/queue", {**good, **bad}), 400)
    assert_error(c.call("POST", "workers/queue", data=b"{"), 400)
    assert_error(c.queue("img", "dzi", project="nope"), 400)
    assert_error(c.call("POST", "workers/queue", {**good, "store_id": "nope"}), 400)
    assert_error(c.queue("nope", "dzi"), 400)
    assert_error(c.queue("img", "nope"), 400, "Worker not found")
    assert "upload" in assert_error(c.queue("empty", "dzi"), 400)
    missing_file = c.queue("img", "dzi", parameters={"filename": "other.png"})
    assert "upload" in assert_error(missing_file, 400)
    assert ".zip" in assert_error(c.queue("img", "zip"), 400)
    assert_error(c.queue("img", "dzi", parameters={"filename": "../img/1/photo.png"}), 400)
    assert_error(c.queue("img", "dzi", parameters={"filename": 7}), 400)

    task_id = c.queued("img", "dzi", parameters={"filename": "photo.png"}, priority=7)
    (task,) = c.tasks()
    assert set(task) == TASK_KEYS
    assert task["_id"] == task["id"] == task_id
    assert DATE.match(task["createdOn"])
    assert {k: task[k] for k in TASK_KEYS - {"_id", "id", "createdOn"}} == {
        "priority": 7,
        "status": "new",
        "username": "anonymous",
        "storeID": "demo",
        "projectID": "proj",
        "assetID": "img",
        "filename": "photo.png",
        "extension": ".png",
        "workerType": "dzi",
        "taskOptions": {"filename": "photo.png"},
        "workerName": None,
        "startTime": None,
        "endTime": None,
        "error": None,
    }
    for unknown in ("999999", "abc", 0, 10**30):
        assert_error(c.call("DELETE", "workers/queue", {"task_id": unknown}), 400)
        assert_error(c.call("PATCH", "workers/queue", {"task_id": unknown}), 400)
    assert_error(c.call("DELETE", "workers/queue", {}), 400)
    assert_error(c.call("PATCH", "workers/queue", {"task": task_id}), 400)


def test_priority_then_age_and_a_restart_loses_no_task(make_server):
    server = with_threads(make_server, 0)
    c = Client(server)
    c.project()
    names = ["a", "b", "c", "d", "e"]
    for name in names:
        c.upload(name, f"{name}.zip", zip_of({"f.txt": name.encode()}))
    priority = {"a": 1, "b": 5, "c": 1, "d": 5, "e": 0}
    ids = {name: c.queued(name, "zip", priority=priority[name]) for name in names}
    assert [t["_id"] for t in c.tasks()] == [ids[n] for n in reversed(names)]  # newest first

    assert c.call("DELETE", "workers/queue", {"task_id": ids["e"]}).json() == {"status": "OK"}
    canceled = c.task(ids["e"])
    assert canceled["status"] == "canceled" and DATE.match(canceled["endTime"])
    assert_error(c.call("DELETE", "workers/queue", {"task_id": ids["e"]}), 409)
    assert c.call("PATCH", "workers/queue", {"task_id": int(ids["e"])}).status_code == 200
    reset = c.task(ids["e"])
    assert (reset["status"], reset["endTime"], reset["error"], reset["workerName"]) == (
        "new",
        None,
        None,
        None,
    )

    restart(server, 0)
    assert {t["_id"]: t["status"] for t in c.tasks()} == {ids[n]: "new" for n in names}
    restart(server, 1)
    finished = {name: c.wait(ids[name]) for name in names}
    assert {t["status"] for t in finished.values()} == {"done"}
    expected = ["b", "d", "a", "c", "e"]  # priority first, then oldest first
    starts = [finished[name]["startTime"] for name in expected]
    assert starts == sorted(starts)
    written = [c.sidecar(name)["files"][f"1/zip/{name}/f.txt"]["mtime"] for name in expected]
    assert written == sorted(written) and written[0] < written[-1]
    assert c.get("b/1/zip/b/f.txt").content == b"b"


def test_zip_unpacks_safely_within_limits(make_server, tmp_path):
    config = tmp_path / "workers.yaml"
    config.write_text(
        "stores: {}\nworkers:\n  zip_max_files: 3\n  zip_max_total_bytes: 4096\n",
        encoding="utf-8",
    )
    server = make_server(env={"ASSETDAV_CONFIG": str(config)})
    c = Client(server)
    c.project()
    good = {"readme.txt": b"hello", "sub/data.bin": bytes(range(256)), "sub/deep/x.txt": b"x"}
    c.upload("ok", "bundle.zip", zip_of({**good, "__MACOSX/._readme.txt": b"fork"}))
    assert c.wait(c.queued("ok", "zip"))["status"] == "done"
    for name, data in good.items():
        assert c.get(f"ok/1/zip/bundle/{name}").content == data
    assert c.get("ok/1/zip/bundle/__MACOSX/._readme.txt").status_code == 404
    assert "1/zip/bundle/sub/deep/x.txt" in c.sidecar("ok")["files"]

    refused = {
        "climb": (zip_of({"fine.txt": b"ok", "../../escape.txt": b"out"}), "'..'"),
        "absolute": (zip_of({"/tmp/escape.txt": b"out"}), "absolute"),
        "backslash": (zip_of({"..\\escape.txt": b"out"}), "backslash"),
        "link": (zip_with_symlink(), "symbolic link"),
        "many": (zip_of({f"{i}.txt": b"x" for i in range(4)}), "workers.zip_max_files"),
        "huge": (zip_of({"zeros.bin": bytes(5000)}), "workers.zip_max_total_bytes"),
        "corrupt": (b"PK\x03\x04 not really a zip", "cannot read"),
    }
    for name, (data, _why) in refused.items():
        c.upload(name, f"{name}.zip", data)
    skip = ("state", "server", "workers.yaml")
    before = tree_snapshot(tmp_path, skip)
    sidecars_before = {name: c.sidecar(name) for name in refused}
    ids = {name: c.queued(name, "zip") for name in refused}
    for name, (_data, why) in refused.items():
        task = c.wait(ids[name])
        assert task["status"] == "error", (name, task)
        assert why in task["error"], (name, task["error"])
        meta = c.meta(name)
        assert (meta["processing_status"], meta["processing_error"]) == ("error", task["error"])
        after = dict(c.sidecar(name))
        for key in ("processing_status", "processing_error"):
            after[key] = sidecars_before[name][key]
        assert after == sidecars_before[name], name
    assert tree_snapshot(tmp_path, skip) == before
    assert not [p for p in tmp_path.parent.rglob("escape.txt")]


def test_cancel_a_running_task_leaves_no_output(server):
    c = Client(server)
    c.project()
    c.upload("huge", "wide.png", png(8000, 6000))
    task_id = c.queued("huge", "dzi")
    assert c.wait(task_id, until={"processing"})["status"] == "processing"
    assert_error(c.call("PATCH", "workers/queue", {"task_id": task_id}), 409, "Task is processing")
    assert c.call("DELETE", "workers/queue", {"task_id": task_id}).json() == {"status": "OK"}
    task = c.wait(task_id)
    assert task["status"] == "canceled" and DATE.match(task["endTime"])
    meta = c.meta("huge")
    assert (meta["processing_status"], meta["worker"]) == ("canceled", "")
    assert c.get("huge/1/dzi/").status_code == 404
    folder = server.stores["demo"] / "proj" / "huge" / "1"
    assert sorted(p.name for p in folder.iterdir()) == ["wide.png"]
    assert_error(c.call("DELETE", "workers/queue", {"task_id": task_id}), 409)


def test_a_task_interrupted_by_a_stop_or_a_crash_runs_again_after_restart(make_server):
    server = with_threads(make_server, 1)
    c = Client(server)
    c.project()
    c.upload("huge", "wide.png", png(8000, 6000))
    task_id = c.queued("huge", "dzi")
    for sig in (signal.SIGTERM, signal.SIGKILL):
        c.wait(task_id, until={"processing"})  # and stopped at once: a wait let it finish
        started = time.monotonic()
        restart(server, 0, sig)
        assert time.monotonic() - started < 10
        task = c.task(task_id)
        assert (task["status"], task["workerName"], task["startTime"]) == ("new", None, None), sig
        meta = c.meta("huge")
        assert (meta["processing_status"], meta["worker"]) == ("new", ""), sig
        restart(server, 1)
    assert c.wait(task_id)["status"] == "done"
    assert c.get("huge/1/dzi/wide/wide_files/13/0_0.jpg").status_code == 200


def test_queue_access_follows_project_groups(make_server):
    server = make_server(start=False, env={"ASSETDAV_WORKER_THREADS": "0"})
    add_team(server)
    server.start()
    admin, writer, reader = (Client(server, user) for user in ("admin", "writer", "reader"))
    admin.project("A", ["teamA"])
    admin.project("B", ["teamB"])
    writer.upload("a1", "a.zip", zip_of({"a.txt": b"a"}), project="A")
    admin.upload("b1", "b.zip", zip_of({"b.txt": b"b"}), project="B")

    assert_error(reader.queue("a1", "zip", project="A"), 403)
    assert_error(writer.queue("b1", "zip", project="B"), 403)
    mine = writer.queued("a1", "zip", project="A")
    theirs = admin.queued("b1", "zip", project="B")
    assert [t["_id"] for t in writer.tasks()] == [mine]
    assert writer.task(mine)["username"] == "writer"
    assert reader.tasks() == []
    assert [t["_id"] for t in admin.tasks()] == [theirs, mine]

    for method in ("DELETE", "PATCH"):
        assert_error(reader.call(method, "workers/queue", {"task_id": mine}), 403)
        assert_error(writer.call(method, "workers/queue", {"task_id": theirs}), 403)
    assert writer.call("DELETE", "workers/queue", {"task_id": mine}).json() == {"status": "OK"}
    assert writer.call("PATCH", "workers/queue", {"task_id": mine}).json() == {"status": "OK"}

    assert reader.call("GET", "workers").status_code == 200
    assert reader.call("GET", "workers/status").status_code == 200
    assert_error(writer.call("DELETE", "workers", {"name": "zip"}), 403)
    assert_error(requests.get(server.url + "api/workers/queue", timeout=5), 401)
    assert {w["name"] for w in admin.call("GET", "workers").json()} == {"zip", "dzi"}


@pytest.mark.parametrize("threads", ["-1", "65", "many"])
def test_bad_worker_thread_settings_are_refused(make_server, threads):
    server = make_server(start=False, env={"ASSETDAV_WORKER_THREADS": threads})
    with pytest.raises(RuntimeError, match="ASSETDAV_WORKER_THREADS"):
        server.start()
