"""Concurrent edits of one sidecar never lose an update (WebDAV and `stores` side by side)."""

from __future__ import annotations

import threading
from pathlib import Path

import requests
import xxhash
import yaml

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
    files = yaml.safe_load((store_root / "proj" / ".ovemeta").read_text())["files"]
    assert set(files) == set(sent) | {"race.json"}
    for name, body in sent.items():
        assert files[name]["size"] == len(body)
        assert files[name]["xxh3_128"] == xxhash.xxh3_128_hexdigest(body)
