"""The model manager's face at /compat/model-manager/: a model library built over WebDAV
(fake .safetensors files with known sha256), its types and models, a model's record and
its edits (a type change moves the asset), and tags with stable ids shared with the
native /api/tags."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import threading

import pytest
import requests
import yaml
from PIL import Image

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


def png(colour: tuple[int, int, int], side: int = 600) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(out, "PNG")
    return out.getvalue()


COLOURS = [(250, 0, 0), (0, 250, 0), (0, 0, 250)]


def colour_of(webp: bytes) -> tuple[int, ...]:
    image = Image.open(io.BytesIO(webp))
    assert image.format == "WEBP"
    return image.convert("RGB").getpixel((image.width // 2, image.height // 2))


def close(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(abs(x - y) < 24 for x, y in zip(a, b, strict=True))


def upload_image(mm: str, sha256: str, data: bytes, name: str = "s.png") -> requests.Response:
    return requests.post(mm + "images/upload", files=[("image", (name, data)),
                                                      ("sha256", (None, sha256))], timeout=10)


def test_sample_images_shift_on_delete_under_readers(library):
    server, roots, mm = library
    path = "checkpoints/model-a/model-a.safetensors"
    digest = sha(path)
    for n, colour in enumerate(COLOURS):
        answer = upload_image(mm, digest, png(colour))
        assert answer.json() == {"status": "success", "base_name": f"{digest}_{n}"}
    folder = roots["models"] / "checkpoints/model-a/samples"
    assert sorted(os.listdir(folder)) == ["0.png", "1.png", "2.png"]
    assert requests.get(mm + "images/get_img_num", params={"sha256": digest},
                        timeout=10).json() == {"count": 3}
    for quality, side in (("low", 256), ("medium", 600), ("high", 600)):
        got = requests.get(mm + f"images/{digest}_1.webp", params={"quality": quality},
                           timeout=30)
        assert got.status_code == 200 and got.headers["Content-Type"] == "image/webp"
        assert max(Image.open(io.BytesIO(got.content)).size) == side
        assert close(colour_of(got.content), COLOURS[1])
    by_seq = requests.get(mm + f"images/{digest}.webp", params={"seq": 2}, timeout=30)
    assert close(colour_of(by_seq.content), COLOURS[2])
    urls = requests.post(mm + "images/get_sample_imgs",
                         json={"sha256": digest, "quality": "low"}, timeout=10).json()
    assert urls["count"] == 3 and urls["quality"] == "low"
    assert requests.get(server.url.rstrip("/") + urls["images"][0], timeout=30).status_code == 200

    # readers list the folder and fetch through the API while sample 1 is deleted
    seen: list[list[str]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            names = sorted(os.listdir(folder))
            seen.append(names)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        deleted = requests.delete(mm + "images/delete", params={"sha256": digest, "seq": 1},
                                  timeout=10)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert deleted.json() == {"status": "success"}
    assert seen and all(names in (["0.png", "1.png", "2.png"], ["0.png", "1.png"])
                        for names in seen), {tuple(n) for n in seen}
    assert close(colour_of(requests.get(mm + f"images/{digest}_1.webp", timeout=30).content),
                 COLOURS[2])
    assert requests.get(mm + f"images/{digest}_2.webp", timeout=10).status_code == 404
    files = yaml.safe_load((folder.parent / ".ovemeta").read_text())["files"]
    assert sorted(k for k in files if k.startswith("samples/")) == ["samples/0.png",
                                                                    "samples/1.png"]
    assert requests.delete(mm + "images/delete", params={"sha256": digest, "seq": 7},
                           timeout=10).status_code == 404


def test_pending_images_join_their_model(library):
    server, roots, mm = library
    data = safetensors("late")
    digest = hashlib.sha256(data).hexdigest()
    answer = upload_image(mm, digest, png((200, 200, 0)))
    assert answer.json()["base_name"] == f"{digest}_0"
    pending = requests.get(mm + f"images/pending/{digest}_0.webp", params={"quality": "low"},
                           timeout=30)
    assert pending.status_code == 200 and close(colour_of(pending.content), (200, 200, 0))
    assert requests.get(mm + "images/get_img_num", params={"sha256": digest},
                        timeout=10).json() == {"count": 1}
    # the model arrives (dropped in over WebDAV): its pending image joins it
    dav = server.store_url("models")
    assert mkcol(dav + "checkpoints/late/").status_code == 201
    assert requests.put(dav + "checkpoints/late/late.safetensors", data=data,
                        timeout=10).status_code == 201
    joined = requests.get(mm + f"images/{digest}_0.webp", timeout=30)
    assert joined.status_code == 200 and close(colour_of(joined.content), (200, 200, 0))
    assert (roots["models"] / "checkpoints/late/samples/0.png").exists()
    assert not list((server.state_dir / "pending-images").glob(f"{digest}_*"))

    # refused: not an image, not a sha256, a bad quality
    assert upload_image(mm, digest, b"just text").status_code == 415
    assert upload_image(mm, "abc", png((0, 0, 0))).status_code == 400
    assert requests.get(mm + f"images/{digest}_0.webp", params={"quality": "huge"},
                        timeout=10).status_code == 400


def test_native_samples_of_any_asset(library):
    """The same samples through the native API, by the asset's path: listed, added, served
    as webp, the original over WebDAV, removed with the later ones moving down."""
    server, roots, _mm = library
    api = server.url + "api/models/lora/samples/style-c"
    for colour in COLOURS[:2]:
        added = requests.post(api, files={"image": ("x.png", png(colour))}, timeout=10)
        assert added.status_code == 201, added.text
    assert added.json() == {"seq": 1, "pending": False}
    listed = requests.get(api, timeout=10).json()["samples"]
    assert [(s["seq"], s["name"]) for s in listed] == [(0, "0.png"), (1, "1.png")]
    original = requests.get(server.url.rstrip("/") + listed[1]["url"], timeout=10)
    assert original.content == png(COLOURS[1])
    low = requests.get(server.url.rstrip("/") + listed[1]["webp"], params={"quality": "low"},
                       timeout=30)
    assert low.status_code == 200 and max(Image.open(io.BytesIO(low.content)).size) == 256
    assert close(colour_of(low.content), COLOURS[1])

    left = requests.delete(api + "/0", timeout=10)
    assert left.status_code == 200, left.text
    assert [s["seq"] for s in left.json()["samples"]] == [0]
    assert close(colour_of(requests.get(api + "/0.webp", timeout=30).content), COLOURS[1])
    assert sorted(os.listdir(roots["models"] / "lora/style-c/samples")) == ["0.png"]

    # refused: no image, another body, no such sample, no such asset, a bad quality
    assert requests.post(api, files={"image": ("x.txt", b"text")}, timeout=10).status_code == 415
    assert requests.post(api, data=b"raw", timeout=10).status_code == 415
    assert requests.post(api, files={"other": ("x.png", png((0, 0, 0)))},
                         timeout=10).status_code == 400
    for gone in ("/5.webp", "/x.webp", "/5"):
        method = requests.delete if not gone.endswith(".webp") else requests.get
        assert method(api + gone, timeout=10).status_code == 404, gone
    nowhere = requests.get(server.url + "api/models/lora/samples/none", timeout=10)
    assert nowhere.status_code == 400 and nowhere.json()["title"]
    assert requests.get(api + "/0.webp", params={"quality": "huge"}, timeout=10).status_code == 400


def test_native_images_by_sha256_wait_for_their_model(library):
    server, _roots, _mm = library
    data = safetensors("native-late")
    digest = hashlib.sha256(data).hexdigest()
    api = server.url + "api/library/"
    sent = requests.post(api + f"images/{digest}", files={"image": ("p.png", png((1, 90, 200)))},
                         timeout=10)
    assert sent.status_code == 201 and sent.json() == {"seq": 0, "pending": True}
    waiting = requests.get(api + "pending-images", timeout=10).json()["images"]
    mine = [i for i in waiting if i["sha256"] == digest]
    assert [i["seq"] for i in mine] == [0]
    shown = requests.get(server.url.rstrip("/") + mine[0]["url"], timeout=30)
    assert close(colour_of(shown.content), (1, 90, 200))
    dav = server.store_url("models")
    assert mkcol(dav + "lora/native-late/").status_code == 201
    assert requests.put(dav + "lora/native-late/m.safetensors", data=data, timeout=10).ok
    again = requests.post(api + f"images/{digest}", files={"image": ("q.png", png((9, 9, 9)))},
                          timeout=10)
    assert again.json() == {"seq": 1, "pending": False}
    listed = requests.get(server.url + "api/models/lora/samples/native-late", timeout=10).json()
    assert [s["name"] for s in listed["samples"]] == ["0.png", "1.png"]
    assert requests.post(api + "images/nothex", files={"image": ("p.png", png((0, 0, 0)))},
                         timeout=10).status_code == 404
