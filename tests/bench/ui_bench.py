"""The asset browser's first load of a big project: how long until the first 100
thumbnails show, in Debian's chromium driven by Playwright, on loopback.

One project filled over WebDAV with `--assets` assets (default 10,000), each holding a
small distinct JPEG, and the server left to make their previews ahead (as it does for
every upload). Then the project's page is opened `--runs` times (after one to warm up) in
a fresh browser context, nothing cached: the time from navigation to the grid's first card,
and to the moment 100 grid images have loaded. Target: under 1 s to the first 100.

    scripts/bench --ui [--assets N] [--runs N] [--out PATH]
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import statistics
import sys
import threading
import time
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
from procmem import MIB, read_memory
from servers import REPO, STORE, ServerProcess, assetdav_server

sys.path.insert(0, str(REPO / "tests"))
import media_sources as ms  # noqa: E402

TARGET_S = 1.0
CONNECTIONS = 8
FIRST = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=10_000, help="assets in the project")
    parser.add_argument("--runs", type=int, default=5, help="page loads measured (5)")
    add_output_options(parser, "ui.json")
    return parser.parse_args(argv)


def fill(server: ServerProcess, project: str, count: int) -> None:
    """MKCOL each asset and PUT a distinct 320×240 JPEG into it, over CONNECTIONS
    connections: the way people fill a store, so the previews are made ahead as in use."""
    base = ms.halves((320, 240), ms.RED, ms.BLUE)
    names = iter(range(count))
    guard = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        try:
            while True:
                with guard:
                    n = next(names, None)
                if n is None:
                    return
                image = base.copy()
                image.putpixel((n % 320, (n // 320) % 240), (n % 256, 255, 0))
                folder = f"{server.url_path}{project}/img-{n:05d}/"
                for method, path, body in (
                    ("MKCOL", folder, None),
                    ("PUT", folder + "photo.jpg", ms.encoded(image, "JPEG", quality=80)),
                ):
                    conn.request(method, path, body=body)
                    response = conn.getresponse()
                    response.read()
                    if response.status != 201:
                        with guard:
                            failures.append(f"{method} {path}: {response.status}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:3]}")


def run(args: argparse.Namespace) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with scratch_folder(args.tmp_dir, "ui-") as workdir:
        server = assetdav_server(workdir, log_level="WARNING")
        server.start()
        try:
            project = "photos"
            assert server.request("MKCOL", f"{server.url_path}{project}/") == 201
            say(f"{args.assets} assets, each with a JPEG, over WebDAV")
            started = time.monotonic()
            fill(server, project, args.assets)
            derived = workdir / "state" / "derived"
            while len(list(derived.glob("*/*.webp"))) < 2 * args.assets:
                if time.monotonic() - started > 1800:
                    raise RuntimeError("the previews were not made within 30 minutes")
                time.sleep(1)
            ready_s = time.monotonic() - started
            say(f"uploaded, and previews made ahead, in {ready_s:.0f} s")
            page_url = f"http://127.0.0.1:{server.port}/ui/s/{STORE}/{project}/"
            loads = measure(chromium, page_url, args.runs)
            rss = read_memory(server.pid).rss
        finally:
            server.stop()
    first_100 = [load["first_100_s"] for load in loads]
    result = {
        "assets": args.assets,
        "upload_and_previews_s": round(ready_s, 1),
        "loads": loads,
        "first_100_median_s": round(statistics.median(first_100), 3),
        "first_100_max_s": round(max(first_100), 3),
        "target_s": TARGET_S,
        "met": max(first_100) < TARGET_S,
        "server_rss_mib": round(rss / MIB, 1),
    }
    print(
        f"{args.assets} assets: first {FIRST} thumbnails in {result['first_100_median_s']} s "
        f"(median of {args.runs}; worst {result['first_100_max_s']} s; target < {TARGET_S} s: "
        f"{'met' if result['met'] else 'MISSED'}); uploads and their previews took {ready_s:.0f} s"
    )
    write_result(
        args.out,
        {
            **result_header("asset browser first load"),
            "result": result,
            "elapsed_s": elapsed(),
        },
    )


def measure(chromium: str, url: str, runs: int) -> list[dict[str, Any]]:
    from playwright.sync_api import sync_playwright

    loads = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        try:
            for run_ in range(runs + 1):  # the first warms the server (imports, caches)
                # tall enough that the first 100 cards are on screen (their images load lazily)
                context = browser.new_context(viewport={"width": 1600, "height": 4000})
                page = context.new_page()
                # times are the page's own (performance.now(): ms since navigation began)
                page.goto(url, wait_until="commit")
                page.wait_for_selector("#grid li", timeout=60_000)
                first_card = page.evaluate("performance.now()") / 1000
                page.wait_for_function(
                    f"[...document.querySelectorAll('#grid img')]"
                    f".filter((i) => i.complete && i.naturalWidth > 0).length >= {FIRST}",
                    timeout=60_000,
                    polling="raf",
                )
                first_100 = page.evaluate("performance.now()") / 1000
                context.close()
                if run_:
                    loads.append(
                        {"first_card_s": round(first_card, 3), "first_100_s": round(first_100, 3)}
                    )
                    say(f"load {run_}: first card {first_card:.3f} s, {FIRST} in {first_100:.3f} s")
        finally:
            browser.close()
    return loads


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
