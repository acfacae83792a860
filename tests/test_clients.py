"""Third-party WebDAV clients judge the server: litmus, rclone, cadaver."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
import yaml
from users import add_user

from stores.hashing import hash_file

from conftest import TOOLS

pytestmark = pytest.mark.skipif(not TOOLS.is_dir(), reason="../shared/tools is not present")


def run_tool(
    script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> tuple[str, int, int]:
    """Run a shared tool script; return its output and the final `N passed, M failed`."""
    result = subprocess.run(
        ["bash", str(TOOLS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    output = result.stdout + result.stderr
    last = re.findall(r"(\d+) passed, (\d+) failed", result.stdout)
    assert last, output
    passed, failed = (int(n) for n in last[-1])
    return output, passed, failed


@pytest.mark.skipif(shutil.which("litmus") is None, reason="litmus is not installed")
def test_litmus_all_suites_pass(server):
    output, passed, failed = run_tool("litmus.sh", server.store_url())
    assert failed == 0, output
    assert passed >= 104, output


@pytest.mark.skipif(shutil.which("cadaver") is None, reason="cadaver is not installed")
def test_cadaver_session(server):
    requests.request("MKCOL", server.store_url() + "cad/", timeout=5)
    output, _passed, failed = run_tool("cadaver_smoke.sh", server.store_url() + "cad/")
    assert failed == 0, output


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed")
def test_rclone_round_trip_and_sidecars_record_every_file(server, store_root: Path):
    output, _passed, failed = run_tool(
        "rclone_roundtrip.sh",
        server.store_url(),
        # a 20 MiB file and 250 small ones keep the suite short; every step still runs
        env={"RT_KEEP": "1", "RT_BIG_MIB": "20", "RT_SMALL_COUNT": "250"},
        timeout=900,
    )
    local = re.search(r"kept: local (\S+), remote DAVRT:(\S+)", output)
    assert local, output
    try:
        assert failed == 0, output
        source = Path(local.group(1)) / "src"
        project = store_root / local.group(2)
        checked = assert_sidecars_match(source, project)
        assert checked > 200
    finally:
        shutil.rmtree(local.group(1), ignore_errors=True)


# The round trip ends with a server-side MOVE of this file (and a COPY of the result).
MOVED_BY_SCRIPT = {Path("nested/a/b/new ü.txt"): Path("moved ü.txt")}


def assert_sidecars_match(source: Path, project: Path) -> int:
    """Every file rclone uploaded is on the server with the same bytes, and every file of
    the project on the server is recorded, with its true size and hash, in its sidecar."""
    for path in source.rglob("*"):
        if path.is_file():
            rel = path.relative_to(source)
            served = project / MOVED_BY_SCRIPT.get(rel, rel)
            assert served.is_file(), rel
            assert hash_file(served) == hash_file(path), rel
    checked = 0
    for served in project.rglob("*"):
        if not served.is_file() or served.name == ".ovemeta":
            continue
        rel = served.relative_to(project)
        owner, key = (
            (project, rel.parts[0])
            if len(rel.parts) == 1
            else (project / rel.parts[0], "/".join(rel.parts[1:]))
        )
        record = yaml.safe_load((owner / ".ovemeta").read_text())["files"][key]
        assert (record["size"], record["xxh3_128"]) == hash_file(served), rel
        checked += 1
    return checked


@pytest.fixture
def server_with_admin(make_server):
    # rclone's wrong-password run makes ~16 failed logins; keep their slow-down short here.
    server = make_server(start=False, env={"ASSETDAV_FAILED_LOGIN_DELAY_MAX": "0.2"})
    add_user(server, "dav", "dav-pass", "--admin")
    return server.start()


@pytest.mark.skipif(shutil.which("litmus") is None, reason="litmus is not installed")
def test_litmus_with_a_configured_user(server_with_admin):
    output, passed, failed = run_tool("litmus.sh", server_with_admin.store_url(), "dav", "dav-pass")
    assert failed == 0, output
    assert passed >= 104, output


@pytest.mark.skipif(shutil.which("rclone") is None, reason="rclone is not installed")
def test_rclone_with_a_user_and_with_a_wrong_password(server_with_admin):
    small = {"RT_BIG_MIB": "8", "RT_SMALL_COUNT": "60"}
    output, _passed, failed = run_tool(
        "rclone_roundtrip.sh", server_with_admin.store_url(), "dav", "dav-pass", env=small
    )
    assert failed == 0, output
    output, passed, failed = run_tool(
        "rclone_roundtrip.sh",
        server_with_admin.store_url(),
        "dav",
        "wrong",
        env={**small, "RT_STEP_TIMEOUT": "60"},
    )
    assert failed > 0 and "401" in output, output
    assert "panic" not in output.lower()
