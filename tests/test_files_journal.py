"""The files journal (`.ovemeta.journal`): files dropped into an asset are recorded by
appending, not by rewriting a sidecar that names every file the asset has; and the tree
stays the truth through a crash in the middle of an append, a fold of the journal cut
short, and an `rsync -a` copy taken while files are being written.

The journal is read here from its documented format (README, "What a write costs"), not
through the server's code: a header naming the xxh3-64 of the sidecar's bytes, then one
JSON line per change with an xxh32 checksum.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
import xxhash
import yaml
from on_disk import on_disk_records

from dav import NS, eventually, mkcol, parse_multistatus, propfind

if TYPE_CHECKING:
    from conftest import Server

HTTP_TIMEOUT = 30.0


def body(n: int) -> bytes:
    return f"file number {n}\n".encode() * 64


def listed_hashes(url: str) -> dict[str, str]:
    """name -> the xxh3 the server reports for each file in the folder at `url`."""
    response = propfind(url, [f"{{{NS}}}xxh3"], depth="1")
    assert response.status_code == 207, response.text
    hashes = {}
    for href, props in parse_multistatus(response.content).items():
        element = props.get(f"{{{NS}}}xxh3")
        if element is not None and not href.endswith("/"):
            hashes[href.rsplit("/", 1)[-1]] = element.text or ""
    return hashes


def all_hashes(url: str) -> dict[str, str]:
    """Every file below the asset at `url` -> the xxh3 the server reports for it."""
    hashes = {name: digest for name, digest in listed_hashes(url).items()}
    for name, digest in listed_hashes(url + "old/").items():
        hashes[f"old/{name}"] = digest
    return hashes


def put_many(url: str, names: list[str], start: int = 0) -> None:
    def one(item: tuple[int, str]) -> None:
        n, name = item
        response = requests.put(url + name, data=body(n), timeout=HTTP_TIMEOUT)
        assert response.status_code in (201, 204), response.text

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, enumerate(names, start)))


BIG = 100  # files: enough for the asset's records to go to a journal (from 64)


def big_asset(server: Server) -> tuple[str, Path]:
    """An asset `p/a` holding BIG files, its journal folded (as it is at rest): its URL
    and folder."""
    base = server.store_url()
    for folder in ("p/", "p/a/", "p/a/old/"):
        assert mkcol(base + folder).status_code == 201
    url, folder = base + "p/a/", server.stores["demo"] / "p" / "a"
    put_many(url, [f"old/{n}.bin" for n in range(BIG)], start=1000)
    assert eventually(lambda: not (folder / ".ovemeta.journal").exists(), timeout=15)
    return url, folder


@pytest.fixture
def asset(server: Server) -> tuple[Server, str, Path]:
    return (server, *big_asset(server))


def test_dropped_files_are_appended_not_rewritten_and_every_one_is_recorded(asset) -> None:
    _server, url, folder = asset
    requests.put(url + "first.bin", data=body(0), timeout=HTTP_TIMEOUT)
    sidecar_before = (folder / ".ovemeta").stat()
    assert (folder / ".ovemeta.journal").exists()
    names = [f"f{n:03}.bin" for n in range(120)]
    put_many(url, names, start=1)

    # recording 120 files appended to the journal: the sidecar itself was not rewritten
    after = (folder / ".ovemeta").stat()
    assert (after.st_ino, after.st_mtime_ns) == (sidecar_before.st_ino, sidecar_before.st_mtime_ns)
    lines = (folder / ".ovemeta.journal").read_bytes().count(b"\n") - 1
    assert lines == 121
    records = on_disk_records(folder)
    for n, name in enumerate(names, start=1):
        assert records[name]["xxh3_128"] == xxhash.xxh3_128_hexdigest(body(n))
        assert records[name]["size"] == len(body(n))
    # the server says the same, and a client downloading the sidecar sees every file
    assert listed_hashes(url)[names[-1]] == xxhash.xxh3_128_hexdigest(body(120))
    downloaded = yaml.safe_load(requests.get(url + ".ovemeta", timeout=HTTP_TIMEOUT).content)
    assert set(downloaded["files"]) - old_files(BIG) == {"first.bin", *names}

    # once the asset is quiet, the journal is folded in: the sidecar alone names every file
    assert eventually(lambda: not (folder / ".ovemeta.journal").exists(), timeout=15)
    alone = yaml.safe_load((folder / ".ovemeta").read_bytes())["files"]
    assert set(alone) == {"first.bin", *names} | old_files(BIG)
    assert list(alone) == sorted(alone)


def old_files(count: int) -> set[str]:
    return {f"old/{n}.bin" for n in range(count)}


def test_moving_and_deleting_a_folder_inside_a_big_asset_appends_too(asset) -> None:
    """MOVE and DELETE of a folder in an asset of hundreds of files cost what they move
    or delete: records appended to the journal, the sidecar not rewritten."""
    _server, url, folder = asset
    assert mkcol(url + "tree/").status_code == 201
    put_many(url, [f"tree/t{n}.bin" for n in range(20)])
    sidecar_before = (folder / ".ovemeta").stat()
    moved = requests.request(
        "MOVE", url + "tree/", headers={"Destination": url + "moved/"}, timeout=HTTP_TIMEOUT
    )
    assert moved.status_code == 201, moved.text
    records = on_disk_records(folder)
    assert not [key for key in records if key.startswith("tree/")]
    for n in range(20):
        assert records[f"moved/t{n}.bin"]["xxh3_128"] == xxhash.xxh3_128_hexdigest(body(n))
    assert listed_hashes(url + "moved/")["t3.bin"] == xxhash.xxh3_128_hexdigest(body(3))
    assert requests.delete(url + "moved/", timeout=HTTP_TIMEOUT).status_code == 204
    assert set(on_disk_records(folder)) == old_files(BIG)
    after = (folder / ".ovemeta").stat()
    assert (after.st_ino, after.st_mtime_ns) == (sidecar_before.st_ino, sidecar_before.st_mtime_ns)
    assert eventually(lambda: not (folder / ".ovemeta.journal").exists(), timeout=15)
    assert set(yaml.safe_load((folder / ".ovemeta").read_bytes())["files"]) == old_files(BIG)


def test_an_edit_of_the_metadata_folds_the_journal_into_the_sidecar(asset) -> None:
    server, url, folder = asset
    put_many(url, [f"f{n}.bin" for n in range(10)])
    assert (folder / ".ovemeta.journal").exists()
    response = requests.post(
        f"{server.url}api/demo/p/meta/a", json={"tags": ["folded"]}, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 200, response.text
    assert not (folder / ".ovemeta.journal").exists()
    written = yaml.safe_load((folder / ".ovemeta").read_bytes())
    assert written["tags"] == ["folded"]
    assert len(written["files"]) == 10 + BIG


def test_a_line_cut_short_by_a_crash_is_ignored_and_cut_off_by_the_next_append(asset) -> None:
    server, url, folder = asset
    put_many(url, [f"f{n}.bin" for n in range(20)])
    server.stop(signal.SIGKILL)
    journal = folder / ".ovemeta.journal"
    whole = journal.read_bytes()
    # what a crash in the middle of appending a batch leaves: part of a line
    torn = json.dumps({"k": "ghost.bin", "r": {"size": 1, "xxh3_128": "00", "mtime": 1.0}})
    journal.write_bytes(whole + torn.encode()[:30])
    server.start()
    hashes = listed_hashes(url)
    assert len(hashes) == 20 and "ghost.bin" not in hashes
    assert hashes["f7.bin"] == xxhash.xxh3_128_hexdigest(body(7))

    put_many(url, ["after.bin"], start=99)
    assert journal.read_bytes().startswith(whole)  # nothing before the torn line changed
    assert b"ghost" not in journal.read_bytes()
    records = on_disk_records(folder)
    assert set(records) == {f"f{n}.bin" for n in range(20)} | {"after.bin"} | old_files(BIG)
    assert records["after.bin"]["xxh3_128"] == xxhash.xxh3_128_hexdigest(body(99))


def test_a_fold_cut_short_leaves_a_stale_journal_that_is_ignored(asset) -> None:
    """A crash after the folded sidecar is written but before the journal is removed: the
    old journal extends the old bytes, so it adds nothing, and a file deleted since does
    not come back."""
    server, url, folder = asset
    put_many(url, ["keep.bin", "gone.bin"])
    journal = folder / ".ovemeta.journal"
    old_journal = journal.read_bytes()
    assert b"gone.bin" in old_journal
    assert requests.delete(url + "gone.bin", timeout=HTTP_TIMEOUT).status_code == 204
    response = requests.post(
        f"{server.url}api/demo/p/meta/a", json={"description": "folded"}, timeout=HTTP_TIMEOUT
    )
    assert response.status_code == 200, response.text
    server.stop(signal.SIGKILL)
    journal.write_bytes(old_journal)  # as if the removal never reached the disk
    server.start()
    assert set(listed_hashes(url)) == {"keep.bin"}
    assert set(on_disk_records(folder)) == {"keep.bin"} | old_files(BIG)
    put_many(url, ["new.bin"], start=5)  # the stale journal is replaced, not extended
    assert set(on_disk_records(folder)) == {"keep.bin", "new.bin"} | old_files(BIG)
    assert not journal.read_bytes().count(b"gone.bin")


def test_an_rsync_copy_taken_while_files_land_is_a_working_store(asset, make_server) -> None:
    """Copy the store with `rsync -a` again and again while 8 clients drop files into an
    asset; each copy, served by its own server, lists every file it holds with the right
    hash (from the copied records, or hashed again where the copy caught a file without
    its record), and names nothing it does not hold."""
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed")
    server, url, folder = asset
    root = server.stores["demo"]
    copies = [root.parent / f"copy{n}" for n in range(3)]
    stop = threading.Event()

    def write_all_along() -> None:
        batch = 0
        while not stop.is_set():
            put_many(url, [f"b{batch}-{n}.bin" for n in range(40)], start=batch * 40)
            batch += 1

    writer = threading.Thread(target=write_all_along)
    writer.start()
    try:
        for copy in copies:
            time.sleep(0.7)
            done = subprocess.run(["rsync", "-a", f"{root}/", f"{copy}/"], timeout=120)
            assert done.returncode in (0, 24), done  # 24: a temporary file vanished
    finally:
        stop.set()
        writer.join()
    for copy in copies:
        asset_copy = copy / "p" / "a"
        held = {
            str(p.relative_to(asset_copy)): p.read_bytes()
            for p in asset_copy.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        }
        assert len(held) > BIG
        expected = {name: xxhash.xxh3_128_hexdigest(data) for name, data in held.items()}
        mirror = make_server(stores={"demo": copy})
        # records the copy missed are taken in by the start-up reconcile
        listing = mirror.store_url() + "p/a/"
        agreed = eventually(lambda u=listing, e=expected: all_hashes(u) == e, timeout=30)
        assert agreed, f"{all_hashes(listing)} != {expected}"
        mirror.stop()


def test_without_a_watcher_a_big_asset_still_appends_and_the_reconcile_takes_in_the_rest(
    make_server,
) -> None:
    """With no watcher (index.watch off, a cluster, a store past the inotify watch limit)
    a write into a big asset still only appends: it does not scan the folder. A file
    written there behind the server's back is taken in by the reconcile (here the one at
    start-up: the periodic one is set an hour apart, so none runs in the middle)."""
    server = make_server(
        env={"ASSETDAV_INDEX_WATCH": "false", "ASSETDAV_RECONCILE_INTERVAL": "3600"}
    )
    url, folder = big_asset(server)
    (folder / "old" / "behind.bin").write_bytes(b"b" * 77)
    sidecar_before = (folder / ".ovemeta").stat()
    put_many(url, [f"new{n}.bin" for n in range(10)])
    after = (folder / ".ovemeta").stat()
    assert (after.st_ino, after.st_mtime_ns) == (sidecar_before.st_ino, sidecar_before.st_mtime_ns)
    assert (folder / ".ovemeta.journal").read_bytes().count(b"\n") - 1 == 10
    assert "old/behind.bin" not in on_disk_records(folder)  # the writes did not scan

    server.stop()
    server.start()
    assert eventually(
        lambda: on_disk_records(folder).get("old/behind.bin", {}).get("size") == 77, timeout=20
    ), "the reconcile takes in what was written behind the server's back"
    assert {f"new{n}.bin" for n in range(10)} <= set(on_disk_records(folder))


def test_a_journal_torn_behind_the_running_servers_back_is_cut_before_its_next_append(
    make_server,
) -> None:
    """The server appends to a journal it knows is whole without reading it again, but
    only while the file is exactly as it knows it: a partial line added behind its back
    (a copy into the store cut short; no watcher here to notice it first) is cut off by
    the next append, not buried under it."""
    server = make_server(
        env={"ASSETDAV_INDEX_WATCH": "false", "ASSETDAV_RECONCILE_INTERVAL": "3600"}
    )
    url, folder = big_asset(server)
    put_many(url, [f"f{n}.bin" for n in range(5)])
    journal = folder / ".ovemeta.journal"
    whole = journal.read_bytes()
    torn = json.dumps({"k": "ghost.bin", "r": {"size": 1, "xxh3_128": "00", "mtime": 1.0}})
    with journal.open("ab") as fh:
        fh.write(torn.encode()[:30])
    put_many(url, ["after.bin"], start=99)
    raw = journal.read_bytes()
    assert raw.startswith(whole) and b"ghost" not in raw
    assert raw.count(b"\n") - 1 == 6  # header, five lines, the new one: all whole
    records = on_disk_records(folder)
    assert records["after.bin"]["xxh3_128"] == xxhash.xxh3_128_hexdigest(body(99))
    assert {f"f{n}.bin" for n in range(5)} <= set(records)
