"""Concurrent edits of one sidecar never lose an update (WebDAV and `stores` side by side)."""

from __future__ import annotations

import threading
from pathlib import Path

import requests
import xxhash
import yaml
from on_disk import on_disk_records

from stores import ANONYMOUS, Registry

from dav import NS, mkcol, proppatch, tag_xml

THREADS = 8
ROUNDS = 50


def test_parallel_proppatch_and_description_edits_all_land(server, store_root: Path):
    base = server.store_url()
    mkcol(base + "proj/")
    assert mkcol(base + "proj/shared/").status_code == 201
    asset_url = base + "proj/shared/"
    failures: list[str] = []

    def tagger(worker: int) -> None:
        for round_no in range(ROUNDS):
            tag = f"t{worker}-{round_no}"
            response = proppatch(asset_url, {f"{{{NS}}}add-tags": tag_xml([tag])})
            if response.status_code != 207 or "200 OK" not in response.text:
                failures.append(f"{tag}: {response.status_code} {response.text[:200]}")

    # The API side: the same `stores` operations in another process, on the same tree.
    store = Registry({"demo": store_root}).get("demo")
    asset = store.locate("proj/shared")
    last_description = ""

    def describer() -> None:
        nonlocal last_description
        for round_no in range(ROUNDS):
            last_description = f"edit {round_no}"
            store.update_fields(ANONYMOUS, asset, {"description": last_description})

    threads = [threading.Thread(target=tagger, args=(i,)) for i in range(THREADS)]
    threads.append(threading.Thread(target=describer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert not failures, failures[:3]
    meta = yaml.safe_load((store_root / "proj" / "shared" / ".ovemeta").read_text())
    expected = {f"t{w}-{r}" for w in range(THREADS) for r in range(ROUNDS)}
    assert set(meta["tags"]) == expected
    assert meta["description"] == last_description == f"edit {ROUNDS - 1}"


def test_parallel_uploads_into_one_folder_are_all_recorded(server, store_root: Path):
    """Uploads finishing together share sidecar writes (group commit): none may be lost,
    and one refused in the same batch (an object created twice) fails alone."""
    base = server.store_url()
    assert mkcol(base + "proj/").status_code == 201
    race_url = server.url + "api/demo/proj/object/race"
    sent: dict[str, bytes] = {}
    failures: list[str] = []
    race_statuses: list[int] = []

    def uploader(worker: int) -> None:
        with requests.Session() as session:
            for round_no in range(25):
                name = f"w{worker}-{round_no}.bin"
                body = f"{worker}:{round_no}".encode() * (round_no + 1)
                response = session.put(base + "proj/" + name, data=body, timeout=30)
                if response.status_code != 201:
                    failures.append(f"{name}: {response.status_code}")
                sent[name] = body
                if round_no == 10:
                    race = session.post(race_url, json={"by": worker}, timeout=30)
                    race_statuses.append(race.status_code)

    threads = [threading.Thread(target=uploader, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    assert sorted(race_statuses) == [200] + [409] * (THREADS - 1)
    files = on_disk_records(store_root / "proj")  # the sidecar and its journal
    assert set(files) == set(sent) | {"race.json"}
    for name, body in sent.items():
        assert files[name]["size"] == len(body)
        assert files[name]["xxh3_128"] == xxhash.xxh3_128_hexdigest(body)


def test_project_metadata_edits_and_uploads_into_the_project_do_not_wait_for_each_other(
    server, store_root: Path
):
    """`projectMeta` rewrites project.json while holding the project's lock; uploads into
    the project's own folder share its group commit. Neither may end up waiting for the
    other forever."""
    base = server.store_url()
    api = server.url + "api/demo/proj/projectMeta"
    assert mkcol(base + "proj/").status_code == 201
    failures: list[str] = []

    def uploads(worker: int) -> None:
        with requests.Session() as session:
            for n in range(40):
                try:
                    answer = session.put(f"{base}proj/w{worker}-{n}.txt", data=b"x", timeout=20)
                except requests.RequestException as exc:
                    failures.append(f"PUT {exc}")
                    return
                if answer.status_code != 201:
                    failures.append(f"PUT {answer.status_code}")

    def edits(worker: int) -> None:
        with requests.Session() as session:
            for n in range(40):
                try:
                    answer = session.post(api, json={"authors": f"a{worker}-{n}"}, timeout=20)
                except requests.RequestException as exc:
                    failures.append(f"projectMeta {exc}")
                    return
                if answer.status_code != 200:
                    failures.append(f"projectMeta {answer.status_code} {answer.text[:100]}")

    threads = [threading.Thread(target=uploads, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=edits, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "requests are stuck"
    assert not failures, failures[:3]
    recorded = on_disk_records(store_root / "proj")
    assert sum(1 for name in recorded if name.startswith("w")) == 120
    assert "project.json" in recorded
