"""Three nodes over one store folder and one Redis (started by the test on a loopback
port, AOF on, in a temporary folder): what one node writes the others find at once (by
GET, /api/assets, the content hash, tag refine), with no inotify to help (index.watch is
off, as on a network filesystem); WebDAV locks, dead properties, spent presigned URLs and
login throttling span the nodes; litmus passes through nginx round-robin over the three."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest
import requests
import yaml
from cluster_setup import NGINX, REDIS, RedisServer, start_nginx
from test_clients import run_tool

from conftest import REPO, TOOLS, Server
from dav import mkcol

pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")


def start_nodes(base: Path, redis_url: str, count: int = 3) -> list[Server]:
    """`count` nodes: one store folder, one shared state folder, an index folder each."""
    store = base / "demo"
    store.mkdir(exist_ok=True)
    nodes = []
    for n in range(1, count + 1):
        config = base / f"node{n}.yaml"
        config.write_text(yaml.safe_dump({
            "cluster": {"redis_url": redis_url, "node_name": f"node{n}"},
            "index": {"watch": False, "path": str(base / f"index{n}"), "reconcile_interval": 2},
            "derived": {"background": False},
        }))
        nodes.append(Server({"demo": store}, base / "shared-state", base / f"node{n}.log",
                            env={"ASSETDAV_CONFIG": str(config)}))
    for node in nodes:
        node.start()
    return nodes


def single_process_tag_ids(path: Path) -> None:
    """Tag ids a single process gave before the store became a cluster: `legacy` is 41,
    and 57 was handed out once (to a tag since gone)."""
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE tags "
                     "(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE)")
        conn.execute("INSERT INTO tags (id, name) VALUES (41, 'legacy'), (57, 'gone')")
        conn.execute("DELETE FROM tags WHERE id = 57")


def single_process_export_configuration(path: Path) -> None:
    """An export configuration a single process kept before the store became a cluster."""
    from stores.state.export_configs import ExportConfigurations

    configs = ExportConfigurations(path)
    configs.create("anonymous", None, {"name": "From before", "metadata_adapter": "none",
                                       "image_format": "png"})
    configs.close()


LEFT_UPLOAD = "7" * 32
LEFT_BYTES = b"begun by a single process, " * 100


def single_process_upload(folder: Path) -> None:
    """A resumable upload a single process left half done: its record a file beside its
    data, as records.py keeps them."""
    from meta_api.tus.records import UploadRecord

    folder.mkdir(parents=True, exist_ok=True)
    half = len(LEFT_BYTES) // 2
    (folder / f"{LEFT_UPLOAD}.data").write_bytes(LEFT_BYTES[:half])
    record = UploadRecord(id=LEFT_UPLOAD, user="anonymous", store="demo", project="p",
                          asset="left", filename="left.txt", length=len(LEFT_BYTES),
                          create=True, offset=half, created=time.time(),
                          expires=time.time() + 86400)  # fmt: skip
    (folder / f"{LEFT_UPLOAD}.json").write_bytes(record.to_json())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[list[Server], RedisServer, Path]]:
    base = tmp_path_factory.mktemp("cluster")
    redis_server = RedisServer(base / "redis").start()
    single_process_tag_ids(base / "shared-state" / "tag-ids.sqlite")
    single_process_export_configuration(base / "shared-state" / "export-configurations.sqlite")
    single_process_upload(base / "shared-state" / "uploads")
    nodes = start_nodes(base, redis_server.url)
    yield nodes, redis_server, base
    for node in nodes:
        if node.proc is not None:
            node.stop()
    redis_server.stop()


def test_a_write_through_one_node_is_found_through_the_others(cluster):
    (one, two, three), _redis, base = cluster
    data = b"written through node 1\n" * 100
    assert mkcol(one.store_url() + "p/").status_code == 201
    assert mkcol(one.store_url() + "p/a/").status_code == 201
    assert requests.put(one.store_url() + "p/a/notes.txt", data=data, timeout=10).status_code == 201
    assert requests.get(two.store_url() + "p/a/notes.txt", timeout=10).content == data
    # the API of node 2 lists it at once: its index took the change in from the stream
    found = requests.get(two.url + "api/assets", params={"store": "demo", "q": "notes"},
                         timeout=10).json()
    assert [a["asset"] for a in found["assets"]] == ["a"], found
    digest = blake3.blake3(data).hexdigest()
    assert requests.head(two.url + f"api/hash/blake3:{digest}", timeout=10).status_code == 200
    assert requests.head(three.url + f"api/hash/blake3:{'0' * 64}", timeout=10).status_code == 404

    # tags set through node 2 are counted by node 3's refine
    tagged = requests.post(two.url + "api/demo/p/meta/a", json={"tags": ["red", "sky"]},
                           timeout=10)
    assert tagged.status_code == 200, tagged.text
    refine = requests.get(three.url + "api/tags/refine", params={"store": "demo"},
                          timeout=10).json()
    assert refine["tag_counts"] == {"red": 1, "sky": 1}, refine
    # a MOVE through node 3 is seen by node 1's index; the node's name is in the access log
    moved = requests.request("MOVE", three.store_url() + "p/a/",
                             headers={"Destination": three.store_url() + "p/b/"}, timeout=10)
    assert moved.status_code == 201, moved.text
    after = requests.get(one.url + "api/assets", params={"store": "demo"}, timeout=10).json()
    assert [a["asset"] for a in after["assets"]] == ["b"]
    assert "node=node3" in (base / "node3.log").read_text()


def test_locks_and_dead_properties_span_the_nodes(cluster):
    (one, two, three), _redis, _base = cluster
    mkcol(one.store_url() + "p/")  # (made already when the whole module runs)
    url = "p/locked.txt"
    assert requests.put(one.store_url() + url, data=b"v1", timeout=10).status_code == 201
    body = (b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
            b'</D:lockscope><D:locktype><D:write/></D:locktype>'
            b"<D:owner>node one</D:owner></D:lockinfo>")
    locked = requests.request("LOCK", one.store_url() + url, data=body,
                              headers={"Timeout": "Second-600"}, timeout=10)
    assert locked.status_code == 200, locked.text
    token = locked.headers["Lock-Token"].strip("<>")
    refused = requests.put(two.store_url() + url, data=b"v2", timeout=10)
    assert refused.status_code == 423
    listing = requests.request("PROPFIND", three.store_url() + "p/", headers={"Depth": "1"},
                               data=b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
                                    b"<D:lockdiscovery/></D:prop></D:propfind>", timeout=10)
    assert listing.content.count(token.encode()) == 1, listing.text  # its lock, once
    again = requests.request("LOCK", three.store_url() + url, data=body, timeout=10)
    assert again.status_code == 423
    allowed = requests.put(two.store_url() + url, data=b"v2", timeout=10,
                           headers={"If": f"(<{token}>)"})
    assert allowed.status_code in (200, 204), allowed.text
    unlocked = requests.request("UNLOCK", three.store_url() + url, timeout=10,
                                headers={"Lock-Token": f"<{token}>"})
    assert unlocked.status_code == 204
    assert requests.put(one.store_url() + url, data=b"v3", timeout=10).status_code in (200, 204)

    # a dead property set through node 1 is read through node 2
    patch = (b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:test">'
             b"<D:set><D:prop><Z:colour>teal</Z:colour></D:prop></D:set></D:propertyupdate>")
    assert requests.request("PROPPATCH", one.store_url() + url, data=patch,
                            timeout=10).status_code == 207
    find = (b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:test">'
            b"<D:prop><Z:colour/></D:prop></D:propfind>")
    seen = requests.request("PROPFIND", two.store_url() + url, data=find,
                            headers={"Depth": "0"}, timeout=10)
    assert seen.status_code == 207 and b"teal" in seen.content
    listed = requests.request("PROPFIND", three.store_url() + "p/", data=find,
                              headers={"Depth": "1"}, timeout=10)
    assert listed.content.count(b"teal") == 1, listed.text

    # a folder locked (Depth infinity) through node 1 guards what is put inside it anywhere
    mkcol(one.store_url() + "p/guarded/")
    held = requests.request("LOCK", one.store_url() + "p/guarded/", data=body, timeout=10,
                            headers={"Timeout": "Second-600", "Depth": "infinity"})
    assert held.status_code == 200, held.text
    folder_token = held.headers["Lock-Token"].strip("<>")
    assert requests.put(two.store_url() + "p/guarded/in.txt", data=b"x",
                        timeout=10).status_code == 423
    assert requests.put(three.store_url() + "p/guarded/in.txt", data=b"x", timeout=10,
                        headers={"If": f"(<{folder_token}>)"}).status_code == 201
    assert requests.request("UNLOCK", two.store_url() + "p/guarded/", timeout=10,
                            headers={"Lock-Token": f"<{folder_token}>"}).status_code == 204


def test_a_file_written_behind_the_nodes_backs_is_taken_in(cluster):
    """No write re-scans its asset folder in a cluster (there is no watcher on a network
    filesystem): what people put in the tree directly, the periodic reconcile takes in,
    and then every node finds it."""
    (one, two, three), _redis, base = cluster
    mkcol(one.store_url() + "p/")  # (made already when the whole module runs)
    mkcol(one.store_url() + "p/behind/")
    assert requests.put(one.store_url() + "p/behind/first.txt", data=b"1", timeout=10).ok
    (base / "demo/p/behind/dropped-behind.txt").write_bytes(b"behind the backs")
    assert requests.put(two.store_url() + "p/behind/second.txt", data=b"2", timeout=10).ok
    deadline = time.monotonic() + 30
    for node in (three, one):
        while True:
            found = requests.get(node.url + "api/assets", timeout=10, params={
                "store": "demo", "q": "dropped-behind.txt"}).json()["assets"]
            if [a["asset"] for a in found] == ["behind"]:
                break
            assert time.monotonic() < deadline, found
            time.sleep(0.2)
    from stores.sidecar import Sidecar

    recorded = Sidecar(base / "demo/p/behind").read()["files"]
    assert {"first.txt", "second.txt", "dropped-behind.txt"} <= set(recorded), recorded


def test_tag_ids_are_the_clusters_and_keep_those_given_before(cluster):
    """Tag ids live in Redis, the same through every node; the ids a single process gave
    (its SQLite file) are taken over, and no id is given twice."""
    import sqlite3

    (one, two, three), _redis, base = cluster
    mkcol(one.store_url() + "p/")  # (made already when the whole module runs)
    mkcol(one.store_url() + "p/tagged/")
    assert requests.post(two.url + "api/demo/p/meta/tagged", timeout=10,
                         json={"tags": ["legacy", "fresh-one", "fresh-two"]}).ok
    seen = []
    for node in (one, two, three):
        tags = requests.get(node.url + "api/tags", timeout=10, params={
            "store": "demo", "project": "p", "limit": 1000}).json()["tags"]
        seen.append({t["name"]: t["id"] for t in tags})
    assert seen[0] == seen[1] == seen[2]
    ids = seen[0]
    assert ids["legacy"] == 41
    assert sorted([ids["fresh-one"], ids["fresh-two"]]) == [58, 59]  # past 57, given once
    # the single process's file is left as it was (SQLite is not for a network filesystem)
    with contextlib.closing(sqlite3.connect(base / "shared-state" / "tag-ids.sqlite")) as db:
        assert db.execute("SELECT name FROM tags").fetchall() == [("legacy",)]


def test_a_fetch_through_one_node_is_the_last_access_on_the_others(cluster):
    (one, two, three), _redis, _base = cluster
    mkcol(one.store_url() + "p/")  # (made already when the whole module runs)
    mkcol(one.store_url() + "p/fetched/")
    assert requests.put(one.store_url() + "p/fetched/seen.txt", data=b"x", timeout=10).ok
    asset = requests.get(two.url + "api/assets", timeout=10, params={
        "store": "demo", "q": "seen.txt"}).json()["assets"][0]
    assert asset["last_access_time"] == asset["updated_at"]  # never fetched
    time.sleep(0.05)
    assert requests.get(one.url + f"api/assets/{asset['id']}/content", timeout=10).ok
    after = requests.get(three.url + f"api/assets/{asset['id']}", timeout=10).json()
    assert after["last_access_time"] > after["updated_at"]


def test_export_configurations_are_the_same_through_every_node(cluster):
    """Kept in Redis: made through one node, listed, changed and removed through others;
    the one a single process kept before is taken over."""
    (one, two, three), _redis, base = cluster
    api = [node.url + "api/export-configurations" for node in (one, two, three)]
    made = requests.post(api[0], timeout=10, json={"name": "Web", "image_format": "webp"})
    assert made.status_code == 201, made.text
    config = made.json()
    assert [c["name"] for c in requests.get(api[1], timeout=10).json()] == [
        "From before", "Web"]
    changed = requests.patch(f"{api[2]}/{config['id']}", timeout=10,
                             json={"name": "Web small", "naming_convention_template": None})
    assert changed.status_code == 200, changed.text
    assert changed.json()["image_format"] == "webp"
    seen = requests.get(f"{api[0]}/{config['id']}", timeout=10).json()
    assert seen["name"] == "Web small" and seen["updated_at"] >= config["updated_at"]
    import sqlite3  # the single process's file is left as it was

    with contextlib.closing(sqlite3.connect(base / "shared-state/export-configurations.sqlite")
                            ) as db:
        assert db.execute("SELECT name FROM configs").fetchall() == [("From before",)]
    assert requests.delete(f"{api[1]}/{config['id']}", timeout=10).status_code == 200
    assert requests.get(f"{api[2]}/{config['id']}", timeout=10).status_code == 404
    assert [c["name"] for c in requests.get(api[0], timeout=10).json()] == ["From before"]


def test_an_upload_a_single_process_left_is_finished_through_a_node(cluster):
    """Its record moved into Redis when the nodes started; it resumes where it was."""
    from test_tus import head, patch

    (one, two, _three), _redis, base = cluster
    mkcol(one.store_url() + "p/")  # (made already when the whole module runs)
    url = f"{two.url}api/uploads/{LEFT_UPLOAD}"
    offset = int(head(url).headers["Upload-Offset"])
    assert offset == len(LEFT_BYTES) // 2
    assert patch(url, offset, LEFT_BYTES[offset:]).status_code == 204
    assert (base / "demo/p/left/1/left.txt").read_bytes() == LEFT_BYTES


def test_a_bulk_import_is_followed_through_every_node(cluster):
    """Its records are in Redis: started through one node, run by one, followed and its
    errors read through the others."""
    (one, two, three), _redis, base = cluster
    seed = os.urandom(4096)
    assert requests.post(one.url + "api/assets", files=[("file", ("seed.bin", seed))],
                         timeout=10).status_code == 201
    known = "blake3:" + blake3.blake3(seed).hexdigest()
    rows = ["source,project,asset,filename,tags,description"]
    rows += [f"{known},bulkc,h{i},h{i}.bin,," for i in range(3)]
    rows += ["ftp://example.com/x.bin,bulkc,bad4,,,", f"{known},bulkc,,,,"]
    bulk = "compat/sartiq/bulk-upload/"
    started = requests.post(two.url + bulk, data="\n".join(rows) + "\n", timeout=30,
                            headers={"Content-Type": "text/csv"})
    assert started.status_code == 202, started.text
    status = f"{three.url}{bulk}{started.json()['id']}"
    deadline = time.monotonic() + 60
    while (job := requests.get(status, timeout=10).json())["status"] != "done":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    errors = requests.get(f"{one.url}{bulk}{started.json()['id']}/errors", timeout=10).json()
    assert (job["processed"], job["succeeded"], job["failed"]) == (5, 3, 2), errors
    assert sorted({e["row"] for e in errors}) == [4, 5]
    assert (base / "demo/bulkc/h2/1/h2.bin").read_bytes() == seed


def test_a_presigned_upload_is_spent_once_across_the_nodes(cluster):
    (one, two, _three), _redis, base = cluster
    mkcol(one.store_url() + "p/")  # (made already when the whole module runs)
    grant = requests.post(one.url + "api/uploads/presigned-url", timeout=10, json={
        "store": "demo", "project": "p", "asset": "signed", "filename": "s.bin",
        "content_type": "application/octet-stream", "size": 3, "create": True})
    assert grant.status_code == 200, grant.text
    url = grant.json()["upload_url"]
    assert requests.put(url, data=b"abc", timeout=10).status_code == 200
    elsewhere = url.replace(f":{one.port}/", f":{two.port}/")
    assert requests.put(elsewhere, data=b"xyz", timeout=10).status_code == 403
    assert (base / "demo/p/signed/1/s.bin").read_bytes() == b"abc"


@pytest.fixture(scope="module")
def balancer(cluster) -> Iterator[str]:
    """nginx round-robin over the three nodes; its base URL."""
    if NGINX is None:
        pytest.skip("nginx is not installed")
    nodes, _redis, base = cluster
    proc, port = start_nginx(base, [n.port for n in nodes])
    yield f"http://127.0.0.1:{port}/"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.skipif(shutil.which("litmus") is None, reason="litmus is not installed")
@pytest.mark.skipif(not TOOLS.is_dir(), reason="../shared/tools is not present")
def test_litmus_through_nginx_round_robin_over_three_nodes(cluster, balancer):
    _nodes, _redis, base = cluster
    output, passed, failed = run_tool("litmus.sh", balancer + "demo/")
    assert failed == 0 and passed > 0, output[-4000:]
    suites = [line.split(":")[0] for line in output.splitlines() if "passed," in line]
    assert suites[:5] == ["basic", "copymove", "props", "locks", "http"], output[-4000:]
    served_by = {n: (base / f"node{n}.log").read_text().count("litmus") for n in (1, 2, 3)}
    assert all(served_by.values()), served_by  # every node served part of it


LOAD_SECONDS = 60
REDIS_DOWN = (20, 30)  # seconds into the load: Redis stopped, then started again


def test_redis_restarted_under_mixed_load_through_nginx(cluster, balancer):
    """Four clients PUT, GET and tag through nginx for a minute; Redis is stopped and
    started in the middle. No acknowledged write is lost or torn, `assetdav check` is
    clean, and every node's index agrees with the tree."""
    import hashlib
    import random
    import sys
    import threading

    nodes, redis_server, base = cluster
    dav = balancer + "demo/"
    mkcol(dav + "load/")
    acknowledged: dict[str, bytes] = {}
    problems: list[str] = []
    refused = [0]
    stop = threading.Event()
    lock = threading.Lock()

    def client(number: int) -> None:
        rng = random.Random(number)
        asset = f"load/t{number}/"
        while mkcol(dav + asset).status_code not in (201, 405):
            time.sleep(0.2)
        n = 0
        while not stop.is_set():
            n += 1
            name = f"{asset}f{n:05d}.bin"
            body = hashlib.sha256(name.encode()).digest() * rng.randint(1, 2048)
            try:
                answer = requests.put(dav + name, data=body, timeout=30)
                if answer.status_code in (200, 201, 204):
                    with lock:
                        acknowledged[name] = body
                elif answer.status_code in (503, 423, 409):
                    refused[0] += 1
                else:
                    problems.append(f"PUT {name}: {answer.status_code}")
                if n % 7 == 0:
                    tags = requests.post(balancer + f"api/demo/load/meta/t{number}",
                                         json={"tags": [f"round{n}"]}, timeout=30)
                    if tags.status_code not in (200, 503, 409):
                        problems.append(f"tags: {tags.status_code} {tags.text[:200]}")
                if n % 5 == 0 and acknowledged:
                    with lock:
                        pick = rng.choice(sorted(acknowledged))
                        want = acknowledged[pick]
                    got = requests.get(dav + pick, timeout=30)
                    if got.status_code == 200 and got.content != want:
                        problems.append(f"GET {pick}: other bytes")
            except requests.RequestException as exc:
                refused[0] += 1
                time.sleep(0.1)
                del exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(REDIS_DOWN[0])
    redis_server.stop()
    time.sleep(REDIS_DOWN[1] - REDIS_DOWN[0])
    redis_server.start()
    time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
    stop.set()
    for thread in threads:
        thread.join(60)
    assert not problems, problems[:10]
    assert len(acknowledged) > 100 and refused[0] > 0, (len(acknowledged), refused[0])

    # every acknowledged write is there, whole
    store = base / "demo"
    for name, body in acknowledged.items():
        assert (store / name).read_bytes() == body, name
    checked = subprocess.run(
        [sys.executable, "-P", "-m", "davserver", "check", "--store", f"demo={store}",
         "--state-dir", str(base / "check-state")],
        capture_output=True, text=True, timeout=300, cwd=str(base),
        env={**os.environ, "ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")},
    )
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-3000:]
    # every node's index has every asset and finds a sample of the files by name
    sample = random.Random(7).sample(sorted(acknowledged), 20)
    for node in nodes:
        listed = requests.get(node.url + "api/assets", timeout=30, params={
            "store": "demo", "project": "load", "limit": 100}).json()
        assert sorted(a["asset"] for a in listed["assets"]) == [f"t{i}" for i in range(4)]
        for name in sample:
            found = requests.get(node.url + "api/assets", timeout=30, params={
                "store": "demo", "q": name.rsplit("/", 1)[1]}).json()
            assert name.split("/")[1] in [a["asset"] for a in found["assets"]], (node.port, name)


def test_a_tus_upload_begun_on_a_node_that_dies_is_finished_on_another(cluster):
    """Last in this module but one: it kills node 1 (and starts it again)."""
    import signal
    import threading

    from test_tus import OFFSET_STREAM, TUS, create, head, patch, target

    (one, two, _three), _redis, base = cluster
    data = os.urandom(3 << 20)
    mkcol(one.store_url() + "p/")  # (made already when the whole module runs)
    created = create(one.url + "api/", len(data), target(asset="resumed", filename="r.bin",
                                                        create="true", project="p"))
    assert created.status_code == 201, created.text
    path = created.headers["Location"].split(f":{one.port}", 1)[1]
    assert patch(one.url.rstrip("/") + path, 0, data[: 1 << 20]).status_code == 204

    def slow_body():
        yield data[1 << 20 : (1 << 20) + (256 << 10)]
        time.sleep(30)  # node 1 is killed meanwhile
        yield b""

    def send() -> None:
        with contextlib.suppress(requests.RequestException):
            requests.patch(one.url.rstrip("/") + path, data=slow_body(), timeout=60,
                           headers={**TUS, "Upload-Offset": str(1 << 20),
                                    "Content-Type": OFFSET_STREAM})

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    time.sleep(1.0)
    # while node 1 writes to it, node 2 refuses to: one writer per upload in the cluster
    on_two = two.url.rstrip("/") + path
    busy = patch(on_two, 1 << 20, data[1 << 20 :])
    assert busy.status_code == 423, busy.text
    one.proc.send_signal(signal.SIGKILL)
    one.proc.wait(timeout=10)
    # node 2 takes over once node 1's lease on the upload has run out
    deadline = time.monotonic() + 30
    while True:
        offset = int(head(on_two).headers["Upload-Offset"])
        answer = patch(on_two, offset, data[offset:])
        if answer.status_code == 204:
            break
        assert answer.status_code in (409, 423), answer.text
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.5)
    assert (base / "demo/p/resumed/1/r.bin").read_bytes() == data
    one.start()


def test_redis_down_then_back(cluster):
    """Redis stopped: writes answer 503 with Retry-After and change nothing, reads of files
    keep working; started again (from its AOF), the nodes carry on by themselves."""
    (one, two, _three), redis_server, base = cluster
    mkcol(one.store_url() + "p/")
    mkcol(one.store_url() + "p/down/")
    assert requests.put(one.store_url() + "p/down/kept.txt", data=b"kept", timeout=10).ok
    redis_server.stop()
    try:
        refused = requests.put(two.store_url() + "p/down/new.txt", data=b"new", timeout=30)
        assert refused.status_code == 503 and refused.headers.get("Retry-After"), refused.text
        assert not (base / "demo/p/down/new.txt").exists()
        api = requests.get(two.url + "api/assets", params={"store": "demo"}, timeout=30)
        assert api.status_code == 503 and api.headers.get("Retry-After")
        assert api.json()["title"]
        assert requests.get(two.store_url() + "p/down/kept.txt", timeout=10).content == b"kept"
        assert "Redis" in (base / "node2.log").read_text()
    finally:
        redis_server.start()
    deadline = time.monotonic() + 20
    while True:
        answer = requests.put(two.store_url() + "p/down/new.txt", data=b"new", timeout=30)
        if answer.status_code in (200, 201, 204):
            break
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.5)
    found = requests.get(one.url + "api/assets", params={"store": "demo", "q": "new"},
                         timeout=30).json()
    assert "down" in [a["asset"] for a in found["assets"]]


def a_zip(seed: int, files: int = 3, size: int = 1000) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for n in range(files):
            archive.writestr(f"f{n}.txt", (f"{seed}-{n} " * size).encode())
    return out.getvalue()


def test_tasks_run_once_across_the_nodes_and_survive_a_dead_node(cluster):
    """200 tasks queued through the three nodes each run exactly once; a node killed while
    it holds a task: another node takes the task once its lease ran out, and finishes it."""
    import re
    import signal

    import redis

    nodes, redis_server, base = cluster
    one = nodes[0]
    def upload(asset: str, data: bytes) -> None:
        answer = requests.post(one.url + f"api/demo/work/upload/{asset}", data=data, timeout=30,
                               params={"filename": f"{asset}.zip", "create": "true"})
        assert answer.status_code == 200, answer.text

    mkcol(one.store_url() + "work/")
    assets = 50
    for n in range(assets):
        upload(f"z{n}", a_zip(n))
    started_before = {n.port: n.log().count("started") for n in nodes}
    ids = []
    for n in range(200):  # four tasks per asset: never two of one asset at once
        node = nodes[n % 3]
        answer = requests.post(node.url + "api/workers/queue", timeout=10, json={
            "store_id": "demo", "project_id": "work", "asset_id": f"z{n % assets}",
            "worker_type": "zip"})
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["task_id"])
    assert len(set(ids)) == 200
    deadline = time.monotonic() + 120
    while True:
        tasks = {t["_id"]: t for t in requests.get(nodes[1].url + "api/workers/queue",
                                                    timeout=10).json()}
        if all(tasks[i]["status"] in ("done", "error") for i in ids):
            break
        assert time.monotonic() < deadline, [tasks[i]["status"] for i in ids]
        time.sleep(0.2)
    assert all(tasks[i]["status"] == "done" for i in ids), [tasks[i] for i in ids][:3]
    runs: dict[str, int] = {}
    for node in nodes:
        text = node.log()
        for task_id in re.findall(r"task (\d+) \(zip on ", text):
            runs[task_id] = runs.get(task_id, 0) + 1
    assert all(runs.get(str(i)) == 1 for i in ids), {i: runs.get(str(i)) for i in ids}
    ran_on = {n.port: n.log().count("started") - started_before[n.port] for n in nodes}
    assert sum(1 for c in ran_on.values() if c) >= 2, ran_on  # shared out, not one node's

    # a task held by a node that is killed runs again on another node after the lease
    big = a_zip(999, files=400, size=20000)  # takes a few seconds to unpack
    upload("slow", big)
    answer = requests.post(one.url + "api/workers/queue", timeout=10, json={
        "store_id": "demo", "project_id": "work", "asset_id": "slow", "worker_type": "zip"})
    task_id = answer.json()["task_id"]
    client = redis.Redis.from_url(redis_server.url)
    deadline = time.monotonic() + 30
    while (holder := client.get(f"assetdav:tasks:lease:{task_id}")) is None:
        assert time.monotonic() < deadline, "nobody took the slow task"
        time.sleep(0.01)
    victim = next(n for n in nodes if f"node{nodes.index(n) + 1}" == holder.decode())
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(timeout=10)
    survivor = next(n for n in nodes if n is not victim)
    deadline = time.monotonic() + 60
    while (task := next(t for t in requests.get(survivor.url + "api/workers/queue",
                                                timeout=10).json()
                        if t["_id"] == task_id))["status"] != "done":
        assert time.monotonic() < deadline, task
        time.sleep(0.2)
    assert (base / "demo/work/slow/1/zip/slow/f399.txt").exists()
    victim.start()


def test_nothing_is_kept_in_sqlite_in_the_shared_state_dir(cluster):
    """Last: after everything the module did, the shared state dir holds no SQLite file
    but the two a single process left there before (taken over, not written), and no
    upload record."""
    _nodes, _redis, base = cluster
    found = sorted(p.name for p in (base / "shared-state").rglob("*.sqlite*"))
    assert found == ["export-configurations.sqlite", "tag-ids.sqlite"], found
    # nor the records of resumable uploads (in Redis; their data waits in the folder)
    assert not list((base / "shared-state" / "uploads").glob("*.json"))
