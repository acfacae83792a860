"""Previews and conversion: assetdav's image module against libvips and naive Pillow on
the same corpus in one run, conversion latency over HTTP, and uploads with and without
previews being made in the background.

1. The corpus, made here: a photo-like 24-megapixel JPEG (6000×4000) and 8-megapixel PNG
   (3464×2309), each written `--files` times (default 100) with a different comment, so
   every file has its own content hash.
2. `low` previews (webp, 256 px on the longest side) per second in this process, one
   thread: assetdav's media module (decode and encode, no cache), libvips in process
   (`pyvips.Image.thumbnail` + `webpsave_buffer`, Debian's libvips), and naive Pillow
   (`open()` + `resize()` of the whole image, on a fifth of the files: it is slow). Which
   of assetdav and libvips goes first alternates by kind.
3. A server on a fresh store (no previews ahead, so first requests are cold): the JPEGs
   are PUT, then a 1024 px webp of each of `--latency-files` of them is asked for once
   (first request), then one of them 200 times (cached); p50 and p95 of each. The
   server's peak RSS growth over this part (VmHWM, sampled RSS as a cross-check).
4. Uploads: 2,000 distinct small JPEGs (640×480) PUT over 8 connections into one asset of
   a server with previews made in the background and of one without; files/s of each,
   and how long after the last upload the last preview was made.

Targets (the preview issue): ≥ 0.9× libvips on JPEG, ≥ 0.7× on PNG; a cached derivative
at p50 < 5 ms over HTTP; peak RSS growth < 300 MiB; uploads slowed < 10%.

    scripts/bench --derive [--files N] [--latency-files N] [--uploads N] [--out PATH]
"""

from __future__ import annotations

import argparse
import http.client
import io
import statistics
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

from fill_bench import fill
from harness import (
    add_output_options,
    elapsed,
    exit_status,
    result_header,
    say,
    scratch_folder,
    write_result,
)
from PIL import Image
from procmem import MIB, PeakSampler, read_memory, reset_peak
from servers import REPO, ServerProcess, assetdav_server

sys.path.insert(0, str(REPO))
from meta_api.media.decode import decode  # noqa: E402
from meta_api.media.encode import encode  # noqa: E402
from meta_api.media.params import preview  # noqa: E402

LOW = 256
MAX_PIXELS = 100_000_000
TARGETS = {"jpeg": 0.9, "png": 0.7}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100, help="files of each kind (100)")
    parser.add_argument(
        "--latency-files", type=int, default=20, help="files converted cold over HTTP (20)"
    )
    parser.add_argument("--uploads", type=int, default=2000, help="small JPEGs uploaded (2000)")
    add_output_options(parser, "derive.json")
    return parser.parse_args(argv)


# --- the corpus ---------------------------------------------------------------------------


def photo_like(size: tuple[int, int]) -> Image.Image:
    """Smooth colour gradients with grain: compresses and decodes like a photograph."""
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.linear_gradient("L").rotate(90).resize(size)
    image = Image.merge("RGB", (red, green, blue))
    grain = Image.effect_noise(size, 24).convert("RGB")
    return Image.blend(image, grain, 0.15)


def jpeg_variants(image: Image.Image, count: int) -> list[bytes]:
    """The same JPEG `count` times, each with its own comment (COM) segment."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    body = out.getvalue()
    variants = []
    for n in range(count):
        comment = f"variant {n}".encode()
        segment = b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
        variants.append(body[:2] + segment + body[2:])
    return variants


def png_variants(image: Image.Image, count: int) -> list[bytes]:
    """The same PNG `count` times, each with its own tEXt chunk after the header."""
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=6)
    body = out.getvalue()
    head = 8 + 25  # signature and IHDR
    variants = []
    for n in range(count):
        data = b"Comment\x00" + f"variant {n}".encode()
        chunk = struct.pack(">I", len(data)) + b"tEXt" + data
        chunk += struct.pack(">I", zlib.crc32(b"tEXt" + data))
        variants.append(body[:head] + chunk + body[head:])
    return variants


def write_corpus(folder: Path, files: int) -> dict[str, list[Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    corpus: dict[str, list[Path]] = {}
    for kind, size, variants in (
        ("jpeg", (6000, 4000), jpeg_variants),
        ("png", (3464, 2309), png_variants),
    ):
        say(f"writing {files} {kind} files of {size[0]}×{size[1]}")
        paths = []
        for n, body in enumerate(variants(photo_like(size), files)):
            path = folder / f"{kind}-{n:03}.{'jpg' if kind == 'jpeg' else 'png'}"
            path.write_bytes(body)
            paths.append(path)
        corpus[kind] = paths
    return corpus


# --- thumbnailers, in this process --------------------------------------------------------


def ours(path: Path) -> bytes:
    conversion = preview(LOW)
    out = io.BytesIO()
    encode(decode(path, conversion, MAX_PIXELS, time.monotonic() + 600), conversion, out)
    return out.getvalue()


def libvips(path: Path) -> bytes:
    import pyvips

    return pyvips.Image.thumbnail(str(path), LOW).webpsave_buffer(Q=80)


def naive_pillow(path: Path) -> bytes:
    with Image.open(path) as image:
        scale = LOW / max(image.size)
        small = image.resize((round(image.width * scale), round(image.height * scale)))
    out = io.BytesIO()
    small.save(out, "WEBP", quality=80)
    return out.getvalue()


def rate(make: Any, paths: list[Path]) -> dict[str, float]:
    started = time.perf_counter()
    for path in paths:
        assert make(path)
    seconds = time.perf_counter() - started
    return {
        "files": len(paths),
        "seconds": round(seconds, 2),
        "per_s": round(len(paths) / seconds, 2),
    }


def thumbnail_rates(corpus: dict[str, list[Path]]) -> dict[str, Any]:
    import pyvips

    pyvips.concurrency_set(1)  # one core, like assetdav's single conversion
    pyvips.cache_set_max(0)
    results: dict[str, Any] = {}
    for turn, (kind, paths) in enumerate(corpus.items()):
        ours(paths[0]), libvips(paths[0])  # warm both up (imports, codecs)
        order = [("assetdav", ours), ("libvips", libvips)]
        if turn % 2:
            order.reverse()
        result: dict[str, Any] = {}
        for name, make in order:
            say(f"{kind}: {name}, {len(paths)} low previews")
            result[name] = rate(make, paths)
        naive = paths[: max(1, len(paths) // 5)]
        say(f"{kind}: naive Pillow, {len(naive)} low previews")
        result["naive_pillow"] = rate(naive_pillow, naive)
        result["ratio_to_libvips"] = round(
            result["assetdav"]["per_s"] / result["libvips"]["per_s"], 3
        )
        result["target"] = TARGETS[kind]
        result["met"] = result["ratio_to_libvips"] >= TARGETS[kind]
        results[kind] = result
    return results


# --- over HTTP ------------------------------------------------------------------------------


def request(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
) -> tuple[int, bytes]:
    conn.request(method, path, body=body)
    response = conn.getresponse()
    return response.status, response.read()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2),
        "n": len(ordered),
    }


def conversion_latency(workdir: Path, paths: list[Path]) -> dict[str, Any]:
    server = assetdav_server(workdir / "latency")
    server.env["ASSETDAV_DERIVED_BACKGROUND"] = "0"
    server.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        for folder in ("p/", "p/a/"):
            assert request(conn, "MKCOL", server.url_path + folder)[0] == 201
        say(f"PUT {len(paths)} JPEGs of 24 megapixels")
        for path in paths:
            status, _ = request(conn, "PUT", f"{server.url_path}p/a/{path.name}", path.read_bytes())
            assert status == 201, status
        base_rss = read_memory(server.pid).rss
        reset_peak(server.pid)
        first, cached = [], []
        query = "?type=webp&w=1024&h=1024"
        with PeakSampler(server.pid) as sampler:
            say(f"first requests: a 1024 px webp of each of {len(paths)} JPEGs")
            for path in paths:
                started = time.perf_counter()
                status, body = request(conn, "GET", f"{server.url_path}p/a/{path.name}{query}")
                first.append(time.perf_counter() - started)
                assert status == 200 and body[:4] == b"RIFF", status
            say("cached: the same one 200 times")
            url = f"{server.url_path}p/a/{paths[0].name}{query}"
            for _ in range(200):
                started = time.perf_counter()
                status, _ = request(conn, "GET", url)
                cached.append(time.perf_counter() - started)
                assert status == 200
        memory = read_memory(server.pid)
        conn.close()
        return {
            "first": percentiles(first),
            "cached": percentiles(cached),
            "cached_target_p50_ms": 5,
            "cached_met": statistics.median(cached) * 1000 < 5,
            "rss_before_mib": round(base_rss / MIB, 1),
            "peak_rss_growth_mib": round((max(memory.hwm, sampler.peak) - base_rss) / MIB, 1),
            "peak_rss_growth_target_mib": 300,
        }
    finally:
        server.stop()


def small_jpegs(count: int) -> list[bytes]:
    base = photo_like((640, 480))
    return jpeg_variants(base, count)


UPLOAD_ROUNDS = 2  # each server twice, alternating: one burst's rate varies by ±10%


def uploads(workdir: Path, count: int) -> dict[str, Any]:
    bodies = small_jpegs(count)
    runs: dict[str, list[dict[str, Any]]] = {"without_previews": [], "with_previews": []}
    for round_ in range(UPLOAD_ROUNDS):
        for label, background in (("without_previews", "0"), ("with_previews", "1")):
            runs[label].append(
                upload_burst(workdir / f"uploads-{label}-{round_}", bodies, background)
            )
    rates = {label: [r["files_per_s"] for r in found] for label, found in runs.items()}
    means = {label: statistics.mean(found) for label, found in rates.items()}
    slower = 1 - means["with_previews"] / means["without_previews"]
    return {
        "runs": runs,
        "files_per_s": rates,
        "mean_files_per_s": {label: round(mean, 1) for label, mean in means.items()},
        "previews_done_after_s": [r["previews_done_after_s"] for r in runs["with_previews"]],
        "slowed_by": round(slower, 3),
        "target_slowed_by_under": 0.10,
        "met": slower < 0.10,
    }


def upload_burst(workdir: Path, bodies: list[bytes], background: str) -> dict[str, Any]:
    """PUT every body into one asset of a fresh server; with previews in the background,
    also wait until all of them are made."""
    server: ServerProcess = assetdav_server(workdir)
    server.env["ASSETDAV_DERIVED_BACKGROUND"] = background
    server.start()
    try:
        for folder in ("p/", "p/a/"):
            assert server.request("MKCOL", server.url_path + folder) == 201
        base_rss = read_memory(server.pid).rss
        reset_peak(server.pid)
        count = len(bodies)
        say(f"{count} small JPEGs PUT, previews in the background: {background == '1'}")
        result = fill(server, server.url_path + "p/a/", count, lambda n: bodies[n], ".jpg")
        done = time.monotonic()
        if background == "1":
            derived = workdir / "state" / "derived"
            while len(list(derived.glob("*/*.webp"))) < 2 * count:
                if time.monotonic() - done > 600:
                    raise RuntimeError("the previews were not all made within 10 minutes")
                time.sleep(0.2)
            result["previews_done_after_s"] = round(time.monotonic() - done, 1)
        result["peak_rss_growth_mib"] = round((read_memory(server.pid).hwm - base_rss) / MIB, 1)
        return result
    finally:
        server.stop()


def run(args: argparse.Namespace) -> None:
    with scratch_folder(args.tmp_dir, "derive-") as workdir:
        corpus = write_corpus(workdir / "corpus", args.files)
        own = read_memory(_self_pid())
        thumbnails = thumbnail_rates(corpus)
        bench_peak = read_memory(_self_pid()).hwm
        latency = conversion_latency(workdir, corpus["jpeg"][: args.latency_files])
        upload = uploads(workdir, args.uploads)
    for kind, result in thumbnails.items():
        print(
            f"{kind}: assetdav {result['assetdav']['per_s']}/s, libvips "
            f"{result['libvips']['per_s']}/s, naive Pillow {result['naive_pillow']['per_s']}/s; "
            f"ratio {result['ratio_to_libvips']} (target ≥ {result['target']}: "
            f"{'met' if result['met'] else 'MISSED'})"
        )
    print(
        f"1024 px webp of a 24 MP JPEG over HTTP: first p50 {latency['first']['p50_ms']} ms, "
        f"p95 {latency['first']['p95_ms']} ms; cached p50 {latency['cached']['p50_ms']} ms, "
        f"p95 {latency['cached']['p95_ms']} ms ({'met' if latency['cached_met'] else 'MISSED'}); "
        f"server peak RSS growth {latency['peak_rss_growth_mib']} MiB"
    )
    print(
        f"uploads: {upload['files_per_s']['without_previews']} files/s without previews, "
        f"{upload['files_per_s']['with_previews']} with; slowed by {upload['slowed_by']:.1%} "
        f"({'met' if upload['met'] else 'MISSED'}); previews done "
        f"{upload['previews_done_after_s']} s after the last upload"
    )
    write_result(
        args.out,
        {
            **result_header("previews and conversion"),
            "libvips": _libvips_version(),
            "thumbnails": thumbnails,
            "bench_process_rss_mib": {
                "before": round(own.rss / MIB, 1),
                "peak": round(bench_peak / MIB, 1),
            },
            "conversion": latency,
            "uploads": upload,
            "elapsed_s": elapsed(),
        },
    )


def _self_pid() -> int:
    import os

    return os.getpid()


def _libvips_version() -> str:
    import pyvips

    return ".".join(str(pyvips.version(n)) for n in range(3))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args), (RuntimeError, OSError, AssertionError))


if __name__ == "__main__":
    sys.exit(main())
