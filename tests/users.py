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


_team_users: bytes | None = None  # users.yaml as the commands below first wrote it


def add_team(server: Server) -> None:
    """admin; writer of group teamA; reader of group teamA (and nothing else). Added with
    the real command the first time in a test process, then its users.yaml is copied (three
    command runs cost seconds, and about fifteen servers of the suite have this team)."""
    global _team_users
    users_file = server.state_dir / "users.yaml"
    if _team_users is not None and not users_file.exists():
        users_file.parent.mkdir(parents=True, exist_ok=True)
        users_file.write_bytes(_team_users)
        users_file.chmod(0o600)
        return
    add_user(server, "admin", PASSWORD["admin"], "--admin")
    add_user(server, "writer", PASSWORD["writer"], "--write-groups", "teamA")
    add_user(server, "reader", PASSWORD["reader"], "--read-groups", "teamA")
    if _team_users is None:
        _team_users = users_file.read_bytes()


def auth(name: str) -> tuple[str, str]:
    return (name, PASSWORD[name])
