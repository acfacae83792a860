"""Benchmark assetdav against plain WsgiDAV on the same machine, in one run.

Both servers run in subprocesses on loopback ports over empty temporary folders. The
shared davbench tool (large file, small files, PROPFIND Depth 1, MKCOL+MOVE+DELETE) runs
against each `--rounds` times, alternating which server goes first (A B, B A, ...), and
each timing metric is the median over the rounds. It runs at two places: the store root
(`/bench/`: davbench's folders become a project and assets) and inside an asset
(`/bench/rN/a/`, a fresh asset per round, where people drop their folders: its folders
are plain folders recorded in the asset's sidecar; plain WsgiDAV gets `/rN/a/`). The
server's CPU seconds (user + system, from /proc) are taken around each run. Resident
memory is read from /proc: right after start-up and the peak (VmHWM) after all rounds.
Then each server is restarted fresh for the memory test: one big PUT streamed from disk
(see upload.py). Before every measurement dirty pages are flushed (sync) and the page
cache is pre-touched, so that neither server pays for the VM's first touch of fresh
memory (see pagecache.py).

Prints a table and writes JSON (default var/bench/webdav.json). Exit status 0 when the
run completed, whether or not the targets were met; 1 when something failed.

    scripts/bench [--quick] [--rounds N] [--davbench PATH] [--out PATH] [--no-pretouch]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from davbench_run import BenchFailed, DavbenchParams, run_davbench
from harness import (
    add_output_options,
    elapsed,
    exit_status,
    machine,
    result_header,
    say,
    scratch_folder,
    write_result,
)
from pagecache import pretouch
from procmem import MIB, Memory
from report import LEGEND, build_rows, format_table, summary
from servers import REPO, ServerProcess, make_servers
from upload import UploadFailed, UploadResult, make_big_file, measure_upload

DAVBENCH_KEYS = (
    "large_put_MBps",
    "large_get_MBps",
    "small_put_files_per_s",
    "small_get_files_per_s",
    "tree_total_ms",
    "cpu_s",
)
PLACED_KEYS = ("small_put_files_per_s", "small_get_files_per_s", "tree_total_ms", "cpu_s")


@dataclass(frozen=True)
class Sizes:
    large_mib: int
    small_count: int
    upload_mib: int


FULL = Sizes(large_mib=256, small_count=2000, upload_mib=1024)
QUICK = Sizes(large_mib=64, small_count=500, upload_mib=256)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small sizes for a sanity run ({QUICK.large_mib} MiB large file, "
        f"{QUICK.small_count} small files, {QUICK.upload_mib} MiB memory test)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="davbench runs per server (3)")
    parser.add_argument(
        "--davbench",
        type=Path,
        default=REPO.parent / "shared" / "tools" / "davbench.py",
        help="the davbench tool (default: ../shared/tools/davbench.py from the repo root)",
    )
    add_output_options(parser, "webdav.json")
    parser.add_argument(
        "--no-pretouch",
        dest="pretouch",
        action="store_false",
        help="do not warm the page cache before big writes (see pagecache.py)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="assetdav's log level (default INFO, its default: one access-log line a request)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not args.davbench.is_file():
        parser.error(f"davbench not found at {args.davbench}; pass --davbench PATH")
    return args


def settle(scratch: Path, pretouch_mib: int) -> None:
    """Before a measurement: flush dirty pages, then warm the page cache (if asked)."""
    os.sync()  # the previous run's dirty pages should not slow this one down
    if pretouch_mib:
        pretouch(scratch, pretouch_mib)


def run_rounds(
    servers: list[ServerProcess],
    args: argparse.Namespace,
    params: DavbenchParams,
    scratch: Path,
) -> dict[str, list[dict[str, Any]]]:
    """davbench `--rounds` times per server and placement, alternating the order; every
    result per server ("asset_"-prefixed keys: inside an asset)."""
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
    # davbench writes its source file, the server its copy, davbench the downloaded copy
    pretouch_mib = 3 * params.large_mib + 256 if args.pretouch else 0
    for number in range(args.rounds):
        order = servers if number % 2 == 0 else servers[::-1]
        for server in order:
            settle(scratch, pretouch_mib)
            say(f"round {number + 1}/{args.rounds}: davbench against {server.label}")
            results = measured_run(args, server, server.url, params, scratch)
            say(
                f"  PUT {results.get('large_put_MBps', '-')} MB/s, "
                f"PROPFIND {results['propfind_depth1_ms']} ms, "
                f"small PUT {results['small_put_files_per_s']} files/s, "
                f"CPU {results['cpu_s']:.1f} s"
            )
            say(f"round {number + 1}/{args.rounds}: inside an asset of {server.label}")
            url = make_asset(server, f"r{number}")
            inside = measured_run(args, server, url, replace(params, large_mib=0), scratch)
            results.update({f"asset_{key}": value for key, value in inside.items()})
            say(
                f"  PROPFIND {inside['propfind_depth1_ms']} ms, "
                f"small PUT {inside['small_put_files_per_s']} files/s, "
                f"CPU {inside['cpu_s']:.1f} s"
            )
            runs[server.name].append(results)
    return runs


def measured_run(
    args: argparse.Namespace,
    server: ServerProcess,
    url: str,
    params: DavbenchParams,
    scratch: Path,
) -> dict[str, Any]:
    """One davbench run, with the CPU seconds the server spent during it."""
    before = server.cpu_seconds()
    results = run_davbench(args.davbench, url, params, scratch)
    results["cpu_s"] = server.cpu_seconds() - before
    return results


def make_asset(server: ServerProcess, project: str) -> str:
    """A fresh asset folder (`<project>/a/`) below the server's bench URL; its URL."""
    for path in (f"{project}/", f"{project}/a/"):
        status = server.request("MKCOL", server.url_path + path)
        if status != 201:
            raise RuntimeError(f"MKCOL {path} on {server.label} answered {status}")
    return f"{server.url}{project}/a/"


def timing_phase(
    workdir: Path, args: argparse.Namespace, sizes: Sizes
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Memory]]]:
    """Start both servers, run the rounds, read their memory, stop them."""
    servers = make_servers(workdir / "timing", args.log_level)
    scratch = workdir / "davbench"
    scratch.mkdir()
    memory: dict[str, dict[str, Memory]] = {}
    params = DavbenchParams(sizes.large_mib, sizes.small_count)
    try:
        for server in servers:
            server.start()
            memory[server.name] = {"start": server.memory()}
            say(f"{server.label} is up at {server.url} (pid {server.pid})")
        runs = run_rounds(servers, args, params, scratch)
        for server in servers:
            memory[server.name]["end"] = server.memory()
    finally:
        for server in servers:
            server.stop()
    return runs, memory


def upload_phase(workdir: Path, args: argparse.Namespace, sizes: Sizes) -> dict[str, UploadResult]:
    """Each server restarted fresh, alone, for one big streamed PUT."""
    source = workdir / "upload.src"
    say(f"writing a {sizes.upload_mib} MiB file for the memory test")
    make_big_file(source, sizes.upload_mib * MIB)
    results = {}
    for server in make_servers(workdir / "upload", args.log_level):
        try:
            server.start()
            settle(workdir, sizes.upload_mib + 256 if args.pretouch else 0)
            say(f"memory test: PUT {sizes.upload_mib} MiB to {server.label}")
            results[server.name] = measure_upload(server, source)
            say(f"  RSS growth {results[server.name].growth / MIB:.1f} MiB")
        finally:
            server.stop()
        shutil.rmtree(server.data_root)  # free the disk before the next copy
    source.unlink()
    return results


def davbench_samples(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each davbench metric's values over the rounds (PROPFIND: every repetition of every round)."""
    samples = {key: [run[key] for run in runs] for key in DAVBENCH_KEYS}
    for key in PLACED_KEYS:
        samples[f"asset_{key}"] = [run[f"asset_{key}"] for run in runs]
    for prefix in ("", "asset_"):
        samples[f"{prefix}propfind_depth1_ms"] = [
            ms for run in runs for ms in run[f"{prefix}propfind_depth1_ms_all"]
        ]
    return samples


def metric_values(
    samples: dict[str, list[float]], memory: dict[str, Memory], upload: UploadResult
) -> dict[str, float]:
    """The values the report compares, for one server: medians of the davbench samples."""
    values = {key: statistics.median(values) for key, values in samples.items()}
    start, end = memory["start"], memory["end"]
    values["rss_start_MiB"] = start.rss / MIB
    values["rss_peak_MiB"] = end.hwm / MIB
    values["rss_growth_MiB"] = (end.hwm - start.rss) / MIB
    values["upload_MBps"] = upload.mb_per_s
    values["upload_rss_growth_MiB"] = upload.growth / MIB
    return values


def labels_for(sizes: Sizes) -> dict[str, str]:
    placed = {
        "small_put_files_per_s": f"small-file PUT ({sizes.small_count} x 4 KiB)",
        "small_get_files_per_s": f"small-file GET ({sizes.small_count} x 4 KiB)",
        "propfind_depth1_ms": f"PROPFIND Depth 1, {sizes.small_count} entries (median)",
        "tree_total_ms": "MKCOL + 200-file populate + MOVE + DELETE",
        "cpu_s": "server CPU for one davbench run",
    }
    return {
        **placed,
        **{f"asset_{key}": f"{label}, in an asset" for key, label in placed.items()},
        "large_put_MBps": f"big-file PUT ({sizes.large_mib} MiB)",
        "large_get_MBps": f"big-file GET ({sizes.large_mib} MiB)",
        "upload_MBps": f"PUT of {sizes.upload_mib} MiB (memory test)",
        "upload_rss_growth_MiB": f"RSS growth during {sizes.upload_mib} MiB PUT",
    }


def environment() -> dict[str, Any]:
    return {**machine(), "wsgidav": version("wsgidav"), "cheroot": version("cheroot")}


def document(
    args: argparse.Namespace, sizes: Sizes, rows: list[dict], raw: dict[str, Any]
) -> dict[str, Any]:
    return {
        **result_header("assetdav vs plain WsgiDAV", environment()),
        "params": {
            "quick": args.quick,
            "rounds": args.rounds,
            "large_mib": sizes.large_mib,
            "small_count": sizes.small_count,
            "upload_mib": sizes.upload_mib,
            "assetdav_log_level": args.log_level,
            "pretouch": args.pretouch,
            "davbench": str(args.davbench),
        },
        "ratio": LEGEND,
        "metrics": rows,
        "summary": summary(rows),
        "raw": raw,
        "elapsed_s": elapsed(),
    }


def benchmark(workdir: Path, args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    runs, memory = timing_phase(workdir, args, sizes)
    uploads = upload_phase(workdir, args, sizes)
    samples = {name: davbench_samples(runs[name]) for name in runs}
    values = {name: metric_values(samples[name], memory[name], uploads[name]) for name in runs}
    rows = build_rows(values, labels_for(sizes), samples)
    raw = {
        name: {
            "davbench": runs[name],
            "memory": {when: vars(m) for when, m in memory[name].items()},
            "upload": uploads[name].as_json(),
        }
        for name in runs
    }
    return document(args, sizes, rows, raw)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args), (BenchFailed, UploadFailed, RuntimeError, OSError))


def run(args: argparse.Namespace) -> None:
    sizes = QUICK if args.quick else FULL
    with scratch_folder(args.tmp_dir, "run-") as workdir:
        try:
            result = benchmark(workdir, args, sizes)
        except (BenchFailed, UploadFailed, RuntimeError, OSError):
            print_server_logs(workdir)
            raise
    print(format_table(result["metrics"]))
    print(LEGEND)
    print(result["summary"])
    write_result(args.out, result)


def print_server_logs(workdir: Path) -> None:
    for log in sorted(workdir.glob("*/*/server.log")):
        print(f"--- {log.relative_to(workdir)} (tail)", file=sys.stderr)
        print("\n".join(log.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
