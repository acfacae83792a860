"""The conversion a query asks for (`?type=webp&w=800&h=600&fit=cover&q=80`), checked and
normalised, so equal requests share one cached derivative and one ETag."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import BadParameter

OUTPUT_TYPES = ("webp", "jpeg", "png", "avif", "gif")
MIME_TYPES = {
    "webp": "image/webp",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "avif": "image/avif",
    "gif": "image/gif",
}
TYPE_ALIASES = {"jpg": "jpeg"}
FITS = ("contain", "cover", "fill")
MAX_SIDE = 16384
DEFAULT_QUALITY = {"webp": 80, "jpeg": 85, "avif": 60, "png": 0, "gif": 0}
KEYS = ("type", "w", "h", "fit", "q")


@dataclass(frozen=True)
class Conversion:
    """An output format and an optional box; `w`/`h` 0 means no bound on that side.
    `q` is the encoder quality (0 for lossless formats, where it means nothing)."""

    type: str = "webp"
    w: int = 0
    h: int = 0
    fit: str = "contain"
    q: int = 80

    @property
    def key(self) -> str:
        """The normalised parameters, as part of a cache file name and an ETag."""
        return f"{self.w}x{self.h}-{self.fit}-q{self.q}.{self.type}"

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.type]

    @property
    def keeps_animation(self) -> bool:
        return self.type in ("webp", "gif")


def preview(longest_side: int) -> Conversion:
    """A preview: webp within a square of `longest_side` pixels."""
    return Conversion("webp", longest_side, longest_side, "contain", DEFAULT_QUALITY["webp"])


def parse_conversion(items: Iterable[tuple[str, str]], default_type: str = "webp") -> Conversion:
    """The conversion of a query's (name, value) pairs; BadParameter (400) names the first
    unknown, repeated or out-of-range parameter."""
    given: dict[str, str] = {}
    for name, value in items:
        if name not in KEYS:
            raise BadParameter(
                f"Unknown parameter {name!r}: a file's URL takes {', '.join(KEYS)} "
                "(e.g. ?type=webp&w=800)."
            )
        if name in given:
            raise BadParameter(f"The parameter {name!r} is given twice.")
        given[name] = value.strip()
    kind = TYPE_ALIASES.get(given.get("type", "").lower(), given.get("type", "").lower())
    kind = kind or default_type
    if kind not in OUTPUT_TYPES:
        raise BadParameter(f"type must be one of {', '.join(OUTPUT_TYPES)}, not {kind!r}.")
    width = _side(given, "w")
    height = _side(given, "h")
    fit = given.get("fit", "contain").lower() or "contain"
    if fit not in FITS:
        raise BadParameter(f"fit must be one of {', '.join(FITS)}, not {fit!r}.")
    if fit != "contain" and not (width and height):
        fit = "contain"  # with one side only, every fit scales to that side
    quality = DEFAULT_QUALITY[kind]
    if "q" in given:
        quality = _number(given, "q", 1, 100)
        if not DEFAULT_QUALITY[kind]:
            quality = 0  # png and gif are lossless: q changes nothing, so it is not kept
    return Conversion(kind, width, height, fit, quality)


def _side(given: dict[str, str], name: str) -> int:
    return _number(given, name, 1, MAX_SIDE) if name in given else 0


def _number(given: dict[str, str], name: str, low: int, high: int) -> int:
    text = given[name]
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise BadParameter(f"{name} must be a whole number from {low} to {high}, not {text!r}.")
    return int(text)
