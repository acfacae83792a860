"""A progress bar on stderr for long work; plain periodic lines when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()
        self._last = 0.0

    def __call__(self, done: int, total: int, current: str = "") -> None:
        now = time.monotonic()
        finished = total and done >= total
        if not finished and now - self._last < (0.1 if self.tty else 5.0):
            return
        self._last = now
        fraction = done / total if total else 1.0
        if self.tty:
            filled = int(self.width * fraction)
            bar = "#" * filled + "-" * (self.width - filled)
            tail = current[-40:]
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total} {tail:<40}")
            if finished:
                self.stream.write("\n")
        else:
            self.stream.write(f"{self.label}: {done}/{total} ({fraction:.0%})\n")
        self.stream.flush()
