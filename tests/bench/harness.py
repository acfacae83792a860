"""What every benchmark script shares: progress lines, clean interruption, where its output
and scratch folders go, and a description of the machine it ran on."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from servers import REPO

STARTED = time.monotonic()
LOAD_AT_START = os.getloadavg()
BENCH_DIR = REPO / "var" / "bench"


def say(message: str) -> None:
    """A progress line on stderr, stamped with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def exit_status(
    run: Callable[[], None], failures: tuple[type[BaseException], ...] = (RuntimeError, OSError)
) -> int:
    """Run a benchmark: 0 when it completed (targets met or not), 1 with the reason when one
    of `failures` stopped it, 130 when interrupted (Ctrl-C or SIGTERM)."""
    stop_on_sigterm()
    try:
        run()
    except failures as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    return 0


@contextmanager
def scratch_folder(tmp_dir: Path, prefix: str, keep: bool = False) -> Iterator[Path]:
    """The run's own temporary folder under `tmp_dir`, removed afterwards unless `keep`."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_dir))
    try:
        yield workdir
    finally:
        if keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def stop_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so the servers are stopped and folders removed."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def add_output_options(parser: argparse.ArgumentParser, json_name: str) -> None:
    """`--out` (the JSON result) and `--tmp-dir` (the parent of the run's scratch folder)."""
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCH_DIR / json_name,
        help=f"JSON output (default var/bench/{json_name})",
    )
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=BENCH_DIR / "tmp",
        help="parent of the run's temporary folder (default var/bench/tmp)",
    )


def machine() -> dict[str, Any]:
    """The machine and its load, so that a result can be judged against its conditions."""
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in LOAD_AT_START],
        "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def result_header(benchmark: str, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The first keys of every benchmark's JSON: what it measured, when, and on what
    machine (`machine()` unless a benchmark adds to it)."""
    return {
        "benchmark": benchmark,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": machine() if environment is None else environment,
    }


def elapsed() -> float:
    return round(time.monotonic() - STARTED, 1)


def write_result(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
    print(f"written to {path}", file=sys.stderr)
