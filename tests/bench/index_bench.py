"""Benchmark the search index against SQLite over the same synthetic store, in one run.

1. Write a synthetic store (see synthetic_store.py: 100 projects, N assets, Zipf tags).
2. Time a full reindex (`index.rebuild.rebuild`) into a server state dir.
3. Load the same assets into SQLite (see sqlite_mirror.py).
4. Four query shapes (see index_workload.py): refine over all assets, over one common tag,
   over two tags, and a filtered list (3 tags + name_contains, 50 names). Each runs
   `--warmup` + `--runs` times, cycling through its inputs, assetdav's index in-process
   and SQLite alternating which goes first. Every answer is checked against SQLite's
   (same top-100 tag counts; same page of names and total), and each refine input's whole
   histogram once: the benchmark aborts on the first difference.
5. The same shapes over HTTP (`/api/tags/refine`, `/api/assets`) against a real server
   started on that store and index, once its start-up reconcile has finished; first
   40 requests that warm every server thread (timed apart), and the server's CPU use
   while idle (a busy idle server skews the HTTP figures).

Peak RSS is read from /proc for this process and the server; the CPU time other
processes used during each phase is recorded (see cpuload.py), since a second job on a
2-core machine skews everything.

Prints a table and the targets, writes JSON (default var/bench/index.json) with a Markdown
table for the README. Exit status 0 when the run completed, whether or not the targets
were met; 1 when something failed or an answer was wrong.

    scripts/bench --index [--quick | --assets N] [--runs N] [--warmup N] [--no-http]
                          [--server-no-watch] [--profile] [--keep] [--out PATH]
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import os
import pstats
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cpuload import ForeignLoad, process_seconds
from harness import (
    add_output_options,
    elapsed,
    exit_status,
    machine,
    result_header,
    say,
    scratch_folder,
    write_result,
)
from index_report import (
    LEGEND,
    format_table,
    format_targets,
    markdown,
    shape_row,
    stats,
    summary,
    targets,
)
from index_workload import (
    HttpClient,
    IndexClient,
    Shape,
    SqliteClient,
    WrongAnswer,
    check_full_histograms,
    compare,
    expected_answers,
    make_shapes,
)
from procmem import MIB, read_memory
from servers import REPO, STORE, ServerProcess
from sqlite_mirror import SqliteMirror
from synthetic_store import StoreSpec, make_records, tag_names, write_store

import stores.sidecar
from index.queries import IndexReader
from index.rebuild import rebuild
from index.service import open_or_create
from stores import Registry

QUICK_ASSETS = 10_000
READY_LINE = "the index agrees with the tree"
QUEUED = re.compile(r"index reconcile queued (\d+)")
IDLE_WINDOW_S = 5.0
THREAD_WARMUP = 40  # HTTP requests first, so each of the server's threads has its searcher


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=None, help="assets to generate (100000)")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_ASSETS:,} assets (unless --assets)"
    )
    parser.add_argument("--projects", type=int, default=100, help="projects (100)")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per query shape (50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first (5)")
    parser.add_argument("--seed", type=int, default=StoreSpec.seed, help="generator seed")
    parser.add_argument(
        "--no-files", dest="files", action="store_false", help="sidecars only, no file per asset"
    )
    parser.add_argument("--no-http", dest="http", action="store_false", help="skip the server")
    parser.add_argument(
        "--server-no-watch",
        dest="server_watch",
        action="store_false",
        help="start the server with ASSETDAV_INDEX_WATCH=false (no inotify watcher)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also cProfile the refine, the filtered list and a second reindex (pstats "
        "files next to --out)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--server-timeout",
        type=float,
        default=3600,
        help="seconds to wait for the server's start-up reconcile (3600)",
    )
    add_output_options(parser, "index.json")
    args = parser.parse_args(argv)
    if args.assets is None:
        args.assets = QUICK_ASSETS if args.quick else 100_000
    if args.assets < 1000 or args.runs < 1 or args.warmup < 0:
        parser.error("--assets must be at least 1000, --runs at least 1, --warmup >= 0")
    return args


def own_memory() -> dict[str, float]:
    mem = read_memory(os.getpid())
    return {"rss_MiB": round(mem.rss / MIB, 1), "peak_MiB": round(mem.hwm / MIB, 1)}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def time_shape(
    shape: Shape, clients: list[Any], expected: dict, warmup: int, runs: int
) -> tuple[dict[str, dict[str, Any]], float]:
    """Time every client on `warmup + runs` inputs (cycling), checking each answer.
    Returns each client's stats, and the first (cold) call of the first client."""
    samples: dict[str, list[float]] = {client.name: [] for client in clients}
    first_ms = 0.0
    for number in range(warmup + runs):
        query = shape.queries[number % len(shape.queries)]
        order = clients if number % 2 == 0 else clients[::-1]
        for client in order:
            call = client.refine if shape.kind == "refine" else client.page
            started = time.perf_counter()
            got = call(query)
            elapsed = (time.perf_counter() - started) * 1000
            if isinstance(client, SqliteClient) and shape.kind == "list":
                got = (got[0], client.total(query))
            compare(shape, query, client.name, got, expected[shape.key, query])
            if number == 0 and client is clients[0]:
                first_ms = elapsed
            if number >= warmup:
                samples[client.name].append(elapsed)
    return {name: stats(values) for name, values in samples.items()}, first_ms


def generate(workdir: Path, spec: StoreSpec) -> tuple[Path, list, dict[str, Any]]:
    root = workdir / "store"
    root.mkdir()
    say(f"generating {spec.assets:,} assets in {spec.projects} projects under {root}")
    started = time.perf_counter()
    records = make_records(spec)
    drawn = time.perf_counter() - started
    files, written = write_store(root, spec, records)
    seconds = time.perf_counter() - started
    tags_total = sum(len(r.tags) for r in records)
    say(f"  {files:,} files, {written / MIB:.1f} MiB in {seconds:.1f} s")
    return (
        root,
        records,
        {
            "seconds": round(seconds, 2),
            "draw_seconds": round(drawn, 2),
            "files_written": files,
            "bytes_written": written,
            "tag_assignments": tags_total,
            "distinct_tags_used": len({t for r in records for t in r.tags}),
        },
    )


def reindex(root: Path, index_path: Path) -> dict[str, Any]:
    registry = Registry({STORE: root})
    os.sync()  # the generator's dirty pages should not be written back during the timing
    last = [0.0]

    def progress(done: int, total: int, _where: str) -> None:
        now = time.monotonic()
        if now - last[0] > 10 or done == total:
            last[0] = now
            say(f"  reindex: {done}/{total} projects")

    say(f"full reindex into {index_path}")
    before = own_memory()
    started = time.perf_counter()
    with ForeignLoad() as load:
        docs = rebuild(index_path, registry, progress)
    seconds = time.perf_counter() - started
    say(f"  {docs:,} documents in {seconds:.1f} s")
    return {
        "seconds": round(seconds, 2),
        "docs": docs,
        "index_bytes": folder_bytes(index_path),
        "segments": len(list(index_path.glob("*.seg"))),
        "foreign_cpu_percent": load.percent,
        "bench_rss_before_MiB": before["rss_MiB"],
        "bench_memory_after": own_memory(),
    }


def build_sqlite(path: Path, records: list) -> tuple[SqliteMirror, dict[str, Any]]:
    say("loading the same assets into SQLite")
    started = time.perf_counter()
    mirror = SqliteMirror(path)
    mirror.load(records)
    seconds = time.perf_counter() - started
    say(f"  {seconds:.1f} s")
    return mirror, {"load_s": round(seconds, 2), "bytes": path.stat().st_size}


def in_process(
    shapes: list[Shape], index_path: Path, sqlite: SqliteClient, args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict, dict[str, Any]]:
    index, rebuilt = open_or_create(index_path)  # opened exactly as the server opens it
    if rebuilt:
        raise RuntimeError(f"the index just built at {index_path} did not open")
    reader = IndexReader(index)
    client = IndexClient(reader)
    started = time.perf_counter()
    client.refine(shapes[0].queries[0])
    cold_ms = (time.perf_counter() - started) * 1000
    say(f"first refine on a freshly opened index (builds the tag columns): {cold_ms:.0f} ms")
    opening = searcher_cost(reader)
    say(
        f"a request thread's own searcher: {opening['ms']:.0f} ms to open, "
        f"RSS +{opening['rss_growth_MiB']:.0f} MiB"
    )
    expected = expected_answers(shapes, sqlite)
    checked = check_full_histograms(shapes, client, sqlite)
    say(f"checked the whole tag histogram of {checked} refine inputs against SQLite: equal")
    rows = []
    for shape in shapes:
        with ForeignLoad() as load:
            measured, first = time_shape(shape, [client, sqlite], expected, args.warmup, args.runs)
        rows.append(shape_row(shape, measured, first))
        rows[-1]["foreign_cpu_percent"] = load.percent
        a, s = measured["assetdav"], measured["sqlite"]
        say(
            f"  {shape.label}: assetdav p50 {a['p50']:.2f} p95 {a['p95']:.2f} ms, "
            f"SQLite p50 {s['p50']:.2f} p95 {s['p95']:.2f} ms"
        )
    extra = {
        "first_refine_after_open_ms": round(cold_ms, 1),
        "searcher_per_thread": opening,
        "histograms_checked": checked,
    }
    return rows, expected, {"reader": reader, **extra}


def searcher_cost(reader: IndexReader) -> dict[str, float]:
    """What a new request thread pays for a searcher (if the reader keeps one per thread,
    every server thread opens its own, and reopens it after each commit): time, and the
    growth of this process's RSS."""
    found: dict[str, float] = {}

    def work() -> None:
        before = read_memory(os.getpid()).rss
        started = time.perf_counter()
        reader.searcher()
        found["ms"] = round((time.perf_counter() - started) * 1000, 1)
        found["rss_growth_MiB"] = round((read_memory(os.getpid()).rss - before) / MIB, 1)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    return found


def start_server(
    workdir: Path, root: Path, state: Path, timeout: float, watch: bool
) -> ServerProcess:
    """assetdav on the store and the index just built, as the test suite starts it."""
    command = [
        sys.executable, "-P", "-m", "davserver", "serve", "--port", "{port}",
        "--state-dir", str(state), "--store", f"{STORE}={root}", "--log-level", "INFO",
    ]  # fmt: skip
    env = {"ASSETDAV_CONFIG": str(REPO / "tests" / "empty-config.yaml")}
    if not watch:
        env["ASSETDAV_INDEX_WATCH"] = "false"
    log = workdir / "server" / "server.log"
    log.parent.mkdir()
    server = ServerProcess("assetdav", "assetdav", command, root, f"/{STORE}/", log, env)
    server.start_timeout = timeout
    return server.start()


def wait_reconciled(server: ServerProcess, timeout: float) -> dict[str, Any]:
    """Until the server logs that its start-up reconcile is done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{server.log_tail()}")
        text = server.log_path.read_text(errors="replace")
        if READY_LINE in text:
            queued = [int(n) for n in QUEUED.findall(text)]
            return {"reconcile_queued": sum(queued)}
        time.sleep(0.5)
    raise RuntimeError(f"the server's reconcile did not finish in {timeout:.0f} s")


WRITE_THEN_READ_RUNS = 30


def over_http(
    shapes: list[Shape],
    expected: dict,
    workdir: Path,
    root: Path,
    state: Path,
    args: argparse.Namespace,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    say("starting assetdav on the same store and index")
    started = time.monotonic()
    server = start_server(workdir, root, state, args.server_timeout, args.server_watch)
    info: dict[str, Any] = {}
    http = None
    try:
        info["answers_http_s"] = round(time.monotonic() - started, 1)
        say(f"  answering HTTP after {info['answers_http_s']} s; waiting for its reconcile")
        info.update(wait_reconciled(server, args.server_timeout))
        info["reconciled_s"] = round(time.monotonic() - started, 1)
        ready = server.memory()
        info["rss_ready_MiB"] = round(ready.rss / MIB, 1)
        info["peak_ready_MiB"] = round(ready.hwm / MIB, 1)
        info["idle_cpu_percent"] = idle_cpu(server.pid, IDLE_WINDOW_S)
        say(
            f"  reconciled after {info['reconciled_s']} s "
            f"(queued {info['reconcile_queued']}), RSS {info['rss_ready_MiB']} MiB, "
            f"CPU while idle {info['idle_cpu_percent']:.0f}%"
        )
        if info["idle_cpu_percent"] > 20:
            say("  WARNING: the idle server is busy; the HTTP timings include that load")
        http = HttpClient(server.port)
        info["thread_warmup"] = thread_warmup(http, shapes[0])
        info["rss_after_thread_warmup_MiB"] = round(server.memory().rss / MIB, 1)
        say(
            f"  {THREAD_WARMUP} requests to warm the server's threads: first "
            f"{info['thread_warmup']['first_ms']:.0f} ms, max {info['thread_warmup']['max']:.0f}"
            f" ms, last {info['thread_warmup']['last_ms']:.0f} ms; "
            f"RSS now {info['rss_after_thread_warmup_MiB']:.0f} MiB"
        )
        info["loadavg_before_queries"] = [round(x, 2) for x in os.getloadavg()]
        results = {}
        for shape in shapes:
            with ForeignLoad(os.getpid(), server.pid) as load:
                measured, first = time_shape(shape, [http], expected, args.warmup, args.runs)
            results[shape.key] = {
                **measured["http"],
                "first_ms": round(first, 3),
                "foreign_cpu_percent": load.percent,
            }
            h = measured["http"]
            say(f"  HTTP {shape.label}: p50 {h['p50']:.2f} p95 {h['p95']:.2f} ms")
        info["write_then_refine"] = write_then_refine(http, WRITE_THEN_READ_RUNS)
        w = info["write_then_refine"]
        say(
            f"  tag, then refine at once: p50 {w['p50']:.1f} p95 {w['p95']:.1f} ms; "
            f"{w['stale']} of {w['runs']} answers missed the write"
        )
        end = server.memory()
        info["rss_end_MiB"] = round(end.rss / MIB, 1)
        info["peak_MiB"] = round(end.hwm / MIB, 1)
    finally:
        if http is not None:
            http.close()
        server.stop()
        info["log_warnings"] = log_warnings(server.log_path)
    return results, info


def write_then_refine(http: HttpClient, runs: int) -> dict[str, Any]:
    """Read-your-writes at this size: tag an asset through the API, then at once ask for
    the refine over that tag. The refine waits for the index to commit the tag (that wait
    is what is timed); an answer without the asset is counted as stale."""
    assets = http.get("/api/assets", [("limit", runs), ("sort", "name")])["assets"]
    samples, stale = [], 0
    for n, asset in enumerate(assets):
        tag = f"bench-fresh-{n}"
        http.post(f"/api/{asset['store']}/{asset['project']}/tags/{asset['asset']}", [tag])
        started = time.perf_counter()
        answer = http.get("/api/tags/refine", [("include_tags", tag)])
        samples.append((time.perf_counter() - started) * 1000)
        stale += answer["tag_counts"].get(tag) != 1
    return {**stats(samples), "runs": len(samples), "stale": stale}


def thread_warmup(http: HttpClient, shape: Shape) -> dict[str, Any]:
    """Each server thread opens its own searcher on its first search (and again after each
    commit): time that, apart from the steady state the shapes measure."""
    call = http.refine if shape.kind == "refine" else http.page
    samples = []
    for _ in range(THREAD_WARMUP):
        started = time.perf_counter()
        call(shape.queries[0])
        samples.append((time.perf_counter() - started) * 1000)
    found = stats(samples)
    found.update(first_ms=round(samples[0], 1), last_ms=round(samples[-1], 1))
    return found


def idle_cpu(pid: int, seconds: float) -> float:
    """The server's CPU use (% of one core) over `seconds` with no request in flight."""
    before = process_seconds(pid)
    time.sleep(seconds)
    return round(100 * (process_seconds(pid) - before) / seconds, 1)


def log_warnings(path: Path) -> dict[str, int]:
    """The server's WARNING and ERROR lines, counted by message (timestamps stripped)."""
    counts: dict[str, int] = {}
    if not path.exists():
        return counts
    for line in path.read_text(errors="replace").splitlines():
        if " WARNING " in line or " ERROR " in line:
            message = re.sub(r"/\S+", "<path>", line.split(" ", 2)[-1])[:200]
            counts[message] = counts.get(message, 0) + 1
    return counts


def profile(
    shapes: list[Shape], reader: IndexReader, root: Path, workdir: Path, out: Path
) -> dict[str, Any]:
    """cProfile each query shape (all its inputs, 3 times) and a second full reindex (with
    the in-process sidecar cache emptied first, so it parses every sidecar again)."""
    client = IndexClient(reader)
    found: dict[str, Any] = {}

    def run(name: str, work: Callable[[], Any]) -> None:
        profiler = cProfile.Profile()
        profiler.enable()
        work()
        profiler.disable()
        path = out.with_name(f"{out.stem}-{name}.pstats")
        profiler.dump_stats(str(path))
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(18)
        found[name] = {"pstats": str(path), "top_tottime": text.getvalue()}
        say(f"profile of {name} written to {path}")

    for shape in shapes:
        call = client.refine if shape.kind == "refine" else client.page
        run(shape.key, lambda call=call, shape=shape: [call(q) for q in shape.queries * 3])
    stores.sidecar._cache.clear()
    scratch = workdir / "profile-index"
    run("reindex", lambda: rebuild(scratch, Registry({STORE: root}), lambda *_: None))
    shutil.rmtree(scratch, ignore_errors=True)
    return found


def source_state() -> dict[str, Any]:
    """Which code was measured: the commit, and whether index/ differs from it."""

    def git(*argv: str) -> str:
        try:
            return subprocess.run(
                ["git", *argv], cwd=REPO, capture_output=True, text=True, check=False
            ).stdout.strip()
        except OSError:
            return ""

    digest = hashlib.sha256()
    for path in sorted((REPO / "index").glob("*.py")):
        digest.update(path.read_bytes())
    return {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted": git("status", "--porcelain", "--", "index", "stores", "meta_api"),
        "index_sources_sha256": digest.hexdigest()[:16],
    }


def environment() -> dict[str, Any]:
    return {
        **machine(),
        "whoosh": version("whoosh-reloaded"),
        "sqlite": sqlite3.sqlite_version,
        "source": source_state(),
    }


def benchmark(workdir: Path, args: argparse.Namespace) -> dict[str, Any]:
    spec = StoreSpec(assets=args.assets, projects=args.projects, seed=args.seed, files=args.files)
    root, records, generated = generate(workdir, spec)
    generated["bench_memory_after"] = own_memory()
    state = workdir / "state"
    index_path = state / "index"
    reindexed = reindex(root, index_path)
    mirror, sqlite_info = build_sqlite(workdir / "mirror.sqlite", records)
    shapes = make_shapes(records, tag_names(spec), spec.seed)
    sqlite = SqliteClient(mirror)
    sqlite_info["plans"] = mirror.plans(shapes[3].queries[0].tags, shapes[3].queries[0].fragment)
    say(f"in-process: {args.warmup} warm-ups + {args.runs} timed runs per shape")
    load_before = [round(x, 2) for x in os.getloadavg()]
    rows, expected, extra = in_process(shapes, index_path, sqlite, args)
    reader = extra.pop("reader")
    extra["loadavg_before"] = load_before
    extra["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    memory: dict[str, Any] = {"bench_after_queries": own_memory()}
    server: dict[str, Any] = {}
    if args.http:
        http, server = over_http(shapes, expected, workdir, root, state, args)
        for row in rows:
            row["http"] = http[row["key"]]
        memory["server_ready_MiB"] = server["rss_ready_MiB"]
        memory["server_peak_MiB"] = server["peak_MiB"]
    profiles = profile(shapes, reader, root, workdir, args.out) if args.profile else {}
    mirror.close()
    memory["bench_peak_MiB"] = own_memory()["peak_MiB"]
    found = targets(rows, reindexed["seconds"], spec.assets)
    result = {
        **result_header("assetdav search index vs SQLite", environment()),
        "params": {
            "assets": spec.assets,
            "projects": spec.projects,
            "tags": spec.tags,
            "zipf_s": spec.zipf_s,
            "max_tags": spec.max_tags,
            "seed": spec.seed,
            "files": spec.files,
            "runs": args.runs,
            "warmup": args.warmup,
            "http": args.http,
            "server_watch": args.server_watch,
        },
        "ratio": LEGEND,
        "generate": generated,
        "reindex": reindexed,
        "sqlite": sqlite_info,
        "in_process": extra,
        "queries": rows,
        "inputs": {s.key: [q.describe() for q in s.queries] for s in shapes},
        "server": server,
        "memory": memory,
        "targets": found,
        "summary": summary(found),
        "profiles": profiles,
        "elapsed_s": elapsed(),
    }
    result["markdown"] = markdown(result)
    return result


def foreign_load_line(result: dict[str, Any]) -> str:
    """CPU used by other processes while we measured (a busy machine skews the figures)."""
    rows = result["queries"]
    parts = [
        f"reindex {result['reindex']['foreign_cpu_percent']:.0f}%",
        f"in-process queries up to {max(r['foreign_cpu_percent'] for r in rows):.0f}%",
    ]
    if all(r["http"] for r in rows):
        parts.append(f"HTTP up to {max(r['http']['foreign_cpu_percent'] for r in rows):.0f}%")
    line = "CPU used by other processes (% of a core): " + ", ".join(parts)
    if result["server"].get("idle_cpu_percent", 0) > 20:
        line += (
            f"\nWARNING: the server used {result['server']['idle_cpu_percent']:.0f}% CPU while "
            "idle (see server.log_warnings in the JSON); its HTTP timings include that load"
        )
    return line


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return exit_status(lambda: run(args))


def run(args: argparse.Namespace) -> None:
    with scratch_folder(args.tmp_dir, "index-", keep=args.keep) as workdir:
        try:
            result = benchmark(workdir, args)
        except WrongAnswer as exc:
            raise RuntimeError(f"WRONG ANSWER, aborting: {exc}") from exc
    print(format_table(result["queries"]))
    print(LEGEND)
    print()
    print(format_targets(result["targets"]))
    print(result["summary"])
    mem = result["memory"]
    print(
        f"reindex {result['reindex']['seconds']:.1f} s ({result['reindex']['docs']:,} docs), "
        f"SQLite load {result['sqlite']['load_s']:.1f} s; peak RSS: benchmark "
        f"{mem['bench_peak_MiB']:.0f} MiB"
        + (f", server {mem['server_peak_MiB']:.0f} MiB" if "server_peak_MiB" in mem else "")
    )
    print(foreign_load_line(result))
    write_result(args.out, result)


if __name__ == "__main__":
    sys.exit(main())
