"""Finish decoded frames (colour profile to sRGB, crop, alpha kept or flattened) and
write them in the output format."""

from __future__ import annotations

import io
import threading
from typing import BinaryIO

import xxhash
from PIL import Image, ImageCms

from .decode import Decoded
from .params import Conversion

_SRGB = ImageCms.createProfile("sRGB")
_TRANSFORMS: dict[tuple[str, str, str], ImageCms.ImageCmsTransform | None] = {}
_TRANSFORMS_GUARD = threading.Lock()
MAX_TRANSFORMS = 64
ALPHA_MODES = ("RGBA", "LA")
# libwebp's effort: 2 encodes a 640×480 photo 2.6× faster than the default 4, for 3% more
# bytes; previews are made of every upload, so the time matters more than the bytes
WEBP_METHOD = 2
BACKGROUND = (255, 255, 255)


def encode(decoded: Decoded, conversion: Conversion, out: BinaryIO) -> None:
    frames = [_finished(frame, decoded, conversion) for frame in decoded.frames]
    first, rest = frames[0], frames[1:]
    kind, quality = conversion.type, conversion.q
    if kind == "jpeg":
        _flattened(first).save(out, "JPEG", quality=quality)
    elif kind == "png":
        first.save(out, "PNG", compress_level=6)
    elif kind == "avif":
        first.save(out, "AVIF", quality=quality, speed=8)
    elif kind == "webp":
        extra = _animation(decoded, rest)
        first.save(out, "WEBP", quality=quality, method=WEBP_METHOD, **extra)
    else:  # gif
        extra = _animation(decoded, rest)
        first.save(out, "GIF", optimize=False, **extra)


def _animation(decoded: Decoded, rest: list[Image.Image]) -> dict:
    if not rest:
        return {}
    return {
        "save_all": True,
        "append_images": rest,
        "duration": decoded.durations,
        "loop": decoded.loop,
    }


def _finished(image: Image.Image, decoded: Decoded, conversion: Conversion) -> Image.Image:
    if decoded.icc_profile:
        image = _to_srgb(image, decoded.icc_profile)
    elif image.mode == "CMYK":
        image = image.convert("RGB")
    if decoded.plan.crop is not None:
        image = image.crop(decoded.plan.crop)
    return image


def _flattened(image: Image.Image) -> Image.Image:
    """JPEG has no transparency: composite on white."""
    if image.mode not in ALPHA_MODES:
        return image
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, BACKGROUND)
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    """Pixels in the file's colour profile converted to sRGB (a broken profile: as they are)."""
    out_mode = {"CMYK": "RGB", "RGB": "RGB", "RGBA": "RGBA"}.get(image.mode)
    if out_mode is None:
        return image
    key = (xxhash.xxh3_64_hexdigest(icc), image.mode, out_mode)
    with _TRANSFORMS_GUARD:
        known = key in _TRANSFORMS
        transform = _TRANSFORMS.get(key)
    if not known:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            transform = ImageCms.buildTransform(source, _SRGB, image.mode, out_mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            transform = None
        with _TRANSFORMS_GUARD:
            if len(_TRANSFORMS) >= MAX_TRANSFORMS:
                _TRANSFORMS.clear()
            _TRANSFORMS[key] = transform
    if transform is None:
        return image.convert("RGB") if image.mode == "CMYK" else image
    try:
        return ImageCms.applyTransform(image, transform)
    except (ImageCms.PyCMSError, ValueError):
        return image.convert("RGB") if image.mode == "CMYK" else image
