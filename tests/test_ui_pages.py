"""The asset browser's pages over HTTP (the browser tests drive them in Chromium): where a
browser lands, signing in with an HttpOnly cookie, what each page shows, what a reader
does not get, and names a store may not take."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import media_sources as ms
import pytest
import requests
from users import PASSWORD, add_team, auth

from conftest import REPO, Server
from dav import mkcol, propfind

ADMIN = auth("admin")
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Server]:
    """Users admin, writer and reader (teamA); project `shots` (teamA) with asset `sea`
    holding a photo, and project `secret` (admins only)."""
    base = tmp_path_factory.mktemp("ui")
    (base / "demo").mkdir()
    server = Server({"demo": base / "demo"}, base / "state", base / "server.log")
    add_team(server)
    server.start()
    store = server.store_url()
    for folder in ("shots/", "shots/sea/", "secret/"):
        assert mkcol(store + folder, auth=ADMIN).status_code == 201
    photo = ms.encoded(ms.halves((600, 400), ms.BLUE, ms.GREEN), "JPEG")
    assert requests.put(store + "shots/sea/wave.jpg", data=photo, auth=ADMIN).status_code == 201
    answer = requests.post(
        server.url + "api/demo/shots/projectAccessMeta", json={"groups": ["teamA"]}, auth=ADMIN
    )
    assert answer.status_code == 200, answer.text
    yield server
    server.stop()


def signed_in(server: Server, user: str) -> requests.Session:
    """A session holding the cookie the sign-in form asks for."""
    session = requests.Session()
    answer = session.post(
        server.url + "api/auth",
        json={"user": user, "password": PASSWORD[user], "cookie": True},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return session


def test_a_browser_opening_the_address_lands_on_the_page_and_webdav_clients_do_not(site):
    home = requests.get(site.url, headers=BROWSER, auth=ADMIN, allow_redirects=False)
    assert home.status_code == 302 and home.headers["Location"] == "/ui/"
    plain = requests.get(site.url, headers={"Accept": "*/*"}, auth=ADMIN, allow_redirects=False)
    assert plain.status_code == 200 and "demo" in plain.text
    assert propfind(site.url, depth="1", auth=ADMIN).status_code == 207


def test_pages_need_signing_in_and_the_cookie_is_httponly_and_strict(site):
    page = requests.get(site.url + "ui/s/demo/shots/", allow_redirects=False, timeout=10)
    assert page.status_code == 302
    assert page.headers["Location"] == "/ui/sign-in?next=/ui/s/demo/shots/"
    form = requests.get(site.url + "ui/sign-in", params={"next": "/ui/s/demo/shots/"})
    assert form.status_code == 200 and 'data-next="/ui/s/demo/shots/"' in form.text
    elsewhere = requests.get(site.url + "ui/sign-in", params={"next": "//evil.example/"})
    assert 'data-next="/ui/"' in elsewhere.text
    assert requests.get(site.url + "ui/static/app.css").status_code == 200

    wrong = requests.post(
        site.url + "api/auth", json={"user": "admin", "password": "nope", "cookie": True}
    )
    assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers
    assert set(wrong.json()) == {"title", "description"}
    session = requests.Session()
    answer = session.post(
        site.url + "api/auth",
        json={"user": "admin", "password": PASSWORD["admin"], "cookie": True},
    )
    cookie = answer.headers["Set-Cookie"]
    assert "AUTH_TOKEN=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    assert session.get(site.url + "ui/s/demo/shots/", allow_redirects=False).status_code == 200
    assert session.get(site.url + "api/demo/list").status_code == 200
    without = requests.post(site.url + "api/auth", json={"user": "admin", **_pw("admin")})
    assert "Set-Cookie" not in without.headers  # API clients get a token, no cookie
    out = session.delete(site.url + "api/auth")
    assert out.status_code == 204 and "Max-Age=0" in out.headers["Set-Cookie"]
    assert session.get(site.url + "ui/s/demo/", allow_redirects=False).status_code == 302


def _pw(user: str) -> dict[str, str]:
    return {"password": PASSWORD[user]}


def test_store_project_and_asset_pages_show_what_the_api_knows(site):
    session = signed_in(site, "admin")
    store = session.get(site.url + "ui/", timeout=10)  # one store: straight to it
    assert store.url.endswith("/ui/s/demo/")
    assert '<a href="/ui/s/demo/shots/">' in store.text and "1 asset" in store.text
    assert 'src="/api/demo/shots/preview/sea"' in store.text  # the project's thumbnail
    assert f"{site.url}demo/" in store.text  # "Connect as a drive"
    assert "rclone config create assetdav webdav" in store.text
    project = session.get(site.url + "ui/s/demo/shots/")
    assert 'data-store="demo"' in project.text and 'data-project="shots"' in project.text
    asset = session.get(site.url + "ui/s/demo/shots/sea")
    assert asset.status_code == 200
    assert 'src="/api/demo/shots/preview/sea?quality=high"' in asset.text
    assert f'href="{site.url}demo/shots/sea/wave.jpg"' in asset.text
    assert 'id="edit"' in asset.text and "Created" in asset.text
    for url in (
        "ui/s/demo/shots/sea",
        "ui/s/demo/shots/",
        "ui/s/demo/",
        "ui/static/grid.js",
        "ui/static/asset.js",
    ):
        assert session.get(site.url + url).status_code == 200, url


def test_a_reader_gets_no_edit_controls_and_a_hand_made_edit_is_refused(site):
    session = signed_in(site, "reader")
    asset = session.get(site.url + "ui/s/demo/shots/sea")
    assert asset.status_code == 200
    assert 'id="edit"' not in asset.text and "No description." in asset.text
    edit = session.post(
        site.url + "api/demo/shots/meta/sea", json={"description": "mine now"}, timeout=10
    )
    assert edit.status_code == 403 and set(edit.json()) == {"title", "description"}
    secret = session.get(site.url + "ui/s/demo/secret/")
    assert secret.status_code == 403 and "text/html" in secret.headers["Content-Type"]
    assert "may not read" in secret.text
    assert session.get(site.url + "ui/s/demo/nothing-here/").status_code == 404


@pytest.mark.parametrize("name", ["ui", "compat", "api", "assets"])
def test_names_the_server_keeps_for_itself_cannot_be_stores(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    result = subprocess.run(
        [sys.executable, "-P", "-m", "davserver", "serve", "--store", f"{name}={folder}",
         "--state-dir", str(tmp_path / "state"), "--port", "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")},
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert f"cannot be named {name!r}" in result.stderr and "Traceback" not in result.stderr


def test_a_pages_script_is_not_challenged_so_the_browser_shows_no_password_dialog(site):
    wrong = {"user": "admin", "password": "nope"}
    plain = requests.post(site.url + "api/auth", json=wrong, timeout=10)
    assert plain.status_code == 401 and "Basic" in plain.headers["WWW-Authenticate"]
    script = requests.post(
        site.url + "api/auth", json=wrong, headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert script.status_code == 401 and "WWW-Authenticate" not in script.headers
    assert script.json()["description"]


def test_the_pages_cookie_opens_the_download_links_too(site):
    session = signed_in(site, "reader")
    wave = site.store_url() + "shots/sea/wave.jpg"
    answer = session.get(wave, timeout=10)
    assert answer.status_code == 200 and answer.content[:2] == b"\xff\xd8"
    assert session.get(site.store_url() + "secret/", timeout=10).status_code in (403, 404)
    assert requests.get(wave, timeout=10).status_code == 401  # no cookie, no credentials
    forged = requests.get(wave, cookies={"AUTH_TOKEN": "not.a.token"}, timeout=10)
    assert forged.status_code == 401
    refused = session.put(site.store_url() + "shots/sea/new.txt", data=b"x", timeout=10)
    assert refused.status_code == 403  # a reader, whichever way signed in


def test_an_asset_page_with_odd_folder_names_inside(site):
    """A folder named with a superscript digit is not a version folder (int() refuses it)."""
    put = requests.put(
        site.store_url() + "shots/sea/%C2%B9/note.txt", data=b"x", auth=ADMIN, timeout=10
    )
    assert put.status_code in (201, 409), put.status_code
    if put.status_code == 409:  # the folder has to exist first
        assert mkcol(site.store_url() + "shots/sea/%C2%B9/", auth=ADMIN).status_code == 201
        assert requests.put(
            site.store_url() + "shots/sea/%C2%B9/note.txt", data=b"x", auth=ADMIN, timeout=10
        ).status_code == 201
    page = signed_in(site, "admin").get(site.url + "ui/s/demo/shots/sea", timeout=10)
    assert page.status_code == 200 and "¹/note.txt" in page.text
