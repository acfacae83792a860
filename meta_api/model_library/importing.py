"""Importing pending models into the library store: a new model asset per pending model,
or, for one that conflicts (its sha256 or its name is in the library already), what the
conflict strategy says: `override` (the library's model takes the pending one's name, tags,
metadata and, when they differ, its file as the next version), `merge` (tags joined,
metadata added to, name kept), `ignore` (dropped from staging), `delete` (dropped from
staging, without even looking), or none (reported, nothing changed)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stores import Actor, FileStore, Location, model
from stores.errors import AlreadyExists, StoreError
from stores.hashing import digest_file
from stores.names import normalize_name
from stores.transfer import move
from stores.versions import place_version

from .staging import PendingModel, Staging

STRATEGIES = ("override", "merge", "ignore", "delete")
FindBySha = Callable[[str], Location | None]  # the library's model with this sha256


@dataclass
class ImportReport:
    total: int = 0
    success: list[dict[str, Any]] = field(default_factory=list)
    conflict: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "success": self.success,
            "conflict": self.conflict,
            "ignored": self.ignored,
            "deleted": self.deleted,
            "failed": self.failed,
        }


def import_models(
    actor: Actor,
    store: FileStore,
    staging: Staging,
    ids: list[int],
    strategy: str | None,
    find_by_sha: FindBySha,
    progress: Callable[[int, int | None], None] | None = None,
) -> ImportReport:
    report = ImportReport(total=len(ids))
    pending = staging.get(ids)
    for done, pending_id in enumerate(ids):
        if progress is not None:
            progress(done, len(ids))
        item = pending.get(pending_id)
        if item is None:
            report.failed.append({"id": pending_id, "error": "no pending model has this id"})
            continue
        try:
            _import_one(actor, store, staging, item, strategy, find_by_sha, report)
        except (StoreError, OSError, ValueError) as exc:
            message = exc.message if isinstance(exc, StoreError) else str(exc)
            report.failed.append({"id": item.id, "sha256": item.sha256, "error": message})
    if progress is not None:
        progress(len(ids), len(ids))
    return report


def _import_one(
    actor: Actor,
    store: FileStore,
    staging: Staging,
    item: PendingModel,
    strategy: str | None,
    find_by_sha: FindBySha,
    report: ImportReport,
) -> None:
    if strategy == "delete":
        staging.remove(item.id)
        report.deleted.append({"id": item.id, "sha256": item.sha256})
        return
    project = store.locate(normalize_name(item.type))
    by_sha = find_by_sha(item.sha256)
    by_name = project.child(normalize_name(item.name))
    existing = by_sha or (by_name if store.stat(by_name) is not None else None)
    if existing is not None:
        reason = "sha256" if by_sha is not None else "name"
        if strategy is None:
            report.conflict.append(
                {
                    "id": item.id,
                    "sha256": item.sha256,
                    "reason": reason,
                    "existing": existing.url_path(),
                }
            )
            return
        if strategy == "ignore":
            staging.remove(item.id)
            report.ignored.append({"id": item.id, "sha256": item.sha256, "reason": reason})
            return
        if by_sha is None:  # the same name, other bytes: the pending file is the next version
            _place(actor, store, existing, item, update=True)
        _describe(actor, store, existing, item, merge=strategy == "merge")
        _add_images(actor, store, existing, item)
        staging.remove(item.id)
        report.success.append(_done(store, existing, item, strategy))
        return
    if store.stat(project) is None:
        with contextlib.suppress(AlreadyExists):
            store.make_folder(actor, project)
    _place(actor, store, by_name, item, update=False)
    _describe(actor, store, by_name, item, merge=False)
    _add_images(actor, store, by_name, item)
    staging.remove(item.id)
    report.success.append(_done(store, by_name, item, None))


def _place(
    actor: Actor, store: FileStore, asset: Location, item: PendingModel, *, update: bool
) -> None:
    """The model file into the asset: a file of the library's own (a scan) moves in; any
    other is linked or copied, after its bytes are checked against the staged sha256."""
    source = Path(item.source)
    if item.origin == "scan" and not update:
        rel = Path(item.source).relative_to(store.fs_path(store.locate("")))
        store.make_folder(actor, asset)
        move(actor, store, store.locate(rel.as_posix()), store, asset.child(source.name))
        return
    _size, digests = digest_file(source, sha256=True)
    if digests.sha256 != item.sha256:
        raise ValueError(f"{source} no longer has the sha256 {item.sha256}; stage it again.")
    place_version(
        store,
        actor,
        asset,
        source.name,
        source,
        mode="link",
        digests=digests,
        create=not update,
        update=update,
    )


def _describe(
    actor: Actor, store: FileStore, asset: Location, item: PendingModel, *, merge: bool
) -> None:
    try:
        meta = json.loads(item.meta_json or "{}")
    except ValueError:
        meta = {}
    meta = meta if isinstance(meta, dict) else {}
    if not merge:
        store.update_fields(actor, asset, {"name": item.name, "tags": item.tags, "metadata": meta})
        return
    current = store.read_meta(actor, asset) or {}
    have = current.get("metadata") if isinstance(current.get("metadata"), dict) else {}
    tags = model.clean_tags([*model.clean_tags(current.get("tags")), *item.tags])
    store.update_fields(actor, asset, {"tags": tags, "metadata": {**meta, **have}})


def _add_images(actor: Actor, store: FileStore, asset: Location, item: PendingModel) -> None:
    for image in item.images:
        path = Path(image)
        if path.is_file():
            store.add_sample(actor, asset, path, path.suffix.lstrip(".").lower(), mode="link")


def _done(
    store: FileStore, asset: Location, item: PendingModel, strategy: str | None
) -> dict[str, Any]:
    meta = store.sidecar(asset).read() or {}
    answer = {
        "id": item.id,
        "sha256": item.sha256,
        "path": asset.url_path(),
        "asset_id": model.asset_uuid(meta) or "",
    }
    if strategy:
        answer["strategy"] = strategy
    return answer
