"""The `dzi` worker: DeepZoom tiles and the `.dzi` descriptor of a large image, with Pillow."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from stores.atomic import libc

from ..media.modes import eight_bit, has_alpha
from .base import Job, TaskFailed

TILE_SIZE = 254
OVERLAP = 1
JPEG_QUALITY = 85
DZI_NAMESPACE = "http://schemas.microsoft.com/deepzoom/2008"
EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")


def allow_pillow_pixels(max_pixels: int) -> None:
    """Pillow refuses images over twice `Image.MAX_IMAGE_PIXELS` on open; raise that
    process-wide limit to ours, which the worker checks itself before decoding."""
    current = Image.MAX_IMAGE_PIXELS
    if current is not None and current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def descriptor(width: int, height: int, fmt: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Image xmlns="{DZI_NAMESPACE}" Format="{fmt}" Overlap="{OVERLAP}" '
        f'TileSize="{TILE_SIZE}">\n'
        f'  <Size Width="{width}" Height="{height}"/>\n'
        "</Image>\n"
    ).encode()


def tile_boxes(width: int, height: int) -> list[tuple[int, int, tuple[int, int, int, int]]]:
    """(column, row, crop box) of every tile of one level, overlap included."""
    boxes = []
    for col in range(math.ceil(width / TILE_SIZE)):
        for row in range(math.ceil(height / TILE_SIZE)):
            left = col * TILE_SIZE - (OVERLAP if col else 0)
            top = row * TILE_SIZE - (OVERLAP if row else 0)
            right = min(width, (col + 1) * TILE_SIZE + OVERLAP)
            bottom = min(height, (row + 1) * TILE_SIZE + OVERLAP)
            boxes.append((col, row, (left, top, right, bottom)))
    return boxes


def _tile_mode(image: Image.Image, fmt: str) -> Image.Image:
    """RGBA for PNG tiles; grey or RGB for JPEG ones (16-bit and float images scaled down)."""
    if fmt == "png":
        wanted = "RGBA"
    elif image.mode in ("L", "RGB"):
        return image
    else:
        wanted = "RGB"
    if image.mode == wanted:
        return image  # convert() would copy it
    return eight_bit(image).convert(wanted)


@dataclass
class DziWorker:
    """Tile `<name>.<ext>` into `<asset>/<version>/dzi/<name>/<name>.dzi` and
    `<name>_files/<level>/<col>_<row>.jpg` (`.png` for images with transparency)."""

    max_pixels: int = 250_000_000
    max_tiles: int = 100_000
    name: str = "dzi"
    type: str = "dzi"
    description: str = "DeepZoom tiles and descriptor (.dzi) of a large image, for zooming viewers."
    extensions: tuple[str, ...] = EXTENSIONS
    docs: str = "/api/doc/redoc/#tag/workers"
    parameters: dict[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {
                "filename": {
                    "type": "string",
                    "title": "Image",
                    "description": "the image in the asset's current version (default: its file)",
                }
            },
        }
    )

    def __post_init__(self) -> None:
        allow_pillow_pixels(self.max_pixels)

    def run(self, job: Job) -> None:
        """Tile level by level from the top: each level is made from the one above and
        that one let go at once, so memory peaks at the decoded image and a quarter of it
        (no copies besides)."""
        stem = job.dest.name
        with job.open_input() as handle:
            image = self._load(handle, job)
        fmt = "png" if has_alpha(image) else "jpg"
        image = _tile_mode(image, fmt)
        width, height = image.size
        output = job.output()
        top = math.ceil(math.log2(max(width, height, 2)))
        try:
            for level in range(top, -1, -1):
                job.checkpoint()
                if level != top:
                    image = image.reduce(2)  # halves, rounding up: DeepZoom's sizes
                self._write_level(job, output, image, f"{stem}_files/{level}", fmt)
        finally:
            del image
            release_memory()
        job.checkpoint()
        with output.open(f"{stem}.dzi") as target:
            target.write(descriptor(width, height, fmt))

    @staticmethod
    def _write_level(job: Job, output: Any, image: Image.Image, folder: str, fmt: str) -> None:
        for col, row, box in tile_boxes(*image.size):
            job.checkpoint()
            tile = image.crop(box)
            with output.open(f"{folder}/{col}_{row}.{fmt}") as target:
                if fmt == "png":
                    tile.save(target, format="PNG")
                else:
                    tile.save(target, format="JPEG", quality=JPEG_QUALITY)

    def _load(self, handle: Any, job: Job) -> Image.Image:
        """Decode the whole image (oriented as its EXIF says), or fail with a clear reason:
        too many pixels, or too many tiles (a degenerate shape: 1 x 200,000,000 pixels is
        within the pixel limit but would make millions of tiles)."""
        try:
            image = Image.open(handle)
            pixels = image.width * image.height
            if pixels > self.max_pixels:
                raise TaskFailed(
                    f"{job.filename} has {image.width}×{image.height} = {pixels} pixels; "
                    f"at most {self.max_pixels} are tiled (workers.dzi_max_pixels)."
                )
            tiles = tile_count(image.width, image.height)
            if tiles > self.max_tiles:
                raise TaskFailed(
                    f"{job.filename} ({image.width}×{image.height}) would make {tiles} tiles; "
                    f"at most {self.max_tiles} are made (workers.dzi_max_tiles)."
                )
            image.load()
            job.checkpoint()
            ImageOps.exif_transpose(image, in_place=True)
            return image
        except UnidentifiedImageError:
            reason = "cannot identify image file"
        except Image.DecompressionBombError as exc:
            reason = str(exc)
        except (OSError, SyntaxError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.filename else str(exc)
        raise TaskFailed(f"cannot read {job.filename} as an image: {reason}")


def tile_count(width: int, height: int) -> int:
    """How many tiles all the levels of a width×height image make."""
    total = 0
    while True:
        total += math.ceil(width / TILE_SIZE) * math.ceil(height / TILE_SIZE)
        if width <= 1 and height <= 1:
            return total
        width, height = (width + 1) // 2, (height + 1) // 2


def release_memory() -> None:
    """Give freed image memory back to the system now (glibc keeps freed heap otherwise:
    a server that tiled one large image would keep its size for good)."""
    trim = getattr(libc(), "malloc_trim", None)  # glibc only
    if trim is not None:
        trim(0)
