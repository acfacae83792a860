"""A client reads its own writes: every answer that comes from the index reflects every
write acknowledged before the read began, through either face, at once (no retrying).
When the index cannot catch up within its read timeout, the answer is 503 with
Retry-After, and the read works again once it has."""

from __future__ import annotations

import os
import time
from pathlib import Path

import requests
import xxhash
from whoosh import index as whoosh_index

from dav import NS, mkcol, parse_multistatus, proppatch, tag_xml

ROUNDS = 15


def dav_search_tag(store_url: str, tag: str) -> set[str]:
    body = (
        '<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:" xmlns:a="urn:assetdav">'
        "<D:basicsearch><D:select><D:prop><D:displayname/></D:prop></D:select>"
        "<D:from><D:scope><D:href>/demo/</D:href><D:depth>infinity</D:depth></D:scope></D:from>"
        f"<D:where><D:eq><D:prop><a:tags/></D:prop><D:literal>{tag}</D:literal></D:eq>"
        "</D:where></D:basicsearch></D:searchrequest>"
    )
    answer = requests.request(
        "SEARCH", store_url, data=body.encode(), headers={"Content-Type": "text/xml"}, timeout=30
    )
    assert answer.status_code == 207, answer.text
    return set(parse_multistatus(answer.content))


def test_hashes_are_known_right_after_the_put(server):
    url = server.store_url()
    api = server.url + "api/"
    assert mkcol(url + "p/").status_code == 201
    assert mkcol(url + "p/a/").status_code == 201
    with requests.Session() as session:
        for n in range(ROUNDS):
            data = os.urandom(100) + bytes([n])
            digest = xxhash.xxh3_128_hexdigest(data)
            assert session.put(f"{url}p/a/f{n}.bin", data=data, timeout=30).status_code == 201
            assert session.head(f"{api}hash/xxh3:{digest}", timeout=30).status_code == 200, n
            found = session.get(f"{api}hash/xxh3:{digest}", timeout=30)
            assert found.status_code == 200, (n, found.text)
            reused = session.post(
                f"{api}demo/p/from-hash/copy{n}",
                json={"hash": f"xxh3:{digest}", "filename": "c.bin", "create": True},
                timeout=30,
            )
            assert reused.status_code == 200, (n, reused.text)


def test_tags_are_filterable_right_after_tagging_from_either_face(server):
    url = server.store_url()
    api = server.url + "api/demo/"
    assert mkcol(url + "p/").status_code == 201
    with requests.Session() as session:
        for n in range(ROUNDS):
            asset = f"a{n}"
            assert mkcol(f"{url}p/{asset}/").status_code == 201
            tag = f"red{n}"
            if n % 2:  # WebDAV PROPPATCH, then the OVE list
                answer = proppatch(f"{url}p/{asset}/", {f"{{{NS}}}tags": tag_xml([tag])})
                assert answer.status_code == 207
            else:  # the API, then WebDAV SEARCH
                answer = session.post(f"{api}p/tags/{asset}", json=[tag], timeout=30)
                assert answer.status_code == 200, answer.text
            listed = session.get(f"{api}p/list", params={"filterByTag": tag}, timeout=30)
            assert [a["id"] for a in listed.json()["Assets"]] == [asset], n
            assert dav_search_tag(url, tag) == {f"/demo/p/{asset}/"}, n
            found = session.get(
                server.url + "api/assets", params={"include_tags": tag}, timeout=30
            ).json()
            assert [a["asset"] for a in found["assets"]] == [asset], n
            counts = session.get(server.url + "api/tags/refine", timeout=30).json()
            assert counts["tag_counts"].get(tag) == 1, n
            tags = session.get(server.url + "api/tags", params={"prefix": tag}, timeout=30)
            assert {t["name"] for t in tags.json()["tags"]} == {tag}, n
        # a project's tags, and the project list's filter
        meta = session.post(f"{api}p/projectMeta", json={"tags": ["blue"]}, timeout=30)
        assert meta.status_code == 200, meta.text
        projects = session.get(
            server.url + "api/demo/list", params={"filterByTag": "blue"}, timeout=30
        )
        assert [p["id"] for p in projects.json()] == ["p"]


def test_a_read_the_index_cannot_answer_in_time_is_503_then_works(make_server):
    server = make_server(env={"ASSETDAV_INDEX_READ_TIMEOUT": "1"})
    url = server.store_url()
    assert mkcol(url + "p/").status_code == 201
    assert mkcol(url + "p/a/").status_code == 201
    index = whoosh_index.open_dir(str(Path(server.state_dir) / "index"))
    writer = index.writer(timeout=10)  # as a reindex in another process would: the lock
    try:
        proppatch(url + "p/a/", {f"{{{NS}}}tags": tag_xml(["late"])})
        started = time.monotonic()
        behind = requests.get(
            server.url + "api/assets", params={"include_tags": "late"}, timeout=30
        )
        assert behind.status_code == 503, behind.text
        assert behind.headers["Retry-After"] == "1"
        assert behind.json()["title"] == "Index catching up"
        assert time.monotonic() - started < 5
    finally:
        writer.cancel()
    deadline = time.monotonic() + 30
    while True:
        answer = requests.get(
            server.url + "api/assets", params={"include_tags": "late"}, timeout=30
        )
        if answer.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(float(answer.headers.get("Retry-After", "1")))
    assert answer.status_code == 200, answer.text
    assert [a["asset"] for a in answer.json()["assets"]] == ["a"]
    assert "Traceback" not in server.log()
