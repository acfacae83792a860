"""Whether anything was added, removed or renamed in an owner's folders since its files
were last reconciled, from the folders' modification times: a few `stat` calls instead of
a `stat` of every file. In-place edits of existing files do not change a folder's time;
the tree watcher, which is what lets writes skip the full reconcile, takes those in."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from .layout import ASSET_LEVEL
from .names import is_internal

OWNERS_KEPT = 1024


def _folders(folder: Path, level: int) -> dict[str, int]:
    """Modification time of the owner's folder and (for an asset) every folder below it."""
    marks: dict[str, int] = {}
    stack = [str(folder)]
    while stack:
        current = stack.pop()
        try:
            marks[current] = os.stat(current).st_mtime_ns
            if level != ASSET_LEVEL:
                continue
            with os.scandir(current) as entries:
                stack.extend(
                    entry.path
                    for entry in entries
                    if entry.is_dir(follow_symlinks=False) and not is_internal(entry.name)
                )
        except OSError:
            continue
    return marks


class FolderMarks:
    """Per owner folder, the folder times seen when its `files` map was last made whole."""

    def __init__(self) -> None:
        self._marks: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._guard = threading.Lock()

    def changed(self, folder: Path) -> bool:
        """True unless every remembered folder still has its remembered time."""
        with self._guard:
            marks = self._marks.get(str(folder))
        if marks is None:
            return True
        try:
            return any(os.stat(path).st_mtime_ns != mtime for path, mtime in marks.items())
        except OSError:
            return True

    def remember(self, folder: Path, level: int) -> None:
        """After a full reconcile: the times of the folders as they are now."""
        self._store(str(folder), _folders(folder, level))

    def touched(self, folder: Path, changed_folders: Iterable[Path]) -> None:
        """After the server itself placed files in `changed_folders`: their new times."""
        key = str(folder)
        with self._guard:
            marks = self._marks.get(key)
            if marks is None:
                return
            marks = dict(marks)
        for path in map(str, changed_folders):
            if path not in marks:  # a folder this reconcile did not see: look again
                self.forget(folder)
                return
            try:
                marks[path] = os.stat(path).st_mtime_ns
            except OSError:
                self.forget(folder)
                return
        self._store(key, marks)

    def forget(self, folder: Path) -> None:
        with self._guard:
            self._marks.pop(str(folder), None)

    def _store(self, key: str, marks: dict[str, int]) -> None:
        with self._guard:
            self._marks[key] = marks
            self._marks.move_to_end(key)
            while len(self._marks) > OWNERS_KEPT:
                self._marks.popitem(last=False)
