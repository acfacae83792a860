"""Asset ids as the index sees sidecars: one given to every sidecar that predates ids, and
a new one to a folder copied on disk with its sidecar (two assets never share an id).

Runs in its own thread: the index writer only reports what it indexed, and the sidecar
writes go through `stores` like every other write (each is indexed again afterwards)."""

from __future__ import annotations

import logging
import threading

from stores import SYSTEM, Location, Registry, model
from stores.errors import StoreError

from .queries import Hit, IndexReader

log = logging.getLogger(__name__)


class IdKeeper:
    def __init__(self, registry: Registry, reader: IndexReader) -> None:
        self.registry = registry
        self.reader = reader
        self._todo: dict[Location, str] = {}
        self._sweep = False
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="asset-ids", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    def indexed(self, assets: list[tuple[Location, str]]) -> None:
        """The writer committed these assets (with the ids their sidecars hold)."""
        with self._cond:
            self._todo.update(assets)
            self._cond.notify_all()

    def sweep(self) -> None:
        """Look over the whole index (after a reconcile or a rebuild)."""
        with self._cond:
            self._sweep = True
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._todo and not self._sweep and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                todo, self._todo = self._todo, {}
                sweep, self._sweep = self._sweep, False
            try:
                if sweep:
                    todo.update({_location(hit): "" for hit in self.reader.assets_without_uuid()})
                    todo.update(self._shared_ids())
                # later in the tree's order first: of two copies seen at once, the first
                # keeps the id
                for owner in sorted(todo, key=_order, reverse=True):
                    self._keep(owner, todo[owner])
            except Exception:  # noqa: BLE001 - the next commit or sweep tries again
                log.exception("giving asset ids failed")

    def _shared_ids(self) -> dict[Location, str]:
        """Every asset holding an id that another asset holds too."""
        return {
            _location(hit): uuid
            for uuid in self.reader.shared_uuids()
            for hit in self.reader.assets_with_uuid(uuid)
        }

    def _keep(self, owner: Location, uuid: str) -> None:
        """Give `owner` an id if it has none; a new one if another asset holds its id on
        disk too (the one just seen is the copy: a MOVE leaves no other holder)."""
        store = self.registry.find(owner.store)
        if store is None:
            return
        try:
            if not uuid:
                meta = store.sidecar(owner).read()
                if meta is not None and model.asset_uuid(meta) is None:
                    store.refresh_owner(SYSTEM, owner)  # settling a sidecar gives it an id
                return
            # the index first (no disk read): an id held by one asset only, the common
            # case after every write, needs no sidecar read at all
            candidates = [
                other
                for other in map(_location, self.reader.assets_with_uuid(uuid))
                if other != owner
            ]
            if not candidates or not self._holds(owner, uuid):
                return
            others = [other for other in candidates if self._holds(other, uuid)]
            if others:
                store.renew_uuid(SYSTEM, owner, uuid)
                log.info(
                    "%s held the id of %s (copied on disk?); it has a new one",
                    owner.url_path(),
                    others[0].url_path(),
                )
        except StoreError as exc:
            log.warning("cannot give %s an id: %s", owner.url_path(), exc.message)

    def _holds(self, owner: Location, uuid: str) -> bool:
        """Whether the sidecar of `owner` holds `uuid` on disk now."""
        store = self.registry.find(owner.store)
        if store is None:
            return False
        try:
            meta = store.sidecar(owner).read()
        except StoreError:
            return False
        return meta is not None and model.asset_uuid(meta) == uuid


def _location(hit: Hit) -> Location:
    return Location(hit.store, (hit.project, hit.asset))


def _order(owner: Location) -> tuple[str, ...]:
    return (owner.store, *owner.parts)
