"""Exports: N photos of M megapixels (JPEG) exported to webp into one zip through
POST /api/exports, in images per second and the server's peak memory, against the same
conversions done by libvips (pyvips, one thread, like the export's one conversion at a
time) in the same run.

    scripts/bench --export [--images 1000] [--megapixels 8] [--out PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from harness import (
    add_output_options,
    elapsed,
    exit_status,
    result_header,
    say,
    scratch_folder,
    write_result,
)
from PIL import Image, ImageFilter
from procmem import MIB, PeakSampler
from servers import ServerProcess

QUALITY = 90  # what an export's webp conversion uses
WEBP_EFFORT = 2  # libwebp's effort (method) in assetdav's encoder (media/encode.py)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="photos to export (1000)")
    parser.add_argument("--megapixels", type=float, default=8.0, help="their size (8)")
    add_output_options(parser, "export.json")
    return parser.parse_args(argv)


def http(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - loopback
        return json.loads(response.read() or b"null")


def photo(width: int, height: int, seed: int) -> bytes:
    """A photo-like JPEG: smooth colour fields with grain (compresses like a photo)."""
    rng = random.Random(seed)
    small = Image.new("RGB", (16, 12))
    small.putdata([tuple(rng.randrange(256) for _ in range(3)) for _ in range(16 * 12)])
    image = small.resize((width, height), Image.BICUBIC)
    grain = Image.effect_noise((width, height), 12).convert("RGB")
    image = Image.blend(image, grain, 0.15).filter(ImageFilter.SMOOTH)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def vips_rate(paths: list[Path], out_dir: Path) -> float:
    import pyvips

    pyvips.concurrency_set(1)
    pyvips.cache_set_max(0)
    started = time.monotonic()
    for n, path in enumerate(paths):
        pyvips.Image.new_from_file(str(path), access="sequential").webpsave(
            str(out_dir / f"{n}.webp"), Q=QUALITY, effort=WEBP_EFFORT
        )
    return len(paths) / (time.monotonic() - started)


def run(args: argparse.Namespace) -> None:
    width = int((args.megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    with scratch_folder(args.tmp_dir, "export-") as workdir:
        store = workdir / "store"
        say(f"writing {args.images} photos of {width}x{height}")
        paths = []
        for n in range(args.images):
            folder = store / "shoot" / f"photo{n:05d}"
            folder.mkdir(parents=True)
            path = folder / "photo.jpg"
            path.write_bytes(photo(width, height, n))
            paths.append(path)
        vips_out = workdir / "vips"
        vips_out.mkdir()
        say("libvips")
        vips = vips_rate(paths, vips_out)
        config = workdir / "assetdav.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "stores": {"bench": str(store)},
                    "log_level": "WARNING",
                    "derived": {"background": False},
                }
            )
        )
        command = [
            sys.executable,
            "-P",
            "-m",
            "davserver",
            "serve",
            "--port",
            "{port}",
            "--state-dir",
            str(workdir / "state"),
        ]
        server = ServerProcess(
            "assetdav",
            "assetdav",
            command,
            store,
            "/bench/",
            workdir / "server.log",
            {"ASSETDAV_CONFIG": str(config)},
        )
        server.start()
        try:
            base = f"http://127.0.0.1:{server.port}/"
            http("POST", base + "api/bench/scan")
            while http("GET", base + "api/bench/scan")["state"] == "running":
                time.sleep(0.5)
            while http("GET", base + "api/assets?store=bench&limit=1")["total"] < args.images:
                time.sleep(0.5)
            config_id = http(
                "POST",
                base + "compat/sartiq/api/v1/users/me/export-configuration",
                {"name": "bench", "image_format": "webp"},
            )["id"]
            say("assetdav export")
            with PeakSampler(server.pid) as sampler:
                cpu = server.cpu_seconds()
                started = time.monotonic()
                task = http(
                    "POST",
                    base + "api/exports",
                    {"configuration_id": config_id, "filter": {"store": "bench"}},
                )
                while (state := http("GET", base + f"api/tasks/{task['task_id']}"))[
                    "status"
                ] == "running":
                    time.sleep(0.2)
                took = time.monotonic() - started
                cpu = server.cpu_seconds() - cpu
            if state["status"] != "done" or state["result"]["exported"] != args.images:
                raise RuntimeError(f"the export did not finish whole: {state}")
            result = {
                "images": args.images,
                "megapixels": round(width * height / 1e6, 1),
                "assetdav_images_per_s": round(args.images / took, 2),
                "vips_images_per_s": round(vips, 2),
                "ratio_to_vips": round(args.images / took / vips, 2),
                "server_cpu_s": round(cpu, 1),
                "peak_rss_MiB": round(sampler.peak / MIB, 1),
                "zip_MiB": round(state["result"]["bytes"] / MIB, 1),
            }
        finally:
            server.stop()
    print(
        f"{result['images']} photos of {result['megapixels']} MP to webp: assetdav "
        f"{result['assetdav_images_per_s']} images/s, libvips {result['vips_images_per_s']}"
        f" ({result['ratio_to_vips']}x), server peak RSS {result['peak_rss_MiB']} MiB"
    )
    write_result(
        args.out,
        {
            **result_header("export to webp against libvips"),
            "result": result,
            "elapsed_s": elapsed(),
        },
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
