"""The asset browser in a real browser: Debian's chromium, headless, driven by Playwright
against the real server. Sign in, browse 300 assets, search, require and exclude tags,
edit an asset (and find it in its sidecar), upload by drag-and-drop with previews, see a
store's rule refuse a file, and a reader without edit controls. No page may log an error
to the console; a failing test leaves a screenshot in var/test-screenshots/."""

from __future__ import annotations

import base64
import csv
import io
import os
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from PIL import Image

from conftest import REPO, Server

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "bench"))
import media_sources as ms  # noqa: E402
from pages import CHROMIUM, SCREENSHOTS, TIMEOUT, launched_browser, page_for, sign_in  # noqa: E402
from synthetic_store import StoreSpec, make_records, project_names, write_store  # noqa: E402
from users import PASSWORD, add_team  # noqa: E402

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

SPEC = StoreSpec(assets=300, projects=1, tags=12, max_tags=3, seed=20261204)
PROJECT = project_names(SPEC)[0]
MAX_FILE = 2_000_000  # the store's rule: bigger files are refused with 413


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[Server, Path, list]]:
    """A store of 300 assets in one project (written by the test, tags Zipf-distributed),
    `max_file_size` 2 MB, users admin, writer and reader (teamA, the project's group)."""
    base = tmp_path_factory.mktemp("browser")
    root = base / "demo"
    root.mkdir()
    records = make_records(SPEC)
    write_store(root, SPEC, records, processes=1)
    config = base / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "log_level": "INFO",
                "stores": {"demo": {"path": str(root), "rules": {"max_file_size": MAX_FILE}}},
            }
        )
    )
    server = Server({}, base / "state", base / "server.log", env={"ASSETDAV_CONFIG": str(config)})
    add_team(server)
    server.start()
    answer = requests.post(
        server.url + f"api/demo/{PROJECT}/projectAccessMeta",
        json={"groups": ["teamA"]},
        auth=("admin", PASSWORD["admin"]),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    yield server, root, records
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    yield from launched_browser()


def total_of(page) -> int:
    page.wait_for_function("document.getElementById('total').textContent.includes('asset')")
    return int(page.inner_text("#total").split()[0])


def settle(page, expected: int) -> None:
    """Wait until the grid says `expected` assets."""
    page.wait_for_function(
        f"document.getElementById('total').textContent.startsWith('{expected} asset')"
    )


def test_sign_in_browse_search_and_refine_with_tags(site, browser):
    server, _root, records = site
    with page_for(browser, "browse") as page:
        sign_in(page, server, "reader")
        assert page.url.endswith("/ui/s/demo/")
        card = page.locator(".card.project", has_text=PROJECT)
        assert "300 assets" in card.inner_text()
        card.locator("a").click()
        page.wait_for_url(f"**/ui/s/demo/{PROJECT}/")
        assert total_of(page) == 300
        page.wait_for_function("document.querySelectorAll('#grid li').length >= 100")
        page.mouse.wheel(0, 100_000)  # scrolling to the end fetches the next page
        page.wait_for_function("document.querySelectorAll('#grid li').length >= 200")
        names = page.locator("#grid .name").all_inner_texts()
        assert len(names) == len(set(names)) and len(names) in (200, 300), len(names)

        counts = Counter(tag for r in records for tag in r.tags)
        common, second = (tag for tag, _ in counts.most_common(2))
        facet = page.locator("#tag-list li", has_text=f"{common} (")
        assert f"({counts[common]})" in facet.inner_text()
        facet.locator("button.tag").click()
        settle(page, counts[common])
        assert f"include={common}" in page.url
        with_common = [r for r in records if common in r.tags]
        both = sum(1 for r in with_common if second in r.tags)
        second_facet = page.locator("#tag-list li", has_text=f"{second} (")
        assert f"({both})" in second_facet.inner_text()  # counts follow the filter
        second_facet.locator("button.exclude").click()
        settle(page, len(with_common) - both)
        assert "exclude=" in page.url
        page.go_back()
        settle(page, counts[common])
        page.locator(".chip", has_text=common).locator("button").click()
        settle(page, 300)

        page.select_option("#order", "desc")  # sorting: by name, last first
        page.wait_for_url("**order=desc**")
        last = max(r.name.lower() for r in records)
        page.wait_for_function(
            f"document.querySelector('#grid .name')?.textContent.toLowerCase() === '{last}'"
        )
        page.select_option("#order", "asc")

        target = records[123]
        page.fill("#q", target.name)
        page.click("#find button[type=submit]")
        settle(page, 1)
        page.click(f"#grid a:has-text('{target.name}')")
        page.wait_for_url(f"**/{target.name}")
        assert page.locator("#edit").count() == 0  # a reader gets no edit controls
        assert page.locator("[data-upload]").count() == 0
        assert target.name in page.inner_text("h1")


def test_edit_an_asset_in_place_and_find_it_in_the_sidecar(site, browser):
    server, root, records = site
    target = records[7]
    with page_for(browser, "edit") as page:
        sign_in(page, server, "writer", f"ui/s/demo/{PROJECT}/{target.name}")
        page.fill("#description", "Seen from the harbour wall")
        page.fill("#tags", "harbour, dusk")
        page.click("#edit button[type=submit]")
        page.wait_for_function("document.getElementById('edit-status').textContent === 'Saved.'")
    sidecar = yaml.safe_load((root / PROJECT / target.name / ".ovemeta").read_text())
    assert sidecar["description"] == "Seen from the harbour wall"
    assert sidecar["tags"] == ["harbour", "dusk"]


def drop_files(page, selector: str, files: dict[str, bytes]) -> None:
    """A drop event carrying real files, as a person dragging them from a file manager."""
    payload = {name: base64.b64encode(body).decode() for name, body in files.items()}
    page.evaluate(
        """([selector, files]) => {
            const transfer = new DataTransfer();
            for (const [name, data] of Object.entries(files)) {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
            }
            const zone = document.querySelector(selector);
            const event = (kind) => new DragEvent(kind, { dataTransfer: transfer, bubbles: true });
            zone.dispatchEvent(event("dragover"));
            zone.dispatchEvent(event("drop"));
        }""",
        [selector, payload],
    )


def test_drag_and_drop_uploads_appear_with_previews_and_rules_refuse(site, browser):
    server, root, _records = site
    photos = {
        f"dropped-{n}.jpg": ms.encoded(ms.halves((400, 300), colour, ms.WHITE), "JPEG")
        for n, colour in enumerate((ms.RED, ms.GREEN, ms.BLUE))
    }
    too_big = {"huge.jpg": os.urandom(MAX_FILE + 100_000)}
    assert len(too_big["huge.jpg"]) > MAX_FILE
    with page_for(browser, "upload", expected=("status of 413",)) as page:
        sign_in(page, server, "writer", f"ui/s/demo/{PROJECT}/")
        assert total_of(page) >= 300
        drop_files(page, "[data-upload]", photos)
        page.wait_for_function(
            "[...document.querySelectorAll('#uploads .status')]"
            ".filter((s) => s.textContent === 'Uploaded').length === 3"
        )
        page.fill("#q", "dropped")
        page.click("#find button[type=submit]")
        settle(page, 3)
        page.wait_for_function(
            "[...document.querySelectorAll('#grid img')]"
            ".filter((i) => i.complete && i.naturalWidth > 0).length === 3"
        )
        drop_files(page, "[data-upload]", too_big)
        failed = page.locator("#uploads li.failed .status")
        failed.wait_for()
        assert "larger than" in failed.inner_text() or "200" in failed.inner_text()
        assert not (root / PROJECT / "huge").exists() or not any(
            (root / PROJECT / "huge").rglob("huge.jpg")
        )
    for name in photos:
        assert (root / PROJECT / name.removesuffix(".jpg")).is_dir(), name


def test_api_documentation_renders_offline(site, browser):
    server, _root, _records = site
    with page_for(browser, "apidoc") as page:
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda request: (
                elsewhere.append(request.url)
                if not request.url.startswith((server.url, "data:"))
                else None
            ),
        )
        page.goto(server.url + "api/doc/")
        page.get_by_text("assetdav API").first.wait_for()
        page.get_by_text("/api/{store_id}/{project_id}/preview/{asset_id}").first.wait_for(
            state="attached"
        )
        # every operation of the part is rendered (Swagger UI stops past ~130 in one page)
        page.get_by_text("/api/bulk-imports/{job_id}/errors").first.wait_for(state="attached")
        page.click("a[data-part=compat]")
        page.get_by_text("/compat/model-manager/api/images/upload").first.wait_for(
            state="attached"
        )
        page.get_by_text("/compat/sartiq/bulk-upload/{job_id}/errors").first.wait_for(
            state="attached"
        )
        assert page.get_by_text("/api/{store_id}/{project_id}/preview/{asset_id}").count() == 0
        assert not elsewhere, elsewhere


def test_run_the_dzi_worker_from_an_asset_page_and_zoom(site, browser):
    server, _root, _records = site
    photo = ms.encoded(ms.halves((1200, 900), ms.GREEN, ms.BLUE), "JPEG")
    upload = requests.post(
        server.url + f"api/demo/{PROJECT}/upload/tiled",
        params={"filename": "big.jpg", "create": "true"},
        data=photo,
        auth=("writer", PASSWORD["writer"]),
        timeout=30,
    )
    assert upload.status_code == 200, upload.text
    with page_for(browser, "workers") as page:
        sign_in(page, server, "writer", f"ui/s/demo/{PROJECT}/tiled")
        button = page.locator("#worker-buttons button", has_text="dzi")
        button.click()
        page.wait_for_selector("#zoom", timeout=60_000)  # the page reloads when it is done
        page.wait_for_selector("#zoom .openseadragon-container canvas")
        assert "done" in page.inner_text("#worker-status")


def test_a_phone_and_the_keyboard_alone_bad_credentials_and_signing_out(site, browser):
    server, _root, records = site
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(server.url + "ui/sign-in")
        page.fill("#user", "reader")
        page.fill("#password", "not the password")
        page.press("#password", "Enter")
        problem = page.locator("#sign-in-error")
        problem.wait_for()
        assert "wrong password" in problem.inner_text()
        errors.clear()  # the browser's own line about the 401 it was answered

        page.fill("#password", PASSWORD["reader"])
        page.press("#password", "Enter")
        page.wait_for_url("**/ui/s/demo/")
        # the keyboard alone: Tab to the project's link, Enter, then search with Enter
        page.keyboard.press("Tab")  # the skip link comes first
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.closest('.card.project') !== null"):
                break
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/ui/s/demo/{PROJECT}/")
        total_of(page)
        page.focus("#q")
        page.keyboard.type(records[42].name)
        page.keyboard.press("Enter")
        settle(page, 1)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page is {width} px wide on a 375 px screen"
        missing_alt = page.evaluate(
            "[...document.images].filter((i) => !i.getAttribute('alt')).length"
        )
        assert missing_alt == 0
        page.click("#sign-out")
        page.wait_for_url("**/ui/sign-in**")
        page.goto(server.url + "ui/s/demo/")
        page.wait_for_url("**/ui/sign-in**")  # the cookie is gone
        assert not errors, errors
    except BaseException:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "phone.png"), full_page=True)
        raise
    finally:
        context.close()


def test_drop_onto_an_asset_makes_its_next_version_and_pauses_and_resumes(site, browser):
    server, root, _records = site
    first = ms.encoded(ms.halves((300, 200), ms.RED, ms.WHITE), "JPEG")
    upload = requests.post(
        server.url + f"api/demo/{PROJECT}/upload/versions",
        params={"filename": "shot.jpg", "create": "true"},
        data=first,
        auth=("writer", PASSWORD["writer"]),
        timeout=30,
    )
    assert upload.status_code == 200, upload.text
    noise = Image.effect_noise((1400, 1000), 90).convert("RGB")  # barely compressible
    second = ms.encoded(noise, "JPEG", quality=95)
    assert 600_000 < len(second) < MAX_FILE
    with page_for(browser, "pause") as page:
        sign_in(page, server, "writer", f"ui/s/demo/{PROJECT}/versions")
        network = page.context.new_cdp_session(page)
        network.send("Network.enable")
        network.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 250_000},
        )
        drop_files(page, "[data-upload]", {"shot.jpg": second})
        bar = page.locator("#uploads progress")
        page.wait_for_function("document.querySelector('#uploads progress').value > 0.1")
        page.click("#uploads button:has-text('Pause')")
        paused_at = bar.evaluate("b => b.value")
        page.wait_for_timeout(1000)
        assert bar.evaluate("b => b.value") == paused_at  # paused: nothing moves
        assert paused_at < 1
        network.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        page.click("#uploads button:has-text('Resume')")
        page.wait_for_function(
            "document.querySelector('#uploads .status').textContent === 'Uploaded'"
        )
        page.reload()
        assert "Version 2" in page.inner_text("#files-title ~ h3")
    assert (root / PROJECT / "versions" / "2" / "shot.jpg").read_bytes() == second


def test_export_the_current_search_into_a_zip(site, browser):
    server, _root, records = site
    counts = Counter(tag for r in records for tag in r.tags)
    tag = counts.most_common(3)[2][0]
    with page_for(browser, "export") as page:
        sign_in(page, server, "reader", start=f"ui/s/demo/{PROJECT}/?include={tag}")
        settle(page, counts[tag])
        page.wait_for_function("document.querySelectorAll('#export-config option').length > 0")
        page.click("#export button[type=submit]")
        link = page.locator("#export-download")
        link.wait_for(timeout=60_000)
        assert f"({counts[tag]} assets)" in link.inner_text()
        zipped = requests.get(link.get_attribute("href"), timeout=60)
    archive = zipfile.ZipFile(io.BytesIO(zipped.content))
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert len({row["asset"] for row in manifest}) == len(manifest) == counts[tag]
    assert all(name in archive.namelist() for name in (row["file"] for row in manifest))
    # the default configuration was made for the reader on first use
    mine = requests.get(
        server.url + "compat/sartiq/api/v1/users/me/export-configurations",
        auth=("reader", PASSWORD["reader"]),
        timeout=10,
    ).json()
    assert [c["name"] for c in mine] == ["Default"]
