"""schemathesis drives the live API from /api/openapi.json: no 500, nothing off-schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from users import PASSWORD, add_user

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)


def schemathesis_command() -> list[str] | None:
    exe = Path(sys.executable).with_name("schemathesis")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("schemathesis")
    return [found] if found else None


@pytest.mark.skipif(schemathesis_command() is None, reason="schemathesis is not installed")
def test_schemathesis_finds_no_server_error_and_no_schema_violation(make_server, tmp_path):
    # Changing users is covered elsewhere; here it would only lock the run's admin out.
    server = make_server(start=False, env={"ASSETDAV_FAILED_LOGIN_DELAY_MAX": "0.05"})
    add_user(server, "admin", PASSWORD["admin"], "--admin")
    server.start()
    admin = ("admin", PASSWORD["admin"])
    api = server.url + "api/"
    requests.post(api + "demo/create", json={"id": "p1", "groups": ["g"]}, auth=admin, timeout=5)
    requests.post(api + "demo/p1/create", json={"id": "a1"}, auth=admin, timeout=5)
    requests.post(
        api + "demo/p1/upload/a1", params={"filename": "f.txt"}, data=b"x", auth=admin, timeout=5
    )
    result = subprocess.run(
        [
            *schemathesis_command(),
            "run",
            api + "openapi.json",
            "--checks",
            CHECKS,
            "--max-examples",
            "12",
            "--seed",
            "20261126",
            "--workers",
            "1",  # hypothesis' lambda introspection is not thread-safe on CPython 3.11
            "--no-color",
            "--auth",
            f"admin:{PASSWORD['admin']}",
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            "--report-dir",
            str(tmp_path / "report"),
            "--exclude-path-regex",
            "^/api/user$",
        ],
        capture_output=True,
        text=True,
        timeout=420,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, without_warnings(output)[-12000:]
    assert " passed" in output
    assert "Internal error" not in server.log()


def without_warnings(output: str) -> str:
    """schemathesis' report without its long WARNINGS section (missing test data and
    such), so that a failure shows its errors and not only the warnings' tail."""
    start, end = output.find(" WARNINGS "), output.find(" SUMMARY ")
    if 0 <= start < end:
        start, end = output.rfind("\n", 0, start) + 1, output.rfind("\n", 0, end) + 1
        return output[:start] + output[end:]
    return output
