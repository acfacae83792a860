"""Hostile paths over WebDAV: traversal, encoded separators, bad names, symlinks leaving the
store, foreign or climbing Destinations. Each is refused with a 4xx (never a 5xx, never a
hang), and nothing outside the store is read, written, created or deleted.

Requests go out through `http.client`, so the path reaches the server exactly as written
(no client-side normalisation of `..` or percent-escapes).
"""

from __future__ import annotations

import http.client
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests
import yaml

from dav import DAV, mkcol

if TYPE_CHECKING:
    from conftest import Server

SECRET = b"TOP-SECRET-9f1c2e7a: this must never leave the server"
FILE_BODY = b"an ordinary file inside the asset\n"
ANSWER_TIMEOUT = 5.0  # until the status line and headers arrive
BODY_TIMEOUT = 2.0  # for a small body once the headers are in (loopback)
HTTP_TIMEOUT = 10.0  # ordinary `requests` calls

Snapshot = dict[str, bytes | str | None]


# --- plumbing --------------------------------------------------------------------------


class NoAnswer(Exception):
    """The server did not answer completely (nothing, or headers without the body)."""


@dataclass(frozen=True)
class RawResponse:
    status: int
    body: bytes

    @property
    def message(self) -> str:
        """WsgiDAV's one-line explanation from an error page, else the start of the body."""
        found = re.search(rb"<p>(.*?)</p>", self.body, re.S)
        return (found.group(1) if found else self.body[:200]).decode("utf-8", "replace")


@dataclass(frozen=True)
class Attempt:
    """One request a hostile or confused client might send."""

    method: str
    target: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def __str__(self) -> str:
        extra = "".join(f" [{k}: {v}]" for k, v in self.headers.items())
        return f"{self.method} {self.target}{extra}"


def raw_request(port: int, attempt: Attempt) -> RawResponse:
    """Send the request line byte for byte and read the whole answer, with timeouts."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_TIMEOUT)
    try:
        conn.putrequest(attempt.method, attempt.target, skip_accept_encoding=True)
        for name, value in attempt.headers.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(attempt.body)))
        conn.endheaders(attempt.body)
        try:
            response = conn.getresponse()
        except TimeoutError as exc:
            raise NoAnswer(f"{attempt}: no answer within {ANSWER_TIMEOUT}s") from exc
        if conn.sock is not None:  # kept alive; a closing answer hands its socket to `response`
            conn.sock.settimeout(BODY_TIMEOUT)
        try:
            body = response.read()
        except TimeoutError as exc:
            raise NoAnswer(
                f"{attempt}: the server answered {response.status} with Content-Length "
                f"{response.getheader('Content-Length')} but never sent the body "
                "(the client hangs until it gives up)"
            ) from exc
        return RawResponse(response.status, body)
    finally:
        conn.close()


def snapshot(root: Path, skip: Iterable[Path] = ()) -> Snapshot:
    """Every entry under `root` (minus `skip`): file bytes, link targets, None for folders."""
    found: Snapshot = {}
    skipped = {str(p) for p in skip}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in skipped]
        for name in dirs + files:
            path = os.path.join(folder, name)
            if path in skipped:
                continue
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                found[rel] = "-> " + os.readlink(path)
            elif os.path.isdir(path):
                found[rel] = None
            else:
                found[rel] = Path(path).read_bytes()
    return found


@dataclass
class World:
    """A store holding `proj/a1/f.txt`, with secret files beside and above the store folder."""

    server: Server
    store_root: Path
    tmp_path: Path
    secrets: list[Path]
    outside_before: Snapshot = field(default_factory=dict)
    store_before: Snapshot = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.server.url.rstrip("/")

    def url(self, path: str) -> str:
        return self.server.store_url() + path

    def _outside(self) -> Snapshot:
        return snapshot(
            self.tmp_path,
            (*self.server.stores.values(), self.server.state_dir, self.server.log_path),
        )

    def remember(self) -> None:
        """Take the 'before' pictures (after the test's own setup)."""
        self.outside_before = self._outside()
        self.store_before = snapshot(self.store_root)

    def send(self, attempt: Attempt, *, bad_gateway_ok: bool = False) -> RawResponse:
        """Send one request that must be answered, without a 5xx and without the secret
        (502 Bad Gateway is WsgiDAV's refusal of a Destination on another host)."""
        try:
            response = raw_request(self.server.port, attempt)
        except NoAnswer as exc:
            pytest.fail(str(exc))
        assert SECRET not in response.body, f"{attempt}: the secret leaked"
        allowed = response.status < 500 or (bad_gateway_ok and response.status == 502)
        assert allowed, f"{attempt}: {response.status} {response.message}"
        return response

    def assert_all_refused(self, attempts: Iterable[Attempt]) -> list[RawResponse]:
        """Every attempt gets a complete 4xx answer that does not carry the secret.

        All attempts are made, and every one that misbehaves is reported together.
        """
        problems: list[str] = []
        answers: list[RawResponse] = []
        for attempt in attempts:
            try:
                response = raw_request(self.server.port, attempt)
            except NoAnswer as exc:
                problems.append(str(exc))
                continue
            answers.append(response)
            if SECRET in response.body:
                problems.append(f"{attempt}: the secret leaked in the response")
            if not 400 <= response.status < 500:
                problems.append(
                    f"{attempt}: expected a 4xx refusal, got {response.status} ({response.message})"
                )
        assert not problems, "\n".join(problems)
        return answers

    def assert_outside_untouched(self) -> None:
        for secret in self.secrets:
            assert secret.read_bytes() == SECRET, f"{secret} was changed"
        assert self._outside() == self.outside_before, "something changed outside the store"

    def assert_store_unchanged(self) -> None:
        now = snapshot(self.store_root)
        added = sorted(set(now) - set(self.store_before))
        removed = sorted(set(self.store_before) - set(now))
        changed = sorted(
            k for k in now if k in self.store_before and now[k] != self.store_before[k]
        )
        assert not (added or removed or changed), (
            f"the store changed: added {added}, removed {removed}, changed {changed}"
        )

    def assert_file_intact(self) -> None:
        assert requests.get(self.url("proj/a1/f.txt"), timeout=HTTP_TIMEOUT).content == FILE_BODY


@pytest.fixture
def world(server: Server, store_root: Path, tmp_path: Path) -> World:
    secrets = [store_root.parent / "secret.txt", tmp_path / "secret.txt"]
    for secret in secrets:
        secret.write_bytes(SECRET)
    base = server.store_url()
    assert mkcol(base + "proj/").status_code == 201
    assert mkcol(base + "proj/a1/").status_code == 201
    put = requests.put(base + "proj/a1/f.txt", data=FILE_BODY, timeout=HTTP_TIMEOUT)
    assert put.status_code == 201
    w = World(server, store_root, tmp_path, secrets)
    w.remember()
    return w


def every_method(target: str) -> list[Attempt]:
    """Read, write a file, delete, make a folder and delete at `target` (a DELETE after each
    write, so one wrongly accepted write does not hide what the next one would do)."""
    return [
        Attempt("GET", target),
        Attempt("PUT", target, body=b"PWNED: written through a hostile path"),
        Attempt("DELETE", target),
        Attempt("MKCOL", target),
        Attempt("DELETE", target),
    ]


def listed_names(multistatus: bytes, folder_path: str) -> set[str]:
    """Member names in a Depth-1 PROPFIND answer for `folder_path` (the folder left out)."""
    names: set[str] = set()
    for response in ET.fromstring(multistatus).findall(f"{{{DAV}}}response"):
        path = unquote(urlsplit(response.findtext(f"{{{DAV}}}href") or "").path)
        if path.rstrip("/") != folder_path.rstrip("/"):
            names.add(path.rstrip("/").rsplit("/", 1)[-1])
    return names


# --- traversal -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("/demo/../secret.txt", id="dotdot"),
        pytest.param("/demo/../../secret.txt", id="dotdot-above-root"),
        pytest.param("/demo/proj/a1/../../../secret.txt", id="dotdot-from-asset"),
        pytest.param("/demo/%2e%2e%2fsecret.txt", id="pct-dotdot-pct-slash"),
        pytest.param(
            "/demo/proj/a1/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
            id="pct-dotdot-pct-slash-in-asset",
        ),
        pytest.param("/demo/%2e%2e/secret.txt", id="pct-dotdot"),
        pytest.param(
            "/demo/proj/a1/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt", id="pct-dotdot-above-root"
        ),
        pytest.param("/demo/..%2fsecret.txt", id="dotdot-pct-slash"),
        pytest.param("/demo/proj/a1/..%2f..%2f..%2fsecret.txt", id="dotdot-pct-slash-in-asset"),
        pytest.param("/demo/proj/a1/%2fetc%2fpasswd", id="pct-slash-absolute-in-asset"),
    ],
)
def test_traversal_is_refused_and_touches_nothing(world: World, target: str) -> None:
    world.assert_all_refused(every_method(target))
    world.assert_outside_untouched()
    world.assert_store_unchanged()
    world.assert_file_intact()


def test_absolute_looking_paths_stay_inside_the_store(world: World) -> None:
    passwd = Path("/etc/passwd")
    before = passwd.read_bytes() if passwd.exists() else b""
    targets = [
        "/demo//etc/passwd",
        "/demo///etc/passwd",
        "/demo/proj/a1//etc/passwd",
        "//etc/passwd",  # an absolute-form-looking request target
    ]
    attempts = [a for t in targets for a in every_method(t) if a.method != "DELETE"]
    for answer in world.assert_all_refused(attempts):
        if before:
            assert before.splitlines()[0] not in answer.body
    if before:
        assert passwd.read_bytes() == before
    world.assert_outside_untouched()
    world.assert_store_unchanged()


# --- bad names -------------------------------------------------------------------------


def test_control_characters_in_names_are_refused(world: World) -> None:
    targets = [
        "/demo/proj/a1/a%00b.txt",  # NUL
        "/demo/proj/a%00b/",
        "/demo/proj/a1/a%01b.txt",
        "/demo/proj/a1/a%0ab.txt",  # newline
        "/demo/proj/a1/a%0d%0aX-Injected:%201",
        "/demo/proj/a1/a%7fb.txt",  # DEL
        "/demo/a%1fb/",
    ]
    world.assert_all_refused(a for t in targets for a in every_method(t) if a.method != "DELETE")
    world.assert_outside_untouched()
    world.assert_store_unchanged()


def test_names_over_255_bytes_are_refused(world: World) -> None:
    attempts: list[Attempt] = []
    for name in ("x" * 300, "\u00e9" * 150):  # 300 bytes; the second is only 150 characters
        quoted = quote(name)
        attempts += [
            Attempt("PUT", f"/demo/proj/a1/{quoted}", body=b"long"),
            Attempt("MKCOL", f"/demo/{quoted}/"),  # project
            Attempt("MKCOL", f"/demo/proj/{quoted}/"),  # asset
            Attempt("MKCOL", f"/demo/proj/a1/{quoted}/"),  # folder inside an asset
        ]
    world.assert_all_refused(attempts)
    world.assert_outside_untouched()
    world.assert_store_unchanged()


def test_a_name_of_exactly_255_bytes_still_works(world: World) -> None:
    url = world.url("proj/a1/" + "n" * 251 + ".txt")
    assert requests.put(url, data=b"fits", timeout=HTTP_TIMEOUT).status_code == 201
    assert requests.get(url, timeout=HTTP_TIMEOUT).content == b"fits"


# --- symlinks leaving the store --------------------------------------------------------


@pytest.fixture
def escape_links(world: World) -> World:
    """Links made behind the server's back, all pointing outside the store (at the folder
    holding `secret.txt`): a file and a folder in the asset, and a whole "project"."""
    outside = world.store_root.parent
    asset = world.store_root / "proj" / "a1"
    (asset / "leak.txt").symlink_to(outside / "secret.txt")
    (asset / "outdir").symlink_to(outside, target_is_directory=True)
    (world.store_root / "outproj").symlink_to(outside, target_is_directory=True)
    world.remember()
    return world


LINKED = ["/demo/proj/a1/leak.txt", "/demo/proj/a1/outdir/secret.txt", "/demo/outproj/secret.txt"]


def test_reading_through_a_symlink_leaving_the_store_is_refused(escape_links: World) -> None:
    attempts = [Attempt("GET", t) for t in LINKED]
    attempts += [Attempt("GET", "/demo/proj/a1/outdir/"), Attempt("GET", "/demo/outproj/")]
    escape_links.assert_all_refused(attempts)
    escape_links.assert_outside_untouched()


def test_writing_through_a_symlink_leaving_the_store_is_refused(escape_links: World) -> None:
    body = b"PWNED: written through a symlink"
    targets = [*LINKED, "/demo/proj/a1/outdir/new.txt", "/demo/outproj/new.txt"]
    attempts = [Attempt("PUT", t, body=body) for t in targets]
    attempts += [Attempt("MKCOL", "/demo/proj/a1/outdir/newdir/")]
    attempts += [Attempt("MKCOL", "/demo/outproj/newasset/")]
    attempts += [Attempt("DELETE", t) for t in LINKED]
    escape_links.assert_all_refused(attempts)
    escape_links.assert_outside_untouched()
    escape_links.assert_store_unchanged()


def test_copying_or_moving_out_of_a_symlink_is_refused(escape_links: World) -> None:
    w = escape_links
    stolen = w.url("proj/a1/stolen")
    attempts = [
        Attempt(method, source, {"Destination": stolen + suffix})
        for method in ("COPY", "MOVE")
        for source, suffix in [
            ("/demo/proj/a1/leak.txt", ".txt"),
            ("/demo/proj/a1/outdir/secret.txt", ".txt"),
            ("/demo/proj/a1/outdir/", "/"),
        ]
    ]
    w.assert_all_refused(attempts)
    assert requests.get(stolen + ".txt", timeout=HTTP_TIMEOUT).status_code == 404
    w.assert_outside_untouched()
    w.assert_store_unchanged()


def test_a_metadata_edit_records_no_file_behind_a_symlink_leaving_the_asset(
    escape_links: World,
) -> None:
    # an edit makes the sidecar true to the folder again: what a link leaving it points at
    # is no file of the asset, however deep
    w = escape_links
    answer = requests.post(
        w.origin + "/api/demo/proj/meta/a1", json={"tags": ["t"]}, timeout=HTTP_TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    sidecar = yaml.safe_load((w.store_root / "proj" / "a1" / ".ovemeta").read_text())
    assert sidecar["tags"] == ["t"]
    assert set(sidecar["files"]) == {"f.txt"}
    w.assert_outside_untouched()


@pytest.mark.parametrize(
    "folder, links",
    [
        pytest.param("/demo/proj/a1/", {"leak.txt", "outdir"}, id="asset"),
        pytest.param("/demo/", {"outproj"}, id="store"),
    ],
)
def test_listing_does_not_show_symlinks_leaving_the_store(
    escape_links: World, folder: str, links: set[str]
) -> None:
    w = escape_links
    allprop = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
    headers = {"Depth": "1", "Content-Type": "application/xml"}
    listing = w.send(Attempt("PROPFIND", folder, headers, allprop))
    assert listing.status == 207
    names = listed_names(listing.body, folder)
    assert names, "the listing still shows the folder's ordinary members"
    assert not names & links, f"symlinks leaving the store are listed: {names & links}"
    w.assert_all_refused(Attempt("PROPFIND", folder + link, headers, allprop) for link in links)
    w.assert_outside_untouched()


# --- COPY / MOVE destinations ----------------------------------------------------------


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_destination_on_another_host_is_refused(world: World, method: str) -> None:
    destinations = [
        "http://evil.example:1/demo/proj/a1/x.txt",
        "https://evil.example/demo/proj/a1/x.txt",
        "//evil.example/demo/proj/a1/x.txt",
    ]
    for destination in destinations:
        attempt = Attempt(method, "/demo/proj/a1/f.txt", {"Destination": destination})
        response = world.send(attempt, bad_gateway_ok=True)
        # WsgiDAV answers 502 Bad Gateway for a foreign host; any refusal will do.
        assert response.status == 502 or 400 <= response.status < 500, (
            f"{method} to {destination}: {response.status} {response.message}"
        )
    world.assert_file_intact()
    assert requests.get(world.url("proj/a1/x.txt"), timeout=HTTP_TIMEOUT).status_code == 404
    world.assert_outside_untouched()
    world.assert_store_unchanged()


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_destination_climbing_out_is_refused(world: World, method: str) -> None:
    origin = world.origin
    destinations = [
        f"{origin}/demo/proj/a1/../../../secret.txt",
        f"{origin}/demo/../../secret.txt",
        f"{origin}/demo/proj/a1/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        f"{origin}/demo/proj/a1/..%2f..%2f..%2f..%2fsecret.txt",
        f"{origin}/demo/proj/a1/%2e%2e%2f%2e%2e%2fcopied.txt",
        "/demo/../../secret.txt",
    ]
    world.assert_all_refused(
        Attempt(method, "/demo/proj/a1/f.txt", {"Destination": d, "Overwrite": "T"})
        for d in destinations
    )
    world.assert_file_intact()
    world.assert_outside_untouched()
    world.assert_store_unchanged()


# --- reserved OVE ids ------------------------------------------------------------------


def test_reserved_ids_cannot_become_projects_or_assets(world: World) -> None:
    projects = ["list", "create", "new", "validate", "List"]
    assets = ["create", "list", "VALIDATE"]
    world.assert_all_refused(
        [Attempt("MKCOL", f"/demo/{name}/") for name in projects]
        + [Attempt("MKCOL", f"/demo/proj/{name}/") for name in assets]
    )
    world.assert_store_unchanged()


def test_ordinary_projects_and_assets_can_still_be_made(world: World) -> None:
    assert mkcol(world.url("listing/")).status_code == 201
    assert mkcol(world.url("listing/created-assets/")).status_code == 201
    assert mkcol(world.url("proj/new-asset/")).status_code == 201
    for folder in ("listing", "listing/created-assets", "proj/new-asset"):
        assert (world.store_root / folder / ".ovemeta").is_file(), folder
    put = requests.put(world.url("listing/created-assets/ok.txt"), data=b"ok", timeout=10)
    assert put.status_code == 201
