"""The memory test: one big PUT streamed from disk, watching the server's resident memory.

The server is warmed up first (a small PUT and GET in the same folder), its `VmHWM` is reset,
and its `VmRSS` is taken as the baseline. Growth is the highest of the `VmHWM` after the
upload and the highest sampled `VmRSS` during it, minus that baseline.
"""

from __future__ import annotations

import http.client
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from procmem import MIB, PeakSampler, read_memory, reset_peak
from servers import ServerProcess

FOLDER = "memtest"
BLOCK = 1 << 20
TIMEOUT = 600.0


class UploadFailed(Exception):
    """A request of the memory test got an unexpected answer."""


@dataclass(frozen=True)
class UploadResult:
    size: int
    seconds: float
    rss_before: int
    hwm_after: int
    sampled_peak: int
    samples: int
    hwm_was_reset: bool
    server_cpu_s: float = 0.0  # set by the benchmark around the whole measurement

    @property
    def growth(self) -> int:
        return max(self.hwm_after, self.sampled_peak) - self.rss_before

    @property
    def mb_per_s(self) -> float:
        return self.size / self.seconds / 1e6

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "growth": self.growth,
            "growth_MiB": round(self.growth / MIB, 1),
            "MBps": round(self.mb_per_s, 1),
        }


def make_big_file(path: Path, size: int) -> None:
    """`size` random bytes, written in 1 MiB blocks."""
    with open(path, "wb") as f:
        left = size
        while left:
            f.write(os.urandom(min(BLOCK, left)))
            left -= min(BLOCK, left)


def send(port: int, method: str, path: str, body: Any = None, size: int | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT, blocksize=BLOCK)
    headers = {"Content-Type": "application/octet-stream"} if body is not None else {}
    if size is not None:
        headers["Content-Length"] = str(size)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def expect(status: int, allowed: set[int], what: str) -> None:
    if status not in allowed:
        raise UploadFailed(f"{what}: HTTP {status} (expected {sorted(allowed)})")


def warm_up(server: ServerProcess, folder: str) -> None:
    expect(send(server.port, "MKCOL", folder), {201}, f"MKCOL {folder}")
    warm = folder + "warmup.bin"
    expect(send(server.port, "PUT", warm, b"x" * 65536), {200, 201, 204}, "PUT warm-up")
    expect(send(server.port, "GET", warm), {200}, "GET warm-up")


def measure_upload(server: ServerProcess, source: Path) -> UploadResult:
    """PUT `source` to `<server>/memtest/upload.bin` and record the server's memory."""
    folder = urlsplit(server.url).path + FOLDER + "/"
    warm_up(server, folder)
    size = source.stat().st_size
    was_reset = reset_peak(server.pid)
    before = read_memory(server.pid).rss
    with PeakSampler(server.pid) as sampler, open(source, "rb") as body:
        started = time.perf_counter()
        status = send(server.port, "PUT", folder + "upload.bin", body, size)
        seconds = time.perf_counter() - started
    after = read_memory(server.pid)
    expect(status, {200, 201, 204}, "PUT big file")
    stored = server.data_root / FOLDER / "upload.bin"
    if stored.stat().st_size != size:
        raise UploadFailed(f"{stored} holds {stored.stat().st_size} bytes, not {size}")
    return UploadResult(size, seconds, before, after.hwm, sampler.peak, sampler.samples, was_reset)
