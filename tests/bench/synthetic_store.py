"""A synthetic asset store for the index benchmark, written straight to disk.

N asset folders spread over ~100 projects, each with a `.ovemeta` rendered by
`stores.sidecar_format.render_sidecar` from `stores.model.new_asset` (and the project's
from `new_project`), as if the tree had been rsync'd in. Each asset has:

- a name `img-<n>-<word>` (24 words, so a `name_contains` fragment is selective),
- 1-6 distinct tags drawn from a Zipf distribution (s = 1.1) over 2,000 tag names
  (`<adjective>-<noun>`; the frequency ranking is shuffled, so it is not alphabetical),
- `metadata` with camera (10 values), iso (7 values) and rating (1-5),
- optionally one small file `1/<name>.txt`, recorded in `files` exactly as an upload
  would (size, xxh3-128, mtime set with utime), with version 1, filename and index_file.

Everything is drawn from one seeded generator in the parent, so the data does not depend
on how many processes write it; the writing is spread over the CPUs by project.
"""

from __future__ import annotations

import bisect
import itertools
import multiprocessing
import os
import random
import signal
from dataclasses import dataclass
from pathlib import Path

import xxhash

from stores.model import new_asset, new_project
from stores.sidecar_format import render_sidecar

ADJECTIVES = (
    "red", "blue", "green", "amber", "grey", "black", "white", "golden", "silver", "pale",
    "dark", "bright", "misty", "frozen", "sunny", "windy", "quiet", "busy", "old", "new",
    "wild", "calm", "stormy", "urban", "rural", "aerial", "macro", "wide", "narrow", "deep",
    "high", "low", "early", "late", "night", "dawn", "dusk", "summer", "winter", "spring",
    "autumn", "tropical", "arctic", "desert", "coastal", "alpine", "forest", "river", "lake", "sea",
)  # fmt: skip
NOUNS = (
    "harbor", "bridge", "tower", "street", "market", "garden", "forest", "mountain", "valley",
    "beach", "island", "river", "lake", "field", "road", "station", "train", "boat", "car",
    "bird", "dog", "cat", "horse", "flower", "tree", "cloud", "sky", "sun", "moon", "star",
    "portrait", "crowd", "festival", "museum", "church", "castle", "ruin", "factory", "farm",
    "village",
)  # fmt: skip
NAME_WORDS = (
    "harbor", "sunset", "sunrise", "portrait", "skyline", "meadow", "glacier", "canyon",
    "lantern", "orchard", "waterfall", "cathedral", "marketplace", "lighthouse", "riverbank",
    "snowfield", "boulevard", "vineyard", "coastline", "backstreet", "rooftop", "parade",
    "workshop", "moonrise",
)  # fmt: skip
CAMERAS = (
    "Fujifilm X100V", "Canon EOS R5", "Nikon Z6", "Sony A7 IV", "Leica Q2", "Ricoh GR III",
    "Olympus OM-1", "Panasonic S5", "Pentax K-3", "Hasselblad X2D",
)  # fmt: skip
ISOS = (100, 200, 400, 800, 1600, 3200, 6400)
STORE_NAME = "bench"
FILE_MTIME_NS = 1_795_600_000_123_456_000  # a whole microsecond, as sidecars record mtimes


@dataclass(frozen=True)
class StoreSpec:
    assets: int
    projects: int = 100
    tags: int = 2000
    zipf_s: float = 1.1
    max_tags: int = 6
    seed: int = 20261126
    files: bool = True


@dataclass(frozen=True)
class AssetRecord:
    """What the generator put in one asset's sidecar (the SQLite mirror is built from these)."""

    number: int
    project: str
    name: str
    tags: tuple[str, ...]
    camera: str
    iso: int
    rating: int


def tag_names(spec: StoreSpec) -> list[str]:
    """`spec.tags` distinct tag names, most frequent first (a seeded shuffle of all pairs)."""
    names = [f"{a}-{n}" for a in ADJECTIVES for n in NOUNS]
    if spec.tags > len(names):
        names += [f"tag-{i}" for i in range(spec.tags - len(names))]
    random.Random(spec.seed + 1).shuffle(names)
    return names[: spec.tags]


def project_names(spec: StoreSpec) -> list[str]:
    return [f"proj-{i:03d}" for i in range(spec.projects)]


def make_records(spec: StoreSpec) -> list[AssetRecord]:
    """Every asset's name, project, tags and metadata, from one seeded generator."""
    rng = random.Random(spec.seed)
    tags = tag_names(spec)
    cum_weights = list(itertools.accumulate(rank**-spec.zipf_s for rank in range(1, len(tags) + 1)))
    total = cum_weights[-1]
    projects = project_names(spec)
    width = max(6, len(str(spec.assets - 1)))
    records = []
    for n in range(spec.assets):
        wanted = rng.randint(1, spec.max_tags)
        chosen: dict[str, None] = {}
        while len(chosen) < wanted:
            chosen[tags[bisect.bisect_right(cum_weights, rng.random() * total)]] = None
        records.append(
            AssetRecord(
                number=n,
                project=projects[rng.randrange(len(projects))],
                name=f"img-{n:0{width}d}-{rng.choice(NAME_WORDS)}",
                tags=tuple(chosen),
                camera=rng.choice(CAMERAS),
                iso=rng.choice(ISOS),
                rating=rng.randint(1, 5),
            )
        )
    return records


def asset_sidecar(record: AssetRecord, with_file: bool) -> tuple[dict, bytes]:
    """The sidecar data of one asset, and the content of its file (b"" without one)."""
    data = new_asset(record.name, record.project)
    data["tags"] = list(record.tags)
    data["metadata"] = {"camera": record.camera, "iso": record.iso, "rating": record.rating}
    if not with_file:
        return data, b""
    filename = f"{record.name}.txt"
    content = f"synthetic asset {record.name} in {record.project}\n".encode()
    data.update(
        version=1,
        filename=filename,
        index_file=f"/{STORE_NAME}/{record.project}/{record.name}/1/{filename}",
        uploaded=True,
    )
    data["history"][0]["Version"] = 1
    data["files"] = {
        f"1/{filename}": {
            "size": len(content),
            "xxh3_128": xxhash.xxh3_128(content).hexdigest(),
            "mtime": round(FILE_MTIME_NS / 1e9, 6),
        }
    }
    return data, content


def _write_project(job: tuple[Path, str, list[AssetRecord], bool]) -> tuple[int, int]:
    """Write one project folder and its assets; (files written, bytes written)."""
    root, project, records, with_files = job
    folder = root / project
    folder.mkdir()
    written = bytes_out = 0
    raw = render_sidecar(new_project(project))
    (folder / ".ovemeta").write_bytes(raw)
    written, bytes_out = 1, len(raw)
    for record in records:
        asset = folder / record.name
        asset.mkdir()
        data, content = asset_sidecar(record, with_files)
        if with_files:
            (asset / "1").mkdir()
            path = asset / "1" / data["filename"]
            path.write_bytes(content)
            os.utime(path, ns=(FILE_MTIME_NS, FILE_MTIME_NS))
            written += 1
            bytes_out += len(content)
        raw = render_sidecar(data)
        (asset / ".ovemeta").write_bytes(raw)
        written += 1
        bytes_out += len(raw)
    return written, bytes_out


def _default_signals() -> None:
    """Workers leave SIGTERM to its default: the parent's handler is for the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def write_store(
    root: Path, spec: StoreSpec, records: list[AssetRecord], processes: int | None = None
) -> tuple[int, int]:
    """Write the projects and assets under `root` (which must exist and be empty);
    returns (files written, bytes written)."""
    by_project: dict[str, list[AssetRecord]] = {name: [] for name in project_names(spec)}
    for record in records:
        by_project[record.project].append(record)
    jobs = [(root, name, found, spec.files) for name, found in by_project.items()]
    processes = processes or os.cpu_count() or 1
    if processes == 1:
        results = list(map(_write_project, jobs))
    else:
        pool = multiprocessing.get_context("fork").Pool(processes, initializer=_default_signals)
        try:
            results = pool.map(_write_project, jobs, chunksize=1)
            pool.close()
        finally:
            pool.terminate()
            pool.join()
    return sum(r[0] for r in results), sum(r[1] for r in results)
