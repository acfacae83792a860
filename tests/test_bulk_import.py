"""Sartiq's bulk CSV import: 1,000 rows (URLs of a local HTTP server started here, content
hashes, paths under migration.allowed_roots, bad rows) with a restart in the middle; the
error list; hash rows linked, not fetched; running the same CSV again changes nothing."""

from __future__ import annotations

import io
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import blake3
import pytest
import requests
import yaml
from PIL import Image

from conftest import Server, free_port

URL_ROWS, HASH_ROWS, PATH_ROWS = 900, 50, 20


def png(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (i % 256, i // 256, 7)).save(out, "PNG")
    return out.getvalue()


class Images(BaseHTTPRequestHandler):
    fetched: list[str] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        if not name.endswith(".png") or not name[:-4].isdigit():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        Images.fetched.append(name)
        data = png(int(name[:-4]))
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def importing(tmp_path):
    """The server and a source of images (a cluster's bulk imports: test_cluster.py)."""
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Images)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    root, allowed = tmp_path / "demo", tmp_path / "import"
    root.mkdir()
    allowed.mkdir()
    for i in range(PATH_ROWS):
        (allowed / f"local{i}.png").write_bytes(png(5000 + i))
    settings = {
        "stores": {"demo": str(root)},
        "downloads": {"allow_hosts": ["127.0.0.1"]},
        "migration": {"allowed_roots": [str(allowed)]},
        "derived": {"background": False},
    }
    config = tmp_path / "assetdav.yaml"
    config.write_text(yaml.safe_dump(settings))
    server = Server({}, tmp_path / "state", tmp_path / "server.log",
                    env={"ASSETDAV_CONFIG": str(config)}).start()
    yield server, root, allowed, f"http://127.0.0.1:{port}"
    server.stop()
    httpd.shutdown()


def the_csv(source: str, allowed, known: str) -> tuple[str, int]:
    lines = ["source,project,asset,filename,tags,description,metadata.sku"]
    for i in range(URL_ROWS):
        lines.append(f"{source}/img/{i}.png,bulk,a{i},,web;bulk,image {i},{i:04d}")
    for i in range(HASH_ROWS):
        lines.append(f"{known},bulk,h{i},h{i}.png,hashed,,")
    for i in range(PATH_ROWS):
        lines.append(f"{allowed}/local{i}.png,bulk,p{i},,local,,")
    bad = [
        "ftp://example.com/x.png,bulk,bad1,,,,",  # row 971: not a source we take
        f"{source}/img/1.png,bulk,,,,,",  # no asset
        f"{source}/img/2.png,bulk,bad/3,,,,",  # not a name
        f"{source}/img/3.png,bulk,bad4,,a\x01b,,",  # a control character in a tag
        f"{source}/missing.txt,bulk,bad5,,,,",  # the source answers 404 (found when fetched)
        "/etc/hostname,bulk,bad6,,,,",  # not under the allowed roots
        f"{'sha256:' + '0' * 64},bulk,bad7,x.png,,,",  # no such bytes
    ]
    bad += [f"ftp://x/{n},bulk,bad{n},,,," for n in range(8, 31)]
    lines += bad
    return "\n".join(lines) + "\n", len(bad)


def wait(status_url: str, until, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        job = requests.get(status_url, timeout=10).json()
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def test_a_thousand_rows_with_a_restart(importing):
    server, root, allowed, source = importing
    api = server.url + "api/"
    bulk = server.url + "compat/sartiq/bulk-upload/"
    seed = requests.post(api + "assets", files=[("file", ("seed.png", png(9999)))], timeout=10)
    assert seed.status_code == 201, seed.text
    known = "blake3:" + blake3.blake3(png(9999)).hexdigest()
    text, bad_rows = the_csv(source, allowed, known)

    started = requests.post(bulk, data=text.encode(), headers={"Content-Type": "text/csv"},
                            timeout=30)
    assert started.status_code == 202, started.text
    job_url = bulk + started.json()["id"]
    wait(job_url, lambda j: j["processed"] >= 200)
    server.restart()  # in the middle: the job goes on from the rows it had not finished
    job = wait(job_url, lambda j: j["status"] == "done")
    total = URL_ROWS + HASH_ROWS + PATH_ROWS + bad_rows
    assert (job["total_rows"], job["processed"]) == (total, total)
    assert (job["succeeded"], job["failed"]) == (total - bad_rows, bad_rows)
    assert job["finished_at"] >= job["created_at"]

    errors = requests.get(job_url + "/errors", timeout=10).json()
    by_row = {e["row"]: e for e in errors}
    first_bad = URL_ROWS + HASH_ROWS + PATH_ROWS + 1
    assert sorted(by_row) == list(range(first_bad, total + 1))
    assert by_row[first_bad]["column"] == "source"
    assert by_row[first_bad + 1]["column"] == "asset"
    assert by_row[first_bad + 2] == {"row": first_bad + 2, "column": "asset",
                                     "value": "bad/3", "message": by_row[first_bad + 2]["message"]}
    assert by_row[first_bad + 3]["column"] == "tags"
    assert "404" in by_row[first_bad + 4]["message"]
    assert "allowed_roots" in by_row[first_bad + 5]["message"]

    # the rows landed whole: file, tags, description, metadata
    meta = yaml.safe_load((root / "bulk/a7/.ovemeta").read_text())
    assert (root / "bulk/a7/1/7.png").read_bytes() == png(7)
    assert meta["tags"] == ["web", "bulk"] and meta["description"] == "image 7"
    assert meta["metadata"] == {"sku": "0007"}
    # hash rows are links to the bytes already there (never fetched)
    seed_file = next((root / "assets").glob("*/1/seed.png"))
    assert (root / "bulk/h3/1/h3.png").stat().st_ino == seed_file.stat().st_ino
    assert (root / "bulk/p4/1/local4.png").read_bytes() == png(5004)
    for bad in ("bad1", "bad5", "bad6", "bad7"):
        assert not (root / "bulk" / bad).exists()

    # the same CSV again: every row is there already; nothing is fetched or changed
    Images.fetched.clear()
    before = (root / "bulk/a7/.ovemeta").stat().st_mtime_ns
    again = requests.post(bulk, data=text.encode(), headers={"Content-Type": "text/csv"},
                          timeout=30)
    job = wait(bulk + again.json()["id"], lambda j: j["status"] == "done")
    assert (job["succeeded"], job["failed"]) == (total - bad_rows, bad_rows)
    assert Images.fetched == []  # (missing.txt is not a .png: it is never recorded)
    assert (root / "bulk/a7/.ovemeta").stat().st_mtime_ns == before
    assert not (root / "bulk/a7/2").exists()

    # a bad header starts nothing
    refused = requests.post(bulk, data=b"source,colour\nx,y\n",
                            headers={"Content-Type": "text/csv"}, timeout=10)
    assert refused.status_code == 400 and "colour" in refused.json()["description"]
    assert requests.get(bulk + "nope", timeout=10).status_code == 404

    # the native route: a multipart CSV into a project of a store given in the query
    native = api + "bulk-imports"
    small = f"source,asset\n{allowed}/local1.png,n1\nftp://x/y.png,n2\n".encode()
    started = requests.post(native, params={"store": "demo", "project": "native"},
                            files={"file": ("rows.csv", small, "text/csv")}, timeout=30)
    assert started.status_code == 202, started.text
    assert started.headers["Location"].endswith("/api/bulk-imports/" + started.json()["id"])
    job = wait(server.url.rstrip("/") + started.headers["Location"],
               lambda j: j["status"] == "done")
    assert (job["succeeded"], job["failed"]) == (1, 1)
    assert (root / "native/n1/1/local1.png").read_bytes() == png(5001)
    native_errors = requests.get(native + f"/{job['id']}/errors", timeout=10).json()
    assert [(e["row"], e["column"]) for e in native_errors] == [(2, "source")]
    for params in ({"colour": "red"}, {"store": "nowhere"}):
        answer = requests.post(native, params=params, data=small,
                               headers={"Content-Type": "text/csv"}, timeout=10)
        assert answer.status_code in (400, 404) and answer.json()["title"], params
    assert requests.post(native, data=small, headers={"Content-Type": "image/png"},
                         timeout=10).status_code == 415
