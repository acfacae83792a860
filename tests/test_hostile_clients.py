"""Clients that are slow, greedy or malformed on purpose: they get a clear answer (408,
414, 431, 400, 413, 503) and never the server's threads, memory or log."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import REPO, Server
from dav import mkcol

SLOW_CLIENTS = 64


def rss_kib(server: Server) -> int:
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))


def connect(server: Server, source: str = "127.0.0.1", timeout: float = 10) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", server.port))
    return sock


def exchange(server: Server, data: bytes, *, source: str = "127.0.0.1") -> bytes:
    """Send `data` (from a thread: the server may stop reading early) and return what the
    server answers before it closes."""
    sock = connect(server, source)

    def send() -> None:
        with contextlib.suppress(OSError):  # refused before the end: that is the point
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)  # all sent: the server sees the end

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except OSError:
        pass
    sock.close()
    sender.join(timeout=10)
    return answer


def status_of(answer: bytes) -> int:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    assert match, answer[:200]
    return int(match.group(1))


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory) -> Iterator[Server]:
    """Short deadlines, so the tests that wait for them stay short."""
    base = tmp_path_factory.mktemp("hostile")
    (base / "demo").mkdir()
    server = Server(
        {"demo": base / "demo"},
        base / "state",
        base / "server.log",
        env={"ASSETDAV_HEADER_TIMEOUT": "3", "ASSETDAV_CONNECTIONS_PER_ADDRESS": "64"},
    )
    server.start()
    assert mkcol(server.store_url() + "p/").status_code == 201
    assert mkcol(server.store_url() + "p/a/").status_code == 201
    yield server
    server.stop()


def test_slow_clients_from_one_address_do_not_starve_another(hostile_server):
    """64 connections from 127.0.0.3 that send one header line per second: a GET from
    127.0.0.2 still answers within a second, and the slow ones get 408 at the deadline."""
    server = hostile_server
    slow = [connect(server, "127.0.0.3", timeout=30) for _ in range(SLOW_CLIENTS)]
    stop = threading.Event()

    def dribble() -> None:
        for sock in slow:
            sock.sendall(b"GET /demo/p/ HTTP/1.1\r\nHost: x\r\n")
        while not stop.wait(1.0):
            for sock in slow:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X-Slow: 1\r\n")

    dribbler = threading.Thread(target=dribble, daemon=True)
    dribbler.start()
    try:
        time.sleep(1.5)  # every slow connection holds a request in progress now
        for _ in range(3):
            started = time.monotonic()
            session = requests.Session()
            session.mount("http://", SourceAddressAdapter("127.0.0.2"))
            answer = session.get(server.url + "api/list", timeout=5)
            assert answer.status_code == 200
            assert time.monotonic() - started < 1.0
            time.sleep(0.3)
        answers = []
        for sock in slow:
            try:
                answers.append(sock.recv(200))
            except OSError as exc:
                answers.append(repr(exc).encode())
    finally:
        stop.set()
        for sock in slow:
            sock.close()
    timed_out = sum(1 for a in answers if a.startswith(b"HTTP/1.1 408"))
    assert timed_out == SLOW_CLIENTS, answers[:3]


class SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """requests from a given local address (127.0.0.2 is another client than 127.0.0.1)."""

    def __init__(self, source: str) -> None:
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def test_one_address_gets_at_most_its_share_of_connections(make_server):
    server = make_server(env={"ASSETDAV_CONNECTIONS_PER_ADDRESS": "8"})
    held = [connect(server, "127.0.0.3") for _ in range(8)]
    try:
        refused = exchange(server, b"GET /api/list HTTP/1.1\r\nHost: x\r\n\r\n", source="127.0.0.3")
        assert status_of(refused) == 503
        assert b"Retry-After:" in refused
        other = exchange(server, b"GET /api/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status_of(other) == 200
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    again = exchange(
        server,
        b"GET /api/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        source="127.0.0.3",
    )
    assert status_of(again) == 200
    assert "WARNING assetdav.http: refused connections from 127.0.0.3" in server.log()


def test_a_body_slower_than_the_minimum_rate_is_408(hostile_server):
    sock = connect(hostile_server, timeout=30)
    sock.sendall(b"PUT /demo/p/a/slow.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    started = time.monotonic()
    answer = b""
    try:
        while time.monotonic() - started < 15 and not answer:
            sock.sendall(b"x")
            time.sleep(0.5)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                answer = sock.recv(500)
            sock.setblocking(True)
    except OSError:
        pass
    sock.close()
    assert status_of(answer) == 408, answer
    assert time.monotonic() - started < 10
    assert not (hostile_server.stores["demo"] / "p" / "a" / "slow.bin").exists()


def test_oversized_request_lines_and_headers_are_refused_without_reading_them(hostile_server):
    server = hostile_server
    before = rss_kib(server)
    line = exchange(server, b"GET /" + b"a" * (16 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(line) == 414
    long_url = exchange(server, b"GET /demo/" + b"b" * 16384 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(long_url) == 414
    # the answer is the API's error shape, whatever the path (it is not read whole)
    head, _, body = long_url.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["title"] == "URI Too Long"
    big_header = exchange(
        server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"c" * (64 << 20) + b"\r\n\r\n"
    )
    assert status_of(big_header) == 431
    many = b"".join(b"X-F%d: v\r\n" % n for n in range(101))
    assert status_of(exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")) == 431
    hundred = b"".join(b"X-F%d: v\r\n" % n for n in range(98))
    fine = exchange(
        server, b"GET /api/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + hundred + b"\r\n"
    )
    assert status_of(fine) == 200
    assert rss_kib(server) - before < 20 * 1024  # the 16 MiB and 64 MiB never sat in memory


def test_malformed_paths_lengths_and_chunks_are_400_413(hostile_server):
    server = hostile_server
    for path in ("/demo/%ff/", "/%c0%ae/", "/demo/p/%ed%a0%80.txt"):
        for method in ("GET", "PROPFIND", "DELETE"):
            request = f"{method} {path} HTTP/1.1\r\nHost: x\r\nDepth: 1\r\n"
            answer = exchange(server, request.encode() + b"Connection: close\r\n\r\n")
            assert status_of(answer) == 400, (method, path, answer[:300])
    propfind = exchange(
        server,
        b"PROPFIND /demo/p/ HTTP/1.1\r\nHost: x\r\nDepth: 1\r\n"
        b"Content-Length: 99999999999999\r\n\r\n<?xml",
    )
    assert status_of(propfind) == 413
    before = rss_kib(server)
    for size in (b"FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", b"zz", b"40000000"):
        chunked = exchange(
            server,
            b"PUT /demo/p/a/c.bin HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Connection: close\r\n\r\n" + size + b"\r\nabc",
        )
        assert status_of(chunked) == 400, (size, chunked[:300])
    assert rss_kib(server) - before < 20 * 1024  # a 1 GiB chunk size never allocated 1 GiB
    assert not (server.stores["demo"] / "p" / "a" / "c.bin").exists()
    negative = exchange(
        server,
        b"PUT /demo/p/a/n.bin HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    )
    assert status_of(negative) == 400
    assert "Traceback" not in server.log()


def test_the_access_log_cannot_be_forged(hostile_server):
    server = hostile_server
    forged = "2026-12-02 00:00:00,000 INFO assetdav.access: 10.9.9.9 DELETE /demo/p/ 204"
    path = "/x%0d%0a" + forged.replace(" ", "%20")
    answer = exchange(
        server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert status_of(answer) == 400
    log = server.log()
    assert not any(line.startswith("2026-12-02 00:00:00,000") for line in log.splitlines())
    assert r"\x0d\x0a2026-12-02" in log


def test_destinations_on_other_hosts_or_with_control_characters(hostile_server):
    server = hostile_server
    url = server.store_url() + "p/a/"
    assert requests.put(url + "f.txt", data=b"f", timeout=5).status_code == 201
    log_before = len(server.log())
    elsewhere = requests.request(
        "COPY", url + "f.txt", headers={"Destination": "http://elsewhere.example/demo/p/a/g"}
    )
    assert elsewhere.status_code == 502
    log = server.log()[log_before:]
    assert "Traceback" not in log and " ERROR " not in log
    assert len([line for line in log.splitlines() if " WARNING " in line]) == 1
    for method in ("COPY", "MOVE"):
        crlf = requests.request(
            method, url + "f.txt", headers={"Destination": url + "g%0d%0ah.txt"}, timeout=5
        )
        assert crlf.status_code == 400, crlf.text
    assert sorted(p.name for p in (server.stores["demo"] / "p" / "a").iterdir()) == [
        ".ovemeta",
        "f.txt",
    ]


def test_a_second_server_on_a_taken_port_says_so_and_touches_nothing(tmp_path, make_server):
    first = make_server()
    state = tmp_path / "second-state"
    second = Server(first.stores, state, tmp_path / "second.log", port=first.port)
    result = subprocess.run(
        second.command(),
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "taken" in result.stderr and "--port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not state.exists()  # no start-up maintenance ran
