"""Users, groups and access: the same decisions over WebDAV and the API."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import requests
from users import add_team, auth

from dav import NS, mkcol, parse_multistatus, propfind, proppatch, tag_xml

USERS = ("admin", "writer", "reader")


def snapshot(root: Path) -> dict[str, str]:
    """Every file under `root` (sidecars included) and a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def team_server(make_server):
    """Projects A (group teamA) and B (group teamB), each with an asset holding a file."""
    server = make_server(start=False)
    add_team(server)
    server.start()
    base = server.store_url()
    admin = auth("admin")
    for project, asset, group in (("A", "a1", "teamA"), ("B", "b1", "teamB")):
        assert mkcol(base + f"{project}/", auth=admin).status_code == 201
        assert mkcol(base + f"{project}/{asset}/", auth=admin).status_code == 201
        assert (
            requests.put(
                base + f"{project}/{asset}/f.txt",
                data=b"file " + project.encode(),
                auth=admin,
                timeout=5,
            ).status_code
            == 201
        )
        response = requests.post(
            server.url + f"api/demo/{project}/projectAccessMeta",
            json={"groups": [group]},
            auth=admin,
            timeout=5,
        )
        assert response.status_code == 200, response.text
    return server


def dav_operations(base: str):
    """(name, request) in an order where each step leaves the next one meaningful."""
    return [
        ("PROPFIND store", lambda a: propfind(base, depth="1", auth=a)),
        ("GET file", lambda a: requests.get(base + "A/a1/f.txt", auth=a, timeout=5)),
        ("PUT file", lambda a: requests.put(base + "A/a1/new.txt", data=b"n", auth=a, timeout=5)),
        ("MKCOL", lambda a: mkcol(base + "A/a2/", auth=a)),
        (
            "PROPPATCH tags",
            lambda a: proppatch(base + "A/a1/", {f"{{{NS}}}tags": tag_xml(["x"])}, auth=a),
        ),
        ("DELETE", lambda a: requests.delete(base + "A/a1/f.txt", auth=a, timeout=5)),
        (
            "MOVE into another project",
            lambda a: requests.request(
                "MOVE", base + "A/a1/", headers={"Destination": base + "B/a1/"}, auth=a, timeout=5
            ),
        ),
    ]


EXPECTED_DAV = {
    "admin": [207, 200, 201, 201, 207, 204, 201],
    "writer": [207, 200, 201, 201, 207, 204, 403],
    "reader": [207, 200, 403, 403, 403, 403, 403],
}


@pytest.mark.parametrize("user", USERS)
def test_webdav_matrix(team_server, user):
    base = team_server.store_url()
    root = team_server.stores["demo"]
    for (name, run), expected in zip(dav_operations(base), EXPECTED_DAV[user], strict=True):
        before = snapshot(root)
        response = run(auth(user))
        assert response.status_code == expected, f"{user} {name}: {response.status_code}"
        if expected == 403:
            assert snapshot(root) == before, f"{user} {name} changed the tree"
        if name == "PROPPATCH tags" and expected == 207:
            assert "200 OK" in response.text


@pytest.mark.parametrize(
    "user, visible", [("admin", {"A", "B"}), ("writer", {"A"}), ("reader", {"A"})]
)
def test_listings_never_reveal_unreadable_projects(team_server, user, visible):
    listing = parse_multistatus(
        propfind(team_server.store_url(), depth="1", auth=auth(user)).content
    )
    names = {href.rstrip("/").rsplit("/", 1)[-1] for href in listing} - {"demo"}
    assert names == visible
    projects = requests.get(team_server.url + "api/demo/list", auth=auth(user), timeout=5)
    assert projects.status_code == 200
    assert {p["name"] for p in projects.json()} == visible


@pytest.mark.parametrize("user, status", [("admin", 200), ("writer", 403), ("reader", 403)])
def test_only_admins_manage_users_and_project_groups(team_server, user, status):
    api = team_server.url + "api/"
    assert requests.get(api + "user", auth=auth(user), timeout=5).status_code == status
    before = snapshot(team_server.stores["demo"])
    response = requests.post(
        api + "demo/A/projectAccessMeta",
        json={"groups": ["teamA", "x"]},
        auth=auth(user),
        timeout=5,
    )
    assert response.status_code == status
    if status == 403:
        assert response.json()["title"] and response.json()["description"]
        assert snapshot(team_server.stores["demo"]) == before
    readable = requests.get(api + "demo/A/projectAccessMeta", auth=auth(user), timeout=5)
    assert readable.status_code == 200


def test_missing_or_wrong_credentials_are_401_with_a_challenge(team_server):
    for kwargs in ({}, {"auth": ("reader", "wrong")}, {"auth": ("nobody", "x")}):
        dav = requests.get(team_server.store_url() + "A/a1/f.txt", timeout=5, **kwargs)
        assert dav.status_code == 401
        assert "Basic" in dav.headers["WWW-Authenticate"]
        api = requests.get(team_server.url + "api/demo/list", timeout=5, **kwargs)
        assert api.status_code == 401
        assert "Basic" in api.headers["WWW-Authenticate"]
        assert set(api.json()) == {"title", "description"}


def test_token_works_in_all_four_places(team_server):
    api = team_server.url + "api/"
    token = requests.post(
        api + "auth", json={"user": "reader", "password": "reader-secret"}, timeout=5
    ).json()["token"]
    places = [
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"headers": {"AUTH_TOKEN": token}},
        {"params": {"AUTH_TOKEN": token}},
        {"cookies": {"AUTH_TOKEN": token}},
    ]
    for place in places:
        response = requests.get(api + "user/info", timeout=5, **place)
        assert response.status_code == 200, place
        assert response.json()["user"] == "reader"
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (
        requests.get(api + "user/info", headers={"AUTH_TOKEN": tampered}, timeout=5).status_code
        == 401
    )
    bad = requests.post(api + "auth", json={"user": "reader", "password": "nope"}, timeout=5)
    assert bad.status_code == 401 and set(bad.json()) == {"title", "description"}


def test_expired_token_is_401(make_server):
    server = make_server(start=False, env={"ASSETDAV_TOKEN_TTL": "60"})
    add_team(server)
    server.start()
    api = server.url + "api/"
    token = requests.post(
        api + "auth", json={"user": "admin", "password": "admin-secret"}, timeout=5
    ).json()["token"]
    assert (
        requests.get(api + "user/info", headers={"AUTH_TOKEN": token}, timeout=5).status_code == 200
    )
    from stores.tokens import TokenSigner, load_secret

    old = TokenSigner(load_secret(server.state_dir / "token-secret"), 60).issue(
        "admin", now=1_000_000
    )
    response = requests.get(api + "user/info", headers={"AUTH_TOKEN": old}, timeout=5)
    assert response.status_code == 401
    assert "expired" in response.json()["description"]


def test_user_changes_apply_without_restart_and_secrets_stay_out_of_logs(team_server):
    api = team_server.url + "api/"
    admin = auth("admin")
    created = requests.post(
        api + "user",
        json={"user": "late", "password": "late-pw-123", "write_groups": ["teamA"]},
        auth=admin,
        timeout=5,
    )
    assert created.status_code == 200, created.text
    assert (
        requests.get(
            team_server.store_url() + "A/a1/f.txt", auth=("late", "late-pw-123"), timeout=5
        ).status_code
        == 200
    )
    assert (
        requests.patch(
            api + "user", json={"user": "late", "write_groups": []}, auth=admin, timeout=5
        ).status_code
        == 200
    )
    assert (
        requests.get(
            team_server.store_url() + "A/a1/f.txt", auth=("late", "late-pw-123"), timeout=5
        ).status_code
        == 403
    )
    token = requests.post(
        api + "auth", json={"user": "late", "password": "late-pw-123"}, timeout=5
    ).json()["token"]
    requests.get(api + "user/info", params={"AUTH_TOKEN": token}, timeout=5)
    requests.get(team_server.store_url(), auth=("late", "wrong-guess"), timeout=5)
    assert (
        requests.delete(api + "user", json={"user": "late"}, auth=admin, timeout=5).status_code
        == 200
    )
    assert (
        requests.get(team_server.store_url(), auth=("late", "late-pw-123"), timeout=5).status_code
        == 401
    )
    users_file = (team_server.state_dir / "users.yaml").read_text()
    assert "secret" not in users_file and "scrypt:" in users_file
    team_server.stop()
    log = team_server.log()
    for secret in ("late-pw-123", "wrong-guess", token, "admin-secret"):
        assert secret not in log
    assert "failed login for user 'late'" in log


def test_repeated_failed_logins_from_one_address_are_slowed_down(team_server):
    url = team_server.store_url()
    started = time.monotonic()
    for _ in range(3):
        assert requests.get(url, auth=("reader", "guess"), timeout=30).status_code == 401
    free = time.monotonic() - started
    for _ in range(3):
        assert requests.get(url, auth=("reader", "guess"), timeout=30).status_code == 401
    slowed = time.monotonic() - started - free
    assert slowed >= 1.5  # 0.25 s, 0.5 s and 1 s of deliberate delay
    good = requests.get(url, auth=auth("reader"), timeout=30)
    assert good.status_code == 207 or good.status_code == 200
    assert requests.get(url, auth=auth("reader"), timeout=30).elapsed.total_seconds() < 1


def api_operations(api: str):
    """The matrix's operations that the OVE API offers (it has no delete or move)."""
    return [
        ("list store", lambda a: requests.get(api + "demo/list", auth=a, timeout=5)),
        ("GET file", lambda a: requests.get(api + "demo/A/files/a1", params={"version": 1},
                                            auth=a, timeout=5)),
        ("PUT file", lambda a: requests.post(api + "demo/A/upload/a1",
                                             params={"filename": "n.txt", "update": "true"},
                                             data=b"n", auth=a, timeout=5)),
        ("MKCOL", lambda a: requests.post(api + "demo/A/create", json={"name": "a9"}, auth=a,
                                          timeout=5)),
        ("PROPPATCH tags", lambda a: requests.post(api + "demo/A/tags/a1", json=["x"], auth=a,
                                                   timeout=5)),
        ("read project B", lambda a: requests.get(api + "demo/B/list", auth=a, timeout=5)),
        ("write project B", lambda a: requests.post(api + "demo/B/tags/b1", json=["x"], auth=a,
                                                    timeout=5)),
    ]


EXPECTED_API = {
    "admin": [200, 200, 200, 200, 200, 200, 200],
    "writer": [200, 200, 200, 200, 200, 403, 403],
    "reader": [200, 200, 403, 403, 403, 403, 403],
}


@pytest.mark.parametrize("user", USERS)
def test_api_matrix(team_server, user):
    api = team_server.url + "api/"
    root = team_server.stores["demo"]
    assert requests.post(api + "demo/A/upload/a1", params={"filename": "v1.txt"}, data=b"1",
                         auth=auth("admin"), timeout=5).status_code == 200
    for (name, run), expected in zip(api_operations(api), EXPECTED_API[user], strict=True):
        before = snapshot(root)
        response = run(auth(user))
        assert response.status_code == expected, f"{user} {name}: {response.text}"
        if expected == 403:
            assert set(response.json()) >= {"title", "description"}
            assert snapshot(root) == before, f"{user} {name} changed the tree"
    if user != "reader":
        url = requests.get(api + "demo/A/files/a1", auth=auth(user), timeout=5).json()[0]["url"]
        assert requests.get(url, auth=auth(user), timeout=5).content == b"n"
