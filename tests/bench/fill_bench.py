"""Filling one asset: does a small-file PUT stay as fast when the asset already holds
thousands of files? Both servers, fresh, each get N files of 4 KiB PUT by 8 connections
into one folder (inside an asset for assetdav, `/p/a/` for plain WsgiDAV). The rate of the
first 400 files and of the last 400 (by completion) is compared: flat means the last 400
go within 15% of the first. Also the overall rate against plain WsgiDAV's, and the
server's CPU seconds.

    scripts/bench --fill [--counts 2000,20000] [--out PATH]
"""

from __future__ import annotations

import argparse
import http.client
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import (
    add_output_options,
    elapsed,
    exit_status,
    result_header,
    say,
    scratch_folder,
    write_result,
)
from servers import ServerProcess, make_servers

CONNECTIONS = 8
SIZE = 4096
WINDOW = 400
FLAT = 0.15


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--counts", default="2000,20000", help="files per run, comma-separated (2000,20000)"
    )
    add_output_options(parser, "fill.json")
    return parser.parse_args(argv)


def fill(
    server: ServerProcess,
    folder: str,
    count: int,
    body_of: Callable[[int], bytes] | None = None,
    suffix: str = ".bin",
) -> dict[str, Any]:
    """PUT `count` files into `folder` (a URL path) over CONNECTIONS connections: the same
    SIZE random bytes each, or `body_of(n)` for the n-th file."""
    same = os.urandom(SIZE)
    body_of = body_of or (lambda _n: same)
    names = iter(range(count))
    guard = threading.Lock()
    done: list[float] = []
    errors: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        try:
            while True:
                with guard:
                    n = next(names, None)
                if n is None:
                    return
                conn.request("PUT", f"{folder}f{n:06}{suffix}", body=body_of(n))
                response = conn.getresponse()
                response.read()
                with guard:
                    if response.status not in (201, 204):
                        errors.append(f"PUT f{n}: {response.status}")
                    done.append(time.monotonic())
        finally:
            conn.close()

    cpu = server.cpu_seconds()
    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} PUTs failed on {server.label}: {errors[:3]}")
    done.sort()
    window = min(WINDOW, count // 2)  # a short run compares its two halves
    if window < 1:
        raise RuntimeError(f"--counts must be at least 2 (got {count})")
    first = window / (done[window - 1] - start)
    last = window / (done[-1] - done[-window - 1]) if count > window else first
    return {
        "files": count,
        "window": window,
        "files_per_s": round(count / (done[-1] - start), 1),
        "first_400_per_s": round(first, 1),
        "last_400_per_s": round(last, 1),
        "last_over_first": round(last / first, 3),
        "flat": last >= first * (1 - FLAT),
        "cpu_s": round(server.cpu_seconds() - cpu, 2),
    }


def run_one(workdir: Path, count: int) -> dict[str, dict[str, Any]]:
    results = {}
    for server in make_servers(workdir / f"n{count}"):
        server.start()
        try:
            for path in ("p/", "p/a/"):
                status = server.request("MKCOL", server.url_path + path)
                if status != 201:
                    raise RuntimeError(f"MKCOL {path} on {server.label}: {status}")
            say(f"{count} files into one folder of {server.label}")
            results[server.name] = fill(server, server.url_path + "p/a/", count)
            say(f"  {results[server.name]}")
        finally:
            server.stop()
    return results


def run(args: argparse.Namespace) -> None:
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    runs = {}
    with scratch_folder(args.tmp_dir, "fill-") as workdir:
        for count in counts:
            runs[str(count)] = run_one(workdir, count)
    for count, result in runs.items():
        a, p = result["assetdav"], result["plain"]
        print(
            f"{count:>6} files: assetdav {a['files_per_s']} files/s "
            f"(first {a['window']} {a['first_400_per_s']}, "
            f"last {a['window']} {a['last_400_per_s']}: "
            f"{'flat' if a['flat'] else 'NOT flat'}), plain {p['files_per_s']} files/s, "
            f"ratio {a['files_per_s'] / p['files_per_s']:.2f}; "
            f"CPU {a['cpu_s']} s vs {p['cpu_s']} s"
        )
    write_result(
        args.out,
        {
            **result_header("filling one asset with small files"),
            "runs": runs,
            "elapsed_s": elapsed(),
        },
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
