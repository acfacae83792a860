"""Benchmark big uploads: plain WsgiDAV PUT against assetdav's WebDAV PUT and its tus route.

Three cases, each on a freshly started server with nothing else running, `--rounds` times
in a rotating order: `plain PUT` (WsgiDAV's FilesystemProvider), `assetdav PUT` (WebDAV)
and `assetdav tus` (POST /api/uploads/, then PATCH parts of `--part-mib`). The same source
file (random bytes, default 2 GiB) is streamed from disk each time. Throughput is the median
over the rounds, reported as a ratio against plain PUT; memory is the worst RSS growth over
the rounds (see upload.py). Targets (issue 6): tus >= 0.8x plain PUT, growth < 64 MiB.

With `--anchor REV` (default: the last commit before blake3), two more cases run the code of
that commit with this virtual environment, `anchor PUT` and `anchor tus`, in the same
rotation: issue 14's target is the PUT with blake3 at >= 0.9x the PUT before it. `--anchor ""`
leaves them out. The server's CPU seconds for each upload are reported too.

Prints a table and writes JSON (default var/bench/uploads.json). Exit status 0 when the
run completed, whether or not the targets were met; 1 when something failed.

    scripts/bench --uploads [--quick] [--size-mib N] [--part-mib N] [--rounds N] [--anchor REV]
                            [--out PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import shutil
import statistics
import subprocess
import sys
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
from pagecache import pretouch
from procmem import MIB
from run_bench import settle
from servers import ServerProcess, anchor_code, assetdav_server, plain_server
from tus_upload import measure_tus
from upload import UploadFailed, UploadResult, make_big_file, measure_upload

MIN_TUS_RATIO = 0.8
MAX_GROWTH_MIB = 64
MIN_ANCHOR_RATIO = 0.9  # issue 14: the PUT with blake3 against the PUT before it
BEFORE_BLAKE3 = "1a48679"  # the last commit before sidecars recorded blake3

Measure = Callable[[ServerProcess, Path], UploadResult]


def cases(
    part_size: int, anchor: Path | None
) -> dict[str, tuple[Callable[[Path], ServerProcess], Measure]]:
    """name -> (how to make its server in a folder, how to measure one upload)."""
    tus = functools.partial(measure_tus, part_size=part_size)
    table: dict[str, tuple[Callable[[Path], ServerProcess], Measure]] = {
        "plain PUT": (plain_server, measure_upload),
        "assetdav PUT": (assetdav_server, measure_upload),
        "assetdav tus": (assetdav_server, tus),
    }
    if anchor is not None:
        old = functools.partial(assetdav_server, code=anchor, label="assetdav (anchor)")
        table["anchor PUT"] = (old, measure_upload)
        table["anchor tus"] = (old, tus)
    return table


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="256 MiB instead of 2 GiB")
    parser.add_argument("--size-mib", type=int, default=2048, help="upload size (2048)")
    parser.add_argument("--part-mib", type=int, default=64, help="tus part size (64)")
    parser.add_argument("--rounds", type=int, default=2, help="uploads per case (2)")
    parser.add_argument(
        "--anchor",
        default=BEFORE_BLAKE3,
        help=f"a commit whose server runs as the anchor ({BEFORE_BLAKE3}); '' for none",
    )
    add_output_options(parser, "uploads.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.size_mib = min(args.size_mib, 256)
    if args.rounds < 1 or args.size_mib < 1 or args.part_mib < 1:
        parser.error("--rounds, --size-mib and --part-mib must be at least 1")
    return args


def run_case(
    name: str, make: Callable[[Path], ServerProcess], measure: Measure, folder: Path, source: Path
) -> UploadResult:
    server = make(folder)
    try:
        server.start()
        settle(folder, source.stat().st_size // MIB + 256)
        say(f"{name}: {source.stat().st_size // MIB} MiB")
        cpu_before = server.cpu_seconds()
        result = measure(server, source)
        result = dataclasses.replace(result, server_cpu_s=server.cpu_seconds() - cpu_before)
        say(
            f"  {result.mb_per_s:.0f} MB/s, server CPU {result.server_cpu_s:.2f} s, "
            f"RSS growth {result.growth / MIB:.1f} MiB"
        )
        return result
    except (UploadFailed, RuntimeError, OSError):
        print(f"--- {name} server log (tail)\n{server.log_tail()}", file=sys.stderr)
        raise
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)  # free the disk before the next case


def run_rounds(args: argparse.Namespace, workdir: Path) -> dict[str, list[UploadResult]]:
    source = workdir / "upload.bin"
    say(f"writing a {args.size_mib} MiB source file")
    make_big_file(source, args.size_mib * MIB)
    pretouch(workdir, 64)
    anchor = unpacked_anchor(args.anchor, workdir / "anchor") if args.anchor else None
    table = cases(args.part_mib * MIB, anchor)
    results: dict[str, list[UploadResult]] = {name: [] for name in table}
    names = list(table)
    for number in range(args.rounds):
        order = names[number % len(names) :] + names[: number % len(names)]
        for name in order:
            make, measure = table[name]
            folder = workdir / f"{number}-{name.replace(' ', '-')}"
            results[name].append(run_case(name, make, measure, folder, source))
    return results


def unpacked_anchor(revision: str, into: Path) -> Path | None:
    """The anchor's code, or None (said) where this checkout does not have that commit."""
    try:
        return anchor_code(revision, into)
    except (subprocess.CalledProcessError, OSError) as exc:
        why = str(exc).rstrip(".")
        say(
            f"the anchor commit {revision} cannot be unpacked here ({why}; a shallow clone?): "
            "running without the anchor cases; fetch the history to compare"
        )
        return None


def summarise(results: dict[str, list[UploadResult]]) -> list[dict[str, Any]]:
    baseline = statistics.median(r.mb_per_s for r in results["plain PUT"])
    rows = []
    for name, runs in results.items():
        mbps = statistics.median(r.mb_per_s for r in runs)
        growth = max(r.growth for r in runs) / MIB
        row: dict[str, Any] = {
            "case": name,
            "MBps": round(mbps, 1),
            "ratio_to_plain_put": round(mbps / baseline, 2),
            "rss_growth_MiB": round(growth, 1),
            "peak_rss_MiB": round(max(r.hwm_after for r in runs) / MIB, 1),
            "server_cpu_s": round(statistics.median(r.server_cpu_s for r in runs), 2),
        }
        if name.startswith("assetdav"):
            row["growth_target_met"] = growth < MAX_GROWTH_MIB
        if name == "assetdav tus":
            row["ratio_target_met"] = mbps / baseline >= MIN_TUS_RATIO
        anchor = results.get(name.replace("assetdav", "anchor"))
        if name.startswith("assetdav") and anchor:
            ratio = mbps / statistics.median(r.mb_per_s for r in anchor)
            row["ratio_to_anchor"] = round(ratio, 2)
            if name == "assetdav PUT":
                row["anchor_target_met"] = ratio >= MIN_ANCHOR_RATIO
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'case':<14} {'MB/s':>8} {'x plain':>8} {'x anchor':>9} {'CPU s':>6} "
        f"{'RSS growth':>11} {'peak RSS':>9}  targets"
    ]
    keys = ("ratio_target_met", "anchor_target_met", "growth_target_met")
    for row in rows:
        met = [k for k in keys if k in row]
        verdict = ", ".join(f"{k.split('_')[0]} {'met' if row[k] else 'MISSED'}" for k in met)
        anchor = f"{row['ratio_to_anchor']:.2f}" if "ratio_to_anchor" in row else ""
        lines.append(
            f"{row['case']:<14} {row['MBps']:>8.1f} {row['ratio_to_plain_put']:>8.2f} "
            f"{anchor:>9} {row['server_cpu_s']:>6.2f} "
            f"{row['rss_growth_MiB']:>7.1f} MiB {row['peak_rss_MiB']:>5.0f} MiB  {verdict}"
        )
    lines.append(
        f"targets: tus >= {MIN_TUS_RATIO}x plain PUT; assetdav PUT >= {MIN_ANCHOR_RATIO}x the "
        f"anchor's PUT; assetdav RSS growth < {MAX_GROWTH_MIB} MiB"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args), (UploadFailed, RuntimeError, OSError))


def run(args: argparse.Namespace) -> None:
    with scratch_folder(args.tmp_dir, "uploads-") as workdir:
        results = run_rounds(args, workdir)
    rows = summarise(results)
    print(format_table(rows))
    document = {
        **result_header("big uploads: assetdav PUT and tus vs plain WsgiDAV PUT"),
        "params": {
            "size_mib": args.size_mib,
            "part_mib": args.part_mib,
            "rounds": args.rounds,
            "anchor": args.anchor,
        },
        "results": rows,
        "raw": {name: [r.as_json() for r in runs] for name, runs in results.items()},
        "elapsed_s": elapsed(),
    }
    write_result(args.out, document)


if __name__ == "__main__":
    sys.exit(main())
