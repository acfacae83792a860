"""llama-stack's files API at /compat/llama-stack/: a session uploaded in three pieces
lands as an asset of the bucket's project, visible over WebDAV; listing, reading and
deleting files; and the errors a client can provoke."""

from __future__ import annotations

import os

import pytest
import requests

BODY = os.urandom(300_000)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from conftest import Server

    base = tmp_path_factory.mktemp("llama")
    root = base / "demo"
    root.mkdir()
    server = Server({"demo": root}, base / "state", base / "server.log").start()
    yield server, root, server.url + "compat/llama-stack/v1/files"
    server.stop()


def test_a_session_in_three_pieces_then_list_read_delete(served):
    server, root, files = served
    made = requests.post(files, json={"key": "weights.bin", "bucket": "models",
                                      "mime_type": "application/x-weights", "size": len(BODY)},
                         timeout=10)
    assert made.status_code == 200, made.text
    session = made.json()
    assert session["offset"] == 0 and session["size"] == len(BODY)
    assert session["url"] == f"{files}/session:{session['id']}"

    pieces = (BODY[:100_000], BODY[100_000:250_000], BODY[250_000:])
    for n, piece in enumerate(pieces):
        answer = requests.post(session["url"], data=piece, timeout=10)
        assert answer.status_code == 200, answer.text
        if n < 2:
            assert answer.json()["offset"] == sum(len(p) for p in pieces[: n + 1])
            status = requests.get(session["url"], timeout=10).json()
            assert status["offset"] == answer.json()["offset"]
    info = answer.json()
    assert {k: info[k] for k in ("key", "bucket", "mime_type", "bytes")} == {
        "key": "weights.bin", "bucket": "models", "mime_type": "application/x-weights",
        "bytes": len(BODY)}
    assert isinstance(info["created_at"], int) and info["created_at"] > 1_700_000_000

    # where it is over WebDAV: /<store>/<bucket>/<key>/1/<key>
    assert (root / "models/weights.bin/1/weights.bin").read_bytes() == BODY
    assert requests.get(server.store_url() + "models/weights.bin/1/weights.bin",
                        timeout=10).content == BODY

    assert requests.get(files, timeout=10).json() == {"data": [{"name": "models"}]}
    assert requests.get(f"{files}/models", timeout=10).json() == {"data": [info]}
    assert requests.get(f"{files}/models/weights.bin", timeout=10).json() == info
    removed = requests.delete(f"{files}/models/weights.bin", timeout=10)
    assert removed.status_code == 200 and removed.json() == info
    assert not (root / "models/weights.bin").exists()
    assert requests.get(f"{files}/models/weights.bin", timeout=10).status_code == 404
    assert requests.get(f"{files}/models", timeout=10).json() == {"data": []}


def test_errors(served):
    server, root, files = served

    def error(response: requests.Response, status: int) -> None:
        assert response.status_code == status, (response.status_code, response.text)
        assert {"title", "description"} <= set(response.json())

    error(requests.post(files, json={"key": "a"}, timeout=10), 400)
    error(requests.post(files, json={"key": "a/b", "bucket": "x", "size": 1}, timeout=10), 400)
    error(requests.post(files, json={"key": "a", "bucket": "..", "size": 1}, timeout=10), 400)
    error(requests.get(f"{files}/session:nope", timeout=10), 404)
    error(requests.post(f"{files}/session:nope", data=b"x", timeout=10), 404)
    error(requests.get(f"{files}/no-such-bucket", timeout=10), 404)
    error(requests.get(f"{files}/no-such-bucket/key", timeout=10), 404)
    # more bytes than the session's size: refused, and the session stays where it was
    session = requests.post(files, json={"key": "small.txt", "bucket": "docs", "size": 4},
                            timeout=10).json()
    error(requests.post(session["url"], data=b"too many", timeout=10), 413)
    assert requests.get(session["url"], timeout=10).json()["offset"] == 0
    assert requests.post(session["url"], data=b"four", timeout=10).json()["bytes"] == 4
