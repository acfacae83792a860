"""Every input of the API gets an answer, never a 500: impossible names anywhere, absurd
JSON, and what OVE's documentation says about creating projects, objects and history."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import requests
import yaml

from conftest import Server
from dav import mkcol


@pytest.fixture(scope="module")
def api_server(tmp_path_factory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("inputs")
    (base / "demo").mkdir()
    server = Server({"demo": base / "demo"}, base / "state", base / "server.log")
    server.start()
    api = server.url + "api/"
    assert requests.post(api + "demo/create", json={"id": "pa"}, timeout=10).ok
    assert requests.post(api + "demo/pa/create", json={"name": "a1"}, timeout=10).ok
    yield server
    server.stop()


def error(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert body["title"] and body["description"], body
    return body


BAD_NAMES = ["a%00b", "a" * 300, "a" * 5000, "%ff%fe"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_impossible_names_in_path_parameters_are_400(api_server, name):
    api = api_server.url + "api/"
    for path in (
        f"demo/pa/meta/{name}",
        f"demo/pa/files/{name}",
        f"demo/pa/tags/{name}",
        f"demo/{name}/list",
        f"demo/{name}/projectMeta",
        f"demo/pa/object/{name}",
    ):
        answer = requests.get(api + path, timeout=10)
        assert answer.status_code in (400, 404), (path, answer.status_code, answer.text[:300])
        assert answer.status_code != 404 or path.startswith("demo/pa/object")
        error(answer, answer.status_code)
    upload = requests.post(
        api + f"demo/pa/upload/{name}", params={"filename": "f.txt", "create": "true"}, data=b"x"
    )
    error(upload, 400)
    assert "Traceback" not in api_server.log()


@pytest.mark.parametrize("asset", ["a\u0000b", "a" * 300, "", "/etc/passwd", "x/y", "..", "."])
def test_impossible_names_in_body_fields_are_400(api_server, asset):
    api = api_server.url + "api/"
    root = api_server.stores["demo"]
    before = sorted(p.name for p in (root / "pa").iterdir())
    queued = requests.post(
        api + "workers/queue",
        json={"store_id": "demo", "project_id": "pa", "asset_id": asset, "worker_type": "dzi"},
        timeout=10,
    )
    error(queued, 400)
    grant = requests.post(
        api + "uploads/presigned-url",
        json={
            "store": "demo",
            "project": "pa",
            "asset": asset,
            "filename": "f.txt",
            "create": True,
        },
        timeout=10,
    )
    error(grant, 400)
    created = requests.post(api + "demo/pa/create", json={"name": asset}, timeout=10)
    error(created, 400)
    assert sorted(p.name for p in (root / "pa").iterdir()) == before
    assert not (root / "passwd").exists() and not (root / "pa" / "passwd").exists()


def test_tags_with_control_characters_or_too_long_are_400_and_an_empty_list_clears(api_server):
    api = api_server.url + "api/demo/pa/tags/a1"
    assert requests.post(api, json=["red", "blue"], timeout=10).json() == ["red", "blue"]
    error(requests.post(api, json=["a\u0000b"], timeout=10), 400)
    error(requests.post(api, json=["line\nbreak"], timeout=10), 400)
    error(requests.post(api, json=["t" * 300], timeout=10), 400)
    error(requests.patch(api, json={"action": "add", "data": ["x\u001fy"]}, timeout=10), 400)
    assert requests.get(api, timeout=10).json() == ["red", "blue"]
    cleared = requests.post(api, json=[], timeout=10)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == []
    assert requests.get(api, timeout=10).json() == []


def test_json_nested_too_deep_is_400(api_server):
    api = api_server.url + "api/"
    deep = "[" * 100_000 + "]" * 100_000
    for method, path in (
        ("POST", "demo/pa/tags/a1"),
        ("POST", "demo/pa/object/deep"),
        ("POST", "workers/queue"),
        ("POST", "demo/create"),
    ):
        answer = requests.request(
            method, api + path, data=deep, headers={"Content-Type": "application/json"}
        )
        error(answer, 400)
    moderately = {"a": 1}
    for _ in range(70):
        moderately = {"a": moderately}
    error(requests.post(api + "demo/pa/object/nested", json=moderately, timeout=10), 400)
    assert "Traceback" not in api_server.log()


def test_ove_creation_rules(api_server):
    api = api_server.url + "api/"
    error(requests.post(api + "demo/create", json={"name": "no id"}, timeout=10), 400)
    missing = requests.put(api + "demo/pa/object/nothere", json={"a": 1}, timeout=10)
    assert error(missing, 400)["title"] == "Object not found"
    assert requests.post(api + "demo/pa/object/there", json={"a": 1}, timeout=10).ok
    assert requests.put(api + "demo/pa/object/there", json={"a": 2}, timeout=10).ok
    assert requests.get(api + "demo/pa/object/there", timeout=10).json() == {"a": 2}
    # the first upload appends Updated, after Created, as OVE's code does
    assert requests.post(api + "demo/pa/create", json={"name": "h1"}, timeout=10).ok
    first = requests.post(
        api + "demo/pa/upload/h1", params={"filename": "f.bin"}, data=b"1", timeout=10
    )
    assert first.ok, first.text
    history = requests.get(api + "demo/pa/meta/h1", timeout=10).json()["history"]
    assert [(h["Type"], h.get("Version")) for h in history] == [
        ("Created", None),
        ("Updated", 1),
    ]


def test_a_projects_creation_date_is_its_sidecars(api_server):
    api = api_server.url + "api/"
    assert requests.post(api + "demo/create", json={"id": "dated"}, timeout=10).ok
    folder = api_server.stores["demo"] / "dated"
    created = yaml.safe_load((folder / ".ovemeta").read_text())["created"]
    time.sleep(1.1)
    os.chmod(folder, 0o750)  # moves the folder's ctime
    projects = {p["id"]: p for p in requests.get(api + "demo/list", timeout=10).json()}
    assert projects["dated"]["creationDate"] == created[:19]


def test_a_cancel_shows_at_once_and_a_reset_right_after_runs_the_task_again(make_server):
    from test_workers import Client, png

    c = Client(make_server(env={"ASSETDAV_WORKER_THREADS": "1"}))
    c.project()
    c.upload("huge", "wide.png", png(8000, 6000))
    task_id = c.queued("huge", "dzi")
    c.wait(task_id, until={"processing"})
    assert c.call("DELETE", "workers/queue", {"task_id": task_id}).json() == {"status": "OK"}
    assert c.task(task_id)["status"] in ("canceling", "canceled")
    reset = c.call("PATCH", "workers/queue", {"task_id": task_id})
    assert reset.status_code == 200, reset.text
    assert c.wait(task_id, until={"done"}, timeout=120)["status"] == "done"
    assert c.get("huge/1/dzi/wide/wide.dzi").status_code == 200


def test_scanning_needs_write_access_and_counts_only_what_the_caller_may_read(make_server):
    from users import add_team, auth

    server = make_server(start=False)
    add_team(server)
    server.start()
    api = server.url + "api/"
    root = server.stores["demo"]
    admin = auth("admin")
    for project, groups in (("mine", ["teamA"]), ("theirs", ["teamB"])):
        assert requests.post(api + "demo/create", json={"id": project}, auth=admin).ok
        requests.post(
            api + f"demo/{project}/projectAccessMeta", json={"groups": groups}, auth=admin
        )
        for n in range(3):
            (root / project / f"copied{n}").mkdir()
    error(requests.post(api + "demo/scan", auth=auth("reader"), timeout=10), 403)
    started = requests.post(api + "demo/scan", auth=auth("writer"), timeout=10)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 30
    while (state := requests.get(api + "demo/scan", auth=auth("writer")).json())[
        "state"
    ] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert state["total"] == 4 and state["adopted"] == 3, state  # `mine` and its 3 folders
    assert not (root / "theirs" / "copied0" / ".ovemeta").exists()
    assert (root / "mine" / "copied0" / ".ovemeta").exists()


def test_webdav_quirks_of_real_clients(api_server):
    """Finder's NFD names are found by every method; gvfs' Overwrite: F is respected."""
    import unicodedata

    from dav import propfind

    url = api_server.store_url() + "pa/a1/"
    nfd = unicodedata.normalize("NFD", "café résumé.txt")
    nfc = unicodedata.normalize("NFC", nfd)
    assert requests.put(url + nfd, data=b"hello", timeout=10).status_code == 201
    assert (api_server.stores["demo"] / "pa" / "a1" / nfc).is_file()
    for name in (nfd, nfc):
        assert requests.get(url + name, timeout=10).content == b"hello"
        assert propfind(url + name).status_code == 207
    lock = requests.request(
        "LOCK",
        url + nfd,
        data=b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        b"</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>",
        headers={"Timeout": "Second-60"},
        timeout=10,
    )
    assert lock.status_code == 200, lock.text
    token = lock.headers["Lock-Token"]
    # locked whichever form the other client uses
    assert requests.put(url + nfc, data=b"x", timeout=10).status_code == 423
    assert requests.request("UNLOCK", url + nfc, headers={"Lock-Token": token}).status_code == 204
    moved = requests.request(
        "MOVE", url + nfd, headers={"Destination": url + "moved.txt"}, timeout=10
    )
    assert moved.status_code == 201
    assert requests.get(url + "moved.txt", timeout=10).content == b"hello"
    assert requests.delete(url + "moved.txt", timeout=10).status_code == 204
    # names put on disk in NFD (rsync from a Mac) are found in either form
    (api_server.stores["demo"] / "pa" / "a1" / nfd).write_bytes(b"on disk")
    for name in (nfd, nfc):
        assert requests.get(url + name, timeout=10).content == b"on disk"
    assert requests.delete(url + nfc, timeout=10).status_code == 204
    assert not (api_server.stores["demo"] / "pa" / "a1" / nfd).exists()
    # PUT that may not replace: 412, the file stays
    assert requests.put(url + "keep.txt", data=b"original", timeout=10).status_code == 201
    for header in ({"Overwrite": "F"}, {"If-None-Match": "*"}):
        refused = requests.put(url + "keep.txt", data=b"replaced", headers=header, timeout=10)
        assert refused.status_code == 412, refused.text
    assert requests.get(url + "keep.txt", timeout=10).content == b"original"
    fresh = requests.put(url + "new.txt", data=b"n", headers={"Overwrite": "F"}, timeout=10)
    assert fresh.status_code == 201


def test_propfind_depth_infinity_is_refused(api_server):
    from dav import propfind

    url = api_server.store_url() + "pa/"
    for depth in ("infinity", "Infinity"):
        refused = propfind(url, depth=depth)
        assert refused.status_code == 403
        assert "propfind-finite-depth" in refused.text
    no_depth = requests.request(
        "PROPFIND",
        url,
        data=b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
        timeout=10,
    )
    assert no_depth.status_code == 403
    assert propfind(url, depth="1").status_code == 207


def test_propfind_depth_infinity_when_configured(make_server):
    from dav import propfind

    server = make_server(env={"ASSETDAV_PROPFIND_DEPTH_INFINITY": "true"})
    assert mkcol(server.store_url() + "p/").status_code == 201
    assert mkcol(server.store_url() + "p/a/").status_code == 201
    answer = propfind(server.store_url() + "p/", depth="infinity")
    assert answer.status_code == 207
    assert "/demo/p/a/" in answer.text
