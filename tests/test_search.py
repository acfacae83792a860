"""Search and tag refine: right answers (checked against the sidecars), fresh answers
(writes from any side), and only what the caller may read."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import threading
from collections import Counter
from pathlib import Path

import pytest
import requests
import yaml
from users import add_team, auth

from stores import SYSTEM, Registry
from stores.hashing import hash_file

from dav import NS, eventually, mkcol, proppatch, tag_xml

TAGS = ["coast", "sunset", "forest", "night", "draft", "portrait", "bw", "drone"]
CAMERAS = ["X100", "A7", "R5"]


def build_tree(root: Path, assets: int = 300, seed: int = 7) -> None:
    """Projects and assets made through `stores`, as the server would make them."""
    rng = random.Random(seed)
    store = Registry({"demo": root}).get("demo")
    for p in range(3):
        project = store.locate(f"p{p}")
        store.make_folder(SYSTEM, project)
    for n in range(assets):
        asset = store.locate(f"p{n % 3}/img{n:04d}")
        store.make_folder(SYSTEM, asset)
        tags = rng.sample(TAGS, rng.randint(0, 4))
        word = rng.choice(["sunrise", "harbour", "meadow", "skyline", "lantern"])
        store.update_fields(
            SYSTEM,
            asset,
            {
                "name": f"{word} {n:04d}",
                "tags": tags,
                "description": f"a {word} photo" if n % 4 else "",
                "metadata": {
                    "camera": rng.choice(CAMERAS),
                    "iso": rng.choice([100, 200, 400]),
                    "flags": {"raw": n % 2 == 0},
                },
            },
        )


def sidecars(root: Path) -> list[dict]:
    found = []
    for path in sorted(root.glob("*/*/.ovemeta")):
        meta = yaml.safe_load(path.read_text())
        meta["_project"] = path.parent.parent.name
        found.append(meta)
    return found


def expected(
    metas: list[dict], *, include=(), exclude=(), name_contains=None, metadata=None, project=None
) -> list[dict]:
    out = []
    for meta in metas:
        tags = set(meta["tags"])
        if not set(include) <= tags or tags & set(exclude):
            continue
        if name_contains and name_contains.lower() not in meta["name"].lower():
            continue
        if project and meta["_project"] != project:
            continue
        if metadata and any(_meta_text(meta["metadata"], k) != v for k, v in metadata.items()):
            continue
        out.append(meta)
    return out


def _meta_text(metadata: dict, path: str) -> str:
    value = metadata
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return (
        {True: "true", False: "false", None: "null"}.get(value, str(value))
        if isinstance(value, bool | None)
        else str(value)
    )


def query(server, route: str, **params) -> requests.Response:
    return requests.get(server.url + "api/" + route, params=params, timeout=30)


@pytest.fixture(scope="module")
def template_tree(tmp_path_factory) -> Path:
    """The tree is built once (through `stores`) and copied for each test."""
    root = tmp_path_factory.mktemp("template") / "demo"
    root.mkdir()
    build_tree(root)
    return root


@pytest.fixture
def tree_server(make_server, tmp_path, template_tree):
    root = tmp_path / "trees" / "demo"
    shutil.copytree(template_tree, root)
    server = make_server(stores={"demo": root})
    total = len(sidecars(root))
    assert eventually(
        lambda: query(server, "assets", limit=1).json()["total"] == total, timeout=30
    ), "the index did not catch up with the tree"
    return server, root


CASES = [
    {},
    {"include": ("coast",)},
    {"include": ("coast", "night")},
    {"exclude": ("draft",)},
    {"include": ("sunset",), "exclude": ("bw", "drone")},
    {"name_contains": "HARB"},
    {"name_contains": "00"},
    {"metadata": {"camera": "X100"}},
    {"metadata": {"iso": "200", "flags.raw": "true"}},
    {"project": "p1", "include": ("forest",)},
    {
        "include": ("portrait",),
        "name_contains": "sky",
        "metadata": {"camera": "A7"},
        "exclude": ("draft",),
    },
]


def api_params(case: dict) -> dict:
    params: dict = {"store": "demo"}
    if case.get("include"):
        params["include_tags"] = ",".join(case["include"])
    if case.get("exclude"):
        params["exclude_tags"] = list(case["exclude"])  # repeated form
    if case.get("name_contains"):
        params["name_contains"] = case["name_contains"]
    if case.get("metadata"):
        params["metadata_filter"] = json.dumps(case["metadata"])
    if case.get("project"):
        params["project"] = case["project"]
    return params


def test_filters_alone_and_combined_match_the_sidecars(tree_server):
    server, root = tree_server
    metas = sidecars(root)
    for case in CASES:
        want = expected(metas, **case)
        params = api_params(case)
        page = query(server, "assets", limit=1000, **params).json()
        assert page["total"] == len(want), case
        assert sorted(a["asset"] for a in page["assets"]) == sorted(m["id"] for m in want), case
        counts = Counter(tag for m in want for tag in m["tags"])
        refined = query(server, "tags/refine", **params).json()["tag_counts"]
        assert refined == dict(counts), case
        tags = query(server, "tags", **params).json()
        assert {t["name"]: t["count"] for t in tags["tags"]} == dict(counts), case


def test_sorting_paging_and_tag_listing(tree_server):
    server, root = tree_server
    metas = sidecars(root)
    by_name = sorted(m["name"].lower() for m in metas)
    first = query(server, "assets", sort="name", limit=40).json()
    second = query(server, "assets", sort="name", limit=40, offset=40).json()
    assert [a["name"].lower() for a in first["assets"] + second["assets"]] == by_name[:80]
    assert first["has_more"] and first["total"] == len(metas)
    last = query(server, "assets", sort="name", order="desc", limit=5).json()["assets"]
    assert [a["name"].lower() for a in last] == by_name[::-1][:5]
    counts = Counter(tag for m in metas for tag in m["tags"])
    page = query(server, "tags", order="count_desc", limit=3).json()
    assert [t["count"] for t in page["tags"]] == sorted(counts.values(), reverse=True)[:3]
    assert page["total"] == len(counts) and page["has_more"]
    named = query(server, "tags", order="name_asc", prefix="s").json()["tags"]
    assert [t["name"] for t in named] == sorted(t for t in counts if t.startswith("s"))
    assert query(server, "tags/refine", limit=2).json()["tag_counts"] == dict(
        sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
    )


def test_free_text_finds_names_descriptions_tags_and_file_names(tree_server):
    server, root = tree_server
    base = server.store_url()
    requests.put(base + "p0/img0000/scan-of-lighthouse.tif", data=b"tif", timeout=5)
    found = eventually(lambda: query(server, "assets", q="lighthouse").json()["assets"])
    assert [a["asset"] for a in found] == ["img0000"]
    harbour = {m["id"] for m in sidecars(root) if "harbour" in m["description"]}
    assert {
        a["asset"] for a in query(server, "assets", q="harbour photo", limit=1000).json()["assets"]
    } == harbour


def test_bad_filters_are_400(tree_server):
    server, _root = tree_server
    for params in (
        {"metadata_filter": "[1, 2]"},
        {"metadata_filter": "{not json"},
        {"sort": "colour"},
        {"limit": 0},
        {"offset": -1},
        {"store": "nope"},
        {"order": "sideways"},
    ):
        response = query(server, "assets", **params)
        assert response.status_code == 400, params
        assert set(response.json()) >= {"title", "description"}


def test_a_webdav_write_is_searchable_within_a_second(tree_server):
    server, _root = tree_server
    url = server.store_url() + "p2/img0002/"
    assert proppatch(url, {f"{{{NS}}}add-tags": tag_xml(["fresh-tag"])}).status_code == 207
    found = eventually(
        lambda: query(server, "assets", include_tags="fresh-tag").json()["total"], timeout=1.0
    )
    assert found == 1
    requests.put(server.store_url() + "p2/img0002/extra-file.jpg", data=b"j", timeout=5)
    assert eventually(lambda: query(server, "assets", q="extra").json()["total"], timeout=1.0)


def index_writer_pids(server_pid: int) -> list[int]:
    """The server's child processes that run multiprocessing's spawned target (the index
    writer), not its resource tracker."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == server_pid and b"spawn_main" in cmdline:  # a killed one has none
            found.append(int(entry.name))
    return found


def test_writes_are_indexed_when_the_index_writer_process_was_killed(tree_server):
    server, _root = tree_server
    base = server.store_url() + "p2/img0002/"
    assert requests.put(base + "before-harbour.jpg", data=b"j", timeout=5).status_code == 201
    assert query(server, "assets", q="harbour").json()["total"] >= 1
    writers = index_writer_pids(server.proc.pid)
    assert len(writers) == 1, writers
    os.kill(writers[0], signal.SIGKILL)
    assert eventually(lambda: not index_writer_pids(server.proc.pid), timeout=5)

    # the next batch finds it gone and starts another; the search waits for the write
    assert requests.put(base + "after-lighthouse.jpg", data=b"j", timeout=5).status_code == 201
    assert [a["asset"] for a in query(server, "assets", q="lighthouse").json()["assets"]] == [
        "img0002"
    ]
    assert index_writer_pids(server.proc.pid) not in ([], writers)
    assert "starting it again" in server.log()


def test_edits_on_disk_are_picked_up_within_five_seconds(tree_server, tmp_path):
    server, root = tree_server
    outside = tmp_path / "elsewhere" / "carried-in"
    (outside / "1").mkdir(parents=True)
    (outside / "1" / "photo.jpg").write_bytes(b"jpeg" * 1000)
    (outside / "notes.txt").write_text("hello")
    shutil.copytree(outside, root / "p0" / "carried-in")
    found = eventually(lambda: query(server, "assets", q="carried").json()["assets"], timeout=5.0)
    assert [a["asset"] for a in found] == ["carried-in"]
    meta = yaml.safe_load((root / "p0" / "carried-in" / ".ovemeta").read_text())
    assert meta["history"][0]["Type"] == "Created"
    assert meta["files"]["1/photo.jpg"]["xxh3_128"] == hash_file(outside / "1" / "photo.jpg")[1]

    sidecar = root / "p1" / "img0001" / ".ovemeta"
    edited = yaml.safe_load(sidecar.read_text())
    edited["tags"] = ["hand-edited"]
    sidecar.write_text(yaml.safe_dump(edited))
    assert (
        eventually(
            lambda: query(server, "assets", include_tags="hand-edited").json()["total"], timeout=5.0
        )
        == 1
    )

    shutil.rmtree(root / "p0" / "carried-in")
    assert eventually(
        lambda: query(server, "assets", q="carried").json()["total"] == 0, timeout=5.0
    )


def _assets_of(server, project: str) -> set[str]:
    answer = query(server, "assets", project=project, limit=500).json()
    return {a["asset"] for a in answer["assets"]}


def test_folders_moved_on_disk_are_picked_up_within_five_seconds(tree_server, tmp_path):
    """`mv` within the store and into it: the watcher follows folders that move (their
    files, made before it could watch them, included)."""
    server, root = tree_server
    moving = sorted(_assets_of(server, "p1"))[0]
    (root / "p1" / moving).rename(root / "p2" / "moved-here")
    assert eventually(
        lambda: "moved-here" in _assets_of(server, "p2") and moving not in _assets_of(server, "p1"),
        timeout=5.0,
    )
    requests.put(server.store_url() + "p2/moved-here/late.txt", data=b"late", timeout=5)
    assert eventually(lambda: query(server, "assets", q="late").json()["total"] == 1, timeout=5.0)

    outside = tmp_path / "elsewhere" / "brought"  # the same file system: a rename
    for asset in ("first", "second"):
        (outside / asset / "1").mkdir(parents=True)
        (outside / asset / "1" / f"{asset}-picture.jpg").write_bytes(asset.encode() * 100)
    outside.rename(root / "brought")
    assert eventually(lambda: _assets_of(server, "brought") == {"first", "second"}, timeout=5.0)
    meta = yaml.safe_load((root / "brought" / "second" / ".ovemeta").read_text())
    assert list(meta["files"]) == ["1/second-picture.jpg"]
    (root / "brought" / "first" / "1" / "added-later.jpg").write_bytes(b"new")
    assert eventually(
        lambda: query(server, "assets", q="added").json()["total"] == 1, timeout=5.0
    ), "a folder moved in is watched from then on"


def test_a_lost_index_is_rebuilt_with_the_same_answers(tree_server):
    server, _root = tree_server
    before = {
        json.dumps(case, sort_keys=True): query(server, "tags/refine", **api_params(case)).json()
        for case in CASES
    }
    server.stop()
    shutil.rmtree(server.state_dir / "index")
    server.start()
    for case in CASES:
        key = json.dumps(case, sort_keys=True)
        assert eventually(
            lambda case=case, key=key: (
                query(server, "tags/refine", **api_params(case)).json() == before[key]
            ),
            timeout=30,
        ), case


def test_a_corrupt_index_is_rebuilt(tree_server):
    server, root = tree_server
    server.stop()
    for segment in (server.state_dir / "index").glob("*.seg"):
        segment.write_bytes(b"garbage")
    for toc in (server.state_dir / "index").glob("*.toc"):
        toc.write_bytes(b"garbage")
    server.start()
    assert eventually(
        lambda: query(server, "assets", limit=1).json()["total"] == len(sidecars(root)), timeout=30
    )


def test_sigkill_during_a_burst_of_writes_then_restart_agrees(tree_server):
    server, root = tree_server
    base = server.store_url()
    stop = threading.Event()

    def burst(worker: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                url = f"{base}p{worker % 3}/burst{worker}-{n}/"
                mkcol(url)
                proppatch(url, {f"{{{NS}}}tags": tag_xml([f"burst{worker}"])})
                requests.put(url + "f.bin", data=b"x" * 1000, timeout=5)
            except requests.RequestException:
                return
            n += 1

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    threading.Event().wait(1.5)
    server.stop(signal.SIGKILL)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    server.start()

    def agrees() -> bool:
        metas = sidecars(root)
        page = query(server, "assets", limit=1).json()
        counts = Counter(tag for m in metas for tag in m["tags"])
        return page["total"] == len(metas) and query(server, "tags/refine", limit=1000).json()[
            "tag_counts"
        ] == dict(counts)

    assert eventually(agrees, timeout=30)


def test_scan_adopts_folders_without_sidecars(make_server, tmp_path):
    root = tmp_path / "trees" / "demo"
    for n in range(800):
        (root / "copied" / f"folder{n:04d}").mkdir(parents=True)
    (root / "copied" / "folder0000" / "a.txt").write_text("a")
    server = make_server(stores={"demo": root})
    api = server.url + "api/"
    started = requests.post(api + "demo/scan", timeout=10)
    assert started.status_code == 202 and started.json()["state"] == "running"
    again = requests.post(api + "demo/scan", timeout=10)
    assert again.status_code == 409 and set(again.json()) >= {"title", "description"}
    done = eventually(
        lambda: requests.get(api + "demo/scan", timeout=5).json()["state"] == "done", timeout=60
    )
    assert done
    state = requests.get(api + "demo/scan", timeout=5).json()
    assert state["adopted"] == 801  # the project and its folders
    meta = yaml.safe_load((root / "copied" / "folder0000" / ".ovemeta").read_text())
    assert meta["history"][0]["Type"] == "Created" and "a.txt" in meta["files"]
    assert eventually(lambda: query(server, "assets", limit=1).json()["total"] == 800, timeout=30)
    assert requests.post(api + "nope/scan", timeout=5).status_code == 400


def test_a_reader_sees_nothing_of_projects_they_cannot_read(make_server, tmp_path):
    server = make_server(start=False)
    add_team(server)
    server.start()
    base, api, admin = server.store_url(), server.url + "api/", auth("admin")
    for project, group, tag in (("A", "teamA", "shared"), ("B", "teamB", "secret")):
        mkcol(base + f"{project}/", auth=admin)
        requests.post(
            api + f"demo/{project}/projectAccessMeta",
            json={"groups": [group]},
            auth=admin,
            timeout=5,
        )
        for n in range(3):
            mkcol(base + f"{project}/{project}{n}/", auth=admin)
            proppatch(
                base + f"{project}/{project}{n}/",
                {f"{{{NS}}}tags": tag_xml([tag, "common"])},
                auth=admin,
            )
    everything = eventually(
        lambda: (
            requests.get(api + "tags/refine", auth=admin, timeout=5)
            .json()["tag_counts"]
            .get("common")
            == 6
        ),
        timeout=10,
    )
    assert everything
    reader = auth("reader")
    refine = requests.get(api + "tags/refine", auth=reader, timeout=5).json()["tag_counts"]
    assert refine == {"shared": 3, "common": 3}
    page = requests.get(api + "assets", params={"limit": 100}, auth=reader, timeout=5).json()
    assert page["total"] == 3 and {a["project"] for a in page["assets"]} == {"A"}
    tags = requests.get(api + "tags", auth=reader, timeout=5).json()
    assert {t["name"] for t in tags["tags"]} == {"shared", "common"} and tags["total"] == 2
    for params in ({"project": "B"}, {"include_tags": "secret"}, {"q": "B0"}):
        assert (
            requests.get(api + "assets", params=params, auth=reader, timeout=5).json()["total"] == 0
        )
    lists = requests.get(
        api + "demo/list", params={"filterByTag": "secret"}, auth=reader, timeout=5
    )
    assert lists.json() == []
    searched = dav_search(base, eq_tag("common"), auth=reader)
    assert searched.status_code == 207 and "/demo/B/" not in searched.text
    assert "/demo/A/A0/" in searched.text


def dav_search(
    url: str,
    where: str,
    *,
    select: str = "<D:displayname/><a:tags/>",
    scope: str = "/demo/",
    order: str = "",
    **kw,
) -> requests.Response:
    body = (
        '<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:" xmlns:a="urn:assetdav">'
        f"<D:basicsearch><D:select><D:prop>{select}</D:prop></D:select>"
        f"<D:from><D:scope><D:href>{scope}</D:href><D:depth>infinity</D:depth></D:scope>"
        f"</D:from><D:where>{where}</D:where>{order}</D:basicsearch></D:searchrequest>"
    )
    return requests.request(
        "SEARCH", url, data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=30, **kw
    )


def eq_tag(tag: str) -> str:
    return f"<D:eq><D:prop><a:tags/></D:prop><D:literal>{tag}</D:literal></D:eq>"


def test_webdav_search_gives_the_same_answers(tree_server):
    server, root = tree_server
    from dav import parse_multistatus

    want = expected(
        sidecars(root), include=("coast",), exclude=("draft",), name_contains="sky", project="p2"
    )
    where = (
        f"<D:and>{eq_tag('coast')}<D:not>{eq_tag('draft')}</D:not>"
        "<D:like><D:prop><D:displayname/></D:prop><D:literal>%sky%</D:literal></D:like>"
        "</D:and>"
    )
    order = (
        "<D:orderby><D:order><D:prop><D:displayname/></D:prop><D:descending/></D:order></D:orderby>"
    )
    response = dav_search(server.store_url(), where, scope="/demo/p2/", order=order)
    assert response.status_code == 207, response.text
    found = parse_multistatus(response.content)
    assert list(found) == [
        f"/demo/p2/{m['id']}/" for m in sorted(want, key=lambda m: m["name"].lower(), reverse=True)
    ]
    first = next(iter(found.values()))
    assert "coast" in [t.text for t in first[f"{{{NS}}}tags"]]
    options = requests.options(server.store_url(), timeout=5)
    assert options.headers["DASL"] == "<DAV:basicsearch>"
    assert "SEARCH" in options.headers["Allow"]


def test_webdav_search_errors(tree_server):
    server, _root = tree_server
    bad_xml = requests.request(
        "SEARCH",
        server.store_url(),
        data=b"<not xml",
        headers={"Content-Type": "text/xml"},
        timeout=5,
    )
    assert bad_xml.status_code == 400
    unsupported = dav_search(server.store_url(), "<D:or>" + eq_tag("a") + eq_tag("b") + "</D:or>")
    assert unsupported.status_code == 422
    assert dav_search(server.store_url(), eq_tag("coast"), scope="/nowhere/").status_code == 404
