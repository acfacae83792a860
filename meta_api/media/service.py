"""The media facade every face calls: a derivative of a file (a conversion or a preview),
made once in a bounded pool, cached by content hash, within a time limit."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import xxhash

from stores import FileStore, Location
from stores.hashing import hash_file

from .cache import DerivedCache
from .decode import decode
from .encode import encode
from .errors import Busy, MediaError, TooLarge, Undecodable
from .params import Conversion, preview

log = logging.getLogger(__name__)

QUALITIES = ("low", "medium", "high")
KNOWN_HASHES = 4096  # content hashes of files no sidecar records, by inode, size and mtime


@dataclass
class MediaSettings:
    """`derived:` in the configuration (defaults and ranges: davserver/config.py)."""

    max_bytes: int  # the cache's bound
    max_pixels: int  # larger sources are refused (413)
    concurrency: int  # conversions at once; 0: one per CPU
    timeout: int  # seconds a request waits for its conversion, then 503
    background: bool  # make low and medium previews of every file as it lands
    sizes: dict[str, int]  # longest side of the low, medium and high previews


class Media:
    def __init__(self, root: Path, settings: MediaSettings) -> None:
        self.settings = settings
        self.cache = DerivedCache(root, settings.max_bytes)
        workers = settings.concurrency or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="derive")
        # what bounds memory: conversions at once, for requests and previews ahead together
        self._converting = threading.BoundedSemaphore(workers)
        self._hashes: OrderedDict[tuple[int, int, int, int], str] = OrderedDict()
        self._hashes_guard = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def preview_conversion(self, quality: str) -> Conversion:
        return preview(self.settings.sizes[quality])

    def content_hash(self, store: FileStore, loc: Location, path: Path, st: os.stat_result) -> str:
        """The file's xxh3-128: its sidecar's record when that is current, else hashed
        (once per inode, size and mtime)."""
        record = store.file_record(loc, st)
        if record is not None:
            return record.xxh3_128
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        with self._hashes_guard:
            if key in self._hashes:
                self._hashes.move_to_end(key)
                return self._hashes[key]
        digest = hash_file(path)[1]
        with self._hashes_guard:
            self._hashes[key] = digest
            while len(self._hashes) > KNOWN_HASHES:
                self._hashes.popitem(last=False)
        return digest

    @staticmethod
    def name_of(digest: str, conversion: Conversion) -> str:
        """The cache file name, which is also what the ETag is made of."""
        return f"{digest}-{conversion.key}"

    def etag_of(self, digest: str, conversion: Conversion) -> str:
        """A strong ETag: the same bytes and parameters always make the same derivative."""
        return '"' + xxhash.xxh3_64_hexdigest(self.name_of(digest, conversion).encode()) + '"'

    def derivative(self, path: Path, digest: str, conversion: Conversion) -> Path:
        """The cached derivative, made now in the pool if missing (waiting for it when
        another request is making it); Busy (503) after `timeout` seconds."""
        name = self.name_of(digest, conversion)
        future, new = self.cache.get_or_make(name)
        if new:
            asked = time.monotonic()
            self._pool.submit(self._make, name, future, path, conversion, logging.INFO, asked)
        return self._wait(future)

    def derivative_here(self, path: Path, digest: str, conversion: Conversion) -> Path:
        """The same, made in the calling thread (the background preview maker's)."""
        name = self.name_of(digest, conversion)
        future, new = self.cache.get_or_make(name)
        if new:
            self._make(name, future, path, conversion, logging.DEBUG)
        return self._wait(future)

    def is_cached(self, digest: str, conversion: Conversion) -> bool:
        return self.cache.get(self.name_of(digest, conversion)) is not None

    def _wait(self, future: Future[Path]) -> Path:
        try:
            return future.result(timeout=self.settings.timeout)
        except FutureTimeout:
            raise Busy(
                f"The conversion did not finish within {self.settings.timeout} s "
                "(derived.timeout); try again later or ask for a smaller size."
            ) from None

    def _make(
        self,
        name: str,
        future: Future[Path],
        path: Path,
        conversion: Conversion,
        level: int,
        asked: float | None = None,
    ) -> None:
        """Make one derivative, abandoned (Busy) once whoever asked has stopped waiting:
        a job that waited its turn past the timeout does not start, and one that decodes
        past it is not encoded."""
        started = time.monotonic()
        deadline = (asked or started) + self.settings.timeout

        def write(out: BinaryIO) -> None:
            if time.monotonic() > deadline:
                raise Busy("The conversion waited its turn longer than derived.timeout.")
            with self._converting:
                try:
                    decoded = decode(path, conversion, self.settings.max_pixels, deadline)
                    if time.monotonic() > deadline:
                        raise Busy("The conversion took longer than derived.timeout.")
                    encode(decoded, conversion, out)
                    # logged before the file is published: whoever waits for it answers
                    # only after this line is written
                    took = (time.monotonic() - started) * 1000
                    log.log(level, "derived %s of %s in %.0f ms", conversion.key, path.name, took)
                except MediaError:
                    raise
                except MemoryError:
                    raise TooLarge(f"{path.name} needs more memory than is free.") from None
                except Exception as exc:  # noqa: BLE001 - hostile files break codecs oddly
                    log.warning("cannot convert %s to %s: %r", path.name, conversion.key, exc)
                    raise Undecodable(f"{path.name} cannot be converted: {exc}") from None

        self.cache.run(name, future, write)
