"""The `assetdav serve` command: defaults, exposure rules, logging, shutdown, the demo store."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from PIL import Image

from conftest import REPO, Server, free_port
from dav import parse_multistatus, propfind, tags_of


def run_serve(args: list[str], tmp_path: Path, timeout: float = 20) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")}
    return subprocess.run(
        [sys.executable, "-P", "-m", "davserver", "serve", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=tmp_path,
    )


def test_refuses_anonymous_service_on_a_public_address(tmp_path):
    (tmp_path / "s").mkdir()
    result = run_serve(
        ["--host", "0.0.0.0", "--port", str(free_port()), "--store", f"demo={tmp_path / 's'}"],
        tmp_path,
    )
    assert result.returncode == 2
    assert "--allow-anonymous" in result.stderr


def test_allow_anonymous_starts_on_a_public_address(make_server):
    server = make_server(extra_args=["--host", "0.0.0.0", "--allow-anonymous"])
    assert requests.get(server.url + "api/list", timeout=5).json() == ["demo"]


def test_binds_loopback_by_default_and_logs_each_request(server):
    requests.get(server.url + "api/list", timeout=5)
    propfind(server.store_url(), depth="1")
    requests.get(server.store_url() + "missing.txt", timeout=5)
    server.stop()
    log = server.log()
    assert f"listening on http://127.0.0.1:{server.port}/" in log
    assert 'GET "/api/list" 200' in log
    assert 'PROPFIND "/demo/" 207' in log
    assert 'GET "/demo/missing.txt" 404' in log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_shuts_down_cleanly_on_signals(make_server, sig):
    server = make_server()
    assert server.stop(sig) == 0
    assert "stopped" in server.log()


def test_missing_store_folder_is_a_clear_error(tmp_path):
    result = run_serve(["--port", str(free_port()), "--store", f"x={tmp_path / 'nope'}"], tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_demo_store_is_made_on_first_start(tmp_path):
    config = tmp_path / "conf" / "assetdav.yaml"
    config.parent.mkdir()
    config.write_text(
        "state_dir: ../var/state\nstores:\n  demo: {path: ../var/stores/demo, seed_demo: true}\n"
    )
    server = Server(
        {},
        tmp_path / "var" / "state",
        tmp_path / "server.log",
        env={"ASSETDAV_CONFIG": str(config)},
    )
    server.start()
    try:
        base = server.store_url("demo")
        listing = parse_multistatus(propfind(base + "gallery/", depth="1").content)
        assets = sorted(
            h.rstrip("/").rsplit("/", 1)[-1] for h in listing if h.rstrip("/") != "/demo/gallery"
        )
        assert len(assets) >= 2
        for asset in assets:
            assert tags_of(f"{base}gallery/{asset}/")
            png = requests.get(f"{base}gallery/{asset}/{asset}.png", timeout=5)
            assert Image.open(io.BytesIO(png.content)).size[0] > 0
        assert (tmp_path / "var" / "stores" / "demo" / "gallery" / ".ovemeta").is_file()
    finally:
        server.stop()
