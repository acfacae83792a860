"""Exports: 200 assets of a search written into one zip by an export configuration (a name
template, webp conversion, metadata files, a manifest), checked entry by entry; an asset
the template cannot name is an error of the task, not a blank; the other adapter and the
original format."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile

import pytest
import requests
import yaml
from PIL import Image

COUNT = 200


def png(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40 + i % 7, 30), (i % 256, 100, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    from conftest import Server

    base = tmp_path_factory.mktemp("exports")
    root = base / "demo"
    root.mkdir()
    server = Server({"demo": root}, base / "state", base / "server.log",
                    env={"ASSETDAV_DERIVED_BACKGROUND": "false"}).start()
    api = server.url + "api/"
    assert requests.post(api + "demo/create", json={"id": "shop"}, timeout=10).ok
    session = requests.Session()
    for i in range(COUNT + 1):
        metadata = {"brand": "acme"} | ({"sku": f"{i:04d}"} if i < COUNT else {})
        made = session.post(api + "assets", files=[
            ("file", (f"p{i}.png", png(i))), ("project", (None, "shop")),
            ("name", (None, f"product {i}")), ("tags", (None, "catalog")),
            ("user_metadata", (None, json.dumps(metadata)))], timeout=30)
        assert made.status_code == 201, made.text
    yield server, api
    server.stop()


def export(server, api: str, config: dict, flt: dict) -> tuple[dict, zipfile.ZipFile]:
    me = server.url + "compat/sartiq/api/v1/users/me/export-configuration"
    config_id = requests.post(me, json=config, timeout=10).json()["id"]
    started = requests.post(api + "exports", json={"configuration_id": config_id,
                                                   "filter": flt}, timeout=10)
    assert started.status_code == 202, started.text
    task_url = api + f"tasks/{started.json()['task_id']}"
    deadline = time.monotonic() + 120
    while (task := requests.get(task_url, timeout=10).json())["status"] == "running":
        assert time.monotonic() < deadline, task
        time.sleep(0.2)
    assert task["status"] == "done", task
    zipped = requests.get(task["download_url"], timeout=60)
    assert zipped.status_code == 200
    assert zipped.headers["Content-Type"] == "application/zip"
    return task, zipfile.ZipFile(io.BytesIO(zipped.content))


def test_two_hundred_assets_named_converted_described(shop):
    server, api = shop
    task, archive = export(server, api, {
        "name": "Shop", "image_format": "webp", "metadata_adapter": "default",
        "naming_convention_template": "{brand}_{metadata.sku}_v{version}"},
        {"project": "shop", "include_tags": ["catalog"]})
    result = task["result"]
    assert (result["assets"], result["exported"]) == (COUNT + 1, COUNT)
    assert [e["asset"] for e in result["errors"]] == [f"/demo/shop/product {COUNT}"]
    assert "{metadata.sku} has no value" in result["errors"][0]["error"]
    assert task["progress"] == {"done": COUNT + 1, "total": COUNT + 1}

    names = set(archive.namelist())
    assert len(names) == 2 * COUNT + 1 and "manifest.csv" in names
    for i in range(COUNT):
        image_name = f"acme_{i:04d}_v1.webp"
        image = Image.open(io.BytesIO(archive.read(image_name)))
        assert image.format == "WEBP" and image.size == (40 + i % 7, 30), image_name
        assert abs(image.convert("RGB").getpixel((1, 1))[0] - i % 256) < 8
        described = json.loads(archive.read(f"acme_{i:04d}_v1.json"))
        assert described["metadata"] == {"brand": "acme", "sku": f"{i:04d}"}
        assert described["tags"] == ["catalog"] and described["name"] == f"product {i}"
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert len(manifest) == COUNT
    assert {row["file"] for row in manifest} == {f"acme_{i:04d}_v1.webp" for i in range(COUNT)}


def test_ovs_adapter_and_original_files(shop):
    server, api = shop
    task, archive = export(server, api, {
        "name": "Archive", "image_format": "original", "metadata_adapter": "ovs",
        "naming_convention_template": "{project}/{asset}"},
        {"project": "shop", "metadata_filter": {"sku": "0007"}})
    assert task["result"]["exported"] == 1 and not task["result"]["errors"]
    assert sorted(archive.namelist()) == ["manifest.csv", "shop/product 7.ovemeta",
                                          "shop/product 7.png"]
    assert archive.read("shop/product 7.png") == png(7)
    sidecar = yaml.safe_load(archive.read("shop/product 7.ovemeta"))
    assert sidecar["metadata"]["sku"] == "0007" and sidecar["project"] == "shop"
    # an unknown configuration, a malformed filter
    assert requests.post(api + "exports", json={"configuration_id": "nope"},
                         timeout=10).status_code == 404
    assert requests.post(api + "exports", json={"configuration_id": task["result"][
        "configuration_id"], "filter": {"colour": 1}}, timeout=10).status_code == 400
