"""The OVE Asset Manager API through the real server: each route's success and its errors."""

from __future__ import annotations

import json
import socket

import pytest
import requests
import yaml

from dav import NS, eventually, mkcol, proppatch, tag_xml, tags_of


@pytest.fixture
def api(server):
    return server.url + "api/"


def post(url: str, body=None, **kw) -> requests.Response:
    return requests.post(url, json=body, timeout=10, **kw)


def make_project(api: str, project: str = "proj", **extra) -> None:
    response = post(api + "demo/create", {"id": project, "name": project.title(), **extra})
    assert response.status_code == 200, response.text
    assert response.json() == {"Project": project}


def make_asset(api: str, project: str = "proj", asset: str = "img1") -> None:
    response = post(api + f"demo/{project}/create", {"name": asset})
    assert response.status_code == 200, response.text
    assert response.json() == {"Asset": asset}


def upload(
    api: str, data: bytes, filename: str, asset: str = "img1", project: str = "proj", **params
) -> requests.Response:
    return requests.post(
        api + f"demo/{project}/upload/{asset}",
        params={"filename": filename, **params},
        data=data,
        timeout=30,
    )


def assert_error(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) >= {"title", "description"} and body["title"] and body["description"]
    return body


# --- stores and projects -----------------------------------------------------------------


def test_store_list_and_project_list(api):
    assert requests.get(api + "list", timeout=5).json() == ["demo"]
    make_project(api, "alpha")
    make_project(api, "beta")
    projects = requests.get(api + "demo/list", timeout=5).json()
    assert [p["name"] for p in projects] == ["alpha", "beta"]
    assert all(set(p) >= {"name", "creationDate"} for p in projects)
    detailed = requests.get(api + "demo/list", params={"metadata": "true"}, timeout=5).json()
    assert detailed[0]["display_name"] == "Alpha" and "write_access" in detailed[0]
    assert_error(requests.get(api + "nostore/list", timeout=5), 400)
    assert_error(requests.get(api + "demo/list", params={"metadata": "maybe"}, timeout=5), 400)


def test_project_list_filter_by_tag(api):
    make_project(api, "tagged")
    make_project(api, "plain")
    post(api + "demo/tagged/projectMeta", {"tags": ["coast"]})
    assert eventually(
        lambda: [
            p["name"]
            for p in requests.get(
                api + "demo/list", params={"filterByTag": "coast"}, timeout=5
            ).json()
        ]
    ) == ["tagged"]


def test_create_project_errors(api, store_root):
    make_project(api, "proj")
    assert_error(post(api + "demo/create", {"id": "proj"}), 409)
    for reserved in ("list", "create", "new", "validate"):
        assert_error(post(api + "demo/create", {"id": reserved}), 400)
    for bad in ("a/b", "..", "x\u0000y", "é" * 200, ".hidden"):
        assert_error(post(api + "demo/create", {"id": bad}), 400)
    assert_error(post(api + "demo/create", {}), 400)
    assert_error(requests.post(api + "demo/create", data=b"{not json", timeout=5), 400)
    assert_error(post(api + "nostore/create", {"id": "x"}), 400)
    assert sorted(p.name for p in store_root.iterdir()) == ["proj"]


def test_project_meta_round_trip_and_webdav_agrees(server, api):
    make_project(api)
    meta = requests.get(api + "demo/proj/projectMeta", timeout=5).json()
    assert meta["name"] == "Proj" and meta["hasProject"] is False
    edit = {
        "name": "Coastline",
        "description": "waves",
        "tags": ["sea"],
        "authors": "Ann",
        "video_controller": True,
    }
    changed = post(api + "demo/proj/projectMeta", edit)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert {k: body[k] for k in edit} == edit
    assert body["hasProject"] is True
    assert tags_of(server.store_url() + "proj/") == ["sea"]
    project_json = requests.get(server.store_url() + "proj/project.json", timeout=5).json()
    assert project_json["Metadata"]["authors"] == "Ann" and project_json["Sections"] == []
    assert_error(post(api + "demo/proj/projectMeta", {"tags": "not a list"}), 400)
    assert_error(requests.get(api + "demo/nope/projectMeta", timeout=5), 400)


def test_version_snapshot_records_each_assets_version(api):
    make_project(api)
    make_asset(api, asset="a")
    make_asset(api, asset="b")
    assert upload(api, b"one", "x.txt", asset="a").status_code == 200
    assert upload(api, b"two", "x.txt", asset="a", update="true").status_code == 200
    response = post(
        api + "demo/proj/version", {"version_name": "v1", "version_description": "first cut"}
    )
    assert response.status_code == 200, response.text
    snapshot = response.json()["versions"][0]
    assert snapshot["name"] == "v1" and snapshot["versions"] == {"a": "2", "b": "0"}
    post(api + "demo/proj/version", {"version_name": "v2", "version_description": ""})
    names = [
        v["name"] for v in requests.get(api + "demo/proj/projectMeta", timeout=5).json()["versions"]
    ]
    assert names == ["v2", "v1"]
    assert_error(post(api + "demo/proj/version", {"version_name": "v3"}), 400)


# --- assets -------------------------------------------------------------------------------


def test_asset_list_create_and_errors(server, api):
    make_project(api)
    make_asset(api, asset="b1")
    assert post(api + "demo/proj/create", {"id": "a1", "name": "First"}).status_code == 200
    mkcol(server.store_url() + "proj/")
    listed = requests.get(api + "demo/proj/list", timeout=5).json()["Assets"]
    assert [a["id"] for a in listed] == ["a1", "b1"]
    assert listed[0]["name"] == "First"
    assert set(listed[0]) == {
        "id",
        "name",
        "project",
        "description",
        "index_file",
        "version",
        "history",
        "tags",
        "worker",
        "processing_status",
        "processing_error",
        "preview_url",
    }
    assert_error(post(api + "demo/proj/create", {"name": "a1"}), 409)
    assert_error(post(api + "demo/proj/create", {"name": "list"}), 400)
    assert_error(post(api + "demo/proj/create", {"name": "a/b"}), 400)
    assert_error(post(api + "demo/nope/create", {"name": "x"}), 400)
    assert_error(requests.get(api + "demo/nope/list", timeout=5), 400)


def test_asset_list_filter_and_include_empty(server, api):
    make_project(api)
    make_asset(api, asset="sunny")
    make_asset(api, asset="rainy")
    requests.post(api + "demo/proj/tags/sunny", json=["sun"], timeout=5)
    (server.stores["demo"] / "proj" / "copied-in").mkdir()
    ids = lambda r: [a.get("id", a["name"]) for a in r.json()["Assets"]]  # noqa: E731
    assert ids(requests.get(api + "demo/proj/list", timeout=5)) == ["rainy", "sunny"]
    assert eventually(
        lambda: ids(requests.get(api + "demo/proj/list", params={"filterByTag": "sun"}, timeout=5))
    ) == ["sunny"]
    with_empty = requests.get(api + "demo/proj/list", params={"includeEmpty": "true"}, timeout=5)
    assert {"name": "copied-in", "project": "proj"} in with_empty.json()["Assets"]
    assert ids(
        requests.get(api + "demo/proj/list", params={"includeEmpty": "false"}, timeout=5)
    ) == ["rainy", "sunny"]


def test_asset_meta_head_get_post(api):
    make_project(api)
    make_asset(api)
    assert requests.head(api + "demo/proj/meta/img1", timeout=5).status_code == 200
    assert requests.head(api + "demo/proj/meta/nope", timeout=5).status_code == 404
    assert requests.head(api + "demo/nope/meta/img1", timeout=5).status_code == 404
    meta = requests.get(api + "demo/proj/meta/img1", timeout=5).json()
    assert meta["id"] == "img1" and meta["history"][0]["Type"] == "Created"
    refused = post(
        api + "demo/proj/meta/img1",
        {
            "name": "Image",
            "description": "d",
            "tags": ["t"],
            "version": 99,
            "id": "other",
            "index_file": "/etc/passwd",
        },
    )
    assert_error(refused, 400)  # the server's fields are not changed, nor dropped in silence
    for field in ("'id'", "'index_file'", "'version'"):
        assert field in refused.json()["description"]
    changed = post(
        api + "demo/proj/meta/img1", {"name": "Image", "description": "d", "tags": ["t"]}
    ).json()
    assert (changed["name"], changed["description"], changed["tags"]) == ("Image", "d", ["t"])
    assert (changed["id"], changed["version"], changed["index_file"]) == ("img1", 0, "")
    assert_error(requests.get(api + "demo/proj/meta/nope", timeout=5), 400)
    assert_error(post(api + "demo/proj/meta/img1", {"tags": [1, {"x": 2}]}), 400)


def test_upload_update_version_files_cycle(server, api, store_root):
    make_project(api)
    first = b"first version \x00\x01" * 1000
    second = b"second version" * 3000
    created = upload(api, first, "photo.png", asset="img1", create="true")
    assert created.status_code == 200, created.text
    assert created.json() == {"Asset": "img1", "Filename": "photo.png", "Version": 1}
    assert_error(upload(api, second, "photo2.png"), 409)
    updated = upload(api, second, "photo2.png", update="true")
    assert updated.json()["Version"] == 2

    meta = requests.get(api + "demo/proj/meta/img1", timeout=5).json()
    assert meta["version"] == 2
    assert meta["index_file"] == "/demo/proj/img1/2/photo2.png"
    assert [(h["Type"], h.get("Version")) for h in meta["history"]] == [
        ("Created", None),  # as OVE's code does: the first upload appends Updated too
        ("Updated", 1),
        ("Updated", 2),
    ]

    current = requests.get(api + "demo/proj/files/img1", timeout=5).json()
    assert [(f["name"], f["default"]) for f in current] == [("photo2.png", True)]
    old = requests.get(api + "demo/proj/files/img1", params={"version": 1}, timeout=5).json()
    assert [f["name"] for f in old] == ["photo.png"]
    for entry, expected in ((current[0], second), (old[0], first)):
        got = requests.get(entry["url"], timeout=10)
        assert got.status_code == 200 and got.content == expected
        ranged = requests.get(entry["url"], headers={"Range": "bytes=0-4"}, timeout=10)
        assert ranged.status_code == 206 and ranged.content == expected[:5]
        assert (
            requests.get(
                entry["url"], headers={"If-None-Match": got.headers["ETag"]}, timeout=10
            ).status_code
            == 304
        )
    assert requests.get(server.store_url() + "proj/img1/1/photo.png", timeout=5).content == first
    sidecar = yaml.safe_load((store_root / "proj" / "img1" / ".ovemeta").read_text())
    assert sidecar["files"]["2/photo2.png"]["size"] == len(second)
    assert_error(requests.get(api + "demo/proj/files/img1", params={"version": 3}, timeout=5), 400)
    assert_error(
        requests.get(api + "demo/proj/files/img1", params={"version": "x"}, timeout=5), 400
    )


def test_upload_errors_leave_nothing(api, store_root):
    make_project(api)
    assert_error(upload(api, b"x", "a.txt", asset="ghost"), 400)
    assert not (store_root / "proj" / "ghost").exists()
    make_asset(api)
    assert_error(upload(api, b"x", ".ovemeta"), 403)
    for bad in ("../escape.txt", "a/b.txt", "x\u0001y"):
        assert_error(upload(api, b"x", bad), 400)
    assert_error(requests.post(api + "demo/proj/upload/img1", data=b"x", timeout=5), 400)
    assert_error(upload(api, b"x", "a.txt", asset="list", create="true"), 400)
    assert sorted(p.name for p in (store_root / "proj" / "img1").iterdir()) == [".ovemeta"]


def test_upload_streams_a_chunked_body(api):
    make_project(api)
    make_asset(api)
    chunks = (bytes([i]) * 65536 for i in range(40))
    response = requests.post(
        api + "demo/proj/upload/img1", params={"filename": "big.bin"}, data=chunks, timeout=30
    )
    assert response.status_code == 200, response.text
    url = requests.get(api + "demo/proj/files/img1", timeout=5).json()[0]["url"]
    assert requests.get(url, timeout=10).content == b"".join(bytes([i]) * 65536 for i in range(40))


# --- tags -----------------------------------------------------------------------------------


def test_tags_routes_and_webdav_agree(server, api):
    make_project(api)
    make_asset(api)
    url = api + "demo/proj/tags/img1"
    assert requests.get(url, timeout=5).json() == []
    assert requests.post(url, json=["b", "a"], timeout=5).json() == ["b", "a"]
    assert requests.patch(url, json={"action": "add", "data": ["c", "a"]}, timeout=5).json() == [
        "b",
        "a",
        "c",
    ]
    assert requests.patch(url, json={"action": "remove", "data": ["b"]}, timeout=5).json() == [
        "a",
        "c",
    ]
    assert tags_of(server.store_url() + "proj/img1/") == ["a", "c"]
    proppatch(server.store_url() + "proj/img1/", {f"{{{NS}}}tags": tag_xml(["dav"])})
    assert requests.get(url, timeout=5).json() == ["dav"]
    assert requests.delete(url, timeout=5).json() == []
    assert_error(requests.patch(url, json={"action": "toggle", "data": ["x"]}, timeout=5), 400)
    assert_error(requests.patch(url, json={"action": "add", "data": []}, timeout=5), 400)
    assert_error(requests.post(url, json={"not": "a list"}, timeout=5), 400)
    assert_error(requests.get(api + "demo/proj/tags/nope", timeout=5), 400)


# --- objects --------------------------------------------------------------------------------


def test_objects(server, api):
    make_project(api)
    url = api + "demo/proj/object/layout1"
    assert requests.head(url, timeout=5).status_code == 404
    assert post(url, {"sections": [1, 2]}).json() == {"Status": "OK"}
    assert requests.head(url, timeout=5).status_code == 200
    assert requests.get(url, timeout=5).json() == {"sections": [1, 2]}
    assert_error(post(url, {"again": True}), 409)
    assert requests.put(url, json=[1, "two"], timeout=5).json() == {"Status": "OK"}
    assert requests.get(url, timeout=5).json() == [1, "two"]
    assert requests.get(url + "/info", timeout=5).json() == {
        "name": "layout1",
        "index_file": "/demo/proj/layout1.json",
    }
    assert requests.get(server.store_url() + "proj/layout1.json", timeout=5).json() == [1, "two"]
    assert_error(requests.get(api + "demo/proj/object/missing", timeout=5), 400)
    assert_error(requests.get(api + "demo/proj/object/missing/info", timeout=5), 400)
    assert_error(requests.get(api + "demo/proj/object/bad-id", timeout=5), 400)
    assert_error(requests.put(url, data=b"{broken", timeout=5), 400)


def test_put_project_object_keeps_metadata(api):
    make_project(api)
    post(api + "demo/proj/projectMeta", {"authors": "Ann"})
    requests.put(api + "demo/proj/object/project", json={"Sections": [{"id": 1}]}, timeout=5)
    project = requests.get(api + "demo/proj/object/project", timeout=5).json()
    assert project["Sections"] == [{"id": 1}] and project["Metadata"]["authors"] == "Ann"


def read_answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One HTTP answer from a raw socket: its head, and its body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
         if line.startswith(b"content-length:")),
        0,
    )  # fmt: skip
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            break
        body += chunk
    return head, body


def test_an_oversized_json_body_is_refused_before_it_is_read(server, api, store_root):
    """A JSON route parses its body whole; 100 MB must get 413 at once, not be swallowed."""
    make_project(api)
    for method, path in (("POST", "/api/auth"), ("PUT", "/api/demo/proj/object/big")):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: 100000000\r\n\r\n".encode()
                + b'{"user": "'
                + b"a" * 65536
            )
            head, body = read_answer(sock)
        assert head.startswith(b"HTTP/1.1 413"), head
        assert set(json.loads(body)) >= {"title", "description"}
    assert not (store_root / "proj" / "big.json").exists()
    assert requests.get(api + "list", timeout=5).status_code == 200


# --- the document -----------------------------------------------------------------------


def test_openapi_document_lists_every_route(api):
    document = requests.get(api + "openapi.json", timeout=5).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/api/list",
        "/api/{store_id}/list",
        "/api/{store_id}/create",
        "/api/{store_id}/{project_id}/projectMeta",
        "/api/{store_id}/{project_id}/version",
        "/api/{store_id}/{project_id}/list",
        "/api/{store_id}/{project_id}/create",
        "/api/{store_id}/{project_id}/meta/{asset_id}",
        "/api/{store_id}/{project_id}/files/{asset_id}",
        "/api/{store_id}/{project_id}/upload/{asset_id}",
        "/api/{store_id}/{project_id}/tags/{asset_id}",
        "/api/{store_id}/{project_id}/object/{object_id}",
        "/api/{store_id}/{project_id}/object/{object_id}/info",
        "/api/auth",
        "/api/user",
        "/api/user/info",
        "/api/user/groups",
        "/api/{store_id}/{project_id}/projectAccessMeta",
    ):
        assert path in paths, path
    upload_op = paths["/api/{store_id}/{project_id}/upload/{asset_id}"]["post"]
    assert "application/octet-stream" in upload_op["requestBody"]["content"]
    assert set(paths["/api/{store_id}/{project_id}/tags/{asset_id}"]) >= {
        "get",
        "post",
        "patch",
        "delete",
    }
    # the documentation pages show it in two parts: assetdav's own routes, the faces
    native = requests.get(api + "openapi.json?part=native", timeout=5).json()["paths"]
    compat = requests.get(api + "openapi.json?part=compat", timeout=5).json()["paths"]
    assert set(native) | set(compat) == set(paths) and not set(native) & set(compat)
    assert all(p.startswith("/compat/") for p in compat) and "/api/list" in native
    bad = requests.get(api + "openapi.json?part=both", timeout=5)
    assert bad.status_code == 400 and bad.json()["title"] == "Bad parameter"


def test_what_webdav_changes_the_api_shows_at_once(server, api):
    base = server.store_url()
    mkcol(base + "proj/")
    mkcol(base + "proj/drop/")
    proppatch(
        base + "proj/drop/",
        {f"{{{NS}}}description": "dragged in", f"{{{NS}}}tags": tag_xml(["finder"])},
    )
    requests.put(base + "proj/drop/notes.txt", data=b"n", timeout=5)
    listed = requests.get(api + "demo/proj/list", timeout=5).json()["Assets"]
    assert [(a["id"], a["description"], a["tags"]) for a in listed] == [
        ("drop", "dragged in", ["finder"])
    ]
    assert requests.get(api + "demo/proj/tags/drop", timeout=5).json() == ["finder"]
    requests.request(
        "MOVE", base + "proj/drop/", headers={"Destination": base + "proj/kept/"}, timeout=5
    )
    assert requests.get(api + "demo/proj/meta/kept", timeout=5).json()["id"] == "kept"
    assert requests.head(api + "demo/proj/meta/drop", timeout=5).status_code == 404
    requests.delete(base + "proj/kept/", timeout=5)
    assert requests.get(api + "demo/proj/list", timeout=5).json() == {"Assets": []}


def test_asset_metadata_is_set_through_the_api_and_nothing_is_dropped_in_silence(server, api):
    make_project(api)
    make_asset(api, asset="m1")
    url = api + "demo/proj/meta/m1"
    fields = {"camera": "X100", "iso": 200, "lens": {"mm": 23}}
    answer = post(url, {"metadata": fields, "description": "a street"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["metadata"] == fields and answer.json()["description"] == "a street"
    assert requests.get(url, timeout=5).json()["metadata"] == fields
    sidecar = server.stores["demo"] / "proj" / "m1" / ".ovemeta"
    assert yaml.safe_load(sidecar.read_text())["metadata"] == fields

    read = requests.get(url, timeout=5).json()
    assert post(url, {**read, "name": "renamed"}).status_code == 200  # what it read, edited
    unknown = post(url, {"rating": 5})
    assert unknown.status_code == 400 and "'rating'" in unknown.json()["description"]
    changed = post(url, {"version": 7})
    assert changed.status_code == 400 and "'version'" in changed.json()["description"]
    assert post(url, {"metadata": ["not", "a", "mapping"]}).status_code == 400
    assert requests.get(url, timeout=5).json()["metadata"] == fields  # refusals changed nothing
