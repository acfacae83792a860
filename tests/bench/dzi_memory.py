"""What the `dzi` worker costs in memory: tile a large image through the real server and
watch the server's resident memory (peak while tiling, and what it keeps after).

An RGB PNG of `--megapixels` (default 100) is made with Pillow (a gradient: quick to
encode, small on disk), uploaded as an asset through the API, and `dzi` queued on it.
The anchor is the decoded image itself as Pillow holds it (4 bytes a pixel: RGB is kept
as RGBX): the worker cannot do with less, since PNG cannot be decoded in parts.

    scripts/bench --dzi [--megapixels N] [--keep] [--out PATH]
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from harness import (
    add_output_options,
    exit_status,
    result_header,
    say,
    scratch_folder,
    write_result,
)
from PIL import Image
from procmem import MIB, PeakSampler, read_memory, reset_peak
from servers import STORE, assetdav_server

PROJECT, ASSET = "p", "big"


def make_png(path: Path, megapixels: float) -> tuple[int, int]:
    side = int(math.sqrt(megapixels * 1e6))
    image = Image.linear_gradient("L").resize((side, side)).convert("RGB")
    image.save(path, format="PNG", compress_level=1)
    return side, side


def call(port: int, method: str, path: str, body: Any = None, raw: Path | None = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        if raw is not None:
            with open(raw, "rb") as fh:
                size = str(raw.stat().st_size)
                conn.request(method, path, body=fh, headers={"Content-Length": size})
        else:
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {answer[:300]!r}")
        return json.loads(answer) if answer else None
    finally:
        conn.close()


def run(args: argparse.Namespace) -> None:
    with scratch_folder(args.tmp_dir, "dzi-", keep=args.keep) as workdir:
        png = workdir / "big.png"
        say(f"making a {args.megapixels:g} MP RGB PNG")
        width, height = make_png(png, args.megapixels)
        server = assetdav_server(workdir)
        server.start()
        try:
            port = server.port
            call(port, "POST", f"/api/{STORE}/create", {"id": PROJECT})
            call(
                port,
                "POST",
                f"/api/{STORE}/{PROJECT}/upload/{ASSET}?filename=big.png&create=true",
                raw=png,
            )
            time.sleep(2)  # let the start-up work settle
            before = read_memory(server.pid).rss
            reset_peak(server.pid)
            started = time.monotonic()
            task = call(
                port,
                "POST",
                "/api/workers/queue",
                {
                    "store_id": STORE,
                    "project_id": PROJECT,
                    "asset_id": ASSET,
                    "worker_type": "dzi",
                },
            )["task_id"]
            with PeakSampler(server.pid) as sampler:
                while True:
                    tasks = call(port, "GET", "/api/workers/queue")
                    status = next(t for t in tasks if t["id"] == task)["status"]
                    if status in ("done", "error", "canceled"):
                        break
                    time.sleep(0.2)
            seconds = time.monotonic() - started
            time.sleep(2)
            after = read_memory(server.pid)
            tiles = sum(1 for _ in (server.data_root / PROJECT / ASSET).rglob("*.jpg"))
        finally:
            server.stop()
    decoded = width * height * 4  # Pillow keeps RGB pixels in 32 bits
    peak = max(after.hwm, sampler.peak)
    result = {
        **result_header("dzi worker memory"),
        "image": {"width": width, "height": height, "decoded_MiB": round(decoded / MIB, 1)},
        "status": status,
        "seconds": round(seconds, 1),
        "tiles": tiles,
        "server_rss_before_MiB": round(before / MIB, 1),
        "server_peak_MiB": round(peak / MIB, 1),
        "peak_growth_MiB": round((peak - before) / MIB, 1),
        "peak_growth_per_decoded": round((peak - before) / decoded, 2),
        "server_rss_after_MiB": round(after.rss / MIB, 1),
        "kept_after_MiB": round((after.rss - before) / MIB, 1),
    }
    say(
        f"{width}×{height} ({result['image']['decoded_MiB']} MiB decoded): {status} in "
        f"{result['seconds']} s, {tiles} tiles; server RSS {result['server_rss_before_MiB']} "
        f"-> peak {result['server_peak_MiB']} MiB (+{result['peak_growth_MiB']}, "
        f"{result['peak_growth_per_decoded']}x the decoded image), "
        f"{result['server_rss_after_MiB']} MiB after (+{result['kept_after_MiB']})"
    )
    write_result(Path(args.out), result)
    if status != "done":
        raise RuntimeError(f"the task ended {status}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=100.0)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    add_output_options(parser, "dzi.json")
    args = parser.parse_args()
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
