"""Search and hash lookups in an asset of more than a thousand files, whose file names and
hashes the index keeps in parts of their own (so that a file dropped into it re-indexes a
few hundred records, not all of them): every file is still found by name and by content,
together with what the asset itself says, as files are added, renamed and removed."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import xxhash

from conftest import Server
from dav import eventually, mkcol

FILES = 1_050  # above the 1,000 from which an asset's files are indexed in chunks
TIMEOUT = 30


def body(n: int) -> bytes:
    return f"photo number {n}\n".encode() * 16


def digest(n: int) -> str:
    return xxhash.xxh3_128_hexdigest(body(n))


def found(server: Server, q: str) -> list[str]:
    page = requests.get(server.url + "api/assets", params={"q": q}, timeout=TIMEOUT).json()
    return sorted(a["asset"] for a in page["assets"])


def paths_with(server: Server, n: int) -> list[str]:
    answer = requests.get(server.url + f"api/hash/xxh3:{digest(n)}", timeout=TIMEOUT)
    if answer.status_code == 404:
        return []
    assert answer.status_code == 200, answer.text
    return sorted(f"{p['asset']}/{p['path']}" for p in answer.json()["locations"])


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Iterator[tuple[Server, str]]:
    """A server with `p/harbour` holding FILES photos in `drop/`, and a small asset
    `p/small` beside it: the server and the big asset's URL."""
    base_dir = tmp_path_factory.mktemp("big")
    (base_dir / "demo").mkdir()
    server = Server({"demo": base_dir / "demo"}, base_dir / "state", base_dir / "server.log")
    server.start()
    base = server.store_url()
    for folder in ("p/", "p/harbour/", "p/harbour/drop/", "p/small/"):
        assert mkcol(base + folder).status_code == 201
    url = base + "p/harbour/"

    def put(n: int) -> None:
        answer = requests.put(url + f"drop/IMG_{n:04}.jpg", data=body(n), timeout=TIMEOUT)
        assert answer.status_code == 201, answer.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(FILES)))
    assert requests.put(base + "p/small/IMG_0042.jpg", data=body(42), timeout=TIMEOUT).ok
    yield server, url
    server.stop()


def test_every_file_of_a_big_asset_is_found_by_name_and_by_content(big) -> None:
    server, _url = big
    assert eventually(lambda: found(server, "0007") == ["harbour"], timeout=10)
    for n in (0, 517, FILES - 1):
        assert found(server, f"{n:04}") == ["harbour"], n
        assert paths_with(server, n) == [f"harbour/drop/IMG_{n:04}.jpg"], n
    # a word of the asset's name and one of a file's name, in one query
    assert found(server, "harbour 0517") == ["harbour"]
    assert found(server, "harbour 9999") == []
    assert found(server, "img 0042") == ["harbour", "small"]
    assert paths_with(server, 42) == ["harbour/drop/IMG_0042.jpg", "small/IMG_0042.jpg"]
    assert found(server, "0517 OR lighthouse") == ["harbour"]
    assert found(server, "small OR 0518") == ["harbour", "small"]


def test_files_added_renamed_and_removed_are_found_as_they_are_now(big) -> None:
    server, url = big
    new = FILES + 10
    assert requests.put(url + "drop/IMG_lighthouse.jpg", data=body(new), timeout=TIMEOUT).ok
    moved = requests.request(
        "MOVE", url + "drop/IMG_0100.jpg", headers={"Destination": url + "renamed-jetty.jpg"},
        timeout=TIMEOUT,
    )
    assert moved.status_code == 201, moved.text
    assert requests.delete(url + "drop/IMG_0200.jpg", timeout=TIMEOUT).status_code == 204

    assert eventually(lambda: found(server, "lighthouse") == ["harbour"], timeout=10)
    assert paths_with(server, new) == ["harbour/drop/IMG_lighthouse.jpg"]
    assert eventually(lambda: found(server, "jetty") == ["harbour"], timeout=10)
    assert found(server, "0100") == []
    assert paths_with(server, 100) == ["harbour/renamed-jetty.jpg"]
    assert eventually(lambda: found(server, "0200") == [], timeout=10)
    assert paths_with(server, 200) == []
    # the untouched files are all still there
    assert found(server, "0201") == found(server, "0999") == ["harbour"]

    # the folder of photos goes: the asset has a handful of files again
    assert requests.delete(url + "drop/", timeout=TIMEOUT).status_code == 204
    assert eventually(lambda: found(server, "0300") == [], timeout=10)
    assert paths_with(server, 300) == []
    assert found(server, "jetty") == found(server, "harbour") == ["harbour"]
    assert paths_with(server, 100) == ["harbour/renamed-jetty.jpg"]
