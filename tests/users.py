"""Test helpers for servers with users: add them with the real `assetdav user` command."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import REPO, Server

PASSWORD = {"admin": "admin-secret", "writer": "writer-secret", "reader": "reader-secret"}


def add_user(server: Server, name: str, password: str, *args: str) -> None:
    env = {**os.environ, "ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")}
    result = subprocess.run(
        [
            sys.executable,
            "-P",
            "-m",
            "davserver",
            "user",
            "add",
            name,
            "--password-stdin",
            "--state-dir",
            str(server.state_dir),
            *args,
        ],
        input=password + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def add_team(server: Server) -> None:
    """admin; writer of group teamA; reader of group teamA (and nothing else)."""
    add_user(server, "admin", PASSWORD["admin"], "--admin")
    add_user(server, "writer", PASSWORD["writer"], "--write-groups", "teamA")
    add_user(server, "reader", PASSWORD["reader"], "--read-groups", "teamA")


def auth(name: str) -> tuple[str, str]:
    return (name, PASSWORD[name])
