"""Figures of the index benchmark: percentiles, the targets, a text table and a Markdown
table (for the README). Every ratio is assetdav / SQLite: below 1 means assetdav is faster.
"""

from __future__ import annotations

import statistics
from typing import Any

REFINE_P95_MS = 100.0
REFINE_VS_SQLITE = 2.0
REINDEX_S = 120.0
LEGEND = "a/S = assetdav in-process / SQLite (below 1: assetdav faster); times in ms"


def stats(samples: list[float]) -> dict[str, Any]:
    """p50 and p95 (inclusive quantiles) of timings in ms, with min, max and the samples."""
    ordered = sorted(samples)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18] if len(ordered) > 1 else 0
    return {
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95 or ordered[-1], 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
        "n": len(ordered),
        "samples": [round(s, 3) for s in samples],
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 3) if b > 0 else None


def shape_row(shape: Any, measured: dict[str, dict[str, Any]], first_ms: float) -> dict[str, Any]:
    a, s = measured["assetdav"], measured["sqlite"]
    return {
        "key": shape.key,
        "label": shape.label,
        "kind": shape.kind,
        "inputs": len(shape.queries),
        "assetdav": a,
        "sqlite": s,
        "http": measured.get("http"),
        "ratio_p50": _ratio(a["p50"], s["p50"]),
        "ratio_p95": _ratio(a["p95"], s["p95"]),
        "assetdav_first_ms": round(first_ms, 3),
    }


def targets(rows: list[dict[str, Any]], reindex_s: float, assets: int) -> list[dict[str, Any]]:
    """The issue's targets, judged on the in-process figures (HTTP shown alongside)."""
    found = [
        {
            "text": f"reindex of {assets:,} assets < {REINDEX_S:g} s",
            "value": f"{reindex_s:.1f} s",
            "met": reindex_s < REINDEX_S,
        }
    ]
    for row in rows:
        if row["kind"] != "refine":
            continue
        p95 = row["assetdav"]["p95"]
        found.append(
            {
                "text": f"{row['label']}: p95 < {REFINE_P95_MS:g} ms",
                "value": f"{p95:.1f} ms",
                "met": p95 < REFINE_P95_MS,
            }
        )
        ratio = row["ratio_p95"]
        found.append(
            {
                "text": f"{row['label']}: p95 <= {REFINE_VS_SQLITE:g} x SQLite p95",
                "value": f"{ratio:.2f} x" if ratio is not None else "-",
                "met": ratio is not None and ratio <= REFINE_VS_SQLITE,
            }
        )
        if row["http"] is not None:
            http95 = row["http"]["p95"]
            found.append(
                {
                    "text": f"{row['label']}: HTTP p95 < {REFINE_P95_MS:g} ms (informative)",
                    "value": f"{http95:.1f} ms",
                    "met": http95 < REFINE_P95_MS,
                    "informative": True,
                }
            )
    return found


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    a, s, h = row["assetdav"], row["sqlite"], row["http"] or {}
    ratio50, ratio95 = row["ratio_p50"], row["ratio_p95"]
    return (
        row["label"],
        _ms(a["p50"]),
        _ms(a["p95"]),
        _ms(s["p50"]),
        _ms(s["p95"]),
        "-" if ratio50 is None else f"{ratio50:.2f}",
        "-" if ratio95 is None else f"{ratio95:.2f}",
        _ms(h.get("p50")),
        _ms(h.get("p95")),
    )


HEADER = (
    "query",
    "assetdav p50",
    "p95",
    "SQLite p50",
    "p95",
    "a/S p50",
    "a/S p95",
    "HTTP p50",
    "p95",
)


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [_cells(row) for row in rows]
    widths = [max(len(r[i]) for r in (HEADER, *lines)) for i in range(len(HEADER))]

    def fmt(cells: tuple[str, ...]) -> str:
        pairs = zip(cells, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(pairs))

    return "\n".join([fmt(HEADER), "  ".join("-" * w for w in widths), *map(fmt, lines)])


def format_targets(found: list[dict[str, Any]]) -> str:
    width = max(len(t["text"]) for t in found)
    return "\n".join(
        f"{t['text'].ljust(width)}  {t['value']:>9}  {'MET' if t['met'] else 'MISSED'}"
        for t in found
    )


def summary(found: list[dict[str, Any]]) -> str:
    judged = [t for t in found if not t.get("informative")]
    missed = [t["text"] for t in judged if not t["met"]]
    text = f"targets met: {len(judged) - len(missed)}/{len(judged)}"
    return text + (f" (missed: {'; '.join(missed)})" if missed else "")


def markdown(result: dict[str, Any]) -> str:
    """The README's table: one row per query shape, then the other figures."""
    params = result["params"]
    rows = result["queries"]
    head = (
        "| query | assetdav p50 / p95 (ms) | SQLite p50 / p95 (ms) | assetdav / SQLite (p95) "
        "| over HTTP p50 / p95 (ms) |"
    )
    lines = [
        f"Index benchmark (`scripts/bench --index`): {params['assets']:,} assets in "
        f"{params['projects']} projects, {params['tags']:,} tags (Zipf s={params['zipf_s']}, "
        f"1-{params['max_tags']} per asset), {params['runs']} timed runs per query after "
        f"{params['warmup']} warm-ups, on {result['environment']['cpus']} CPUs.",
        "",
        head,
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        a, s, h = row["assetdav"], row["sqlite"], row["http"]
        http = f"{_ms(h['p50'])} / {_ms(h['p95'])}" if h else "-"
        ratio = "-" if row["ratio_p95"] is None else f"{row['ratio_p95']:.2f}"
        lines.append(
            f"| {row['label']} | {_ms(a['p50'])} / {_ms(a['p95'])} | "
            f"{_ms(s['p50'])} / {_ms(s['p95'])} | {ratio} | {http} |"
        )
    reindex = result["reindex"]
    lines += [
        "",
        f"Full reindex: {reindex['seconds']:.1f} s for {reindex['docs']:,} documents "
        f"(SQLite load with indexes: {result['sqlite']['load_s']:.1f} s). "
        f"Peak RSS: benchmark process {result['memory']['bench_peak_MiB']:.0f} MiB"
        + (
            f", server {result['memory']['server_peak_MiB']:.0f} MiB."
            if result["memory"].get("server_peak_MiB") is not None
            else "."
        ),
        "",
        result["summary"],
    ]
    fresh = (result.get("server") or {}).get("write_then_refine")
    if fresh:
        lines[-2:-2] = [
            f"Tag an asset, then refine over that tag at once ({fresh['runs']} times, "
            f"read-your-writes): p50 {fresh['p50']:.1f} / p95 {fresh['p95']:.1f} ms; "
            f"{fresh['stale']} answers missed the write.",
            "",
        ]
    return "\n".join(lines)
