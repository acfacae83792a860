"""A big tus 1.0.0 upload streamed from disk in fixed-size parts, watching the server's memory.

One keep-alive connection creates the upload (POST /api/uploads/) and sends each part as a
PATCH whose body is read from the source file in 1 MiB blocks, so the client never holds a
part in memory either. Measured like the PUT of upload.py: warm-up (a small tus upload
into the same project), `VmHWM` reset, `VmRSS` baseline, sampled peak.
"""

from __future__ import annotations

import base64
import http.client
import time
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from procmem import PeakSampler, read_memory, reset_peak
from servers import STORE, ServerProcess
from upload import BLOCK, FOLDER, TIMEOUT, UploadFailed, UploadResult, expect, send

CREATE_PATH = "/api/uploads/"
TUS = {"Tus-Resumable": "1.0.0"}


class FileSlice:
    """`length` bytes of an open file from its current position, read in blocks."""

    def __init__(self, source: BinaryIO, length: int) -> None:
        self.source = source
        self.left = length

    def read(self, size: int = BLOCK) -> bytes:
        if self.left <= 0:
            return b""
        chunk = self.source.read(min(size if size > 0 else BLOCK, self.left))
        self.left -= len(chunk)
        return chunk


def _metadata(asset: str, filename: str) -> str:
    fields = {"store": STORE, "project": FOLDER, "asset": asset, "filename": filename}
    fields["create"] = "true"
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


def _create(conn: http.client.HTTPConnection, size: int, asset: str, filename: str) -> str:
    headers = {**TUS, "Upload-Length": str(size), "Upload-Metadata": _metadata(asset, filename)}
    conn.request("POST", CREATE_PATH, headers=headers)
    response = conn.getresponse()
    answer = response.read()
    if response.status != 201:
        raise UploadFailed(f"tus POST (creation): HTTP {response.status} {answer!r}")
    location = response.getheader("Location")
    if not location:
        raise UploadFailed("tus POST answered 201 without a Location")
    return urlsplit(location).path  # a request target, not an absolute URL


def _patch(conn: http.client.HTTPConnection, url: str, body: FileSlice, offset: int) -> int:
    headers = {
        **TUS,
        "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream",
        "Content-Length": str(body.left),
    }
    conn.request("PATCH", url, body=body, headers=headers)  # type: ignore[arg-type]
    response = conn.getresponse()
    answer = response.read()
    if response.status != 204:
        raise UploadFailed(f"tus PATCH at offset {offset}: HTTP {response.status} {answer!r}")
    return int(response.getheader("Upload-Offset", "-1"))


def tus_upload(port: int, source: Path, part_size: int, asset: str) -> None:
    """Upload `source` as `<asset>/1/<name>` of project FOLDER in parts of `part_size`."""
    size = source.stat().st_size
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT, blocksize=BLOCK)
    try:
        url = _create(conn, size, asset, source.name)
        offset = 0
        with open(source, "rb") as f:
            while offset < size:
                part = FileSlice(f, min(part_size, size - offset))
                new_offset = _patch(conn, url, part, offset)
                if new_offset != offset + min(part_size, size - offset):
                    raise UploadFailed(f"tus PATCH at {offset} left the offset at {new_offset}")
                offset = new_offset
    finally:
        conn.close()


def measure_tus(server: ServerProcess, source: Path, part_size: int) -> UploadResult:
    """Upload `source` through tus into `/bench/memtest/tusbig/` and record the memory."""
    expect(send(server.port, "MKCOL", f"/{STORE}/{FOLDER}/"), {201}, "MKCOL the project")
    warm = source.parent / "tus-warmup.bin"
    warm.write_bytes(b"x" * 65536)
    tus_upload(server.port, warm, part_size, "tuswarm")
    warm.unlink()
    size = source.stat().st_size
    was_reset = reset_peak(server.pid)
    before = read_memory(server.pid).rss
    with PeakSampler(server.pid) as sampler:
        started = time.perf_counter()
        tus_upload(server.port, source, part_size, "tusbig")
        seconds = time.perf_counter() - started
    after = read_memory(server.pid)
    landed = server.data_root / FOLDER / "tusbig" / "1" / source.name
    if not landed.is_file() or landed.stat().st_size != size:
        raise UploadFailed(f"the tus upload did not land as {landed} with {size} bytes")
    return UploadResult(size, seconds, before, after.hwm, sampler.peak, sampler.samples, was_reset)
