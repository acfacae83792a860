"""Derived media: previews and conversions of images, videos and PDFs, cached by content
hash outside the tree (see DESIGN.md, "Derived media")."""

from .background import PreviewMaker, make_previews
from .choice import keys_on_disk, preview_key, preview_url, with_preview_url
from .decode import previewable_name
from .errors import BadParameter, Busy, MediaError, NotPreviewable, TooLarge, Undecodable
from .params import Conversion, parse_conversion
from .service import QUALITIES, Media, MediaSettings

__all__ = [
    "QUALITIES",
    "BadParameter",
    "Busy",
    "Conversion",
    "Media",
    "MediaError",
    "MediaSettings",
    "NotPreviewable",
    "PreviewMaker",
    "TooLarge",
    "Undecodable",
    "keys_on_disk",
    "make_previews",
    "parse_conversion",
    "preview_key",
    "preview_url",
    "previewable_name",
    "with_preview_url",
]
