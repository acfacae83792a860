"""Why a derivative cannot be made, with the HTTP status each face answers."""

from __future__ import annotations


class MediaError(Exception):
    """A derivative refused; `status` is what a client gets, the message says why."""

    status = 422
    title = "Cannot convert"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class BadParameter(MediaError):
    status = 400
    title = "Bad conversion parameter"


class NotPreviewable(MediaError):
    status = 415
    title = "Not an image, video or PDF"


class TooLarge(MediaError):
    status = 413
    title = "Image too large"


class Undecodable(MediaError):
    status = 422
    title = "Cannot decode"


class Busy(MediaError):
    status = 503
    title = "Conversion took too long"
