"""Uploads that die half-way: the client sends part of a PUT body and the connection goes away.

Whatever was there before stays exactly as it was (bytes, listing, sidecar), a new file never
appears, and the half-written temporary file is cleaned up within seconds.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import requests
import xxhash
import yaml

from dav import mkcol, parse_multistatus, propfind

if TYPE_CHECKING:
    from conftest import Server

TEMP_PREFIX = ".~assetdav-"
HTTP_TIMEOUT = 10.0
SOCKET_TIMEOUT = 10.0
SETTLE_TIMEOUT = 5.0
OLD_BODY = b"the version that must survive\n" * 4000  # ~120 KB
NEW_BODY = b"a retried upload that completes\n" * 3000
ANNOUNCED = 2_000_000  # Content-Length promised by the interrupted upload
CHUNK = 64 * 1024


@dataclass
class Asset:
    """`/demo/proj/a1/` holding `photo.bin` (OLD_BODY), made over WebDAV."""

    server: Server
    folder: Path
    url: str

    @property
    def sidecar(self) -> Path:
        return self.folder / ".ovemeta"

    def files_record(self) -> dict[str, Any]:
        return yaml.safe_load(self.sidecar.read_text())["files"]

    def temp_files(self) -> list[str]:
        return sorted(p.name for p in self.folder.iterdir() if p.name.startswith(TEMP_PREFIX))

    def listed_names(self) -> set[str]:
        response = propfind(self.url, depth="1")
        assert response.status_code == 207, response.text
        own = urlsplit(self.url).path.rstrip("/")
        return {
            href.rstrip("/").rsplit("/", 1)[-1]
            for href in parse_multistatus(response.content)
            if href.rstrip("/") != own
        }


@pytest.fixture
def asset(server: Server, store_root: Path) -> Asset:
    base = server.store_url()
    assert mkcol(base + "proj/").status_code == 201
    assert mkcol(base + "proj/a1/").status_code == 201
    a = Asset(server, store_root / "proj" / "a1", base + "proj/a1/")
    put = requests.put(a.url + "photo.bin", data=OLD_BODY, timeout=HTTP_TIMEOUT)
    assert put.status_code == 201
    record = a.files_record()["photo.bin"]
    assert record["size"] == len(OLD_BODY)
    assert record["xxh3_128"] == xxhash.xxh3_128(OLD_BODY).hexdigest()
    return a


def wait_until(condition: Callable[[], bool], what: str, timeout: float = SETTLE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout}s waiting until {what}")
        time.sleep(0.02)


# --- ways an upload dies ---------------------------------------------------------------


def _request_head(path: str, port: int, framing: str) -> bytes:
    return (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/octet-stream\r\n{framing}\r\n\r\n"
    ).encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def send_half_a_body(sock: socket.socket, path: str, port: int) -> None:
    """Promise 2 MB with Content-Length, send about half."""
    sock.sendall(_request_head(path, port, f"Content-Length: {ANNOUNCED}"))
    sock.sendall(b"h" * (ANNOUNCED // 2))


def send_chunks_without_end(sock: socket.socket, path: str, port: int) -> None:
    """Chunked: two whole chunks, then nothing (no terminating 0-chunk)."""
    sock.sendall(_request_head(path, port, "Transfer-Encoding: chunked"))
    sock.sendall(_chunk(b"c" * CHUNK) + _chunk(b"d" * CHUNK))


def send_chunks_cut_inside_a_chunk(sock: socket.socket, path: str, port: int) -> None:
    """Chunked: two whole chunks, then a chunk header and only part of its data."""
    send_chunks_without_end(sock, path, port)
    sock.sendall(b"%x\r\n" % CHUNK + b"e" * 1000)


def hang_up(sock: socket.socket) -> None:
    sock.close()


def reset(sock: socket.socket) -> None:
    """Abort with a TCP RST instead of an orderly close (a crashed or killed client)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


INTERRUPTIONS = [
    pytest.param(send_half_a_body, hang_up, id="content-length-half-then-close"),
    pytest.param(send_half_a_body, reset, id="content-length-half-then-reset"),
    pytest.param(send_chunks_without_end, hang_up, id="chunked-no-final-chunk"),
    pytest.param(send_chunks_cut_inside_a_chunk, hang_up, id="chunked-cut-inside-chunk"),
]

Sender = Callable[[socket.socket, str, int], None]
Closer = Callable[[socket.socket], None]


def interrupted_upload(
    asset: Asset, name: str, send: Sender, close: Closer, while_in_flight: Callable[[], None]
) -> None:
    """Start a PUT of `name`, check `while_in_flight` once the server is writing it, then drop
    the connection and wait until the server has cleaned up after it."""
    path = urlsplit(asset.url + name).path
    sock = socket.create_connection(("127.0.0.1", asset.server.port), timeout=SOCKET_TIMEOUT)
    try:
        send(sock, path, asset.server.port)
        wait_until(lambda: bool(asset.temp_files()), "the server is writing the upload")
        while_in_flight()
    finally:
        close(sock)
    wait_until(
        lambda: not asset.temp_files(),
        f"the temporary file of the dropped upload is removed (left: {asset.temp_files()})",
    )


# --- tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("send, close", INTERRUPTIONS)
def test_dropped_upload_keeps_the_previous_version(
    asset: Asset, send: Sender, close: Closer
) -> None:
    sidecar_before = asset.sidecar.read_bytes()
    etag_before = requests.head(asset.url + "photo.bin", timeout=HTTP_TIMEOUT).headers["ETag"]

    def nothing_changed_yet() -> None:
        assert requests.get(asset.url + "photo.bin", timeout=HTTP_TIMEOUT).content == OLD_BODY
        assert asset.listed_names() == {"photo.bin"}

    interrupted_upload(asset, "photo.bin", send, close, nothing_changed_yet)

    got = requests.get(asset.url + "photo.bin", timeout=HTTP_TIMEOUT)
    assert got.status_code == 200
    assert got.content == OLD_BODY
    assert got.headers["ETag"] == etag_before
    assert asset.listed_names() == {"photo.bin"}
    assert asset.sidecar.read_bytes() == sidecar_before
    assert (asset.folder / "photo.bin").read_bytes() == OLD_BODY

    # Sending the file again just works.
    retry = requests.put(asset.url + "photo.bin", data=NEW_BODY, timeout=HTTP_TIMEOUT)
    assert retry.status_code == 204
    assert requests.get(asset.url + "photo.bin", timeout=HTTP_TIMEOUT).content == NEW_BODY
    record = asset.files_record()["photo.bin"]
    assert record["size"] == len(NEW_BODY)
    assert record["xxh3_128"] == xxhash.xxh3_128(NEW_BODY).hexdigest()


@pytest.mark.parametrize("send, close", INTERRUPTIONS)
def test_dropped_upload_of_a_new_file_leaves_nothing(
    asset: Asset, send: Sender, close: Closer
) -> None:
    sidecar_before = asset.sidecar.read_bytes()

    def not_there_yet() -> None:
        assert requests.get(asset.url + "new.bin", timeout=HTTP_TIMEOUT).status_code == 404
        assert asset.listed_names() == {"photo.bin"}

    interrupted_upload(asset, "new.bin", send, close, not_there_yet)

    assert requests.get(asset.url + "new.bin", timeout=HTTP_TIMEOUT).status_code == 404
    assert asset.listed_names() == {"photo.bin"}
    assert not (asset.folder / "new.bin").exists()
    assert asset.sidecar.read_bytes() == sidecar_before
    assert "new.bin" not in asset.files_record()

    # Sending the file again just works.
    retry = requests.put(asset.url + "new.bin", data=NEW_BODY, timeout=HTTP_TIMEOUT)
    assert retry.status_code == 201
    assert requests.get(asset.url + "new.bin", timeout=HTTP_TIMEOUT).content == NEW_BODY
    assert asset.files_record()["new.bin"]["size"] == len(NEW_BODY)
