"""Index lag under a stream of writes: does the search index keep up with 1,000 writes/s?

A synthetic store of N assets (synthetic_store.py) is indexed, then the index runs as in
the server (its writer thread, watcher and reconcile, in this process) while 8 threads
write through `stores`, the server's one write path, at a paced rate for some seconds:

- `drop`: small files into 4 assets (people dropping folders onto the drive; the assets
  grow by thousands of files during the run),
- `tags`: a tag added to a random asset each time (every write another asset: the
  index's worst case).

HTTP is left out on purpose: on a 2-core machine the server answers ~600 small PUTs/s,
so 1,000 writes/s can only be offered to the index from within. For each write, its lag
is the time from its acknowledgement to the index commit that makes it searchable (the
writer's committed change number passing the feed's number when the write returned: a
slight overestimate). The backlog (changes acknowledged and not yet searchable) is
sampled every 50 ms; the index keeps up when the backlog does not grow over the run
(its least-squares slope below 2% of the rate written) and the lag of the second half is
not worse than the first's by more than half. The target is met when it keeps up and the
writes did come at the rate offered (the write path itself may not reach it).

    scripts/bench --index-lag [--assets 10000] [--rate 1000] [--seconds 20] [--out PATH]
"""

from __future__ import annotations

import argparse
import itertools
import random
import resource
import signal
import sys
import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from harness import (
    add_output_options,
    elapsed,
    exit_status,
    result_header,
    say,
    scratch_folder,
    write_result,
)
from servers import REPO
from synthetic_store import STORE_NAME, StoreSpec, make_records, write_store

sys.path.insert(0, str(REPO))

from index.rebuild import rebuild  # noqa: E402
from index.service import SearchIndex  # noqa: E402
from stores import Location, Registry  # noqa: E402
from stores.access import SYSTEM  # noqa: E402

THREADS = 8
DROP_ASSETS = 4
SAMPLE_SECONDS = 0.05
KEEPS_UP_SLOPE = 0.02  # of the rate written: backlog growth (changes/s) still flat
TARGET_SHARE = 0.95  # of the rate offered: written at the rate asked for
DRAIN_TIMEOUT = 120.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=10_000, help="assets in the store")
    parser.add_argument("--rate", type=float, default=1000.0, help="writes per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument(
        "--workloads", default="drop,tags", help="comma-separated: drop, tags (both)"
    )
    add_output_options(parser, "index_lag.json")
    return parser.parse_args(argv)


class CommitClock:
    """When the index's committed change number passed each value (polled)."""

    def __init__(self, index: SearchIndex) -> None:
        self.index = index
        self.times: list[float] = []
        self.seqs: list[int] = []
        self.backlog: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="commit-clock", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        writer, feed = self.index.writer, self.index.registry.feed
        last_sample = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            committed = writer.committed_seq
            if not self.seqs or committed > self.seqs[-1]:
                self.times.append(now)
                self.seqs.append(committed)
            if now - last_sample >= SAMPLE_SECONDS:
                self.backlog.append((now, max(0, feed.last_seq - committed)))
                last_sample = now
            time.sleep(0.002)

    def searchable_at(self, seq: int) -> float | None:
        """The first time the committed number was at least `seq` (None: never)."""
        position = bisect_left(self.seqs, seq)
        return self.times[position] if position < len(self.seqs) else None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of the backlog over time (changes per second)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _b in points) / n
    mean_b = sum(b for _t, b in points) / n
    var = sum((t - mean_t) ** 2 for t, _b in points)
    return sum((t - mean_t) * (b - mean_b) for t, b in points) / var if var else 0.0


def lag_stats(lags: list[float]) -> dict[str, float]:
    return {
        "p50_s": round(percentile(lags, 0.50), 3),
        "p95_s": round(percentile(lags, 0.95), 3),
        "p99_s": round(percentile(lags, 0.99), 3),
        "max_s": round(max(lags, default=0.0), 3),
    }


def run_workload(
    index: SearchIndex, write: Callable[[int], None], rate: float, seconds: float
) -> dict[str, Any]:
    """Offer `rate` writes/s for `seconds` over THREADS threads; lag and backlog."""
    feed = index.registry.feed
    clock = CommitClock(index)
    clock.start()
    counter = itertools.count()
    guard = threading.Lock()
    acks: list[tuple[float, int]] = []
    errors: list[str] = []
    start = time.monotonic() + 0.1
    total = int(rate * seconds)

    def worker() -> None:
        while True:
            with guard:
                n = next(counter)
            if n >= total:
                return
            due = start + n / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            try:
                write(n)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with guard:
                    errors.append(f"{type(exc).__name__}: {exc}")
                continue
            acked, seq = time.monotonic(), feed.last_seq
            with guard:
                acks.append((acked, seq))

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wrote_until = time.monotonic()
    drained = index.writer.wait_for(feed.last_seq, DRAIN_TIMEOUT)
    time.sleep(0.05)
    clock.stop()
    if errors:
        raise RuntimeError(f"{len(errors)} writes failed: {errors[:3]}")
    acks.sort()
    lags = []
    for acked, seq in acks:
        at = clock.searchable_at(seq)
        lags.append(DRAIN_TIMEOUT if at is None else max(0.0, at - acked))
    half = len(lags) // 2
    during = [(t, b) for t, b in clock.backlog if start <= t <= wrote_until]
    growth = slope(during)
    first, second = lag_stats(lags[:half]), lag_stats(lags[half:])
    achieved = len(acks) / (wrote_until - start)
    keeps_up = (
        drained
        and growth < KEEPS_UP_SLOPE * achieved
        and second["p99_s"] <= 1.5 * first["p99_s"] + 0.1
    )
    return {
        "writes": len(acks),
        "offered_per_s": rate,
        "achieved_per_s": round(achieved, 1),
        "lag": lag_stats(lags),
        "lag_first_half": first,
        "lag_second_half": second,
        "backlog_max": max((b for _t, b in during), default=0),
        "backlog_mean": round(sum(b for _t, b in during) / max(1, len(during)), 1),
        "backlog_slope_per_s": round(growth, 1),
        "commits": len(clock.seqs),
        "drained": drained,
        "keeps_up": keeps_up,
        # the target: the rate offered was written, and the index kept up with it
        "target_met": keeps_up and achieved >= TARGET_SHARE * rate,
    }


def drop_writer(registry: Registry, project: str) -> Callable[[int], None]:
    """A small file into one of DROP_ASSETS assets, round robin (the assets are made)."""
    store = registry.get(STORE_NAME)
    assets = [Location(STORE_NAME, (project, f"drop-{k}")) for k in range(DROP_ASSETS)]
    for asset in assets:
        store.make_folder(SYSTEM, asset)
    body = b"x" * 4096

    def write(n: int) -> None:
        asset = assets[n % DROP_ASSETS]
        store.write_bytes(SYSTEM, asset.child(f"f{n:06}.bin"), body)

    return write


def tags_writer(registry: Registry, owners: list[Location]) -> Callable[[int], None]:
    """A tag added to a random asset."""
    store = registry.get(STORE_NAME)
    rng = random.Random(7)
    picks = [rng.choice(owners) for _ in range(4096)]

    def write(n: int) -> None:  # a new tag each time: every write changes its asset
        store.change_tags(SYSTEM, picks[n % len(picks)], add=[f"lag-{n}"])

    return write


def run(args: argparse.Namespace) -> None:
    spec = StoreSpec(assets=args.assets)
    results: dict[str, Any] = {}
    with scratch_folder(args.tmp_dir, "index-lag-") as workdir:
        root = workdir / STORE_NAME
        root.mkdir()
        records = make_records(spec)
        say(f"writing {args.assets} assets")
        write_store(root, spec, records)
        registry = Registry({STORE_NAME: root})
        say("indexing them")
        # the rebuild's worker processes are ended with SIGTERM: not an interruption here
        previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            rebuild(workdir / "index", registry, lambda *_a: None)
        finally:
            signal.signal(signal.SIGTERM, previous)
        index = SearchIndex(workdir / "index", registry, reconcile_interval=300)
        index.start()
        try:
            if not index.ready.wait(600):
                raise RuntimeError("the index did not agree with the tree within 10 minutes")
            owners = [Location(STORE_NAME, (r.project, r.name)) for r in records]
            for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
                if name == "drop":
                    write = drop_writer(registry, records[0].project)
                elif name == "tags":
                    write = tags_writer(registry, owners)
                else:
                    raise RuntimeError(f"unknown workload {name!r} (drop, tags)")
                index.wait_idle(600)
                say(f"{name}: {args.rate:.0f} writes/s for {args.seconds:.0f} s")
                results[name] = run_workload(index, write, args.rate, args.seconds)
                say(f"  {results[name]}")
        finally:
            index.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    for name, result in results.items():
        lag = result["lag"]
        print(
            f"{name:>5}: {result['achieved_per_s']} writes/s of {result['offered_per_s']:.0f}"
            f" offered; lag p50 {lag['p50_s']} s, p99 {lag['p99_s']} s, max {lag['max_s']} s;"
            f" backlog max {result['backlog_max']}, slope {result['backlog_slope_per_s']}/s;"
            f" {'keeps up' if result['keeps_up'] else 'does NOT keep up'};"
            f" target {'met' if result['target_met'] else 'NOT met'}"
        )
    print(f"peak RSS of the process: {peak} MiB")
    write_result(
        args.out,
        {
            **result_header("index lag under a stream of writes"),
            "assets": args.assets,
            "runs": results,
            "peak_rss_mib": peak,
            "elapsed_s": elapsed(),
        },
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
