"""A project whose groups include `public` is readable by every signed-in user (never
writable for it), and by requests without credentials when `allow_anonymous_read` is on;
`include_public=false` leaves such projects out of /api/assets and /api/tags."""

from __future__ import annotations

import requests
from users import add_team, add_user, auth

from dav import mkcol, propfind

PROJECTS = {"team": ["teamA"], "shared": ["public"], "private": ["other"]}


def test_public_projects_and_include_public(make_server):
    server = make_server()
    add_team(server)
    add_user(server, "outsider", "outsider-secret", "--read-groups", "nobody-else")
    outsider = ("outsider", "outsider-secret")
    api, dav = server.url + "api/", server.store_url()
    admin = auth("admin")
    for project, groups in PROJECTS.items():
        made = requests.post(api + "demo/create", json={"id": project, "groups": groups},
                             auth=admin, timeout=10)
        assert made.status_code == 200, made.text
        assert mkcol(dav + f"{project}/a/", auth=admin).status_code == 201
        assert requests.put(dav + f"{project}/a/f.txt", data=project.encode(), auth=admin,
                            timeout=10).status_code == 201
        tagged = requests.post(api + f"demo/{project}/tags/a", json=[f"tag-{project}"],
                               auth=admin, timeout=10)
        assert tagged.status_code == 200, tagged.text

    def projects(who, **params) -> list[str]:
        answer = requests.get(api + "assets", params=params, auth=who, timeout=10)
        assert answer.status_code == 200, answer.text
        return sorted(a["project"] for a in answer.json()["assets"])

    def tags(who, **params) -> list[str]:
        answer = requests.get(api + "tags", params=params, auth=who, timeout=10).json()
        return sorted(t["name"] for t in answer["tags"])

    # every signed-in user reads the public project; nobody writes it by being signed in
    assert projects(outsider) == ["shared"]
    assert projects(auth("reader")) == ["shared", "team"]
    assert projects(admin) == ["private", "shared", "team"]
    assert requests.get(dav + "shared/a/f.txt", auth=outsider, timeout=10).content == b"shared"
    assert requests.put(dav + "shared/a/g.txt", data=b"x", auth=outsider,
                        timeout=10).status_code == 403
    assert requests.get(dav + "private/a/f.txt", auth=outsider, timeout=10).status_code in (
        403, 404)
    assert requests.get(dav + "shared/a/f.txt", timeout=10).status_code == 401

    # include_public=false: public projects out of the assets and the tags
    assert projects(outsider, include_public="false") == []
    assert projects(auth("reader"), include_public="false") == ["team"]
    assert projects(admin, include_public="false") == ["private", "team"]
    assert tags(auth("reader")) == ["tag-shared", "tag-team"]
    assert tags(auth("reader"), include_public="false") == ["tag-team"]
    refined = requests.get(api + "assets/tags/refine", params={"include_public": "false"},
                           auth=auth("reader"), timeout=10).json()
    assert refined == {"tags": [{"name": "tag-team", "count": 1}]}

    # anonymous reading: off, every request needs credentials; on, reads see public projects
    assert requests.get(api + "assets", timeout=10).status_code == 401
    server.env["ASSETDAV_ALLOW_ANONYMOUS_READ"] = "true"
    server.restart()
    assert projects(None) == ["shared"]
    assert requests.get(dav + "shared/a/f.txt", timeout=10).content == b"shared"
    listing = propfind(dav, depth="1")
    assert listing.status_code == 207
    assert b"/demo/shared/" in listing.content and b"/demo/team/" not in listing.content
    assert requests.get(dav + "private/a/f.txt", timeout=10).status_code in (403, 404)
    assert requests.get(dav + "team/a/f.txt", timeout=10).status_code in (403, 404)
    # writing still asks for credentials (401, so that a client prompts for them)
    assert requests.put(dav + "shared/a/g.txt", data=b"x", timeout=10).status_code == 401
    assert requests.post(api + "demo/shared/tags/a", json=["x"], timeout=10).status_code == 401
    assert requests.put(dav + "shared/a/g.txt", data=b"x", auth=admin,
                        timeout=10).status_code == 201
