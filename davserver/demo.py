"""The embedded demo store: a project with a few small images and tags, made on first start."""

from __future__ import annotations

import io
import logging

from PIL import Image, ImageDraw

from stores import SYSTEM, FileStore

log = logging.getLogger(__name__)

DEMO_PROJECT = "gallery"
DEMO_ASSETS = {
    "sunset": ((250, 120, 40), (60, 20, 90), ["sunset", "coast", "warm"], "A sunset over the sea."),
    "coast": ((40, 120, 200), (230, 220, 180), ["coast", "sea"], "Sand, water and sky."),
    "forest": ((30, 90, 40), (150, 200, 120), ["forest", "green"], "Trees in the morning."),
}


def _gradient_png(top: tuple[int, int, int], bottom: tuple[int, int, int]) -> bytes:
    width, height = 320, 200
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        color = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=color)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def seed_demo_store(store: FileStore) -> None:
    """Fill an empty demo store through `stores`, as a user would over WebDAV."""
    store.root.mkdir(parents=True, exist_ok=True)
    project = store.locate(DEMO_PROJECT)
    store.make_folder(SYSTEM, project)
    store.update_fields(SYSTEM, project, {"description": "Demo images made on first start."})
    for asset_id, (top, bottom, tags, description) in DEMO_ASSETS.items():
        asset = project.child(asset_id)
        store.make_folder(SYSTEM, asset)
        store.write_bytes(SYSTEM, asset.child(f"{asset_id}.png"), _gradient_png(top, bottom))
        store.update_fields(SYSTEM, asset, {"tags": tags, "description": description})
    log.info("created the demo store %r at %s", store.name, store.root)
