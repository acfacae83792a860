"""A stored file as a download: streamed, with its content hash as ETag, Range and
conditional requests, and the name it is saved under."""

from __future__ import annotations

from flask import Response, request, send_file

from stores import Actor, FileStore, Location
from stores.errors import StoreError

from .errors import ApiError


def send_stored_file(
    store: FileStore, actor: Actor, loc: Location, download_name: str | None = None
) -> Response:
    try:
        handle = store.open_read(actor, loc)
    except StoreError:
        raise ApiError(404, "Gone", "The file is no longer there.") from None
    st = store.stat(loc)
    if st is None:
        handle.close()
        raise ApiError(404, "Gone", "The file is no longer there.")
    response = send_file(
        handle,
        download_name=download_name or loc.name,
        as_attachment=download_name is not None,
        conditional=False,
        max_age=0,
    )
    response.content_length = st.st_size
    response.last_modified = st.st_mtime
    record = store.file_record(loc, st)
    if record is not None:
        response.set_etag(record.xxh3_128)
    response.headers["Cache-Control"] = "private, no-store"
    return response.make_conditional(request, accept_ranges=True, complete_length=st.st_size)
