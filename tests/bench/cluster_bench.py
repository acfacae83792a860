"""Cluster benchmark (`scripts/bench --cluster`): 1, 2 and 3 assetdav nodes over one store
and one Redis, behind nginx round-robin, on this machine. For each: the shared davbench
through nginx (small-file PUT and GET, PROPFIND Depth 1, the folder tree, one large
file), the index lag under that load (a file PUT through the first node every 0.2 s;
the time until the last node's search finds it, p50 and p99), and the nodes' peak RSS.
"0 nodes" is the default single process without Redis behind the same nginx: the anchor
of the ratios, measured in the same run, so the cost of cluster mode shows."""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml
from davbench_run import BenchFailed, DavbenchParams, run_davbench
from harness import add_output_options, exit_status, machine, say, scratch_folder, write_result
from servers import REPO, STORE, ServerProcess

sys.path.insert(0, str(REPO / "tests"))
from cluster_setup import NGINX, REDIS, RedisServer, start_nginx  # noqa: E402

TOOL = REPO.parent / "shared" / "tools" / "davbench.py"


def node(workdir: Path, number: int, redis_url: str | None, store: Path) -> ServerProcess:
    """Node `number` of a cluster over `redis_url`; without one, the default process."""
    config = workdir / f"node{number}.yaml"
    settings: dict[str, Any] = {"index": {"path": str(workdir / f"index{number}")}}
    if redis_url is not None:
        settings["cluster"] = {"redis_url": redis_url, "node_name": f"node{number}"}
        settings["index"]["watch"] = False
    config.write_text(yaml.safe_dump(settings))
    command = [
        sys.executable, "-P", "-m", "davserver", "serve", "--port", "{port}",
        "--state-dir", str(workdir / "state"), "--store", f"{STORE}={store}",
    ]  # fmt: skip
    return ServerProcess(
        f"node{number}", f"node {number}", command, store, f"/{STORE}/",
        workdir / f"node{number}.log", {"ASSETDAV_CONFIG": str(config)},
    )  # fmt: skip


class LagProbe:
    """PUT a small file through `writer` every 0.2 s; time until `reader`'s search has it."""

    def __init__(self, writer: str, reader: str) -> None:
        self.writer, self.reader = writer, reader
        self.lags: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LagProbe:
        requests.request("MKCOL", self.writer + "lag/", timeout=30)
        requests.request("MKCOL", self.writer + "lag/probe/", timeout=30)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.2):
            n += 1
            name = f"lagprobe{n:06d}.txt"
            put = requests.put(self.writer + f"lag/probe/{name}", data=b"probe", timeout=30)
            if put.status_code not in (200, 201, 204):
                self.failures += 1
                continue
            acknowledged = time.monotonic()
            while time.monotonic() - acknowledged < 30:
                found = requests.get(self.reader, params={"store": STORE, "q": name}, timeout=30)
                if found.ok and found.json()["assets"]:
                    self.lags.append(time.monotonic() - acknowledged)
                    break
                time.sleep(0.005)
            else:
                self.failures += 1

    def summary(self) -> dict[str, Any]:
        lags = sorted(self.lags)
        if not lags:
            return {"probes": 0, "failures": self.failures}
        return {
            "probes": len(lags),
            "failures": self.failures,
            "p50_ms": round(statistics.median(lags) * 1000, 1),
            "p99_ms": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000, 1),
        }


def one_size(tmp: Path, count: int, params: DavbenchParams) -> dict[str, Any]:
    """`count` nodes over one Redis; 0: one process without Redis."""
    with scratch_folder(tmp, f"cluster{count}-") as workdir:
        redis_server = RedisServer(workdir / "redis").start() if count else None
        store = workdir / "store"
        store.mkdir()
        redis_url = redis_server.url if redis_server else None
        nodes = [node(workdir, n, redis_url, store) for n in range(1, max(count, 1) + 1)]
        nginx = None
        try:
            for server in nodes:
                server.start()
            nginx, port = start_nginx(workdir, [s.port for s in nodes])
            base = f"http://127.0.0.1:{port}/{STORE}/"
            say(f"{count} node(s): davbench through nginx")
            reader = f"http://127.0.0.1:{nodes[-1].port}/api/assets"
            with LagProbe(nodes[0].url, reader) as probe:
                results = run_davbench(TOOL, base, params, workdir)
            peak = max(s.memory().hwm for s in nodes) / (1 << 20)
            return {"nodes": count, "davbench": results, "index_lag": probe.summary(),
                    "peak_rss_mib_per_node": round(peak, 1)}  # fmt: skip
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait(10)
            for server in nodes:
                server.stop()
            if redis_server is not None:
                redis_server.stop()


def report(runs: list[dict[str, Any]]) -> None:
    first = runs[0]["davbench"]
    keys = (
        ("small_put_files_per_s", "small PUT, files/s"),
        ("small_get_files_per_s", "small GET, files/s"),
        ("propfind_depth1_ms", "PROPFIND Depth 1, ms"),
        ("tree_total_ms", "200-file tree, ms"),
        ("large_put_MBps", "large PUT, MB/s"),
    )
    print("| nodes | " + " | ".join(label for _k, label in keys)
          + " | index lag p50 / p99, ms | peak RSS per node, MiB |")  # fmt: skip
    print("|---:|" + "---:|" * (len(keys) + 2))
    for run in runs:
        cells = []
        for key, _label in keys:
            value = run["davbench"].get(key)
            ratio = value / first[key] if value and first.get(key) else 0
            cells.append(f"{value} ({ratio:.2f}x)")
        lag = run["index_lag"]
        print(
            f"| {run['nodes'] or '0 (no Redis)'} | "
            + " | ".join(cells)
            + f" | {lag.get('p50_ms')} / {lag.get('p99_ms')} | {run['peak_rss_mib_per_node']} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--nodes", default="0,1,2,3", help="cluster sizes to measure (0: no Redis, the anchor)"
    )
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--large-mib", type=int, default=64)
    add_output_options(parser, "cluster.json")
    args = parser.parse_args()
    if REDIS is None or NGINX is None:
        print("bench: needs redis-server and nginx (Debian packages)", file=sys.stderr)
        return 1
    params = DavbenchParams(large_mib=args.large_mib, small_count=args.small_count)

    def run() -> None:
        runs = [one_size(args.tmp_dir, int(n), params) for n in args.nodes.split(",")]
        report(runs)
        write_result(args.out, {"machine": machine(), "runs": runs})

    return exit_status(run, (BenchFailed, RuntimeError, AssertionError))


if __name__ == "__main__":
    sys.exit(main())
