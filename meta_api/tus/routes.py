"""The tus routes: POST /api/uploads/ creates an upload, HEAD /api/uploads/<id> tells its
offset, PATCH appends to it, DELETE terminates it, OPTIONS describes the server.

Every answer carries `Tus-Resumable`; errors are JSON `{"title", "description"(, "rule")}`
like the rest of the API. An upload is its creator's: other users (but administrators)
get 403.
"""

from __future__ import annotations

import contextlib

from flask import Blueprint, Response, request, url_for

from stores.errors import BadContent

from .. import context
from ..requests import body_length, stream_body
from ..spec import endpoint
from . import landing
from .protocol import (
    TUS_VERSION,
    TusError,
    announce,
    checksum,
    http_date,
    parse_metadata,
    require_offset_stream,
    require_version,
    upload_length,
    upload_offset,
)
from .sessions import append_request_body, busy_error, open_session, owned_upload, uploads
from .uploads import UploadBusy

blueprint = Blueprint("tus", __name__)
TAGS = ["uploads"]
ERRORS = (400, 404, 409, 410, 412, 413, 415, 423, 507)
NO_OPTIONS = {"provide_automatic_options": False}  # OPTIONS is tus' own here
# The bodies (application/offset+octet-stream) are described in the routes' text only:
# OpenAPI tools know no such media type and could not exercise the routes.


@blueprint.after_request
def _protocol_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    if response.status_code < 300 and not response.is_streamed and not response.get_data():
        response.headers.pop("Content-Type", None)  # an answer that is all headers
    if response.status_code != 413:  # cheroot closes the connection after a 413
        _discard_unread_body()
    return response


@blueprint.after_app_request
def _protocol_header_when_unrouted(response: Response) -> Response:
    """A method no tus route allows (405) is answered before any blueprint is chosen; tus
    clients still expect the protocol header on it (tus 1.0.0: every response but OPTIONS)."""
    path = request.path
    if (
        request.blueprint is None
        and path.startswith("/api/uploads/")
        and not path.startswith("/api/uploads/presigned-url")
    ):
        response.headers["Tus-Resumable"] = TUS_VERSION
    return response


@blueprint.errorhandler(TusError)
def _tus_error(exc: TusError) -> Response:
    return exc.response()


def _discard_unread_body() -> None:
    """Read what a refused request still sends, in pieces, so that the connection stays
    usable without the server holding a whole refused chunk in memory."""
    if request.method in ("POST", "PATCH"):
        with contextlib.suppress(BadContent, OSError, ValueError):
            for _piece in stream_body():
                pass


# --- the routes --------------------------------------------------------------------------


@blueprint.route("/uploads/", methods=["OPTIONS"], strict_slashes=False, **NO_OPTIONS)
def describe_server() -> Response:
    """What this server supports; `?store=NAME` gives that store's Tus-Max-Size."""
    store = context.registry().find(request.args.get("store", ""))
    return announce(Response(status=204), landing.max_size(uploads(), store))


@blueprint.route("/uploads/<upload_id>", methods=["OPTIONS"], **NO_OPTIONS)
def describe_upload(upload_id: str) -> Response:
    """What this server supports, with the Tus-Max-Size of the upload's store."""
    service = uploads()
    record = service.find(upload_id)
    actor = context.actor()
    store = None
    if record is not None and (
        record.user == actor.name or context.registry().policy.can_administer(actor)
    ):
        store = context.registry().find(record.store)
    return announce(Response(status=204), landing.max_size(service, store))


@blueprint.post("/uploads/", strict_slashes=False, **NO_OPTIONS)
@endpoint(ok_status=201, errors=ERRORS, tags=TAGS)
def create_upload() -> Response:
    """Create a resumable upload (tus creation), with its first bytes when a body comes
    along (creation-with-upload, `Content-Type: application/offset+octet-stream`).

    Headers: `Tus-Resumable: 1.0.0`, `Upload-Length`, `Upload-Metadata` naming `store`,
    `project`, `asset`, `filename` and optionally `create`, `update` (values in base64),
    optionally `Upload-Checksum`. The target, the caller's rights and the store's rules
    (name, type by name, size) are judged here. Answers 201 with `Location` and
    `Upload-Expires` (and `Upload-Offset` when a body came).
    """
    require_version()
    length = upload_length()
    raw_metadata = request.headers.get("Upload-Metadata", "")
    target = landing.read_target(parse_metadata(raw_metadata))
    with_body = body_length() != 0
    if with_body:
        require_offset_stream()
    chunk_checksum = checksum() if with_body else None
    service = uploads()
    record = open_session(service, context.actor(), target, length, raw_metadata)
    answer = Response(status=201)
    answer.headers["Location"] = url_for("tus.upload_status", upload_id=record.id, _external=True)
    if with_body or length == 0:
        try:
            with service.writing(record.id):
                record = append_request_body(service, record, chunk_checksum)
        except Exception:
            service.remove(record.id)  # the client never learnt where it was: start again
            raise
        answer.headers["Upload-Offset"] = str(record.offset)
    answer.headers["Upload-Expires"] = http_date(record.expires)
    return answer


@blueprint.route("/uploads/<upload_id>", methods=["HEAD"], **NO_OPTIONS)
def upload_status(upload_id: str) -> Response:
    """How far the upload got: `Upload-Offset`, `Upload-Length` (never cached)."""
    require_version()
    record = owned_upload(uploads(), upload_id)
    answer = Response(status=200)
    answer.headers["Upload-Offset"] = str(record.offset)
    answer.headers["Upload-Length"] = str(record.length)
    answer.headers["Upload-Expires"] = http_date(record.expires)
    answer.headers["Cache-Control"] = "no-store"
    if record.metadata:
        answer.headers["Upload-Metadata"] = record.metadata
    return answer


@blueprint.patch("/uploads/<upload_id>", **NO_OPTIONS)
@endpoint(ok_status=204, errors=ERRORS, tags=TAGS)
def append_to_upload(upload_id: str) -> Response:
    """Append the body at `Upload-Offset` (which must be the upload's offset: 409
    otherwise), `Content-Type: application/offset+octet-stream`, optionally with
    `Upload-Checksum` (sha1, md5, sha256; a mismatch answers 460 and keeps nothing).
    The bytes are fsynced before the answer. The last chunk lands the upload as the
    asset's next version. Answers 204 with the new `Upload-Offset`.
    """
    require_version()
    service = uploads()
    owned_upload(service, upload_id)
    require_offset_stream()
    offset = upload_offset()
    chunk_checksum = checksum()
    try:
        with service.writing(upload_id):
            record = service.settle(owned_upload(service, upload_id, held=True))
            if offset != record.offset:
                raise TusError(
                    409,
                    "Offset mismatch",
                    f"The upload is at offset {record.offset}, not {offset}; ask for the "
                    "offset (HEAD) and send from there.",
                )
            record = append_request_body(service, record, chunk_checksum)
    except UploadBusy:
        raise busy_error() from None
    answer = Response(status=204)
    answer.headers["Upload-Offset"] = str(record.offset)
    answer.headers["Upload-Expires"] = http_date(record.expires)
    return answer


@blueprint.delete("/uploads/<upload_id>", **NO_OPTIONS)
@endpoint(ok_status=204, errors=ERRORS, tags=TAGS)
def terminate_upload(upload_id: str) -> Response:
    """Terminate an upload: its bytes are gone (a landed version stays where it landed)."""
    require_version()
    service = uploads()
    owned_upload(service, upload_id)
    try:
        with service.writing(upload_id):
            service.remove(upload_id)
    except UploadBusy:
        raise busy_error() from None
    return Response(status=204)
