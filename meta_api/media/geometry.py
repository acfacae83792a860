"""Where a source of a given size ends up for a conversion: the size to scale it to and
what to crop of that, never larger than the source (no upscaling)."""

from __future__ import annotations

from dataclasses import dataclass

from .params import Conversion


@dataclass(frozen=True)
class Plan:
    scaled: tuple[int, int]  # the whole source scaled to this
    crop: tuple[int, int, int, int] | None = None  # then this box of it kept (cover)

    @property
    def size(self) -> tuple[int, int]:
        """The size of the output."""
        if self.crop is None:
            return self.scaled
        left, top, right, bottom = self.crop
        return right - left, bottom - top


def plan(width: int, height: int, conversion: Conversion) -> Plan:
    w, h = conversion.w, conversion.h
    if conversion.fit == "fill" and w and h:
        k = min(1.0, width / w, height / h)
        return Plan((_side(w * k), _side(h * k)))
    if conversion.fit == "cover" and w and h:
        scale = min(1.0, max(w / width, h / height))
        scaled_w, scaled_h = _side(width * scale), _side(height * scale)
        aspect = w / h
        crop_w = min(w, scaled_w, _side(scaled_h * aspect))
        crop_h = min(scaled_h, _side(crop_w / aspect))
        left, top = (scaled_w - crop_w) // 2, (scaled_h - crop_h) // 2
        return Plan((scaled_w, scaled_h), (left, top, left + crop_w, top + crop_h))
    scale = min(1.0, w / width if w else 1.0, h / height if h else 1.0)
    return Plan((_side(width * scale), _side(height * scale)))


def _side(value: float) -> int:
    return max(1, round(value))
