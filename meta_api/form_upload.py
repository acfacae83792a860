"""A multipart/form-data upload whose fields may come after its file (ComfyUI's clients
send `file` first, then `tags`, `name`...): the file part is streamed to a spool file in
the upload area while the small fields are kept, so the destination is known only once
the body has been read, and the body is never held in memory."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from stores.atomic import unlink_quietly
from stores.errors import BadContent, TooLarge
from stores.hashing import ContentHasher, Digests
from stores.writeback import WritebackPacer

MAX_PARTS = 64
MAX_FIELD_BYTES = 1 << 20  # a form field's value (user_metadata is JSON)


@dataclass
class SpooledForm:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    size: int = 0
    spool: Path | None = None  # the file part's bytes, fsynced; None: no file part
    digests: Digests = field(default_factory=lambda: Digests(""))  # of the file part, sha256 too

    def discard(self) -> None:
        if self.spool is not None:
            unlink_quietly(self.spool)


def spool_form(
    chunks: Iterable[bytes], boundary: str, spool: Path, max_size: int, file_field: str = "file"
) -> SpooledForm:
    """Read the whole body: fields by name, the part named `file_field` into `spool`.
    Anything wrong (malformed, a second file, too large) removes the spool and raises."""
    form = SpooledForm()
    decoder = MultipartDecoder(
        boundary.encode("latin-1"), max_form_memory_size=MAX_FIELD_BYTES, max_parts=MAX_PARTS
    )
    reader = iter(chunks)
    fd: int | None = None
    writeback: WritebackPacer | None = None
    hasher = ContentHasher(sha256=True)
    current: str | None = None  # the field being read; "" while in the file part
    value = bytearray()
    ended = False
    try:
        while True:
            try:
                event = decoder.next_event()
            except ValueError as exc:
                raise BadContent(f"The multipart body is malformed ({exc}).") from None
            if isinstance(event, NeedData):
                chunk = next(reader, None)
                if chunk is None:
                    if ended:
                        raise BadContent("The multipart body ended early; send it again.")
                    ended = True
                decoder.receive_data(chunk)
            elif isinstance(event, File):
                if event.name != file_field or form.spool is not None:
                    raise BadContent(
                        f"Send one file, in the part named {file_field!r} (this one is "
                        f"{event.name!r})."
                    )
                form.filename = os.path.basename((event.filename or "").replace("\\", "/"))
                form.spool = spool
                fd = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                writeback = WritebackPacer(fd)
                current = ""
            elif isinstance(event, Field):
                current, value = event.name, bytearray()
            elif isinstance(event, Data):
                if current == "" and fd is not None:
                    form.size += len(event.data)
                    if form.size > max_size:
                        raise TooLarge(
                            f"The file is larger than the limit of {max_size} bytes.",
                            rule="max_file_size",
                        )
                    if writeback is not None:  # set with fd
                        writeback.write(event.data)
                    hasher.update(event.data)
                    if not event.more_data:
                        form.digests = hasher.digests()
                        os.fsync(fd)
                        os.close(fd)
                        fd, current = None, None
                elif current:
                    value += event.data
                    if not event.more_data:
                        form.fields[current] = _text(current, bytes(value))
                        current = None
            elif isinstance(event, Epilogue):
                break
        if fd is not None:
            raise BadContent("The multipart body ended inside its file part.")
        return form
    except BaseException:
        if fd is not None:
            os.close(fd)
        form.discard()
        raise


def _text(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadContent(f"The form field {name!r} is not UTF-8 text.") from None
