"""The file part of a multipart/form-data upload (`curl -F file=@photo.png`), streamed:
its file name first, then its bytes piece by piece, never the whole body in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from stores.errors import BadContent

MAX_PARTS = 64  # form fields besides the file; their values are dropped
MAX_BUFFERED = 4 << 20  # what the decoder may hold at once (a field, or a body piece)


class FilePart:
    """The first file part of a multipart body (a part named `file` is what OVE's clients
    send; any file part is taken). `filename()` reads up to it; iterating yields its
    bytes and then reads the rest of the body away."""

    def __init__(self, chunks: Iterable[bytes], boundary: str) -> None:
        self._chunks = iter(chunks)
        self._decoder = MultipartDecoder(
            boundary.encode("latin-1"), max_form_memory_size=MAX_BUFFERED, max_parts=MAX_PARTS
        )
        self._name: str | None = None
        self._file_ended = False
        self._fed_end = False

    def filename(self) -> str:
        """The file name the client gave its file part ("" when it gave none)."""
        while self._name is None:
            event = self._next_event()
            if isinstance(event, File):
                self._name = event.filename or ""
            elif isinstance(event, Epilogue):
                raise BadContent(
                    "The multipart body has no file part; send the file as a part "
                    "(curl -F file=@NAME) or as the raw body."
                )
        return self._name

    def __iter__(self) -> Iterator[bytes]:
        self.filename()
        while not self._file_ended:
            event = self._next_event()
            if isinstance(event, Data):
                if event.data:
                    yield event.data
                self._file_ended = not event.more_data
            elif isinstance(event, Epilogue):
                raise BadContent("The multipart body ended inside its file part.")
        for _rest in self._chunks:  # the other parts, read and dropped
            pass

    def _next_event(self) -> object:
        """The decoder's next event, feeding it body pieces as it needs them."""
        while True:
            try:
                event = self._decoder.next_event()
            except ValueError as exc:  # werkzeug: malformed, or a field too large
                raise BadContent(f"The multipart body is malformed ({exc}).") from None
            if not isinstance(event, NeedData):
                if isinstance(event, Field | Data) and self._name is None:
                    continue  # a form field before the file: not kept
                return event
            chunk = next(self._chunks, None)
            if chunk is None:
                if self._fed_end:
                    raise BadContent("The multipart body ended early; send it again.")
                self._fed_end = True
            self._decoder.receive_data(chunk)
