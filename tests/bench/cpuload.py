"""How busy the machine was during a phase apart from the benchmark's own processes.

`/proc/stat` gives the CPU time every process spent, `/proc/PID/stat` our share; the
difference over a phase, as % of one core, is load from elsewhere (another test run, a
build) that the phase's timings shared the CPUs with. Linux only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from procmem import process_tree

TICK = os.sysconf("SC_CLK_TCK")


def busy_seconds() -> float:
    """CPU time of the whole machine (all CPUs) spent not idle since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / TICK


def process_seconds(pid: int) -> float:
    """utime + stime of a process (its threads included) and of its children, living
    (assetdav's index writer) or ended and waited for; 0 if it is gone."""
    total = 0.0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / TICK
    return total


class ForeignLoad:
    """Measure, over a `with` block, the CPU used by processes other than `pids`."""

    def __init__(self, *pids: int) -> None:
        self.pids = pids or (os.getpid(),)
        self.percent = 0.0

    def __enter__(self) -> ForeignLoad:
        self._start = (time.monotonic(), busy_seconds(), self._ours())
        return self

    def _ours(self) -> float:
        return sum(process_seconds(pid) for pid in self.pids)

    def __exit__(self, *_exc: object) -> None:
        wall0, busy0, ours0 = self._start
        wall = time.monotonic() - wall0
        foreign = (busy_seconds() - busy0) - (self._ours() - ours0)
        self.percent = round(max(0.0, 100 * foreign / wall), 1) if wall > 0 else 0.0
