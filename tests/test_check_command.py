"""`assetdav check`: a store built over WebDAV passes; changes made behind the server's back
(edited bytes, broken sidecars, stray files) are reported with exit status 1; and the server
takes a stray file into its asset's sidecar on the next write there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests
import xxhash

from dav import NS, mkcol, props_of

if TYPE_CHECKING:
    from conftest import Server

REPO = Path(__file__).resolve().parent.parent
HTTP_TIMEOUT = 10.0
CHECK_TIMEOUT = 60.0

PHOTO = b"\x89PNG not really, but 4 KiB of it " * 120
NOTES = b"notes kept in a sub-folder of the asset\n"
README = b"a file directly in the project\n"


@dataclass
class Filled:
    """A store made over WebDAV: `proj/readme.txt`, `proj/a1/photo.bin`, `proj/a1/sub/notes.txt`."""

    server: Server
    root: Path
    state_dir: Path

    def url(self, path: str) -> str:
        return self.server.store_url() + path

    def check(self, *extra: str) -> subprocess.CompletedProcess[str]:
        """Run `assetdav check` on the store, as an operator would (server still running)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETDAV_")}
        env["ASSETDAV_CONFIG"] = str(REPO / "tests" / "empty-config.yaml")
        command = [sys.executable, "-P", "-m", "davserver", "check"]
        command += ["--store", f"demo={self.root}", "--state-dir", str(self.state_dir), *extra]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            cwd=str(self.state_dir.parent),
            timeout=CHECK_TIMEOUT,
        )


@pytest.fixture
def filled(make_server, tmp_path: Path) -> Filled:
    # These tests change the tree behind the server's back and expect `check` to see it,
    # so the server must not notice on its own: no watcher, no periodic reconcile.
    server = make_server(env={"ASSETDAV_INDEX_WATCH": "0",
                              "ASSETDAV_RECONCILE_INTERVAL": "86400"})
    store = Filled(server, server.stores["demo"], tmp_path / "check-state")
    for folder in ("proj/", "proj/a1/", "proj/a1/sub/"):
        assert mkcol(store.url(folder)).status_code == 201, folder
    for path, body in (
        ("proj/readme.txt", README),
        ("proj/a1/photo.bin", PHOTO),
        ("proj/a1/sub/notes.txt", NOTES),
    ):
        assert requests.put(store.url(path), data=body, timeout=HTTP_TIMEOUT).status_code == 201
    return store


def lines_about(result: subprocess.CompletedProcess[str], path: str) -> list[str]:
    """The report lines (stdout) that name `path`, e.g. `/demo/proj/a1/photo.bin`."""
    return [line for line in result.stdout.splitlines() if path in line.split()]


def reported_paths(result: subprocess.CompletedProcess[str]) -> set[str]:
    return {
        word.rstrip(":")
        for line in result.stdout.splitlines()
        for word in line.split()
        if word.startswith("/demo/")
    }


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"check failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip() == "", f"a clean store reported problems:\n{result.stdout}"


def assert_reported(result: subprocess.CompletedProcess[str], path: str, *words: str) -> list[str]:
    """`check` exits 1 and reports `path` (only), on a line mentioning all of `words`."""
    assert result.returncode == 1, (
        f"expected exit status 1, got {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    lines = lines_about(result, path + ":") or lines_about(result, path)
    assert lines, f"{path} is not reported:\n{result.stdout}"
    for word in words:
        assert any(word in line for line in lines), f"no {word!r} in {lines}"
    assert reported_paths(result) == {path}, f"unexpected reports:\n{result.stdout}"
    return lines


def change_bytes_keep_size_and_mtime(path: Path) -> None:
    """Flip one byte in the middle; put size and mtime back, so only the hash can tell."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size


# --- tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["--quick"]], ids=["full", "quick"])
def test_a_store_made_over_webdav_checks_clean(filled: Filled, mode: list[str]) -> None:
    assert_clean(filled.check(*mode))


def test_same_size_edit_behind_the_back_is_caught_by_the_hash(filled: Filled) -> None:
    photo = filled.root / "proj" / "a1" / "photo.bin"
    sidecar = filled.root / "proj" / "a1" / ".ovemeta"
    change_bytes_keep_size_and_mtime(photo)
    edited = photo.read_bytes()
    sidecar_before = sidecar.read_bytes()

    result = filled.check()

    assert_reported(result, "/demo/proj/a1/photo.bin", "hash")
    # check only looks: the sidecar and the file are as they were
    assert sidecar.read_bytes() == sidecar_before
    assert photo.read_bytes() == edited


@pytest.mark.parametrize("mode", [[], ["--quick"]], ids=["full", "quick"])
def test_size_change_behind_the_back_is_reported(filled: Filled, mode: list[str]) -> None:
    with open(filled.root / "proj" / "a1" / "sub" / "notes.txt", "ab") as notes:
        notes.write(b"one more line, written without the server\n")

    assert_reported(filled.check(*mode), "/demo/proj/a1/sub/notes.txt", "size")


def test_project_file_edited_behind_the_back_is_reported(filled: Filled) -> None:
    (filled.root / "proj" / "readme.txt").write_bytes(README + b"edited\n")

    assert_reported(filled.check(), "/demo/proj/readme.txt", "size")


@pytest.mark.parametrize(
    "owner",
    [pytest.param("proj/a1", id="asset"), pytest.param("proj", id="project")],
)
def test_unparseable_sidecar_is_reported(filled: Filled, owner: str) -> None:
    (filled.root / owner / ".ovemeta").write_text("tags: [unclosed\n")

    assert_reported(filled.check(), f"/demo/{owner}/.ovemeta", "sidecar")


def test_file_deleted_behind_the_back_is_reported(filled: Filled) -> None:
    (filled.root / "proj" / "a1" / "photo.bin").unlink()

    assert_reported(filled.check(), "/demo/proj/a1/photo.bin", "missing")


def test_stray_file_is_reported_until_the_next_write_records_it(filled: Filled) -> None:
    stray = filled.root / "proj" / "a1" / "extra.bin"
    shutil.copyfile(filled.root / "proj" / "a1" / "photo.bin", stray)
    xxh3 = f"{{{NS}}}xxh3"

    assert_reported(filled.check(), "/demo/proj/a1/extra.bin", "not-recorded")
    assert xxh3 not in props_of(filled.url("proj/a1/extra.bin"), [xxh3])

    # The next write into that asset, of some other file, takes the stray file in.
    put = requests.put(filled.url("proj/a1/second.bin"), data=b"second", timeout=HTTP_TIMEOUT)
    assert put.status_code == 201

    assert_clean(filled.check())
    recorded = props_of(filled.url("proj/a1/extra.bin"), [xxh3])[xxh3].text
    assert recorded == xxhash.xxh3_128(PHOTO).hexdigest()
