"""The model manager's scan and migration: a legacy library's SQLite file with its images,
a ComfyUI-style folder, and loose files in the library are staged (surviving a restart),
then imported with each conflict strategy; paths outside migration.allowed_roots and
users who are not administrators are refused."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import time
from pathlib import Path

import pytest
import requests
import yaml
from cluster_setup import end_one_node_cluster, one_node_cluster_if_asked
from PIL import Image
from users import add_team, auth

from conftest import Server
from dav import mkcol


def blob(seed: str) -> bytes:
    return b"\x10\x00\x00\x00\x00\x00\x00\x00{}" + hashlib.sha256(seed.encode()).digest() * 8


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, "PNG")
    return out.getvalue()


M1, M2, X, LOOSE = blob("m1"), blob("m2"), blob("x"), blob("loose")


def legacy_library(root: Path) -> None:
    """legacy/library.db (the schema in the README), legacy/images, comfy/<type>/..."""
    (root / "legacy" / "files").mkdir(parents=True)
    (root / "legacy" / "files" / "m1.safetensors").write_bytes(M1)
    (root / "legacy" / "files" / "m2.safetensors").write_bytes(M2)
    db = sqlite3.connect(root / "legacy" / "library.db")
    db.executescript("""
        CREATE TABLE models (id INTEGER PRIMARY KEY, sha256 TEXT UNIQUE, name TEXT, type TEXT,
                             path TEXT, meta_json TEXT);
        CREATE TABLE tags (id INTEGER PRIMARY KEY, name TEXT UNIQUE);
        CREATE TABLE model_tags (model_id INTEGER, tag_id INTEGER);
    """)
    db.executemany("INSERT INTO models VALUES (?,?,?,?,?,?)", [
        (1, sha(M1), "Anime style", "lora", "files/m1.safetensors", '{"civitai": {"id": 1}}'),
        (2, sha(M2), "Base model", "checkpoints", "files/m2.safetensors", "{}"),
        (3, "ab" * 32, "Lost", "lora", "files/gone.safetensors", "{}"),
    ])
    db.executemany("INSERT INTO tags VALUES (?,?)", [(1, "anime"), (2, "style")])
    db.executemany("INSERT INTO model_tags VALUES (?,?)", [(1, 1), (1, 2)])
    db.commit()
    db.close()
    images = root / "legacy" / "images"
    images.mkdir()
    (images / f"{sha(M1)}_0.png").write_bytes(png((255, 0, 0)))
    (images / f"{sha(M1)}_1.png").write_bytes(png((0, 255, 0)))
    (images / f"{'cd' * 32}_0.png").write_bytes(png((0, 0, 255)))  # no such model
    comfy = root / "comfy" / "loras"
    comfy.mkdir(parents=True)
    (comfy / "x.safetensors").write_bytes(X)
    (comfy / "x.preview.png").write_bytes(png((9, 9, 9)))
    (comfy / "x.civitai.info").write_text(json.dumps({"tags": ["folder"], "model": "X"}))


@pytest.fixture
def migrating(request, tmp_path):
    """A server with a model library; `redis` (indirect parameter): a one-node cluster,
    whose staged models are kept in Redis."""
    roots = {"demo": tmp_path / "demo", "models": tmp_path / "models"}
    for root in roots.values():
        root.mkdir()
    allowed = tmp_path / "import"
    allowed.mkdir()
    legacy_library(allowed)
    settings = {
        "stores": {k: str(v) for k, v in roots.items()},
        "models": {"store": "models"},
        "migration": {"allowed_roots": [str(allowed)]},
    }
    redis_server = one_node_cluster_if_asked(request, tmp_path / "redis", settings)
    config = tmp_path / "assetdav.yaml"
    config.write_text(yaml.safe_dump(settings))
    server = Server({}, tmp_path / "state", tmp_path / "server.log",
                    env={"ASSETDAV_CONFIG": str(config)}).start()
    yield server, roots["models"], allowed, server.url + "compat/model-manager/api/"
    server.stop()
    end_one_node_cluster(redis_server, tmp_path / "state", "model-staging.sqlite", "jobs.sqlite",
                         "tag-ids.sqlite")  # fmt: skip


def post(url: str, body: dict, **kw) -> requests.Response:
    return requests.post(url, json=body, timeout=30, **kw)


@pytest.mark.parametrize("migrating", ["single", "redis"], indirect=True)
def test_stage_then_import_with_each_strategy(migrating):
    server, library, allowed, mm = migrating
    dav = server.store_url("models")
    # the library already has M2's bytes (a sha256 conflict to come) and a loose file
    for folder in ("checkpoints/", "checkpoints/existing/"):
        assert mkcol(dav + folder).status_code == 201
    assert requests.put(dav + "checkpoints/existing/existing.safetensors", data=M2,
                        timeout=10).status_code == 201
    assert requests.put(dav + "checkpoints/loose.safetensors", data=LOOSE,
                        timeout=10).status_code == 201

    scanned = post(mm + "models/scan", {}).json()
    assert (scanned["scanned"], scanned["pending_added"], scanned["skipped"]) == (1, 1, 0)
    again = post(mm + "models/scan", {"type": "checkpoints"}).json()
    assert (again["pending_added"], again["skipped"]) == (0, 1)

    legacy = post(mm + "migration/migrate_legacy_db", {
        "legacy_db_path": str(allowed / "legacy" / "library.db"),
        "legacy_images_dir": str(allowed / "legacy" / "images")}).json()
    assert legacy["status"] == "success"
    assert legacy["db_migration"]["staged"] == 2
    assert [e["id"] for e in legacy["db_migration"]["errors"]] == [3]
    assert legacy["image_migration"] == {"images": 3, "matched": 2, "unmatched": 1}
    folder = post(mm + "migration/migrate_legacy_db",
                  {"legacy_db_path": str(allowed / "comfy")}).json()
    assert folder["db_migration"]["staged"] == 1 and folder["image_migration"]["images"] == 1

    server.restart()  # staged models survive it
    pending = requests.get(mm + "migration/pending_models", timeout=10).json()["models"]
    by_sha = {p["sha256"]: p["id"] for p in pending}
    assert set(by_sha) == {sha(M1), sha(M2), sha(X), sha(LOOSE)}

    report = post(mm + "migration/import_models", {"id": list(by_sha.values())})
    assert report.status_code == 207
    got = report.json()
    assert got["total"] == 4 and not got["failed"], got
    assert sorted(s["sha256"] for s in got["success"]) == sorted([sha(M1), sha(X), sha(LOOSE)])
    assert [(c["sha256"], c["reason"]) for c in got["conflict"]] == [(sha(M2), "sha256")]

    m1 = requests.get(mm + f"models/{sha(M1)}", timeout=10).json()
    assert (m1["name"], m1["type"]) == ("Anime style", "lora")
    assert [t["name"] for t in m1["tags"]] == ["anime", "style"]
    assert json.loads(m1["meta_json"]) == {"civitai": {"id": 1}}
    assert requests.get(mm + "images/get_img_num", params={"sha256": sha(M1)},
                        timeout=10).json() == {"count": 2}
    assert (allowed / "legacy" / "files" / "m1.safetensors").exists()  # the legacy file stays
    x = requests.get(mm + f"models/{sha(X)}", timeout=10).json()
    assert x["type"] == "loras" and [t["name"] for t in x["tags"]] == ["folder"]
    assert requests.get(mm + "images/get_img_num", params={"sha256": sha(X)},
                        timeout=10).json() == {"count": 1}
    assert (library / "checkpoints/loose/loose.safetensors").read_bytes() == LOOSE
    assert not (library / "checkpoints/loose.safetensors").exists()

    # the conflict, with each strategy (staged again where a strategy dropped it)
    m2_id = by_sha[sha(M2)]
    merged = post(mm + "migration/import_models", {"id": [m2_id], "conflict_strategy": "merge"})
    assert [s["strategy"] for s in merged.json()["success"]] == ["merge"]
    existing = yaml.safe_load((library / "checkpoints/existing/.ovemeta").read_text())
    assert existing["name"] == "existing"  # merge keeps the name
    restage = post(mm + "migration/migrate_legacy_db", {
        "legacy_db_path": str(allowed / "legacy" / "library.db")}).json()
    assert restage["db_migration"]["staged"] == 2  # M1 and M2, now both in the library
    pending = {p["sha256"]: p["id"] for p in
               requests.get(mm + "migration/pending_models", timeout=10).json()["models"]}
    one = post(mm + "migration/import_a_model",
               {"id": pending[sha(M2)], "conflict_strategy": "override"}).json()
    assert (one["status"], one["deprecated"]) == ("success", True)
    existing = yaml.safe_load((library / "checkpoints/existing/.ovemeta").read_text())
    assert existing["name"] == "Base model"
    ignored = post(mm + "migration/import_models",
                   {"id": [pending[sha(M1)]], "conflict_strategy": "ignore"}).json()
    assert [i["sha256"] for i in ignored["ignored"]] == [sha(M1)]
    assert requests.get(mm + "migration/pending_models", timeout=10).json() == {"models": []}
    post(mm + "migration/migrate_legacy_db",
         {"legacy_db_path": str(allowed / "legacy" / "library.db")})
    ids = [p["id"] for p in requests.get(mm + "migration/pending_models",
                                         timeout=10).json()["models"]]
    # asked with Prefer: respond-async, the import runs as a task followed in /api/tasks
    queued = post(mm + "migration/import_models", {"id": ids, "conflict_strategy": "delete"},
                  headers={"Prefer": "respond-async"})
    assert queued.status_code == 202, queued.text
    assert queued.headers["Preference-Applied"] == "respond-async"
    task_url = server.url + f"api/tasks/{queued.json()['task_id']}"
    deadline = time.monotonic() + 20
    while (task := requests.get(task_url, timeout=10).json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert task["status"] == "done" and task["kind"] == "model-import", task
    assert task["progress"] == {"done": 2, "total": 2}
    assert len(task["result"]["deleted"]) == 2
    missing = post(mm + "migration/import_models", {"id": [999_999]}).json()
    assert [f["id"] for f in missing["failed"]] == [999_999]


def test_paths_outside_the_allowed_roots_and_non_administrators_are_refused(migrating, tmp_path):
    server, library, allowed, mm = migrating
    outside = tmp_path / "elsewhere.db"
    outside.write_bytes(b"")
    for path in (str(outside), "/etc", str(allowed / ".." / "elsewhere.db")):
        refused = post(mm + "migration/migrate_legacy_db", {"legacy_db_path": path})
        assert refused.status_code == 403, (path, refused.text)
    not_a_db = allowed / "notes.txt"
    not_a_db.write_text("hello")
    assert post(mm + "migration/migrate_legacy_db",
                {"legacy_db_path": str(not_a_db)}).status_code == 400
    add_team(server)
    for call in (lambda: post(mm + "models/scan", {}, auth=auth("writer")),
                 lambda: requests.get(mm + "migration/pending_models", auth=auth("writer"),
                                      timeout=10),
                 lambda: post(mm + "migration/import_models", {"id": [1]},
                              auth=auth("writer"))):
        assert call().status_code == 403
    native = server.url + "api/library/"
    assert post(native + "migrate", {"source": "/etc"}, auth=auth("admin")).status_code == 403
    for call in (lambda: post(native + "scan", {}, auth=auth("writer")),
                 lambda: requests.get(native + "staged", auth=auth("writer"), timeout=10),
                 lambda: post(native + "import", {"ids": [1]}, auth=auth("writer"))):
        assert call().status_code == 403


def finished(server: Server, started: requests.Response) -> dict:
    """The task's record once it has run (the native routes always answer 202)."""
    assert started.status_code == 202, started.text
    url = server.url.rstrip("/") + started.headers["Location"]
    deadline = time.monotonic() + 20
    while (task := requests.get(url, timeout=10).json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert task["status"] == "done", task
    return task


@pytest.mark.parametrize("migrating", ["single", "redis"], indirect=True)
def test_native_library_migrates_and_imports_as_tasks(migrating):
    """The same work through /api/library: tasks with results; an image sent for a model
    before its import joins it at the import."""
    server, library, allowed, _mm = migrating
    native = server.url + "api/library/"
    sent = requests.post(native + f"images/{sha(M1)}", files={"image": ("a.png", png((5, 5, 5)))},
                         timeout=10)
    assert sent.json() == {"seq": 0, "pending": True}
    migrated = finished(server, post(native + "migrate", {
        "source": str(allowed / "legacy" / "library.db"),
        "images": str(allowed / "legacy" / "images")}))
    assert migrated["kind"] == "model-migration"
    assert migrated["result"]["db_migration"]["staged"] == 2
    staged = requests.get(native + "staged", timeout=10).json()["models"]
    by_sha = {m["sha256"]: m for m in staged}
    assert by_sha[sha(M1)]["images"] == 2 and by_sha[sha(M1)]["name"] == "Anime style"
    imported = finished(server, post(native + "import", {"ids": [by_sha[sha(M1)]["id"]]}))
    assert [s["sha256"] for s in imported["result"]["success"]] == [sha(M1)]
    samples = requests.get(server.url + "api/models/lora/samples/Anime%20style",
                           timeout=10).json()["samples"]
    assert len(samples) == 3  # the legacy library's two, then the one that waited
    assert requests.get(native + "pending-images", timeout=10).json() == {"images": []}
    assert [m["sha256"] for m in requests.get(native + "staged", timeout=10).json()["models"]
            ] == [sha(M2)]
    scanned = finished(server, post(native + "scan", {"type": "lora"}))
    assert scanned["result"]["status"] == "success"
    assert post(native + "import", {"ids": [1], "conflict_strategy": "maybe"}).status_code == 400
