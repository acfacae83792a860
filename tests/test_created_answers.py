"""What a client gets back when it makes something: 201 Created with no body (WsgiDAV's
HTML page dropped, as nginx and rclone answer), 201 for a COPY or MOVE to a new name and
204 over an existing one; errors still explain themselves."""

from __future__ import annotations

import requests

from dav import mkcol

HTTP_TIMEOUT = 30.0


def assert_created_without_body(response: requests.Response) -> None:
    assert response.status_code == 201, response.text
    assert response.content == b""
    assert response.headers["Content-Length"] == "0"
    assert "Content-Type" not in response.headers


def test_what_makes_something_answers_201_without_a_page_and_the_rest_as_before(server):
    base = server.store_url()
    assert_created_without_body(mkcol(base + "p/"))
    assert_created_without_body(mkcol(base + "p/a/"))
    url = base + "p/a/one.txt"
    assert_created_without_body(requests.put(url, data=b"first", timeout=HTTP_TIMEOUT))
    replaced = requests.put(url, data=b"second", timeout=HTTP_TIMEOUT)
    assert replaced.status_code == 204 and replaced.content == b""
    assert requests.get(url, timeout=HTTP_TIMEOUT).content == b"second"

    copy = requests.request(
        "COPY", url, headers={"Destination": base + "p/a/two.txt"}, timeout=HTTP_TIMEOUT
    )
    assert_created_without_body(copy)
    again = requests.request(
        "COPY", url, headers={"Destination": base + "p/a/two.txt"}, timeout=HTTP_TIMEOUT
    )
    assert again.status_code == 204
    move = requests.request(
        "MOVE", base + "p/a/two.txt", headers={"Destination": base + "p/a/three.txt"},
        timeout=HTTP_TIMEOUT,
    )  # fmt: skip
    assert_created_without_body(move)
    assert requests.get(base + "p/a/three.txt", timeout=HTTP_TIMEOUT).content == b"second"

    refused = mkcol(base + "p/missing/deeper/")
    assert refused.status_code == 409
    assert refused.content  # an error still says what went wrong
