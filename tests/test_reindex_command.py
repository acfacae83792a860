"""`assetdav reindex`: the index rebuilt from the tree (shared out to processes past a few
thousand assets) is what a running server answers from on its next query, counts and all.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "bench"))
from synthetic_store import StoreSpec, make_records, write_store  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# More owners (projects + assets) than index.rebuild.SERIAL_BELOW, so two processes share it.
SPEC = StoreSpec(assets=2400, projects=20, tags=80)


def reindex(root: Path, state_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run `assetdav reindex` as an operator would, beside the running server. The store
    comes from the environment: `--store` would redo only that store, in place."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSETDAV_")}
    env["ASSETDAV_CONFIG"] = str(REPO / "tests" / "empty-config.yaml")
    env["ASSETDAV_STORES"] = f"demo={root}"
    command = [sys.executable, "-P", "-m", "davserver", "reindex"]
    command += ["--state-dir", str(state_dir), *extra]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=str(state_dir.parent), timeout=120
    )


def api(server, route: str, **params) -> dict:
    answer = requests.get(server.url + "api/" + route, params=params, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_parallel_reindex_is_what_the_running_server_answers(make_server):
    # The tree is written behind the server's back with nothing watching, so only the
    # reindex can tell the server about it.
    server = make_server(
        env={"ASSETDAV_INDEX_WATCH": "0", "ASSETDAV_RECONCILE_INTERVAL": "86400"}
    )
    root = server.stores["demo"]
    records = make_records(SPEC)
    write_store(root, SPEC, records, processes=1)
    assert api(server, "assets", limit=1)["total"] == 0

    result = reindex(root, server.state_dir, "--processes", "2")
    assert result.returncode == 0, result.stderr
    assert f"indexed {len(records) + SPEC.projects} documents" in result.stderr
    assert f"{len(records) + SPEC.projects}/{len(records) + SPEC.projects}" in result.stderr

    assert api(server, "assets", limit=1)["total"] == len(records)
    counts = Counter(tag for record in records for tag in record.tags)
    assert api(server, "tags/refine", limit=10000)["tag_counts"] == dict(counts)
    common = [tag for tag, _ in counts.most_common(2)]
    both = [r for r in records if set(common) <= set(r.tags)]
    page = api(server, "assets", include_tags=",".join(common), limit=1000)
    assert sorted(a["name"] for a in page["assets"]) == sorted(r.name for r in both)
    last = records[-1]
    found = api(server, "assets", q=last.name, limit=5)["assets"]
    assert [a["name"] for a in found] == [last.name]

    # Run again over the same tree in one process: the same answers, nothing doubled.
    again = reindex(root, server.state_dir, "--processes", "1")
    assert again.returncode == 0, again.stderr
    assert api(server, "tags/refine", limit=10000)["tag_counts"] == dict(counts)
    assert api(server, "assets", limit=1)["total"] == len(records)
