"""The two servers under test, each in its own subprocess on a free loopback port.

`assetdav` is started exactly as the test suite starts it (`python -P -m davserver serve`
with `ASSETDAV_CONFIG` pointing at tests/empty-config.yaml) over one store named `bench`;
the benchmark works below `/bench/`, because files cannot live at a store's root.
`plain` is WsgiDAV's own FilesystemProvider (see plain_server.py), benchmarked at `/`.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cpuload import process_seconds
from procmem import Memory, read_memory

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
STORE = "bench"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_http(port: int, path: str) -> bool:
    """True once something answers an HTTP OPTIONS on `path`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("OPTIONS", path)
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()


@dataclass
class ServerProcess:
    """A server under test; `url` is where the benchmark works (ends with a slash)."""

    name: str
    label: str
    command: list[str]
    data_root: Path
    url_path: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    start_timeout: float = START_TIMEOUT  # until it answers HTTP

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.url_path}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def memory(self) -> Memory:
        return read_memory(self.pid)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far (all its threads and its
        child processes, such as assetdav's index writer)."""
        return process_seconds(self.pid)

    def request(self, method: str, path: str) -> int:
        """The status of a bodiless request (MKCOL, DELETE) to this server."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def start(self) -> ServerProcess:
        self.port = free_port()
        argv = [arg.replace("{port}", str(self.port)) for arg in self.command]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                cwd=str(self.log_path.parent),
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited at start-up:\n{self.log_tail()}")
            if answers_http(self.port, self.url_path):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.label} did not start in {self.start_timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited after STOP_TIMEOUT seconds."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def assetdav_server(
    workdir: Path, log_level: str = "INFO", code: Path | None = None, label: str = "assetdav"
) -> ServerProcess:
    """assetdav over a fresh, empty store `bench` in `workdir` (INFO logs every request).

    `code` runs another checkout's packages (an earlier commit, see anchor_code) with this
    virtual environment, for a comparison within one run."""
    store = workdir / "store"
    store.mkdir(parents=True)
    command = [
        sys.executable, "-P", "-m", "davserver", "serve", "--port", "{port}",
        "--state-dir", str(workdir / "state"), "--store", f"{STORE}={store}",
        "--log-level", log_level,
    ]  # fmt: skip
    env = {"ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return ServerProcess(
        "assetdav", label, command, store, f"/{STORE}/", workdir / "server.log", env
    )


def anchor_code(revision: str, into: Path) -> Path:
    """The repository's packages as they were at `revision`, unpacked into `into`."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", revision], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def plain_server(workdir: Path) -> ServerProcess:
    """Plain WsgiDAV over a fresh, empty folder in `workdir`."""
    root = workdir / "root"
    root.mkdir(parents=True)
    command = [sys.executable, str(HERE / "plain_server.py"), str(root), "{port}"]
    return ServerProcess("plain", "plain WsgiDAV", command, root, "/", workdir / "server.log")


def make_servers(workdir: Path, log_level: str = "INFO") -> list[ServerProcess]:
    """Both servers (not started), each with its own subfolder of `workdir`."""
    (workdir / "assetdav").mkdir(parents=True)
    (workdir / "plain").mkdir(parents=True)
    return [assetdav_server(workdir / "assetdav", log_level), plain_server(workdir / "plain")]
