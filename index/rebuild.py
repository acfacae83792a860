"""`assetdav reindex`: a fresh index built from the tree beside the old one, then swapped in.

Reading 100,000 sidecars and indexing them is CPU work in pure Python, so it is spread
over processes: each takes chunks of owners (projects and assets, so one huge project is
shared too) from a queue and writes its own Whoosh segment; the parent lists the owners,
shows progress and commits the segments together in one table of contents (as Whoosh's
own multi-segment writer does), without merging them.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stores import Location, Registry
from stores.listing import subfolders

from .schema import SCHEMA
from .service import storage
from .writer import index_owner, new_writer

Progress = Callable[[int, int, str], None]
CHUNK = 250  # owners per job: small enough to share out evenly and report progress often
# Whoosh's in-memory posting pools, shared out over the processes. A pool that fills up is
# spilled to disk as a sorted run and the runs are merged at the end, which cost a quarter
# of a 100,000-asset reindex's CPU with 128 MB per process; with 512 MB (about 650 MB of
# memory per process) nothing spills there. At most a quarter of the free memory is used.
POOL_TOTAL_MB = 1024
POOL_MIN_MB = 64
SERIAL_BELOW = 2000  # owners: under this, starting processes costs more than it saves
POLL_SECONDS = 0.5
EXIT_SECONDS = 5.0  # a builder that sent its segment gets this long to exit by itself


class RebuildFailed(RuntimeError):
    """A builder process failed or died; the old index is left in place."""


def rebuild(path: Path, registry: Registry, progress: Progress, processes: int = 0) -> int:
    """Build a fresh index from the tree next to the one at `path`, then put it in its
    place (a running server picks it up on its next query). Returns the document count.
    `processes` 0 means one per CPU."""
    fresh = path.with_name(path.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    index = storage(fresh).create_index(SCHEMA)
    owners = list(_owners(registry))
    processes = processes or os.cpu_count() or 1
    if processes == 1 or len(owners) < SERIAL_BELOW:
        writer = new_writer(index, limitmb=pool_mb(1))
        for done, (store, parts) in enumerate(owners):
            if done % CHUNK == 0:
                progress(done, len(owners), "/".join((store, *parts)))
            index_owner(writer, registry.get(store), Location(store, parts), read_once=True)
        writer.commit()
    else:
        _build_in_parallel(fresh, registry, owners, processes, progress)
    progress(len(owners), len(owners), "")
    with storage(fresh).open_index().searcher() as searcher:
        count = searcher.doc_count()
    old = path.with_name(path.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    fresh.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return count


def pool_mb(processes: int) -> int:
    """Each process's posting pool: POOL_TOTAL_MB shared out, within a quarter of the
    memory free now."""
    try:
        free_mb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // (1 << 20)
    except (ValueError, OSError):
        free_mb = 4 * POOL_TOTAL_MB
    return max(POOL_MIN_MB, min(POOL_TOTAL_MB, free_mb // 4) // processes)


def _owners(registry: Registry) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(store, parts) of every project and asset, in tree order."""
    for store in registry:
        for project in subfolders(store.root):
            yield store.name, (project,)
            for asset in subfolders(store.root / project):
                yield store.name, (project, asset)


def _build_in_parallel(
    path: Path,
    registry: Registry,
    owners: list[tuple[str, tuple[str, ...]]],
    processes: int,
    progress: Progress,
) -> None:
    """Builders in forked processes (the CLI has no other threads) write one segment each;
    the parent commits them all at once."""
    context = multiprocessing.get_context("fork")
    jobs: Any = context.Queue()
    done_queue: Any = context.Queue()
    for start in range(0, len(owners), CHUNK):
        jobs.put(owners[start : start + CHUNK])
    pool = pool_mb(processes)
    builders = [
        context.Process(target=_builder, args=(path, registry, jobs, done_queue, pool), daemon=True)
        for _ in range(processes)
    ]
    for _ in builders:
        jobs.put(None)
    for builder in builders:
        builder.start()
    try:
        segments = _collect(builders, done_queue, len(owners), progress)
    except BaseException:
        for builder in builders:
            builder.terminate()  # the index is not going to be used
        raise
    finally:
        for builder in builders:
            builder.join(timeout=EXIT_SECONDS)  # one that sent its segment is exiting
            if builder.is_alive():
                builder.terminate()
                builder.join()
    index = storage(path).open_index()
    writer = index.writer()
    writer._close_segment()  # noqa: SLF001 - Whoosh's MpWriter commits its parts this way
    writer._commit_toc(segments)  # noqa: SLF001
    writer._finish()  # noqa: SLF001


def _collect(builders: list[Any], done_queue: Any, total: int, progress: Progress) -> list[Any]:
    """Progress from the builders until each has sent its segment (or None: no documents)."""
    segments: list[Any] = []
    finished = done = 0
    while finished < len(builders):
        try:
            kind, value = done_queue.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if any(b.exitcode not in (None, 0) for b in builders):
                raise RebuildFailed(
                    "an indexing process died (out of memory?); the old index is kept. "
                    "Run `assetdav reindex` again, with fewer other programs running."
                ) from None
            continue
        if kind == "progress":
            done += value
            progress(done, total, "")
        elif kind == "error":
            raise RebuildFailed(f"indexing failed: {value}; the old index is kept.")
        else:
            finished += 1
            if value is not None:
                segments.append(value)
    return segments


def _builder(path: Path, registry: Registry, jobs: Any, done_queue: Any, pool: int) -> None:
    """One builder process: index chunks of owners until told to stop, then write the
    segment and send it (its files are already in the index folder) to the parent.
    Without the cyclic garbage collector: the pool's millions of postings are live until
    the end, and each full collection walked them all again (6% of the CPU at 100,000
    assets); the process exits when done."""
    gc.disable()
    try:
        writer = new_writer(storage(path).open_index(), _lk=False, limitmb=pool)
        while (chunk := jobs.get()) is not None:
            for store, parts in chunk:
                index_owner(writer, registry.get(store), Location(store, parts), read_once=True)
            done_queue.put(("progress", len(chunk)))
        if writer._added:  # noqa: SLF001
            done_queue.put(("segment", writer._finalize_segment()))  # noqa: SLF001
        else:
            writer._close_segment()  # noqa: SLF001
            done_queue.put(("segment", None))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops
        done_queue.put(("error", f"{type(exc).__name__}: {exc}"))
