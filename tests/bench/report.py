"""The metrics, their targets, and the two outputs: a text table and a JSON document.

Every ratio is assetdav / plain WsgiDAV. For a throughput (higher is better) a ratio above 1
means assetdav is faster; for a time or a memory size (lower is better) a ratio below 1 does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SERVERS = ("assetdav", "plain")
LEGEND = "a/p = assetdav / plain WsgiDAV; 'better' is the better direction of value and ratio"


@dataclass(frozen=True)
class Target:
    text: str
    met: Callable[[float, float, float | None], bool]  # (assetdav, plain, ratio)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    target: Target | None = None

    @property
    def better(self) -> str:
        return "higher" if self.higher_is_better else "lower"


def _ratio_at_least(limit: float) -> Target:
    return Target(f"ratio >= {limit:g}", lambda _a, _p, r: r is not None and r >= limit)


def _ratio_at_most(limit: float) -> Target:
    return Target(f"ratio <= {limit:g}", lambda _a, _p, r: r is not None and r <= limit)


def _assetdav_below(limit: float, unit: str) -> Target:
    return Target(f"assetdav < {limit:g} {unit}", lambda a, _p, _r: a < limit)


def _placed(key: str, label: str, unit: str, higher: bool, target: Target | None) -> tuple:
    """A davbench metric at both placements: at the store root (its folders become projects
    and assets) and inside an asset (plain folders recorded in the asset's sidecar)."""
    return (
        Metric(key, label, unit, higher, target),
        Metric(f"asset_{key}", f"{label}, inside an asset", unit, higher, target),
    )


METRICS = (
    Metric("large_put_MBps", "big-file PUT", "MB/s", True, _ratio_at_least(0.9)),
    Metric("large_get_MBps", "big-file GET", "MB/s", True),
    *_placed("small_put_files_per_s", "small-file PUT", "files/s", True, _ratio_at_least(1.0)),
    *_placed("small_get_files_per_s", "small-file GET", "files/s", True, None),
    *_placed("propfind_depth1_ms", "PROPFIND Depth 1 (median)", "ms", False, _ratio_at_most(0.5)),
    *_placed("tree_total_ms", "MKCOL+populate+MOVE+DELETE", "ms", False, _ratio_at_most(1.0)),
    *_placed("cpu_s", "server CPU for one davbench run", "s", False, _ratio_at_most(1.5)),
    Metric("rss_start_MiB", "RSS after start-up", "MiB", False),
    Metric("rss_peak_MiB", "peak RSS (VmHWM)", "MiB", False),
    Metric("rss_growth_MiB", "RSS growth, start to peak", "MiB", False),
    Metric("upload_MBps", "big upload PUT", "MB/s", True),
    Metric(
        "upload_rss_growth_MiB",
        "RSS growth during big upload",
        "MiB",
        False,
        _assetdav_below(64, "MiB"),
    ),
)


def _ratio(assetdav: float, plain: float) -> float | None:
    return assetdav / plain if plain > 0 else None


def build_rows(
    values: dict[str, dict[str, float]],
    labels: dict[str, str],
    samples: dict[str, dict[str, list[float]]],
) -> list[dict[str, Any]]:
    """One row per metric: both values, the ratio, the target and whether it is met.

    `samples` (server -> metric -> values) are the measurements behind a median, if any.
    """
    rows = []
    for metric in METRICS:
        a, p = values["assetdav"][metric.key], values["plain"][metric.key]
        ratio = _ratio(a, p)
        target = metric.target
        rows.append(
            {
                "key": metric.key,
                "label": labels.get(metric.key, metric.label),
                "unit": metric.unit,
                "better": metric.better,
                "assetdav": round(a, 2),
                "plain": round(p, 2),
                "ratio": None if ratio is None else round(ratio, 3),
                "target": target.text if target else None,
                "met": target.met(a, p, ratio) if target else None,
                "samples": {
                    name: samples[name][metric.key]
                    for name in SERVERS
                    if metric.key in samples.get(name, {})
                },
            }
        )
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def _status(row: dict[str, Any]) -> str:
    if row["target"] is None:
        return ""
    return f"{row['target']}: {'MET' if row['met'] else 'MISSED'}"


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ("metric", "unit", "assetdav", "plain", "a/p", "better", "target")
    lines = [
        (
            row["label"],
            row["unit"],
            _number(row["assetdav"]),
            _number(row["plain"]),
            "-" if row["ratio"] is None else f"{row['ratio']:.2f}",
            row["better"],
            _status(row),
        )
        for row in rows
    ]
    widths = [max(len(r[i]) for r in (header, *lines)) for i in range(len(header))]
    right = {2, 3, 4}

    def fmt(cells: tuple[str, ...]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


def summary(rows: list[dict[str, Any]]) -> str:
    judged = [row for row in rows if row["target"] is not None]
    missed = [row["label"] for row in judged if not row["met"]]
    text = f"targets met: {len(judged) - len(missed)}/{len(judged)}"
    return text + (f" (missed: {', '.join(missed)})" if missed else "")
