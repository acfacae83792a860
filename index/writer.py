"""The single writer of the index: a thread that takes owners to (re)index from a queue
and commits them in batches, so a burst of writes costs few commits."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from whoosh.codec.whoosh3 import W3Codec
from whoosh.index import Index
from whoosh.query import And, Term

from stores import ASSET_LEVEL, PROJECT_LEVEL, FileStore, Location, Registry, model
from stores.errors import StoreError
from stores.listing import subfolders
from stores.sidecar import Sidecar

from .documents import is_indexed_already, owner_documents, owner_key, project_key
from .fast_terms import FastSegmentWriter
from .schema import FILES

if TYPE_CHECKING:
    from .writer_process import WriterProcess

log = logging.getLogger(__name__)

BATCH_SECONDS = 0.5  # how long a batch gathers at least before it is committed (a reader
# waiting for it cuts that short: see wait_for) ...
BUSY_SHARE = 0.25  # ... and at least long enough that committing takes at most this share
# of the writer's time: indexing an asset of 20,000 files again costs far more than one
# of ten, so under a stream of writes into it, batches grow instead of the backlog
MAX_GATHER_SECONDS = 5.0  # the longest a change waits for company (no reader waiting)
BATCH_MAX = 2000
KEY_COST_IN_DOCS = 30  # see delete_owners
CODEC = W3Codec(compression=0)  # postings are not compressed: the running server's segments
# are small and merged again and again (a zlib call per block was a sixth of a commit, and
# each let go of the interpreter lock), and a rebuild spent 8% of its CPU compressing


@dataclass(frozen=True)
class Job:
    """Make the index agree with the tree at `where`: an asset, a project's own files, or
    (`deep`) a whole project or store."""

    where: Location
    deep: bool = False


def new_writer(index: Index, **kwargs: Any) -> FastSegmentWriter:
    """A writer of the index, for the server and for rebuilds alike (see fast_terms)."""
    return FastSegmentWriter(index, codec=CODEC, **kwargs)


def sidecar_signature(sidecar: Sidecar) -> str:
    """Which version of a sidecar (and its journal) is on disk now ("" when there is
    none), as documents record the version they were built from."""
    sig = sidecar.signature_now()
    return "" if sig is None else _signature_text(sig)


def _signature_text(sig: Any) -> str:
    text = ":".join(map(str, sig[0]))
    return text if sig[1] is None else text + "+" + ":".join(map(str, sig[1]))


class IndexWriterThread:
    """Commits jobs in batches, and knows which changes of the feed are in the index.

    Each job carries the sequence number of the change that asked for it (see
    stores.events). `committed_seq` is the number up to which every change is committed,
    so a reader can wait until the index has everything acknowledged before it began
    (`wait_for`). A waiting reader cuts the gathering of a batch short.
    """

    def __init__(
        self,
        index: Index,
        registry: Registry,
        process: WriterProcess | None = None,
    ) -> None:
        self.index = index
        self.registry = registry
        self.process = process  # commits are made there when given (see writer_process)
        # after each commit: the assets indexed and their ids ("" when their sidecar has none)
        self.on_assets_indexed: Callable[[list[tuple[Location, str]]], None] | None = None
        # job -> the first change of the feed it stands for (None: none, e.g. a reconcile)
        self._pending: dict[Job, int | None] = {}
        self._cond = threading.Condition()
        self._busy = False
        self._stop = False
        self._submitted_seq = 0  # the latest change handed to this writer
        self.committed_seq = 0  # every change up to this one is in the index
        self._readers_waiting = 0
        self._last_apply = 0.0  # seconds the last batch took to index and commit
        self._thread = threading.Thread(target=self._run, name="index-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    def submit(self, job: Job) -> None:
        """A job no change of the feed asked for (the watcher, a reconcile)."""
        with self._cond:
            self._pending.setdefault(job, None)
            self._cond.notify_all()

    def changed(self, jobs: list[Job], seq: int) -> None:
        """The change numbered `seq` asks for `jobs` (perhaps none: then it is in the
        index as soon as everything before it is)."""
        with self._cond:
            was_idle = not self._pending
            for job in jobs:
                if self._pending.get(job) is None:
                    self._pending[job] = seq
            self._submitted_seq = max(self._submitted_seq, seq)
            if not self._pending and not self._busy:
                self.committed_seq = self._submitted_seq
                self._cond.notify_all()  # readers waiting for this change
            elif (was_idle and self._pending) or len(self._pending) >= BATCH_MAX:
                # the writer waits for a first job, or gathers until a batch is full;
                # waking it for every other change (every upload) would only make it
                # take the interpreter lock from the request threads to wait again
                self._cond.notify_all()

    def wait_for(self, seq: int, timeout: float) -> bool:
        """Block until every change up to `seq` is committed; False after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self.committed_seq >= seq:
                return True
            self._readers_waiting += 1
            self._cond.notify_all()  # a batch being gathered is committed now
            try:
                while self.committed_seq < seq:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
            finally:
                self._readers_waiting -= 1
        return True

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every submitted job is committed (for tests and the CLI)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def _run(self) -> None:
        if self.process is not None:
            try:
                self.process.start()
            except Exception:  # noqa: BLE001 - the first batch tries again
                log.exception("the index writer process did not start; the first batch retries")
        while True:
            with self._cond:
                while not self._pending and not self._stop:
                    self._cond.wait()
                if self._stop and not self._pending:
                    return
                self._busy = True
                # let a burst gather, unless a reader waits for it or a whole batch is
                # waiting already (a backlog: a fresh index being filled, writes coming
                # faster than batches are committed; gathering would only let it grow)
                gather = min(
                    MAX_GATHER_SECONDS,
                    max(BATCH_SECONDS, self._last_apply * (1 - BUSY_SHARE) / BUSY_SHARE),
                )
                gather_until = time.monotonic() + gather
                while (
                    not self._readers_waiting
                    and not self._stop
                    and len(self._pending) < BATCH_MAX
                ):
                    remaining = gather_until - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                jobs = list(self._pending)[:BATCH_MAX]
                for job in jobs:
                    del self._pending[job]
            started = time.monotonic()
            try:
                self._apply(jobs)
            except Exception:  # noqa: BLE001 - the writer must survive; reconcile repairs
                log.exception(
                    "indexing %d change(s) failed; the next reconcile repairs it", len(jobs)
                )
            finally:
                self._last_apply = time.monotonic() - started
                with self._cond:
                    self._busy = False
                    # Every change handed over is in, but those still pending (a job asked
                    # for again meanwhile, or beyond this batch's size).
                    waiting = (seq for seq in self._pending.values() if seq is not None)
                    first = min(waiting, default=self._submitted_seq + 1)
                    self.committed_seq = max(self.committed_seq, first - 1)
                    self._cond.notify_all()

    def _apply(self, jobs: list[Job]) -> None:
        """One commit for a batch, here or in the writer process."""
        if self.process is not None:
            roots = {store.name: str(store.root) for store in self.registry}
            assets = self.process.apply(jobs, roots)
        else:
            assets = apply_batch(self.index, self.registry, jobs)
        if self.on_assets_indexed is not None and assets:
            self.on_assets_indexed(assets)


def apply_batch(index: Index, registry: Registry, jobs: list[Job]) -> list[tuple[Location, str]]:
    """Index a batch of jobs in one commit; the assets indexed and their ids ("" when their
    sidecar has none). Deletions only see committed documents, so each owner is indexed
    once per batch, after every deletion of the batch."""
    writer = new_writer(index, timeout=30)
    try:
        owners: dict[Location, None] = {}
        wiped: set[Location] = set()  # their documents are all deleted by a deep job
        for job in jobs:
            planned = _plan(writer, registry, job)
            owners.update(dict.fromkeys(planned))
            if job.deep:
                wiped.update(planned)
        assets: list[tuple[Location, str]] = []
        chunked = indexed_chunks(writer)
        # an owner of a store gone, or without chunks in the index, has all its documents
        # replaced: those deletions are made together (see delete_owners)
        whole = {
            o
            for o in owners
            if o not in wiped
            and (registry.find(o.store) is None or not chunked.get(owner_key(o)))
        }
        delete_owners(writer, {owner_key(o) for o in whole})
        wiped |= whole
        for owner in owners:
            key = owner_key(owner)
            store = registry.find(owner.store)
            if store is None:
                continue
            indexed = set() if owner in wiped else chunked.get(key, set())
            uuid = reindex_owner(writer, store, owner, indexed, wiped=owner in wiped)
            if uuid is not None:
                assets.append((owner, uuid))
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    return assets


def delete_owners(writer: Any, keys: set[str]) -> None:
    """`delete_by_term("owner", key)` for every key, in one pass per committed segment. A
    key's term lookup costs about as much as reading the owners of KEY_COST_IN_DOCS
    documents from the owner column, so a segment with fewer documents than that per key
    is read through instead: a batch of 2,000 tag edits took ~80 µs per key and segment."""
    if not keys:
        return
    encoded = {key.encode("utf-8") for key in keys}
    searcher = writer.searcher()  # the committed segments, kept by the writer
    for leaf, offset in searcher.leaf_searchers():
        reader = leaf.reader()
        if reader.has_column("owner") and len(keys) * KEY_COST_IN_DOCS >= reader.doc_count_all():
            owners = reader.column_reader("owner", translate=False)
            for docnum, owner in enumerate(owners):
                if owner in encoded and not reader.is_deleted(docnum):
                    writer.delete_document(offset + docnum)
            continue
        for key in keys:
            if ("owner", key) in reader:
                for docnum in reader.postings("owner", key).all_ids():  # deleted ones left out
                    writer.delete_document(offset + docnum)


def _plan(writer: Any, registry: Registry, job: Job) -> list[Location]:
    """Delete what a deep job covers and return the owners it (re)indexes."""
    loc = job.where
    store = registry.find(loc.store)
    if loc.level == 0:
        writer.delete_by_term("store", loc.store)
        if store is None or not job.deep:
            return []
        return [
            owner
            for project in subfolders(str(store.root))
            for owner in project_owners(store, loc.child(project))
        ]
    if loc.level == PROJECT_LEVEL and job.deep:
        writer.delete_by_term("project_key", project_key(loc.store, loc.parts[0]))
        return project_owners(store, loc) if store is not None else []
    return [loc]


def project_owners(store: FileStore, project: Location) -> list[Location]:
    """A project and its assets."""
    return [project] + [project.child(a) for a in subfolders(str(store.fs_path(project)))]


def index_project(writer: Any, store: FileStore, project: Location) -> None:
    """Add the documents of a project and of all its assets (nothing is deleted here)."""
    for owner in project_owners(store, project):
        index_owner(writer, store, owner)


def index_owner(
    writer: Any, store: FileStore, loc: Location, read_once: bool = False
) -> str | None:
    """Add the documents of one project or asset, from its sidecar. Returns an asset's id
    ("" when its sidecar has none yet); None for a project or a folder without a sidecar.
    `read_once`: a rebuild, which reads every sidecar once (see Sidecar.read_signed_once)."""
    return _add_documents(writer, owner_documents_now(store, loc, read_once=read_once))


def reindex_owner(
    writer: Any, store: FileStore, loc: Location, indexed: set[str], wiped: bool
) -> str | None:
    """Replace the documents of one owner by those of its sidecar now (`indexed`: the ids
    of its chunks in the index; `wiped`: this writer deleted them all already). The chunks
    of a big asset's files that are indexed as they are now stay: a batch dropped into it
    costs the chunks it changed."""
    key = owner_key(loc)
    built = owner_documents_now(store, loc, indexed)
    if built is None or not indexed:
        if not wiped:
            writer.delete_by_term("owner", key)
        return _add_documents(writer, built)
    own, *chunks = built[0]
    writer.delete_by_query(And([Term("owner", key), Term("kind", own["kind"])]))
    for gone in indexed - {doc["chunk"] for doc in chunks}:
        writer.delete_by_term("chunk", gone)
    return _add_documents(writer, built)


def _add_documents(
    writer: Any, built: tuple[list[dict[str, Any]], str | None] | None
) -> str | None:
    """Add an owner's documents (those not indexed already); its id as index_owner says."""
    if built is None:
        return None
    docs, uuid = built
    for doc in docs:
        if not is_indexed_already(doc):
            writer.add_document(**doc)
    return uuid


def indexed_chunks(writer: Any) -> dict[str, set[str]]:
    """owner key -> the ids of its FILES documents in the committed index: one pass over
    the few big assets' chunks per batch, not a query per owner."""
    searcher = writer.searcher()  # kept by the writer until it commits
    chunks: dict[str, set[str]] = {}
    for docnum in searcher.docs_for_query(Term("kind", FILES)):
        stored = searcher.stored_fields(docnum)
        chunks.setdefault(stored["owner"], set()).add(stored["chunk"])
    return chunks


def owner_documents_now(
    store: FileStore, loc: Location, indexed: Container[str] = (), read_once: bool = False
) -> tuple[list[dict[str, Any]], str | None] | None:
    """The documents of one project or asset from its sidecar on disk (see
    owner_documents for `indexed`), and an asset's id ("" when its sidecar has none yet;
    None for a project). None: no sidecar, no owner."""
    if loc.level not in (PROJECT_LEVEL, ASSET_LEVEL):
        return None
    try:
        folder = store.fs_path(loc)
        # the document is marked with the very version it is built from: a change made
        # after the read leaves it marked older than the disk, and reconcile redoes it
        sidecar = store.sidecar(loc, folder)
        signed = sidecar.read_signed_once() if read_once else sidecar.read_signed()
        folder_mtime = os.stat(folder).st_mtime
    except (StoreError, OSError):
        return None
    if signed is None:
        return None  # a folder without a sidecar is not an asset until it is adopted
    meta, sig = signed
    docs = owner_documents(loc, meta, _signature_text(sig), folder_mtime, indexed)
    return docs, (model.asset_uuid(meta) or "") if loc.level == ASSET_LEVEL else None
