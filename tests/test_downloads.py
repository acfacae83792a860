"""Downloads from URLs as tasks, against a local HTTP server started here: the flow, a 302
chain, resuming with Range after a restart, cancel, what the rules refuse, the guard
against server-side request forgery, known content, and remote metadata."""

from __future__ import annotations

import hashlib
import io
import re
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import blake3
import pytest
import requests
import yaml
from cluster_setup import end_one_node_cluster, one_node_cluster_if_asked
from PIL import Image

from conftest import Server, free_port


def png_bytes(side: int = 300) -> bytes:
    out = io.BytesIO()
    Image.effect_noise((side, side), 60).convert("RGB").save(out, "PNG")
    return out.getvalue()


PHOTO = png_bytes()
BIG = PHOTO + bytes(3 << 20)  # a PNG head, then 3 MiB more: slow to send, too big for `strict`
ZIP = io.BytesIO()
with zipfile.ZipFile(ZIP, "w") as archive:
    archive.writestr("a.txt", "not an image")
ZIP_BYTES = ZIP.getvalue()


class Source(BaseHTTPRequestHandler):
    """/file/NAME, /slow/NAME (64 KiB every 20 ms), /hashed/NAME (states its sha256),
    /redirect/N (N hops, then /file/photo.png), /away (to localhost), /fake.png (a zip)."""

    ranges: list[str] = []
    port = 0

    def log_message(self, *args) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path.startswith("/redirect/"):
            hops = int(path.rsplit("/", 1)[1])
            self.send_response(302)
            self.send_header("Location", f"/redirect/{hops - 1}" if hops > 1 else "/file/photo.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/away":
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.port}/file/photo.png")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data, kind = (BIG, "image/png") if path.startswith("/slow/") else (PHOTO, "image/png")
        if path == "/fake.png":
            data = ZIP_BYTES
        if path.startswith("/big/"):
            data = BIG
        start = 0
        wanted = self.headers.get("Range")
        if wanted:
            Source.ranges.append(wanted)
        match = re.fullmatch(r"bytes=(\d+)-", wanted or "")
        if match and self.headers.get("If-Range", '"v1"') == '"v1"':
            start = int(match.group(1))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", '"v1"')
        self.send_header("Accept-Ranges", "bytes")
        if path.startswith("/hashed/"):
            self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
        if path.startswith("/file/named"):
            self.send_header("Content-Disposition", 'attachment; filename="sunset.png"')
        self.end_headers()
        if not body:
            return
        try:
            if path.startswith("/slow/"):
                for at in range(start, len(data), 64 << 10):
                    self.wfile.write(data[at : at + (64 << 10)])
                    time.sleep(0.02)
            else:
                self.wfile.write(data[start:])
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def source():
    port = free_port()
    Source.port = port
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Source)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def served(request, tmp_path_factory):
    """The server; `redis` (indirect parameter): a one-node cluster, its download tasks
    kept in Redis."""
    base = tmp_path_factory.mktemp("downloads")
    roots = {"demo": base / "demo", "strict": base / "strict"}
    for root in roots.values():
        root.mkdir()
    config = base / "assetdav.yaml"
    settings = {
        "stores": {
            "demo": str(roots["demo"]),
            "strict": {"path": str(roots["strict"]),
                       "rules": {"max_file_size": "1 MiB", "allowed_types": ["image/*"]}},
        },
        "downloads": {"allow_hosts": ["127.0.0.1"]},
        "hashes": {"sha256": True},
    }
    redis_server = one_node_cluster_if_asked(request, base / "redis", settings)
    config.write_text(yaml.safe_dump(settings))
    server = Server({}, base / "state", base / "server.log",
                    env={"ASSETDAV_CONFIG": str(config)}).start()
    yield server, roots, server.url + "api/"
    server.stop()
    end_one_node_cluster(redis_server, base / "state", "downloads.sqlite")


def start(api: str, url: str, **fields) -> requests.Response:
    return requests.post(api + "assets/download", json={"source_url": url, **fields}, timeout=30)


def finished(api: str, task_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = requests.get(api + f"tasks/{task_id}", timeout=10).json()
        if task["status"] in ("done", "failed", "canceled"):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish: {task}")


@pytest.mark.parametrize("served", ["single", "redis"], indirect=True)
def test_a_download_becomes_an_asset(served, source):
    server, roots, api = served
    began = start(api, source + "/file/photo.png", tags=["web"], user_metadata={"from": "url"})
    assert began.status_code == 202, began.text
    task = finished(api, began.json()["task_id"])
    assert task["status"] == "done", task
    assert (task["bytes_done"], task["bytes_total"]) == (len(PHOTO), len(PHOTO))
    asset = requests.get(api + f"assets/{task['asset_id']}", timeout=10).json()
    assert asset["name"] == "photo.png" and asset["tags"] == ["web"]
    assert asset["user_metadata"] == {"from": "url"}
    assert asset["asset_hash"] == "blake3:" + blake3.blake3(PHOTO).hexdigest()
    assert requests.get(api + f"assets/{task['asset_id']}/content", timeout=10).content == PHOTO

    # POST /api/assets with a JSON url is the same; the name from Content-Disposition
    began = requests.post(api + "assets", json={"url": source + "/file/named"}, timeout=30)
    assert began.status_code == 202, began.text
    task = finished(api, began.json()["task_id"])
    assert task["status"] == "done", task
    assert requests.get(api + f"assets/{task['asset_id']}", timeout=10).json()["name"] == \
        "sunset.png"

    # three redirects are followed; six are too many
    task = finished(api, start(api, source + "/redirect/3", name="hopped.png").json()["task_id"])
    assert task["status"] == "done", task
    task = finished(api, start(api, source + "/redirect/6").json()["task_id"])
    assert task["status"] == "failed" and "redirect" in task["error"]


@pytest.mark.parametrize("served", ["single", "redis"], indirect=True)
def test_resumes_with_range_after_a_restart_and_cancels(served, source, tmp_path):
    server, roots, api = served
    Source.ranges.clear()
    task_id = start(api, source + "/slow/big.png", name="slow.png").json()["task_id"]
    deadline = time.monotonic() + 20
    while requests.get(api + f"tasks/{task_id}", timeout=10).json()["bytes_done"] < (1 << 20):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    server.restart()
    task = finished(api, task_id, timeout=60)
    assert task["status"] == "done", task
    assert any(re.fullmatch(r"bytes=[1-9]\d*-", r) for r in Source.ranges), Source.ranges
    assert requests.get(api + f"assets/{task['asset_id']}/content", timeout=10).content == BIG
    parts = server.state_dir / "downloads"
    assert not list(parts.glob("*.part"))

    # a running download canceled: it stops, and leaves nothing behind
    task_id = start(api, source + "/slow/big.png", name="canceled.png").json()["task_id"]
    while requests.get(api + f"tasks/{task_id}", timeout=10).json()["status"] != "running":
        time.sleep(0.05)
    canceled = requests.delete(api + f"tasks/{task_id}", timeout=10)
    assert canceled.status_code == 200, canceled.text
    assert finished(api, task_id)["status"] == "canceled"
    assert requests.delete(api + f"tasks/{task_id}", timeout=10).status_code == 409
    assert not list(parts.glob("*.part"))
    assert not (roots["demo"] / "assets" / "canceled.png").exists()


def test_refusals_and_rules(served, source):
    server, roots, api = served
    port = source.rsplit(":", 1)[1]
    # not an allowed host and a loopback address; a scheme other than http(s)
    for url in (f"http://localhost:{port}/file/photo.png", "ftp://127.0.0.1/x", "file:///etc/passwd",
                f"http://[::1]:{port}/file/photo.png", "http://10.0.0.1/x", "not a url"):
        refused = start(api, url)
        assert refused.status_code == 400, (url, refused.text)
        assert refused.json()["title"] == "Refused URL"
        meta = requests.get(api + "assets/remote-metadata", params={"url": url}, timeout=10)
        assert meta.status_code == 400, url
    # an allowed host redirecting to a refused one: the task fails, nothing is stored
    task = finished(api, start(api, source + "/away").json()["task_id"])
    assert task["status"] == "failed" and "loopback" in task["error"], task
    # too large for the store, or not the type its rules take (by content)
    task = finished(api, start(api, source + "/big/big.png", store="strict").json()["task_id"])
    assert task["status"] == "failed" and "1048576" in task["error"], task
    task = finished(api, start(api, source + "/fake.png", store="strict").json()["task_id"])
    assert task["status"] == "failed" and "image/" in task["error"], task
    assert not list(roots["strict"].glob("*/*/1/*"))  # no file of either landed
    # unknown task ids
    assert requests.get(api + "tasks/nope", timeout=10).status_code == 404


def test_known_content_answers_at_once_and_remote_metadata(served, source):
    server, roots, api = served
    assert requests.request("MKCOL", server.store_url() + "known/", timeout=10).status_code == 201
    uploaded = requests.post(api + "assets", files=[("file", ("kept.png", PHOTO)),
                                                    ("project", (None, "known"))], timeout=10)
    assert uploaded.status_code == 201, uploaded.text
    kept = uploaded.json()["id"]
    # the source states the sha256 (HuggingFace's X-Linked-Etag): no task, the asset at once
    known = start(api, source + "/hashed/photo.png", project="known")
    assert known.status_code == 200, known.text
    assert known.json()["id"] == kept
    # or the client gives the hash
    digest = "blake3:" + blake3.blake3(PHOTO).hexdigest()
    again = start(api, source + "/file/photo.png", project="known", hash=digest)
    assert again.status_code == 200 and again.json()["id"] == kept

    meta = requests.get(api + "assets/remote-metadata",
                        params={"url": source + "/hashed/photo.png"}, timeout=10)
    assert meta.status_code == 200, meta.text
    assert meta.json() == {"url": source + "/hashed/photo.png", "name": "photo.png",
                           "size": len(PHOTO), "mime_type": "image/png",
                           "hash": "sha256:" + hashlib.sha256(PHOTO).hexdigest()}
    named = requests.get(api + "assets/remote-metadata", params={"url": source + "/file/named"},
                         timeout=10).json()
    assert named["name"] == "sunset.png" and named["hash"] is None
