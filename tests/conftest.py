"""Fixtures: a real assetdav server in a subprocess on a loopback port, over temporary folders."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cluster_setup import free_port

try:  # the project and its test extra, as `scripts/test` installs them into .venv
    import requests
    import xxhash  # noqa: F401
    from PIL import Image  # noqa: F401

    import stores  # noqa: F401
except ImportError as missing:
    pytest.exit(
        f"{missing}: run the suite with scripts/test, which installs the project and what "
        "the tests need into .venv (or: .venv/bin/python -m pytest after it has run once)",
        returncode=4,
    )

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO.parent / "shared" / "tools"


def skipped_clients() -> list[str]:
    """What of the third-party client tests cannot run here, and why."""
    reasons = []
    if not TOOLS.is_dir():
        reasons.append(
            f"litmus, rclone and cadaver runs ({TOOLS} is not there: a clone on its own "
            "lacks ../shared/tools)"
        )
    else:
        for tool in ("litmus", "rclone", "cadaver"):
            if shutil.which(tool) is None:
                reasons.append(f"the {tool} run ({tool} is not installed)")
    if shutil.which("chromium") is None:
        reasons.append("the browser tests (Debian's chromium is not installed)")
    if subprocess.run(["mount", "--version"], capture_output=True).returncode != 0 or (
        os.geteuid() != 0
    ):
        reasons.append("the full-disk tests (mounting a small tmpfs needs root)")
    return reasons


def pytest_report_header(config: pytest.Config) -> list[str]:
    """One line at the start of the run: what will be skipped, and why."""
    reasons = skipped_clients()
    return ["skipped here: " + "; ".join(reasons)] if reasons else ["every client test can run"]


@dataclass
class Server:
    """A running `assetdav serve`; `url` ends with a slash."""

    stores: dict[str, Path]
    state_dir: Path
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def store_url(self, name: str = "demo") -> str:
        return f"{self.url}{name}/"

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-P",
            "-m",
            "davserver",
            "serve",
            "--port",
            str(self.port),
            "--state-dir",
            str(self.state_dir),
        ]
        for name, path in self.stores.items():
            cmd += ["--store", f"{name}={path}"]
        return cmd + self.extra_args

    def start(self) -> Server:
        """Start and wait until *this* process answers. A free port can be taken by another
        test's server between choosing it and binding it (xdist workers run side by side):
        readiness is this process's own "listening" line, and a port lost that way is chosen
        again rather than failing the test."""
        chosen = not self.port
        for _attempt in range(5):
            if chosen:
                self.port = free_port()
            if self._launch():
                return self
        raise RuntimeError(f"server lost its port five times:\n{self.log()}")

    def _launch(self) -> bool:
        env = {
            **os.environ,
            "ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml"),
            **self.env,
        }
        self.state_dir.parent.mkdir(parents=True, exist_ok=True)
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(self.state_dir.parent),
        )
        log.close()
        listening = f":{self.port}/ (stores:"  # this process's "listening on" line, any host
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "the port is taken" in self._log_since(log_start):
                    return False
                raise RuntimeError(f"server exited early:\n{self.log()}")
            if listening in self._log_since(log_start):
                try:
                    requests.get(self.url + "api/list", timeout=1)
                    return True
                except (requests.ConnectionError, requests.Timeout):
                    pass  # bound, still starting on a loaded machine
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def restart(self) -> Server:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator:
    """Factory: `make_server(stores={"demo": path}, extra_args=[...])`, stopped at the end."""
    started: list[Server] = []

    def factory(
        stores: dict[str, Path] | None = None,
        extra_args: list[str] | None = None,
        env: dict[str, str] | None = None,
        start: bool = True,
    ) -> Server:
        if stores is None:
            root = tmp_path / "trees" / "demo"
            root.mkdir(parents=True, exist_ok=True)
            stores = {"demo": root}
        state = tmp_path / f"state{len(started)}"
        server = Server(
            stores, state, tmp_path / f"server{len(started)}.log", extra_args or [], env or {}
        )
        started.append(server)
        return server.start() if start else server

    yield factory
    for server in started:
        if server.proc is not None:
            server.stop()


@pytest.fixture
def server(make_server) -> Server:
    """A server with one empty store `demo`."""
    return make_server()


@pytest.fixture
def store_root(server: Server) -> Path:
    return server.stores["demo"]
