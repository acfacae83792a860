"""index/inotify.py on the real file system: what the tree watcher is told, and what not."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from index import inotify
from stores.names import TEMP_PREFIX

pytestmark = pytest.mark.skipif(not inotify.available(), reason="inotify is Linux's")


class Seen:
    def __init__(self) -> None:
        self.paths: list[tuple[str, bool]] = []
        self.overflows = 0
        self._guard = threading.Lock()

    def changed(self, path: str, is_folder: bool) -> None:
        with self._guard:
            self.paths.append((path, is_folder))

    def overflowed(self) -> None:
        self.overflows += 1

    def wait_for(self, path: Path, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._guard:
                if any(p == str(path) for p, _ in self.paths):
                    return
            time.sleep(0.02)
        raise AssertionError(f"{path} was not reported; seen: {self.paths}")


@pytest.fixture
def watched(tmp_path):
    root = tmp_path / "store"
    (root / "p" / "a").mkdir(parents=True)
    seen = Seen()
    tree = inotify.InotifyTree(seen.changed, seen.overflowed, TEMP_PREFIX)
    tree.watch(str(root))
    tree.start()
    yield root, seen
    tree.stop()


def test_the_servers_temporaries_are_not_reported_and_their_results_are(watched):
    root, seen = watched
    temp = root / "p" / "a" / f"{TEMP_PREFIX}1234.part"
    temp.write_bytes(b"x" * 4096)
    os.rename(temp, root / "p" / "a" / "photo.jpg")
    (root / "p" / "a" / "edited.txt").write_text("by hand")
    seen.wait_for(root / "p" / "a" / "edited.txt")
    assert (str(root / "p" / "a" / "photo.jpg"), False) in seen.paths
    assert not [p for p, _ in seen.paths if TEMP_PREFIX in p]


def test_folders_made_or_moved_in_are_watched_with_what_they_hold(watched, tmp_path):
    root, seen = watched
    outside = tmp_path / "outside" / "project"
    (outside / "asset" / "1").mkdir(parents=True)
    outside.rename(root / "project")
    seen.wait_for(root / "project")
    seen.wait_for(root / "project" / "asset")  # made before it could be watched
    (root / "project" / "asset" / "1" / "late.jpg").write_bytes(b"j")
    seen.wait_for(root / "project" / "asset" / "1" / "late.jpg")


def test_a_folder_moved_out_is_no_longer_reported_and_one_moved_within_is_followed(
    watched, tmp_path
):
    root, seen = watched
    (root / "p" / "a").rename(root / "p" / "renamed")
    seen.wait_for(root / "p" / "renamed")  # (what is written before that: see the test above)
    (root / "p" / "renamed" / "after-move.txt").write_text("x")
    seen.wait_for(root / "p" / "renamed" / "after-move.txt")

    gone = tmp_path / "gone"
    (root / "p").rename(gone)
    seen.wait_for(root / "p")
    (gone / "renamed" / "outside.txt").write_text("x")
    (root / "marker.txt").write_text("x")  # reported after anything written before it
    seen.wait_for(root / "marker.txt")
    assert not [p for p, _ in seen.paths if p.endswith("outside.txt")]
    assert seen.overflows == 0


def test_a_store_root_that_is_a_symlink_is_watched_through_it(tmp_path):
    real = tmp_path / "disk" / "assets"
    (real / "p").mkdir(parents=True)
    root = tmp_path / "store"
    root.symlink_to(real)
    seen = Seen()
    tree = inotify.InotifyTree(seen.changed, seen.overflowed, TEMP_PREFIX)
    tree.watch(str(root))
    tree.start()
    try:
        (root / "p" / "a.txt").write_text("x")
        seen.wait_for(root / "p" / "a.txt")
    finally:
        tree.stop()
