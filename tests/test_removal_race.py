"""Deleting or overwriting asset folders while others write into them: never a 5xx, and the
watcher never brings back what was removed."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from pathlib import Path

import requests

from dav import NS, mkcol, proppatch, tag_xml

ROUNDS = 500
PAIRS = 4  # asset folders removed side by side, so the rounds finish in reasonable time


def test_removing_asset_folders_races_with_writes_proppatches_and_the_watcher(
    server, store_root: Path
):
    base = server.store_url() + "race/"
    assert mkcol(base).status_code == 201
    failures: list[str] = []
    stop = threading.Event()
    served = itertools.count()

    def record(what: str, response: requests.Response, allowed: tuple[int, ...]) -> None:
        next(served)
        if response.status_code >= 500 or response.status_code not in allowed:
            failures.append(f"{what}: {response.status_code} {response.text[:300]}")

    def writer(pair: int) -> None:
        """PUTs and PROPPATCHes into folders that come and go: each either lands or is
        refused with a 4xx because its folder vanished."""
        with requests.Session() as session:
            for n in itertools.count():
                if stop.is_set():
                    return
                for name in (f"dst{pair}", f"src{pair}"):
                    url = f"{base}{name}/"
                    put = session.put(f"{url}w{n % 2}.bin", data=b"x" * (n % 300), timeout=30)
                    record(f"PUT {name}", put, (201, 204, 404, 409))
                    patch = proppatch(url, {f"{{{NS}}}add-tags": tag_xml([f"t{n % 5}"])})
                    record(f"PROPPATCH {name}", patch, (207, 404, 409))
                time.sleep(0.1)  # leave the removers most of the two cores

    def behind_the_back(pair: int) -> None:
        """Files dropped on disk: the watcher writes sidecars into these folders."""
        for n in itertools.count():
            if stop.is_set():
                return
            for name in (f"dst{pair}", f"src{pair}"):
                with contextlib.suppress(OSError):  # the folder is being removed right now
                    (store_root / "race" / name / f"disk{n % 2}.txt").write_bytes(b"d" * n)
            time.sleep(0.05)

    def remover(pair: int) -> None:
        dst, src = f"{base}dst{pair}/", f"{base}src{pair}/"
        with requests.Session() as session:
            for round_no in range(ROUNDS // PAIRS):
                for url in (dst, src):
                    made = session.request("MKCOL", url, timeout=30)
                    record("MKCOL", made, (201, 405))
                    put = session.put(url + "keep.bin", data=b"k" * 100, timeout=30)
                    record("PUT keep", put, (201, 204, 404, 409))
                op = round_no % 3
                if op == 0:
                    response = session.delete(dst, timeout=30)
                    record("DELETE", response, (204,))
                else:
                    method = "MOVE" if op == 1 else "COPY"
                    response = session.request(
                        method, src, headers={"Destination": dst, "Overwrite": "T"}, timeout=30
                    )
                    record(f"{method} overwrite", response, (204,))

    workers = [threading.Thread(target=writer, args=(p,)) for p in range(PAIRS)]
    workers += [threading.Thread(target=behind_the_back, args=(p,)) for p in range(PAIRS)]
    removers = [threading.Thread(target=remover, args=(p,)) for p in range(PAIRS)]
    for thread in workers + removers:
        thread.start()
    for thread in removers:
        thread.join(timeout=600)
    stop.set()
    for thread in workers:
        thread.join(timeout=60)

    assert not failures, f"{len(failures)} of {next(served)} requests failed: {failures[:5]}"
    log = server.log()
    assert "Traceback" not in log, log[-3000:]
    assert "Directory not empty" not in log
    # Nothing half-removed is left in sight: no trash, no folder without its sidecar.
    for pair in range(PAIRS):
        for name in (f"dst{pair}", f"src{pair}"):
            folder = store_root / "race" / name
            if folder.exists():
                time.sleep(1.0)  # the watcher settles what was dropped on disk last
                assert (folder / ".ovemeta").is_file(), folder
    leftovers = [p.name for p in (store_root / "race").iterdir() if p.name.startswith(".~")]
    assert not leftovers, leftovers
