"""Pillow image modes every encoder takes: shared by conversions, previews and the dzi
worker, so a 16-bit TIFF or a palette PNG looks the same in all of them."""

from __future__ import annotations

from PIL import Image

DEEP_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode == "P" and "transparency" in image.info
    )


def eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit or float image stretched to 8-bit grey over its own range (others as they
    are): these have no fixed white, and most encoders take 8 bits only."""
    if image.mode not in DEEP_MODES:
        return image
    floats = image.convert("F")
    low, high = floats.getextrema()
    scale = 255.0 / (high - low) if high > low else 1.0
    return floats.point(lambda value: (value - low) * scale).convert("L")
