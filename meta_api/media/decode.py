"""Open any previewable file (image, video, PDF) as Pillow frames no bigger than a
conversion needs: JPEGs are decoded at a reduced scale (`draft`), videos give one frame,
PDFs render their first page at the size wanted. Nothing over `max_pixels` is decoded."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pillow_heif
from PIL import Image, ImageSequence, UnidentifiedImageError

from .errors import Busy, NotPreviewable, TooLarge, Undecodable
from .geometry import Plan, plan
from .modes import DEEP_MODES, eight_bit, has_alpha
from .params import Conversion

pillow_heif.register_heif_opener()
Image.MAX_IMAGE_PIXELS = None  # our own limit (max_pixels) is checked before decoding

VIDEO_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi"})
IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".avif"}
    | {".heic", ".heif"}
)
PREVIEWABLE_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS | {".pdf"}
PDF_MAGIC = b"%PDF-"
PDF_SCALE = 2.0  # a PDF's "own" size: its first page at 144 dpi (72 points per inch)
VIDEO_TIME_FRACTION = 0.1  # the frame shown: at 10% of the duration, or 1 s when unknown
_PDFIUM = threading.Lock()  # pdfium is not thread-safe


@dataclass
class Decoded:
    """Frames (more than one only for animations kept animated), already at `plan`'s scale
    before cropping; `durations` in ms per frame."""

    frames: list[Image.Image]
    plan: Plan
    durations: list[int] = field(default_factory=list)
    loop: int = 0
    icc_profile: bytes | None = None


def previewable_name(name: str) -> bool:
    """Whether a file's name says it is an image, a video or a PDF (a cheap first look)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in PREVIEWABLE_EXTENSIONS


def kind_of(path: Path) -> str:
    """'image', 'video' or 'pdf' by what the file holds (its name for videos; an image
    named as one that Pillow cannot identify is still an image, a damaged one), else ''."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return ""
    if head.startswith(PDF_MAGIC):
        return "pdf"
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return "video"
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return "image"
    try:
        with Image.open(path) as image:
            return "image" if image.format else ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return ""


def decode(path: Path, conversion: Conversion, max_pixels: int, deadline: float) -> Decoded:
    kind = kind_of(path)
    if kind == "image":
        return _image(path, conversion, max_pixels)
    if kind == "video":
        return _single(_video_frame(path, max_pixels, deadline), conversion)
    if kind == "pdf":
        return _pdf(path, conversion, max_pixels)
    raise NotPreviewable(
        f"{path.name} is not an image, a video or a PDF that can be converted "
        "(images: JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF, HEIC; videos: mp4, mov, webm, mkv)."
    )


def _check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise Undecodable(f"{what} declares a size of {width}×{height}.")
    if width * height > max_pixels:
        raise TooLarge(
            f"{what} is {width}×{height} = {width * height / 1e6:.1f} megapixels; the limit "
            f"(derived.max_pixels) is {max_pixels / 1e6:g} megapixels."
        )


ORIENTATION = 0x0112
TRANSPOSING = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def _image(path: Path, conversion: Conversion, max_pixels: int) -> Decoded:
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise Undecodable(f"{path.name} cannot be read as an image: {_reason(exc)}.") from None
    try:
        with image:
            return _decode_image(image, path.name, conversion, max_pixels)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise Undecodable(f"{path.name} is damaged or truncated: {_reason(exc)}.") from None


def _decode_image(
    image: Image.Image, name: str, conversion: Conversion, max_pixels: int
) -> Decoded:
    width, height = image.size
    _check_pixels(width, height, max_pixels, name)
    orientation = image.getexif().get(ORIENTATION, 1)
    swapped = orientation in TRANSPOSING
    shown = (height, width) if swapped else (width, height)
    target = plan(*shown, conversion)
    to_size = target.scaled[::-1] if swapped else target.scaled
    icc = image.info.get("icc_profile")
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and conversion.keeps_animation and frames * width * height <= max_pixels:
        return _animation(image, target, to_size, icc)
    if image.format == "JPEG":
        image.draft("RGB" if image.mode not in ("L", "1") else "L", to_size)
    image.load()
    frame = _scaled(_plain_mode(image), to_size)
    frame = _oriented(frame, orientation)
    return Decoded([frame], target, icc_profile=icc)


def _animation(
    image: Image.Image, target: Plan, to_size: tuple[int, int], icc: bytes | None
) -> Decoded:
    frames, durations = [], []
    for frame in ImageSequence.Iterator(image):
        durations.append(int(frame.info.get("duration", 100)))
        frames.append(_scaled(frame.convert("RGBA"), to_size))
    return Decoded(frames, target, durations, int(image.info.get("loop", 0)), icc)


def _single(image: Image.Image, conversion: Conversion) -> Decoded:
    target = plan(*image.size, conversion)
    return Decoded([_scaled(_plain_mode(image), target.scaled)], target)


def _scaled(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _oriented(image: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return image.transpose(method) if method is not None else image


def _plain_mode(image: Image.Image) -> Image.Image:
    """RGB, RGBA, L or LA: what resizing and every encoder take (16-bit and float images
    stretched to 8 bits, palettes expanded, CMYK left to the colour step when profiled)."""
    mode = image.mode
    if mode in ("RGB", "RGBA", "L", "LA"):
        return image
    if mode == "CMYK" and "icc_profile" in image.info:
        return image  # converted with its profile after scaling (see colour.py)
    if mode in ("P", "PA"):
        return image.convert("RGBA" if has_alpha(image) else "RGB")
    if mode in DEEP_MODES:
        return eight_bit(image)
    if mode == "1":
        return image.convert("L")
    if mode == "RGBa":
        return image.convert("RGBA")
    return image.convert("RGB")


def _video_frame(path: Path, max_pixels: int, deadline: float) -> Image.Image:
    import av  # heavy; only loaded when a video is converted

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise Undecodable(f"{path.name} has no video stream.")
            stream = container.streams.video[0]
            _check_pixels(
                stream.codec_context.width, stream.codec_context.height, max_pixels, path.name
            )
            duration = None
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / 1_000_000
            at = duration * VIDEO_TIME_FRACTION if duration else 1.0
            frame = _frame_at(container, stream, at, deadline)
            if frame is None and at > 0:
                container.seek(0)
                frame = _frame_at(container, stream, 0.0, deadline)
            if frame is None:
                raise Undecodable(f"{path.name} has no video frames.")
            return frame.to_image()
    except (Undecodable, TooLarge, Busy):
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of FFmpeg on hostile input is 422
        raise Undecodable(f"{path.name} cannot be read as a video: {_reason(exc)}.") from None


def _frame_at(container, stream, at: float, deadline: float):  # noqa: ANN001, ANN202
    if at > 0 and stream.time_base:
        container.seek(int(at / stream.time_base), stream=stream, backward=True)
    found = None
    for frame in container.decode(stream):
        if time.monotonic() > deadline:
            raise Busy("The video frame took longer than derived.timeout to decode.")
        found = frame
        if frame.time is None or frame.time >= at:
            break
    return found


def _pdf(path: Path, conversion: Conversion, max_pixels: int) -> Decoded:
    import pypdfium2 as pdfium  # only loaded when a PDF is converted

    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(str(path))
        except Exception as exc:  # noqa: BLE001 - encrypted, damaged: 422 either way
            raise Undecodable(f"{path.name} cannot be opened as a PDF: {_reason(exc)}.") from None
        try:
            if len(document) == 0:
                raise Undecodable(f"{path.name} has no pages.")
            page = document[0]
            points_w, points_h = page.get_size()
            width, height = round(points_w * PDF_SCALE), round(points_h * PDF_SCALE)
            _check_pixels(width, height, max_pixels, path.name)
            target = plan(width, height, conversion)
            scale = PDF_SCALE * target.scaled[0] / width
            image = page.render(scale=scale).to_pil()
            page.close()
        except (Undecodable, TooLarge):
            raise
        except Exception as exc:  # noqa: BLE001
            raise Undecodable(
                f"{path.name}'s first page cannot be rendered: {_reason(exc)}."
            ) from None
        finally:
            document.close()
    return Decoded([_scaled(_plain_mode(image), target.scaled)], target)


def _reason(exc: BaseException) -> str:
    return str(exc).strip().rstrip(".") or type(exc).__name__
