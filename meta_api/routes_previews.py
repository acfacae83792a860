"""Previews of assets: `GET /api/{store}/{project}/preview/{asset}?quality=low` answers a
webp of the asset's index file (else its first image, video or PDF), cached by content
hash and made ahead of time for `low` and `medium`."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, request, send_file

from stores import Location

from . import context
from .errors import ApiError
from .media import QUALITIES, Media, MediaError, keys_on_disk, preview_key
from .spec import documented_by_hand

blueprint = Blueprint("previews", __name__)

CACHE_CONTROL = "private, no-cache"
PARAMETERS = ("quality", "version", "file")


def media() -> Media:
    return current_app.config["ASSETDAV_MEDIA"]


@blueprint.route("/<store_id>/<project_id>/preview/<asset_id>", methods=["GET", "HEAD"])
@documented_by_hand(
    "/api/{store_id}/{project_id}/preview/{asset_id}",
    "get",
    "previews",
    "A webp preview of the asset: its index file, else its first image, video or PDF.",
    {
        "200": "the preview (image/webp), never larger than the source",
        "400": "a bad parameter, or a store, project or asset that does not exist",
        "404": "the asset has nothing to preview (or no such version or file)",
        "413": "the source is larger than derived.max_pixels",
        "422": "the source is damaged, encrypted or has no frames",
        "503": "the preview took longer than derived.timeout",
    },
    query={
        "quality": {"type": "string", "enum": list(QUALITIES), "default": "low"},
        "version": {"type": "integer", "minimum": 0},
        "file": {"type": "string"},
    },
    media_type="image/webp",
)
def preview(store_id: str, project_id: str, asset_id: str) -> Response:
    """The preview of an asset at `quality` (low 256, medium 1024, high 2048 pixels on the
    longest side by default), of `version` and `file` when given."""
    quality, version, name = _parameters()
    store, asset = context.asset(store_id, project_id, asset_id)
    actor = context.actor()
    meta = store.read_meta(actor, asset) or {}
    key = preview_key(meta, version, name, lambda: keys_on_disk(store.fs_path(asset)))
    if key is None:
        raise ApiError(404, "No preview", _nothing_to_show(asset_id, version, name))
    loc = Location(store.name, (*asset.parts, *key.split("/")))
    store.check_read(actor, loc)
    st = store.stat(loc)
    if st is None:
        raise ApiError(404, "No preview", f"The file {key!r} of {asset_id!r} is gone.")
    source = store.fs_path(loc)
    try:
        digest = media().content_hash(store, loc, source, st)
    except MediaError as exc:
        raise ApiError(exc.status, exc.title, exc.description) from None
    return send_preview(source, digest, quality, f"{asset.name}-{quality}.webp")


def send_preview(source: Path, digest: str, quality: str, download_name: str) -> Response:
    """The webp preview of the file at `source` (whose content hash is `digest`) at
    `quality`, from the derived cache (made when missing), with its ETag and 304."""
    conversion = media().preview_conversion(quality)
    try:
        etag = media().etag_of(digest, conversion)
        if request.if_none_match.contains_weak(etag.strip('"')):
            return _not_modified(etag)
        made = media().derivative(source, digest, conversion)
    except MediaError as exc:
        raise ApiError(exc.status, exc.title, exc.description) from None
    response = send_file(
        made, mimetype="image/webp", download_name=download_name, conditional=False, max_age=0
    )
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _not_modified(etag: str) -> Response:
    response = Response(status=304)
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _parameters() -> tuple[str, int | None, str | None]:
    for name in request.args:
        if name not in PARAMETERS:
            raise ApiError(
                400,
                "Bad parameter",
                f"Unknown parameter {name!r}: a preview takes quality, version and file.",
            )
    quality = request.args.get("quality", "low")
    if quality not in QUALITIES:
        raise ApiError(
            400, "Bad parameter", f"quality must be one of {', '.join(QUALITIES)}, not {quality!r}."
        )
    version = None
    if "version" in request.args:
        text = request.args["version"]
        if not (text.isascii() and text.isdigit()) or len(text) > 9:
            raise ApiError(400, "Bad parameter", f"version must be a whole number, not {text!r}.")
        version = int(text)
    name = request.args.get("file")
    if name is not None and (not name or "\x00" in name or ".." in name.split("/")):
        raise ApiError(400, "Bad parameter", f"file must name a file of the asset, not {name!r}.")
    return quality, version, name


def _nothing_to_show(asset_id: str, version: int | None, name: str | None) -> str:
    if name is not None:
        return f"The asset {asset_id!r} has no image, video or PDF named {name!r}."
    if version is not None:
        return f"Version {version} of the asset {asset_id!r} has no image, video or PDF."
    return f"The asset {asset_id!r} has no image, video or PDF to preview."
