"""Run the shared davbench tool against one server and return its verified results."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class BenchFailed(Exception):
    """davbench reported a failed check, or did not produce its JSON."""


@dataclass(frozen=True)
class DavbenchParams:
    large_mib: int
    small_count: int
    max_time: float = 900.0

    def args(self) -> list[str]:
        return [
            "--large-mib", str(self.large_mib),
            "--small-count", str(self.small_count),
            "--max-time", str(self.max_time),
        ]  # fmt: skip


def run_davbench(tool: Path, url: str, params: DavbenchParams, workdir: Path) -> dict[str, Any]:
    """davbench's `results` for `url`; raises BenchFailed unless every check passed."""
    argv = [sys.executable, str(tool), url, "--workdir", str(workdir), *params.args()]
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=params.max_time + 60, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchFailed(f"davbench on {url} did not finish in time") from None
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise BenchFailed(
            f"davbench on {url} printed no JSON (exit {done.returncode}):\n{done.stderr[-2000:]}"
        ) from None
    if not report.get("ok"):
        raise BenchFailed(f"davbench on {url} failed: {report.get('error')}")
    return report["results"]
