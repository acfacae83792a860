"""The `zip` worker: unpacks an uploaded zip into its output folder, refusing archives
whose entries would leave the folder, and counting what it writes against the limits."""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from typing import Any

from stores.errors import StoreError
from stores.names import is_internal, is_junk, split_path

from .base import Job, TaskFailed

CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_ALLOWED_TYPES = (0, stat.S_IFREG, stat.S_IFDIR)


@dataclass
class ZipWorker:
    """Unpack `<name>.zip` into `<asset>/<version>/zip/<name>/`."""

    max_files: int = 10_000
    max_total_bytes: int = 2 << 30
    name: str = "zip"
    type: str = "zip"
    description: str = "Unpacks a zip archive into the asset, beside the archive."
    extensions: tuple[str, ...] = (".zip",)
    docs: str = "/api/doc/redoc/#tag/workers"
    parameters: dict[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {
                "filename": {
                    "type": "string",
                    "title": "Archive",
                    "description": "the zip in the asset's current version (default: its file)",
                }
            },
        }
    )

    def run(self, job: Job) -> None:
        with job.open_input() as handle:
            try:
                archive = zipfile.ZipFile(handle)
            except (zipfile.BadZipFile, OSError) as exc:
                raise TaskFailed(f"cannot read {job.filename} as a zip archive: {exc}") from None
            with archive:
                plan = self._plan(archive, job.filename)
                output = job.output()
                written = 0
                for info, path in plan:
                    job.checkpoint()
                    written = self._extract(archive, info, output.open(path), written, job)

    def _plan(self, archive: zipfile.ZipFile, filename: str) -> list[tuple[zipfile.ZipInfo, str]]:
        """Check every entry before anything is written: (entry, safe relative path)."""
        plan: list[tuple[zipfile.ZipInfo, str]] = []
        files: set[str] = set()
        folders: set[str] = set()
        declared = 0
        for info in archive.infolist():
            path = _safe_path(info, filename)
            if path is None:
                continue
            parts = path.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            if info.is_dir():
                folders.add(path)
                continue
            if path in files:
                raise TaskFailed(f"{filename} holds {path!r} twice; it was not unpacked.")
            files.add(path)
            declared += info.file_size
            plan.append((info, path))
        clash = files & folders
        if clash:
            raise TaskFailed(
                f"{filename} holds {sorted(clash)[0]!r} both as a file and as a folder; "
                "it was not unpacked."
            )
        if len(plan) > self.max_files:
            raise TaskFailed(
                f"{filename} holds {len(plan)} files; at most {self.max_files} are unpacked "
                "(workers.zip_max_files)."
            )
        if declared > self.max_total_bytes:
            raise TaskFailed(_too_big(filename, self.max_total_bytes))
        return plan

    def _extract(
        self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Any, written: int, job: Job
    ) -> int:
        """Copy one entry, counting the bytes really inflated (headers can lie)."""
        with target, archive.open(info) as source:
            while True:
                try:
                    chunk = source.read(CHUNK)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                    raise TaskFailed(
                        f"{job.filename}: cannot unpack {info.filename!r}: {exc}"
                    ) from None
                if not chunk:
                    return written
                written += len(chunk)
                if written > self.max_total_bytes:
                    raise TaskFailed(_too_big(job.filename, self.max_total_bytes))
                target.write(chunk)
                if len(chunk) == CHUNK:
                    job.checkpoint()


def _too_big(filename: str, limit: int) -> str:
    return (
        f"{filename} unpacks to more than {limit} bytes (workers.zip_max_total_bytes); "
        "it was not unpacked."
    )


def _safe_path(info: zipfile.ZipInfo, filename: str) -> str | None:
    """The entry's path inside the output folder; None for entries that are skipped
    (macOS resource forks, client junk); TaskFailed for any entry that is not safe."""
    name = info.filename

    def refuse(why: str) -> TaskFailed:
        return TaskFailed(f"{filename} was refused and nothing was unpacked: {why} ({name!r}).")

    if "\x00" in info.orig_filename:
        raise refuse("an entry name holds a NUL character")
    if "\\" in name:
        raise refuse("an entry name holds a backslash")
    if name.startswith("/") or _DRIVE.match(name):
        raise refuse("an entry has an absolute path")
    if any(part == ".." for part in name.split("/")):
        raise refuse("an entry leaves its folder with '..'")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise refuse("an entry is a symbolic link")
    if kind not in _ALLOWED_TYPES:
        raise refuse("an entry is not a plain file or folder")
    if info.flag_bits & 0x1:
        raise refuse("an entry is encrypted")
    try:
        parts = split_path(name)
    except StoreError as exc:
        raise refuse(exc.message) from None
    if not parts:
        raise refuse("an entry has an empty name")
    if parts[0] == "__MACOSX" or is_junk(parts[-1]):
        return None
    if any(is_internal(part) for part in parts):
        raise refuse("an entry uses a name the server keeps for itself")
    return "/".join(parts)
