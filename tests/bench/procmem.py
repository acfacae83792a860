"""Resident memory of another process and its children, read from /proc (Linux only).

`VmRSS` is the resident set now, `VmHWM` its high-water mark since the process started or
since the mark was last reset (writing `5` to `/proc/PID/clear_refs`). A `PeakSampler`
polls `VmRSS` from a thread as a cross-check that does not depend on the reset working.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20


@dataclass(frozen=True)
class Memory:
    """One reading of a process's resident memory, in bytes."""

    rss: int
    hwm: int


def process_tree(pid: int) -> list[int]:
    """`pid` and its living descendants (assetdav's index writer runs in a child)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def read_memory(pid: int, tree: list[int] | None = None) -> Memory:
    """`VmRSS` and `VmHWM` of `pid` and its descendants (`tree`, when already known),
    summed (each child's peak counted as if they coincided); raises OSError if the process
    is gone."""
    total = Memory(rss=0, hwm=0)
    for member in tree or process_tree(pid):
        fields: dict[str, int] = {}
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            if member == pid:
                raise
            continue
        for line in lines:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024  # the kernel reports kB
        total = Memory(rss=total.rss + fields["VmRSS"], hwm=total.hwm + fields["VmHWM"])
    return total


def reset_peak(pid: int) -> bool:
    """Reset `VmHWM` to the current RSS in `pid` and its descendants; False if the kernel
    refused."""
    try:
        for member in process_tree(pid):
            Path(f"/proc/{member}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


TREE_REFRESH = 0.5  # seconds: finding the descendants scans /proc (~1.5 ms), a sample not


class PeakSampler:
    """Poll a process's `VmRSS` (its descendants' included) every `interval` seconds while
    in a `with` block."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        tree, found_at = [self.pid], 0.0
        while not self._stop.is_set():
            if time.monotonic() - found_at > TREE_REFRESH:
                tree, found_at = process_tree(self.pid), time.monotonic()
            try:
                self.peak = max(self.peak, read_memory(self.pid, tree).rss)
            except OSError:
                return
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
