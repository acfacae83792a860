"""The model library and bulk work where a person looks for them, in a real browser: an
administrator stages a ComfyUI-style folder from the library's page and imports it, adds
and removes a model's sample images on its page, runs a bulk CSV import from the store
page and reads its row errors, and saves an export configuration from a project page. A
reader is refused the library's administration."""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from PIL import Image

from conftest import REPO, Server

sys.path.insert(0, str(REPO / "tests"))
from pages import CHROMIUM, launched_browser, page_for, sign_in  # noqa: E402
from users import PASSWORD, add_team  # noqa: E402

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
ADMIN = ("admin", PASSWORD["admin"])
MODEL = b"\x10\x00\x00\x00\x00\x00\x00\x00{}" + hashlib.sha256(b"browser").digest() * 4


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 64), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Server, dict[str, Path], Path]]:
    """Stores demo and models (the model library), a ComfyUI-style folder and two images
    under migration.allowed_roots, users admin, writer and reader."""
    base = tmp_path_factory.mktemp("library")
    roots = {"demo": base / "demo", "models": base / "models"}
    for root in roots.values():
        root.mkdir()
    allowed = base / "import"
    loras = allowed / "comfy" / "loras"
    loras.mkdir(parents=True)
    (loras / "pixel.safetensors").write_bytes(MODEL)
    (loras / "pixel.preview.png").write_bytes(png((220, 30, 30)))
    (loras / "pixel.civitai.info").write_text(json.dumps({"tags": ["retro"]}))
    (allowed / "one.png").write_bytes(png((1, 2, 3)))
    (allowed / "two.png").write_bytes(png((4, 5, 6)))
    config = base / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "stores": {k: str(v) for k, v in roots.items()},
                "models": {"store": "models"},
                "migration": {"allowed_roots": [str(allowed)]},
            }
        )
    )
    server = Server({}, base / "state", base / "server.log", env={"ASSETDAV_CONFIG": str(config)})
    add_team(server)
    server.start()
    made = requests.post(
        server.url + "api/demo/create", json={"id": "shop"}, auth=ADMIN, timeout=10
    )
    assert made.status_code == 200, made.text
    yield server, roots, allowed
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from launched_browser()


def test_stage_import_and_keep_sample_images(site, browser):
    server, roots, allowed = site
    with page_for(browser, "library") as page:
        sign_in(page, server, "admin", start="ui/s/models/")
        page.click("#library-link")
        page.wait_for_url("**/ui/library")
        page.fill("#migrate-source", str(allowed / "comfy"))
        page.click("#migrate-form button[type=submit]")
        page.wait_for_function(
            "document.getElementById('find-status').textContent.startsWith('Staged 1 model')"
        )
        row = page.locator("#staged-rows tr:has(input)")
        row.wait_for()
        assert "pixel" in row.inner_text() and "loras" in row.inner_text()
        page.check("#select-all")
        page.click("#import-form button[type=submit]")
        page.wait_for_function(
            "document.getElementById('import-status').textContent.startsWith('Imported 1 of 1')"
        )
        assert page.locator("#staged-rows tr:has(input)").count() == 0
        assert page.inner_text("#staged-rows") == "Nothing is staged."
        landed = list(roots["models"].glob("loras/*/*/pixel.safetensors"))
        assert len(landed) == 1 and landed[0].read_bytes() == MODEL
        asset = landed[0].parent.parent

        # the model's page: its preview came along as sample 1; add one, remove the first
        page.goto(server.url + f"ui/s/models/loras/{asset.name}")
        page.locator("#sample-list img").first.wait_for()
        assert page.locator("#sample-list li").count() == 1
        page.set_input_files("#sample-picker", str(allowed / "one.png"))
        page.wait_for_function("document.querySelectorAll('#sample-list li').length === 2")
        page.click("button[aria-label='Remove sample 1']")
        page.wait_for_function(
            "document.getElementById('sample-status').textContent === 'Sample 1 removed.'"
        )
        assert page.locator("#sample-list li").count() == 1
        image = page.locator("#sample-list img").first
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )
    assert [p.name for p in (asset / "samples").iterdir()] == ["0.png"]
    assert (asset / "samples" / "0.png").read_bytes() == png((1, 2, 3))
    assert yaml.safe_load((asset / ".ovemeta").read_text())["tags"] == ["retro"]


def test_a_reader_is_refused_the_library(site, browser):
    server, _roots, _allowed = site
    with page_for(browser, "library-reader", expected=("status of 403",)) as page:
        sign_in(page, server, "reader", start="ui/library")
        assert "Administrators only" in page.inner_text("main")
        page.goto(server.url + "ui/s/models/")
        assert page.locator("#library-link").count() == 0


def test_bulk_import_from_the_store_page(site, browser, tmp_path):
    server, roots, allowed = site
    sheet = tmp_path / "rows.csv"
    sheet.write_text(
        "source,project,asset,tags\n"
        f"{allowed}/one.png,bulk,first,a;b\n"
        f"{allowed}/two.png,bulk,second,\n"
        "/etc/hostname,bulk,third,\n"
    )
    with page_for(browser, "bulk") as page:
        sign_in(page, server, "admin", start="ui/s/demo/")
        page.set_input_files("#bulk-csv", str(sheet))
        page.click("#bulk-form button[type=submit]")
        page.wait_for_function(
            "document.getElementById('bulk-status').textContent.startsWith('Done')"
        )
        assert page.inner_text("#bulk-status") == "Done: 2 of 3 rows imported, 1 failed."
        errors = page.locator("#bulk-errors tbody tr")
        assert errors.count() == 1
        assert errors.first.inner_text().startswith("3\tsource\t/etc/hostname")
    assert (roots["demo"] / "bulk/first/1/one.png").read_bytes() == png((1, 2, 3))
    assert yaml.safe_load((roots["demo"] / "bulk/first/.ovemeta").read_text())["tags"] == ["a", "b"]


def test_save_an_export_configuration_from_a_project(site, browser):
    server, _roots, _allowed = site
    with page_for(browser, "export-config", expected=("status of 400",)) as page:
        sign_in(page, server, "admin", start="ui/s/demo/shop/")
        page.click("#export-new summary")
        page.fill("#config-name", "Catalogue")
        page.select_option("#config-format", "png")
        page.fill("#config-template", "{asset}_v{version}.{ext}")
        page.click("#export-config-form button[type=submit]")
        page.wait_for_function(
            "document.getElementById('config-status').textContent === 'Saved: Catalogue.'"
        )
        chosen = page.locator("#export-config option:checked").inner_text()
        assert chosen.startswith("Catalogue (png")
        # another, then deleted again from the page
        page.fill("#config-name", "Temporary")
        page.fill("#config-template", "")
        page.click("#export-config-form button[type=submit]")
        page.wait_for_function(
            "document.getElementById('config-status').textContent === 'Saved: Temporary.'"
        )
        assert page.locator("#export-config option:checked").inner_text().startswith("Temporary")
        page.click("#export-config-delete")
        page.wait_for_function(
            "document.getElementById('export-status').textContent.startsWith('Deleted: Temporary')"
        )
        options = page.locator("#export-config option").all_inner_texts()
        assert [o.split(" (")[0] for o in options] == ["Catalogue"]
        page.fill("#config-template", "{unclosed")
        page.fill("#config-name", "Broken")
        page.click("#export-config-form button[type=submit]")
        page.wait_for_function(
            "document.getElementById('config-status').textContent.startsWith('Invalid template')"
        )
    saved = requests.get(server.url + "api/export-configurations", auth=ADMIN, timeout=10).json()
    assert [(c["name"], c["image_format"], c["naming_convention_template"]) for c in saved] == [
        ("Catalogue", "png", "{asset}_v{version}.{ext}")
    ]
