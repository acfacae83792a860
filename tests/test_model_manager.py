"""The model manager's face at /compat/model-manager/: a model library built over WebDAV
(fake .safetensors files with known sha256), its types and models, a model's record and
its edits (a type change moves the asset), and tags with stable ids shared with the
native /api/tags."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
import requests
import yaml

from dav import mkcol


def safetensors(seed: str) -> bytes:
    """A small file in the safetensors layout: header length, JSON header, data."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                         "__metadata__": {"seed": seed}}).encode()
    return struct.pack("<Q", len(header)) + header + hashlib.sha256(seed.encode()).digest()[:16]


MODELS = {
    "checkpoints/model-a/model-a.safetensors": safetensors("a"),
    "checkpoints/model-b/model-b.safetensors": safetensors("b"),
    "lora/style-c/style-c.safetensors": safetensors("c"),
}


def sha(path: str) -> str:
    return hashlib.sha256(MODELS[path]).hexdigest()


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    from conftest import Server

    base = tmp_path_factory.mktemp("models")
    roots = {"demo": base / "demo", "models": base / "models"}
    for root in roots.values():
        root.mkdir()
    config = base / "assetdav.yaml"
    config.write_text(yaml.safe_dump({"stores": {k: str(v) for k, v in roots.items()},
                                      "models": {"store": "models"}}))
    server = Server({}, base / "state", base / "server.log",
                    env={"ASSETDAV_CONFIG": str(config)}).start()
    dav = server.store_url("models")
    for path, data in MODELS.items():
        project, asset, _name = path.split("/")
        mkcol(dav + project + "/")
        assert mkcol(dav + f"{project}/{asset}/").status_code == 201
        assert requests.put(dav + path, data=data, timeout=10).status_code == 201
    yield server, roots, server.url + "compat/model-manager/api/"
    server.stop()


def test_types_models_and_records(library):
    server, roots, mm = library
    assert requests.get(mm + "hello", timeout=10).json() == {"status": "ok"}
    assert requests.get(mm + "models/get_types", timeout=10).json() == {
        "types": ["checkpoints", "lora"]}
    listed = requests.get(mm + "models", params={"type": "checkpoints"}, timeout=10).json()
    path = "checkpoints/model-a/model-a.safetensors"
    assert listed["models"][0] == {"sha256": sha(path), "name": "model-a",
                                   "type": "checkpoints", "path": path, "tags": []}
    assert [m["name"] for m in listed["models"]] == ["model-a", "model-b"]
    assert requests.get(mm + "models", params={"type": "none"}, timeout=10).json() == {
        "models": []}
    record = requests.get(mm + f"models/{sha(path)}", timeout=10).json()
    assert record["size"] == len(MODELS[path]) and record["meta_json"] == "{}"
    # the library records sha256 (hashes.sha256 is off: other stores do not)
    sidecar = yaml.safe_load((roots["models"] / "checkpoints/model-a/.ovemeta").read_text())
    assert sidecar["files"]["model-a.safetensors"]["sha256"] == sha(path)
    demo = server.store_url("demo")
    assert mkcol(demo + "p/").status_code == 201 and mkcol(demo + "p/a/").status_code == 201
    assert requests.put(demo + "p/a/m.safetensors", data=MODELS[path], timeout=10).ok
    other = yaml.safe_load((roots["demo"] / "p/a/.ovemeta").read_text())["files"]
    assert "sha256" not in other["m.safetensors"]
    for bad in ("0" * 64, "xyz"):
        answer = requests.get(mm + f"models/{bad}", timeout=10)
        assert answer.status_code == 404 and answer.json()["title"] == "Model not found"


def test_tags_with_ids_and_edits(library):
    server, roots, mm = library
    made = requests.post(mm + "tags_add", json={"newtags": ["sdxl", "photo"]}, timeout=10)
    assert made.status_code == 200, made.text
    ids = {t["name"]: t["id"] for t in made.json()["tags"]}
    again = requests.post(mm + "tags_add", json={"newtags": ["photo", "anime"]}, timeout=10)
    got = {t["name"]: t["id"] for t in again.json()["tags"]}
    assert got["photo"] == ids["photo"] and got["anime"] not in ids.values()

    path = "checkpoints/model-b/model-b.safetensors"
    edit = {"name": "Model B", "tags": [ids["sdxl"], ids["photo"]], "type": "lora",
            "meta_json": json.dumps({"civitai": {"id": 5}})}
    changed = requests.patch(mm + f"models/{sha(path)}", json=edit, timeout=10)
    assert changed.status_code == 200, changed.text
    record = changed.json()
    assert (record["name"], record["type"], record["path"]) == (
        "Model B", "lora", "lora/model-b/model-b.safetensors")
    assert record["tags"] == [{"id": ids["sdxl"], "name": "sdxl"},
                              {"id": ids["photo"], "name": "photo"}]
    assert json.loads(record["meta_json"]) == {"civitai": {"id": 5}}
    assert not (roots["models"] / "checkpoints/model-b").exists()
    sidecar = yaml.safe_load((roots["models"] / "lora/model-b/.ovemeta").read_text())
    assert sidecar["tags"] == ["sdxl", "photo"] and sidecar["metadata"] == {"civitai": {"id": 5}}
    assert requests.get(mm + f"models/{sha(path)}", timeout=10).json() == record

    for bad in ({"tags": [999_999]}, {"meta_json": "[1]"}, {"meta_json": "{"}, {"colour": 1}):
        answer = requests.patch(mm + f"models/{sha(path)}", json=bad, timeout=10)
        assert answer.status_code == 400, (bad, answer.text)

    # the same ids in the model manager's tag list and the native /api/tags
    listed = {t["name"]: t["id"] for t in requests.get(mm + "tags", timeout=10).json()["tags"]}
    assert {k: listed[k] for k in ids} == ids
    native = requests.get(server.url + "api/tags", params={"store": "models"}, timeout=10).json()
    assert {t["name"]: t["id"] for t in native["tags"]} == {"sdxl": ids["sdxl"],
                                                           "photo": ids["photo"]}

    # ids are kept across a restart and never handed out twice
    server.restart()
    kept = requests.post(mm + "tags_add", json={"newtags": ["sdxl", "new"]}, timeout=10).json()
    kept_ids = {t["name"]: t["id"] for t in kept["tags"]}
    assert kept_ids["sdxl"] == ids["sdxl"] and kept_ids["new"] > max(got.values())
